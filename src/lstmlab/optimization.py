"""Optimiser and learning-rate scheduler from their configs (conf/optimizer/, conf/scheduler/),
for every LightningModule of the project."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from hydra.utils import instantiate
from torch import nn

DEFAULT_OPTIMIZER = {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 1e-3}


def configure_optimizers(
    parameters: Iterable[nn.Parameter],
    optimizer: dict[str, Any] | None,
    scheduler: dict[str, Any] | None,
    run_steps: Callable[[], int] | None = None,
) -> Any:
    """What `LightningModule.configure_optimizers` returns: the optimiser (a `_partial_` config,
    completed with `parameters`) and, if configured, its scheduler with Lightning's keys
    (`interval`, `frequency`, `monitor`, ...). A scheduler config with `total_steps: null`
    lasts the whole run: `run_steps()` (the trainer's estimate) fills it in."""
    built = instantiate(optimizer or DEFAULT_OPTIMIZER)(parameters)
    if not scheduler:
        return built
    lightning_keys = dict(scheduler)
    config = dict(lightning_keys.pop("scheduler"))
    if "total_steps" in config and config["total_steps"] is None and run_steps is not None:
        config["total_steps"] = run_steps()
    schedule = instantiate(config)(built)
    return {"optimizer": built, "lr_scheduler": {"scheduler": schedule, **lightning_keys}}

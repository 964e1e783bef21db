"""Optimiser and learning-rate scheduler from their configs (conf/optimizer/, conf/scheduler/),
for every LightningModule of the project."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hydra.utils import instantiate
from torch import nn

DEFAULT_OPTIMIZER = {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 1e-3}


def configure_optimizers(
    parameters: Iterable[nn.Parameter],
    optimizer: dict[str, Any] | None,
    scheduler: dict[str, Any] | None,
) -> Any:
    """What `LightningModule.configure_optimizers` returns: the optimiser (a `_partial_` config,
    completed with `parameters`) and, if configured, its scheduler with Lightning's keys
    (`interval`, `frequency`, `monitor`, ...)."""
    built = instantiate(optimizer or DEFAULT_OPTIMIZER)(parameters)
    if not scheduler:
        return built
    lightning_keys = dict(scheduler)
    schedule = instantiate(lightning_keys.pop("scheduler"))(built)
    return {"optimizer": built, "lr_scheduler": {"scheduler": schedule, **lightning_keys}}

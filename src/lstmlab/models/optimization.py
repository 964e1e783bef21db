"""Optimiser and learning-rate scheduler from their configs (conf/optimizer/, conf/scheduler/),
for every LightningModule of the project."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import lightning as L
from hydra.utils import instantiate
from torch import nn

DEFAULT_OPTIMIZER = {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 1e-3}


def configure_optimizers(module: L.LightningModule, parameters: Iterable[nn.Parameter]) -> Any:
    """What `module.configure_optimizers` returns: the optimiser (`module.hparams.optimizer`, a
    `_partial_` config, completed with those of `parameters` that train) and, if configured,
    its scheduler (`module.hparams.scheduler`) with Lightning's keys (`interval`, `frequency`,
    `monitor`, ...). A scheduler config with `total_steps: null` lasts the whole run, as the
    trainer estimates it."""
    trainable = [p for p in parameters if p.requires_grad]  # not a frozen embedding
    built = instantiate(module.hparams.optimizer or DEFAULT_OPTIMIZER)(trainable)
    if not module.hparams.scheduler:
        return built
    lightning_keys = dict(module.hparams.scheduler)
    config = dict(lightning_keys.pop("scheduler"))
    if "total_steps" in config and config["total_steps"] is None:
        config["total_steps"] = int(module.trainer.estimated_stepping_batches)
    schedule = instantiate(config)(built)
    return {"optimizer": built, "lr_scheduler": {"scheduler": schedule, **lightning_keys}}

"""The checkpoints a run continues from: `last.ckpt` at every epoch's end (and every N steps),
and one written when a cluster stops the run (SIGTERM)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities.exceptions import SIGTERMException


class LastCheckpoint(ModelCheckpoint):
    """ModelCheckpoint that keeps its epoch-end saves when `every_n_train_steps` adds mid-epoch
    ones. Lightning's treats the two as exclusive (it refuses `every_n_epochs` next to
    `every_n_train_steps`) and, given the steps, silently stops saving at epochs' ends."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._every_n_epochs = 1  # the attribute Lightning's epoch-end hooks read


class CheckpointOnSigterm(L.Callback):
    """On SIGTERM (a scheduler's pre-emption or time-limit notice), Lightning stops after the
    current batch; this callback first writes `checkpoints/last.ckpt`, so the run continues
    with `ckpt_path=<run folder>/checkpoints/last.ckpt`. SIGKILL cannot be caught: then the
    last `last.ckpt` written (at an epoch's end, or every N steps) is where to continue from."""

    def on_exception(
        self, trainer: L.Trainer, module: L.LightningModule, error: BaseException
    ) -> None:
        if isinstance(error, SIGTERMException):
            trainer.save_checkpoint(last_checkpoint_path(trainer))


def last_checkpoint_path(trainer: L.Trainer) -> Path:
    """The run's `checkpoints/last.ckpt`, where `ModelCheckpoint` keeps the latest state."""
    folder = getattr(trainer.checkpoint_callback, "dirpath", None)
    return Path(folder or Path(trainer.default_root_dir) / "checkpoints") / "last.ckpt"

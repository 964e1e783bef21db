"""A checkpoint written when a cluster stops the run (SIGTERM), to continue from."""

from __future__ import annotations

from pathlib import Path

import lightning as L
from lightning.pytorch.utilities.exceptions import SIGTERMException


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

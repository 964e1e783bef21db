"""How a run shows its progress: one log line per epoch wherever the output goes (the console
and the run's train.log), and a rich progress bar on a terminal only. Written to a file or a
pipe (a redirect, a SLURM log) a live bar leaves just its last frame, so there the epoch lines
alone tell how far the run has got."""

from __future__ import annotations

import logging
import time

import lightning as L
import rich
from lightning.pytorch.callbacks import RichProgressBar

log = logging.getLogger(__name__)

MAIN_METRICS = ("train/loss", "train/acc", "val/loss", "val/acc", "val/f1", "val/acc_best")


class EpochLog(L.Callback):
    """Logs `epoch 3/7  train/loss 0.4123  ...  val/acc_best 0.8300  41.2 s` at the end of each
    training epoch (after its validation): the `metrics` the run logged, and the epoch's wall
    time, validation included. Epochs count from 0, as in the checkpoint names."""

    def __init__(self, metrics: tuple[str, ...] | list[str] = MAIN_METRICS) -> None:
        self.metrics = tuple(metrics)
        self._start = 0.0

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        """Continued mid-epoch, Lightning skips `on_train_epoch_start`: that epoch counts from
        here, not from before the stop."""
        self._start = time.perf_counter()

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.global_rank != 0:
            return
        seconds = time.perf_counter() - self._start
        last = trainer.max_epochs - 1 if trainer.max_epochs and trainer.max_epochs > 0 else None
        epoch = f"epoch {trainer.current_epoch}" + (f"/{last}" if last is not None else "")
        values = trainer.callback_metrics
        shown = [f"{name} {float(values[name]):.4f}" for name in self.metrics if name in values]
        log.info("  ".join([epoch, *shown, f"{seconds:.1f} s"]))


class TerminalProgressBar(RichProgressBar):
    """Lightning's rich bar, shown only when the console is a terminal (elsewhere it is off,
    and Lightning adds no other bar)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self._terminal = rich.get_console().is_terminal

    @property
    def is_enabled(self) -> bool:
        return self._terminal and super().is_enabled

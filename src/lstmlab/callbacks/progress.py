"""How a run shows its progress: one log line per epoch wherever the output goes (the console
and the run's train.log), and a rich progress bar on a terminal only. Written to a file or a
pipe (a redirect, a SLURM log) a live bar leaves just its last frame, so there a plain progress
line every N seconds and the epoch lines tell how far the run has got."""

from __future__ import annotations

import logging
import time
from typing import Any

import lightning as L
import rich
from lightning.pytorch.callbacks import RichProgressBar

log = logging.getLogger(__name__)

MAIN_METRICS = ("train/loss", "train/acc", "val/loss", "val/acc", "val/f1", "val/acc_best")


class EpochLog(L.Callback):
    """Logs `epoch 3/8  train/loss 0.4123  ...  val/acc_best 0.8300  41.2 s` at the end of each
    training epoch (after its validation): the `metrics` the run logged, and the epoch's wall
    time, validation included. Epochs count from 1 of N here (checkpoint names count from 0).
    Where the console is not a terminal (nohup, SLURM), there is no bar: a line
    `epoch 3/8  batch 120/625 (19 %)  4.1 batches/s  epoch ends in 2m03s` every
    `progress_every_s` seconds of training says how far a long epoch has got (None: never)."""

    def __init__(
        self,
        metrics: tuple[str, ...] | list[str] = MAIN_METRICS,
        progress_every_s: float | None = 30.0,
    ) -> None:
        self.metrics = tuple(metrics)
        terminal = rich.get_console().is_terminal
        self.progress_every_s = None if terminal else progress_every_s
        self._start = self._shown = time.perf_counter()
        self._batches = 0

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._restart_clock()  # a resumed epoch starts here, not at on_train_epoch_start

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._restart_clock()

    def _restart_clock(self) -> None:
        self._start = self._shown = time.perf_counter()
        self._batches = 0

    def on_train_batch_end(
        self, trainer: L.Trainer, module: L.LightningModule, outputs: Any, batch: Any, index: int
    ) -> None:
        self._batches += 1
        now = time.perf_counter()
        if self.progress_every_s is None or now - self._shown < self.progress_every_s:
            return
        self._shown = now
        total = trainer.num_training_batches
        rate = self._batches / max(now - self._start, 1e-9)
        if trainer.global_rank == 0:
            log.info(
                f"{epoch_label(trainer)}  batch {index + 1}/{total} "
                f"({100 * (index + 1) / total:.0f} %)  {rate:.1f} batches/s  "
                f"epoch ends in {duration((total - index - 1) / rate)}"
            )

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.global_rank != 0:
            return
        seconds = time.perf_counter() - self._start
        values = trainer.callback_metrics
        shown = [f"{name} {float(values[name]):.4f}" for name in self.metrics if name in values]
        log.info("  ".join([epoch_label(trainer), *shown, f"{seconds:.1f} s"]))


def epoch_label(trainer: L.Trainer) -> str:
    """`epoch 3/8`: the current epoch counted from 1, of `max_epochs` where there is one."""
    last = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else None
    return f"epoch {trainer.current_epoch + 1}" + (f"/{last}" if last else "")


def duration(seconds: float) -> str:
    """`41 s`, `2m03s`, `1h05m`: a time to wait, as precise as it is worth."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes}m{seconds:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


class TerminalProgressBar(RichProgressBar):
    """Lightning's rich bar, shown only when the console is a terminal (elsewhere it is off,
    and Lightning adds no other bar)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self._terminal = rich.get_console().is_terminal

    @property
    def is_enabled(self) -> bool:
        return self._terminal and super().is_enabled

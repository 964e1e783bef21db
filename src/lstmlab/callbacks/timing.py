"""How fast a run trains: seconds and samples per second of every training epoch, and peak
memory, logged as `train/epoch_s` and `train/samples_per_s` (so TensorBoard compares the speed
of runs too) and kept for results.json and scripts/benchmark.py, with the speed settings the run
really trained under (so a benchmark shows what it timed, not what it asked for)."""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Callable
from typing import Any

import lightning as L
import torch
from lightning.pytorch.trainer.states import TrainerFn


class TrainingClock:
    """Seconds of training with validation left out: `pause()` when a validation starts,
    `resume()` when the next training step starts (so what follows a validation, such as
    checkpointing, is left out too). Shared by the epoch timer, the time-to-accuracy callback
    and the benchmark's plain loops, so every pipeline is timed the same way. `sync` waits for
    queued device work before each clock read; `now` is replaceable for tests."""

    def __init__(
        self, sync: Callable[[], None] = lambda: None, now: Callable[[], float] = time.perf_counter
    ) -> None:
        self._sync, self._now = sync, now
        self._counted, self._since = 0.0, None

    def start(self) -> None:
        self._sync()
        self._counted, self._since = 0.0, self._now()

    def pause(self) -> None:
        if self._since is not None:
            self._sync()
            self._counted += self._now() - self._since
            self._since = None

    def resume(self) -> None:
        if self._since is None:
            self._sync()
            self._since = self._now()

    @property
    def seconds(self) -> float:
        """Training seconds so far (waits for the device if the clock is running)."""
        if self._since is None:
            return self._counted
        self._sync()
        return self._counted + self._now() - self._since


class TrainingTimeCallback(L.Callback):
    """A callback whose `_clock` counts training only: it pauses for every validation, the
    mid-epoch ones too, and resumes at the next training batch."""

    _clock: TrainingClock

    def on_validation_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._clock.pause()

    def on_train_batch_start(
        self, trainer: L.Trainer, module: L.LightningModule, batch: Any, index: int
    ) -> None:
        self._clock.resume()


class EpochTimer(TrainingTimeCallback):
    """Times the training batches of each epoch, from the first batch's fetch to the last
    batch's optimiser step, so validation (also validation within the epoch, with
    `trainer.val_check_interval`), checkpointing and logging at the epoch's end are not
    counted. On a GPU the clock stops only once the device has finished the epoch's work."""

    logged_metrics = ("train/epoch_s", "train/samples_per_s")  # what a callback may monitor

    def __init__(self) -> None:
        self.epoch_s: list[float] = []
        self.samples_per_s: list[float] = []
        self._clock = TrainingClock()
        self._samples = 0
        self.settings: dict[str, bool] = {}

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.settings = speed_settings(trainer.optimizers)
        self._clock = TrainingClock(sync=lambda: synchronize(module.device))

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._clock.start()
        self._samples = 0

    def on_train_batch_end(
        self, trainer: L.Trainer, module: L.LightningModule, outputs: Any, batch: Any, index: int
    ) -> None:
        self._samples += len(batch["labels"])
        if index + 1 < trainer.num_training_batches:
            return
        seconds = self._clock.seconds
        self.epoch_s.append(seconds)
        self.samples_per_s.append(self._samples / seconds)
        module.log_dict(
            dict(zip(self.logged_metrics, (seconds, self._samples / seconds))),
            on_step=False,
            on_epoch=True,
        )

    def state_dict(self) -> dict[str, list[float]]:
        """Kept in checkpoints, so a resumed run reports the epochs before the resume too."""
        return {"epoch_s": self.epoch_s, "samples_per_s": self.samples_per_s}

    def on_load_checkpoint(
        self, trainer: L.Trainer, module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        """Restored when fitting goes on, not when testing the best (an earlier) checkpoint."""
        state = checkpoint.get("callbacks", {}).get(self.state_key)
        if state and trainer.state.fn == TrainerFn.FITTING:
            self.epoch_s, self.samples_per_s = list(state["epoch_s"]), list(state["samples_per_s"])

    def summary(self, device: torch.device | None = None) -> dict[str, Any]:
        """Every epoch's figures and the process's peak memory so far."""
        return {
            "train_epoch_s": [round(s, 3) for s in self.epoch_s],
            "train_samples_per_s": [round(s, 1) for s in self.samples_per_s],
            **self.settings,
            **peak_memory_mb(device),
        }


def speed_settings(optimizers: list[torch.optim.Optimizer]) -> dict[str, bool]:
    """Whether deterministic algorithms are on and every optimiser runs fused, as torch has it."""
    return {
        "deterministic": torch.are_deterministic_algorithms_enabled(),
        "fused_optimizer": bool(optimizers) and all(o.defaults.get("fused") for o in optimizers),
    }


def synchronize(device: torch.device) -> None:
    """Waits for queued GPU work, so a clock read afterwards includes it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_memory_mb(device: torch.device | None = None) -> dict[str, float]:
    """Peak resident memory of this process and, on a GPU, peak memory allocated by torch."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    peaks = {"peak_rss_mb": round(rss / (2**20 if sys.platform == "darwin" else 2**10), 1)}
    if device is not None and device.type == "cuda":
        peaks["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return peaks

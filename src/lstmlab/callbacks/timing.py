"""How fast a run trains: seconds and samples per second of every training epoch, and peak
memory, logged as `train/epoch_s` and `train/samples_per_s` (so TensorBoard compares the speed
of runs too) and kept for results.json and scripts/benchmark.py, with the speed settings the run
really trained under (so a benchmark shows what it timed, not what it asked for)."""

from __future__ import annotations

import resource
import sys
import time
from typing import Any

import lightning as L
import torch
from lightning.pytorch.trainer.states import TrainerFn


class EpochTimer(L.Callback):
    """Times the training batches of each epoch, from the first batch's fetch to the last
    batch's optimiser step, so validation, checkpointing and logging at the epoch's end are not
    counted. On a GPU the clock stops only once the device has finished the epoch's work."""

    def __init__(self) -> None:
        self.epoch_s: list[float] = []
        self.samples_per_s: list[float] = []
        self._start = 0.0
        self._samples = 0
        self.settings: dict[str, bool] = {}

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.settings = speed_settings(trainer.optimizers)

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        synchronize(module.device)
        self._start, self._samples = time.perf_counter(), 0

    def on_train_batch_end(
        self, trainer: L.Trainer, module: L.LightningModule, outputs: Any, batch: Any, index: int
    ) -> None:
        self._samples += len(batch["labels"])
        if index + 1 < trainer.num_training_batches:
            return
        synchronize(module.device)
        seconds = time.perf_counter() - self._start
        self.epoch_s.append(seconds)
        self.samples_per_s.append(self._samples / seconds)
        module.log_dict(
            {"train/epoch_s": seconds, "train/samples_per_s": self._samples / seconds},
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

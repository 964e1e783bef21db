"""What a run leaves for scripts: its final metrics, and `results.json`."""

from __future__ import annotations

import json
import time
from pathlib import Path

import lightning as L
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig

from lstmlab.callbacks.time_to_accuracy import TimeToAccuracy
from lstmlab.callbacks.timing import EpochTimer
from lstmlab.io import atomic
from lstmlab.models.lit_module import ClassifierModule

REPORTED_STAGES = ("val/", "test/", "val_per_class/", "test_per_class/")  # in results.json


@rank_zero_only
def save_results(
    cfg: DictConfig,
    trainer: L.Trainer,
    model: L.LightningModule,
    started: float,
    metrics: dict[str, float],
    best_checkpoint: str | None,
    **extra: object,
) -> None:
    """The run's outcome as `<run>/results.json` (final metrics, epochs, wall time since
    `started`, best checkpoint, epoch timing, and `extra`), for scripts that compare runs
    without reading event files."""
    path = Path(cfg.paths.output_dir) / "results.json"
    results = {
        "metrics": metrics,
        "epochs": trainer.current_epoch,
        "global_step": trainer.global_step,  # resume= compares it with last.ckpt's
        "wall_time_s": round(time.perf_counter() - started, 1),
        "best_checkpoint": best_checkpoint or None,
        **extra,
        "timing": timing(trainer, model),
    }
    atomic.write_text(path, json.dumps(results, indent=2) + "\n")


def confusion_matrix(model: ClassifierModule, stage: str) -> list[list[int]] | None:
    """Rows: true class, columns: predicted class (None if the stage did not run)."""
    result = model.last_evaluation(stage)
    return result.confusion.tolist() if result else None


def timing(trainer: L.Trainer, model: L.LightningModule) -> dict | None:
    """Seconds and samples/s of every training epoch and peak memory (callback `epoch_timer`),
    and the time to accuracy (callback `time_to_accuracy`), where the run has them."""
    timer = next((c for c in trainer.callbacks if isinstance(c, EpochTimer)), None)
    race = next((c for c in trainer.callbacks if isinstance(c, TimeToAccuracy)), None)
    if not (timer or race):
        return None
    return {
        **(timer.summary(model.device) if timer else {}),
        **({"time_to_accuracy": race.summary()} if race else {}),
    }


def final_metrics(trainer: L.Trainer) -> dict[str, float]:
    """The epoch-level validation and test metrics the trainer holds now."""
    return {
        name: float(value)
        for name, value in trainer.callback_metrics.items()
        if name.startswith(REPORTED_STAGES)
    }

"""A run's scalars as TensorBoard reads them (its own event-file reader), for the study report's
learning curves."""

from __future__ import annotations

from pathlib import Path

import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

DEFAULT_MONITOR = "val/acc"  # conf/callbacks/model_checkpoint.yaml's


def scalar_curve(run: Path, tag: str) -> tuple[list[int], list[float]] | None:
    """(steps, values) of `tag` in the event files directly in `run` (its sub-runs, such as
    the HPARAMS records, are other runs); None where the run never logged it."""
    events = EventAccumulator(str(run), size_guidance={"scalars": 0})  # 0: keep every point
    events.Reload()
    if tag not in events.Tags()["scalars"]:
        return None
    points = events.Scalars(tag)
    return [p.step for p in points], [p.value for p in points]


def monitored_metric(run: Path) -> str:
    """The metric the run's best checkpoint was chosen by (its composed config's
    `callbacks.model_checkpoint.monitor`); for the selection score, which is never logged, the
    accuracy it ranks by first (`callbacks.selection.accuracy`)."""
    config_file = run / ".hydra" / "config.yaml"
    config = yaml.safe_load(config_file.read_text()) if config_file.exists() else {}
    callbacks = (config or {}).get("callbacks") or {}
    monitor = (callbacks.get("model_checkpoint") or {}).get("monitor") or DEFAULT_MONITOR
    selection = callbacks.get("selection") or {}
    return selection.get("accuracy", monitor) if monitor == "val/selection" else monitor

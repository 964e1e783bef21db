"""A sweep's jobs and their rows: each job folder's configuration and metrics, one row per
configuration with its seeds' mean and spread, intervals and differences against a baseline,
and main effects of each swept factor (`compare.py` renders them).
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from lstmlab.reporting.significance import Difference, Interval, mean_interval, welch

# overrides that do not make a configuration (hydra.* never appear): the seed, and the number
# of an Optuna trial (sweep.py)
IGNORED = ("seed", "search.trial")


@dataclass
class Job:
    folder: Path
    config: str  # the overrides that define the configuration, joined: "model.pooling=max ..."
    metrics: dict[str, float] | None  # None: failed, unfinished or pruned
    status: str = "completed"  # or "pruned" (an Optuna pruner stopped it), "failed"


@dataclass
class Row:
    config: str
    runs: int
    failed: int
    stats: dict[str, tuple[float, float | None]]  # metric -> (mean, std over seeds or None)
    values: dict[str, list[float]] = field(default_factory=dict)  # metric -> one per seed
    interval: Interval | None = None  # of the chosen metric's mean (None: under two seeds)
    difference: Difference | None = None  # of the chosen metric against the baseline
    pruned: int = 0  # runs an Optuna pruner stopped early: not in the statistics


def find_jobs(sweep: Path) -> tuple[list[Job], list[str]]:
    """Every job folder below `sweep` (`<swept values>_<n>/`), by name, and the
    overrides common to all of them."""
    found = []
    for overrides_file in sorted(sweep.glob("**/.hydra/overrides.yaml")):
        overrides = yaml.safe_load(overrides_file.read_text()) or []
        kept = [o for o in overrides if o.split("=", 1)[0].lstrip("+~") not in IGNORED]
        found.append((overrides_file.parent.parent, kept))
    if not found:
        raise FileNotFoundError(
            f"{sweep} holds no job folders (with .hydra/overrides.yaml): give a sweep folder "
            "such as logs/multiruns/<time>, written by `python train.py -m ...`."
        )
    common = (
        [o for o in found[0][1] if all(o in kept for _, kept in found)] if len(found) > 1 else []
    )
    jobs = []
    for folder, kept in found:
        results = folder / "results.json"
        saved = json.loads(results.read_text()) if results.exists() else None
        status = saved.get("status", "completed") if saved else "failed"
        metrics = saved["metrics"] if status == "completed" else None
        config = " ".join(o for o in kept if o not in common) or "(defaults)"
        jobs.append(Job(folder, config, metrics, status))
    return jobs, common


def summarize(jobs: list[Job], metrics: list[str]) -> list[Row]:
    """One row per configuration, best first by `metrics[0]`; all-failed rows last."""
    rows = []
    for config in dict.fromkeys(job.config for job in jobs):  # first-seen order
        mine = [job for job in jobs if job.config == config]
        done = [job.metrics for job in mine if job.metrics is not None]
        stats, per_metric = {}, {}
        for metric in metrics:
            values = [m[metric] for m in done if metric in m]
            if values:
                std = statistics.stdev(values) if len(values) > 1 else None
                stats[metric] = (statistics.fmean(values), std)
                per_metric[metric] = values
        failed = sum(job.status == "failed" for job in mine)
        pruned = sum(job.status == "pruned" for job in mine)
        rows.append(Row(config, len(mine), failed, stats, per_metric, pruned=pruned))
    key = metrics[0]
    return sorted(rows, key=lambda r: (key not in r.stats, -r.stats.get(key, (0.0,))[0]))


def compare_to(rows: list[Row], metric: str, baseline: str | None = None) -> str:
    """Set each row's interval and Welch difference against `baseline` (a configuration as
    the table names it; default: the best row); returns the baseline's name."""
    finished = [row for row in rows if metric in row.values]
    chosen = baseline or (finished[0].config if finished else "-")
    base = next((row for row in finished if row.config == chosen), None)
    if baseline is not None and base is None:
        known = ", ".join(repr(row.config) for row in finished)
        raise ValueError(
            f"--baseline {baseline!r} is no finished configuration: use one of {known}"
        )
    for row in finished:
        row.interval = mean_interval(row.values[metric])
        if base is not None and row is not base:
            row.difference = welch(row.values[metric], base.values[metric])
    return chosen


def main_effects(jobs: list[Job], metric: str) -> list[Row]:
    """A factorial sweep's main effects: for each swept factor (an override key with several
    values) one row per level over every finished job at that level (the other factors
    averaged out), compared with the factor's best level."""
    settings = [dict(o.split("=", 1) for o in job.config.split() if "=" in o) for job in jobs]
    effects = []
    for factor in dict.fromkeys(key for s in settings for key in s):
        levels = dict.fromkeys(s[factor] for s in settings if factor in s)
        if len(levels) < 2:
            continue
        pooled = [
            Job(job.folder, f"{factor}={s[factor]}", job.metrics, job.status)
            for job, s in zip(jobs, settings)
            if factor in s
        ]
        rows = summarize(pooled, [metric])
        compare_to(rows, metric)
        effects += rows
    return effects

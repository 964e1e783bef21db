"""A sweep's jobs and their rows: each job folder's configuration and metrics, one row per
configuration with its seeds' mean and spread, intervals and differences against a baseline,
and main effects of each swept factor (`compare.py` renders them).
"""

from __future__ import annotations

import difflib
import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from lstmlab.reporting.significance import Difference, Interval, mean_interval, welch

IGNORED = ("seed",)  # overrides that do not make a configuration (hydra.* never appear)


@dataclass
class Job:
    folder: Path
    config: str  # the overrides that define the configuration, joined: "model.pooling=max ..."
    metrics: dict[str, float] | None  # None: no readable results.json (failed or unfinished)
    unreadable: str | None = None  # why its results.json could not be read


@dataclass
class Row:
    config: str
    runs: int
    failed: int
    stats: dict[str, tuple[float, float | None]]  # metric -> (mean, std over seeds or None)
    values: dict[str, list[float]] = field(default_factory=dict)  # metric -> one per seed
    interval: Interval | None = None  # of the chosen metric's mean (None: under two seeds)
    difference: Difference | None = None  # of the chosen metric against the baseline


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
        config = " ".join(o for o in kept if o not in common) or "(defaults)"
        jobs.append(Job(folder, config, *read_metrics(folder / "results.json")))
    return jobs, common


def read_metrics(results: Path) -> tuple[dict[str, float] | None, str | None]:
    """A job's metrics, or None and why not where its results.json is there but cut short
    or not the file train.py writes (the job then counts as failed)."""
    if not results.exists():
        return None, None
    try:
        return json.loads(results.read_text())["metrics"], None
    except (ValueError, KeyError, TypeError) as error:
        return None, f"{results} is unreadable ({type(error).__name__}: {error}); counted as failed"


def check_metric(jobs: list[Job], metric: str) -> None:
    """A ValueError if no finished job recorded `metric` (a typo would give a column of '-'),
    naming the metrics there are."""
    recorded = sorted({name for job in jobs for name in job.metrics or {}})
    if not recorded or metric in recorded:
        return
    close = difflib.get_close_matches(metric, recorded, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    raise ValueError(
        f"--metric {metric}: no job recorded it{hint}. The jobs recorded: {', '.join(recorded)}"
    )


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
        rows.append(Row(config, len(mine), len(mine) - len(done), stats, per_metric))
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
            Job(job.folder, f"{factor}={s[factor]}", job.metrics)
            for job, s in zip(jobs, settings)
            if factor in s
        ]
        rows = summarize(pooled, [metric])
        compare_to(rows, metric)
        effects += rows
    return effects

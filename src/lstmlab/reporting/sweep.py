"""A sweep's jobs and their rows: each job folder's configuration, status and metrics, one row
per configuration with its seeds' (and folds') mean and spread, intervals and differences against a
baseline (`compare.py` renders them; `effects.py` fits the factors).
"""

from __future__ import annotations

import difflib
import json
import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from lstmlab.reporting.significance import Difference, Interval, mean_interval, welch

# overrides that do not make a configuration: a configuration's seeds and cross-validation folds
# are its repeats, pooled into its mean and interval, and an Optuna trial's number (sweep.py) is
# no setting (hydra.* never appear)
IGNORED = ("seed", "data.fold", "search.trial")
DATASET = "data"  # the config group of datasets: results on two of them are never compared
COMPLETE = "complete"  # results.json's `status` when it has none (a run that finished)
FAILED = "failed"  # no results.json: the job failed, or is still running
UNREADABLE = "unreadable"  # a results.json cut short (a full disk, an interrupted copy)
# Every compared metric is a proportion (accuracy, F1, ECE, ...), shown in %: an interval is
# cut to this range, where a t-interval over two or three seeds can reach beyond it.
METRIC_RANGE = (0.0, 1.0)


@dataclass
class Job:
    folder: Path
    settings: dict[str, str]  # the overrides that make its configuration: {"model.pooling": "max"}
    metrics: dict[str, float] | None  # None: no results.json (failed or unfinished)
    status: str = COMPLETE  # results.json's `status` (e.g. pruned), or FAILED without it
    seed: str | None = None  # the job's `seed=` override

    @property
    def config(self) -> str:
        """The configuration as overrides, e.g. "model.pooling=max optimizer.lr=0.01"."""
        return " ".join(f"{k}={v}" for k, v in self.settings.items()) or "(defaults)"


@dataclass
class Row:
    config: str
    settings: dict[str, str]
    runs: int
    incomplete: dict[str, int]  # status -> jobs without a complete result (failed, pruned)
    stats: dict[str, tuple[float, float | None]]  # metric -> (mean, std over seeds or None)
    values: dict[str, list[float]] = field(default_factory=dict)  # metric -> one per seed
    interval: Interval | None = None  # of the chosen metric's mean (None: under two seeds)
    baseline: Row | None = None  # the row it is compared with (itself if it is a baseline)
    difference: Difference | None = None  # of the chosen metric against `baseline`

    @property
    def failed(self) -> int:
        return sum(self.incomplete.values())


def split_override(override: str) -> tuple[str, str]:
    key, _, value = override.partition("=")
    return key.lstrip("+~"), value


def find_jobs(sweep: Path) -> tuple[list[Job], list[str]]:
    """Every job folder below `sweep` (`<swept values>_<n>/`), by name, and the
    overrides common to all of them."""
    found = []
    for overrides_file in sorted(sweep.glob("**/.hydra/overrides.yaml")):
        overrides = yaml.safe_load(overrides_file.read_text()) or []
        found.append((overrides_file.parent.parent, overrides))
    if not found:
        raise FileNotFoundError(
            f"{sweep} holds no job folders (with .hydra/overrides.yaml): give a sweep folder "
            "such as logs/multiruns/<time>, written by `python train.py -m ...`."
        )
    common = (
        [o for o in found[0][1] if all(o in overrides for _, overrides in found)]
        if len(found) > 1
        else []
    )
    return [read_job(folder, overrides, common) for folder, overrides in found], [
        o for o in common if split_override(o)[0] not in IGNORED
    ]


def read_job(folder: Path, overrides: list[str], common: list[str]) -> Job:
    pairs = [split_override(o) for o in overrides if o not in common]
    settings = {key: value for key, value in pairs if key not in IGNORED}
    seed = dict(split_override(o) for o in overrides).get("seed")
    results = folder / "results.json"
    if not results.exists():
        return Job(folder, settings, None, FAILED, seed)
    try:
        saved = json.loads(results.read_text())
    except ValueError:
        return Job(folder, settings, None, UNREADABLE, seed)
    return Job(folder, settings, saved.get("metrics"), saved.get("status", COMPLETE), seed)


def check_metric(jobs: list[Job], metric: str) -> None:
    """A ValueError if no job recorded `metric` (a typo would give a column of '-'), naming
    the metrics there are."""
    recorded = sorted({name for job in jobs for name in job.metrics or {}})
    if not recorded or metric in recorded:
        return
    close = difflib.get_close_matches(metric, recorded, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    raise ValueError(
        f"--metric {metric}: no job recorded it{hint}. The jobs recorded: {', '.join(recorded)}"
    )


def factors(settings: Iterable[dict[str, str]]) -> dict[str, list[str]]:
    """Each swept factor (a key with several values among `settings`, e.g. the jobs') and its
    levels: in numeric order where every level is a number, else in the order first seen."""
    levels: dict[str, dict[str, None]] = {}
    for one in settings:
        for key, value in one.items():
            levels.setdefault(key, {})[value] = None
    return {key: in_order(list(values)) for key, values in levels.items() if len(values) > 1}


def in_order(levels: list[str]) -> list[str]:
    try:
        return sorted(levels, key=float)
    except ValueError:
        return levels


def label(settings: dict[str, str], keys: Iterable[str] | None = None) -> str:
    """A configuration by its swept values, e.g. "max · true" (no keys: the table's and the
    figure's headers name them)."""
    return " · ".join(settings.get(key, "-") for key in keys or settings) or "(defaults)"


def summarize(jobs: list[Job], metrics: list[str]) -> list[Row]:
    """One row per configuration, best first by `metrics[0]`; rows without results last.
    Only complete jobs count towards the statistics (a pruned trial stopped early)."""
    rows = []
    for config in dict.fromkeys(job.config for job in jobs):  # first-seen order
        mine = [job for job in jobs if job.config == config]
        done = [job.metrics for job in mine if job.status == COMPLETE and job.metrics]
        stats, per_metric = {}, {}
        for metric in metrics:
            values = [m[metric] for m in done if metric in m]
            if values:
                std = statistics.stdev(values) if len(values) > 1 else None
                stats[metric] = (statistics.fmean(values), std)
                per_metric[metric] = values
        incomplete = Counter(job.status for job in mine if job.status != COMPLETE)
        rows.append(Row(config, mine[0].settings, len(mine), dict(incomplete), stats, per_metric))
    key = metrics[0]
    return sorted(rows, key=lambda r: (key not in r.stats, -r.stats.get(key, (0.0,))[0]))


def within_range(interval: Interval | None) -> Interval | None:
    """The interval cut to METRIC_RANGE: values outside it cannot occur."""
    if interval is None:
        return None
    low, high = METRIC_RANGE
    return Interval(interval.estimate, max(low, interval.low), min(high, interval.high))


def compare_to(rows: list[Row], metric: str, baseline: str | None = None) -> None:
    """Set each row's interval, and its baseline and Welch difference against it.

    `baseline` is overrides, e.g. `model.pooling=max`. A row's baseline has those values and
    the row's own values of every other swept key, so a baseline naming only some keys
    (`model=bag_of_ngrams` in a sweep over models and datasets) is one per dataset. Without
    one, a row's baseline is the best row on its dataset (`data=`), or the best row: no model
    is measured against another dataset's results."""
    finished = [row for row in rows if metric in row.values]  # best first
    wanted = wanted_settings(baseline, finished)
    for row in finished:
        row.interval = within_range(mean_interval(row.values[metric]))
        if baseline is None:
            dataset = row.settings.get(DATASET)
            row.baseline = next(b for b in finished if b.settings.get(DATASET) == dataset)
        else:
            target = {**row.settings, **wanted}
            row.baseline = next((other for other in finished if other.settings == target), None)
        if row.baseline is not None and row.baseline is not row:
            row.difference = welch(row.values[metric], row.baseline.values[metric])


def wanted_settings(baseline: str | None, finished: list[Row]) -> dict[str, str]:
    """`--baseline model=cnn data=cr` as {"model": "cnn", "data": "cr"}, refused unless some
    finished configuration has those values."""
    if baseline is None:
        return {}
    pairs = [part.partition("=") for part in baseline.split()]
    wanted = {key: value for key, _, value in pairs}
    if (
        not pairs
        or not all(key and sep for key, sep, _ in pairs)
        or not any(all(row.settings.get(k) == v for k, v in wanted.items()) for row in finished)
    ):
        known = ", ".join(repr(row.config) for row in finished)
        raise ValueError(
            f"--baseline {baseline!r} is no finished configuration: give key=value overrides "
            f"that some configuration has (all of its keys, or some of them for one baseline "
            f"per level of the others), one of {known}"
        )
    return wanted

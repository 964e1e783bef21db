"""A sweep's results side by side: one row per configuration, mean ± std over its seeds.

    python scripts/compare.py logs/multiruns/<time>                   # sorted by val/acc_best
    python scripts/compare.py logs/multiruns/<time> --metric test/f1 --out reports/

A job is a folder holding `.hydra/overrides.yaml`; its configuration is its overrides without
`seed` (and without those every job shares, shown once in the title), so `seed=1,2,3` jobs of
one configuration share a row. A job without `results.json`
failed (or is still running): it is counted in its row and shown in the table and the plot,
never dropped. Writes compare.csv, compare.md and compare.png next to the jobs (or in --out).
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

import rich
import yaml
from matplotlib.figure import Figure
from rich.table import Table

from lstmlab.io import atomic
from lstmlab.io.atomic import atomic_open

METRICS = ("val/acc_best", "test/acc", "test/f1")  # the columns, besides the chosen metric
IGNORED = ("seed",)  # overrides that do not make a configuration (hydra.* never appear)


@dataclass
class Job:
    folder: Path
    config: str  # the overrides that define the configuration, joined: "model.pooling=max ..."
    metrics: dict[str, float] | None  # None: no results.json (failed or unfinished)


@dataclass
class Row:
    config: str
    runs: int
    failed: int
    stats: dict[str, tuple[float, float | None]]  # metric -> (mean, std over seeds or None)


def find_jobs(sweep: Path) -> tuple[list[Job], list[str]]:
    """Every job folder below `sweep` (Hydra's `<n>_<overrides>/`) in job order, and the
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
        metrics = json.loads(results.read_text())["metrics"] if results.exists() else None
        config = " ".join(o for o in kept if o not in common) or "(defaults)"
        jobs.append(Job(folder, config, metrics))
    return jobs, common


def summarize(jobs: list[Job], metrics: list[str]) -> list[Row]:
    """One row per configuration, best first by `metrics[0]`; all-failed rows last."""
    rows = []
    for config in dict.fromkeys(job.config for job in jobs):  # first-seen order
        mine = [job for job in jobs if job.config == config]
        done = [job.metrics for job in mine if job.metrics is not None]
        stats = {}
        for metric in metrics:
            values = [m[metric] for m in done if metric in m]
            if values:
                std = statistics.stdev(values) if len(values) > 1 else None
                stats[metric] = (statistics.fmean(values), std)
        rows.append(Row(config, len(mine), len(mine) - len(done), stats))
    key = metrics[0]
    return sorted(rows, key=lambda r: (key not in r.stats, -r.stats.get(key, (0.0,))[0]))


def cell(row: Row, metric: str) -> str:
    if metric not in row.stats:
        return "failed" if row.failed == row.runs else "-"
    mean, std = row.stats[metric]
    return f"{100 * mean:.2f}" + ("" if std is None else f" ± {100 * std:.2f}")


def runs_cell(row: Row) -> str:
    return f"{row.runs}" + (f" ({row.failed} failed)" if row.failed else "")


def write_csv(rows: list[Row], metrics: list[str], path: Path) -> None:
    with atomic_open(path, "w", newline="") as file:
        writer = csv.writer(file)
        header = ["config", "runs", "failed"]
        writer.writerow(header + [f"{m}_{s}" for m in metrics for s in ("mean", "std")])
        for row in rows:
            values = []
            for metric in metrics:
                mean, std = row.stats.get(metric, (None, None))
                values += [mean, std]
            writer.writerow([row.config, row.runs, row.failed, *values])


def markdown(rows: list[Row], metrics: list[str], title: str = "") -> str:
    lines = [
        f"{title}\n" if title else "",
        "| configuration | runs | " + " | ".join(f"{m} (%)" for m in metrics) + " |",
        "|---|---|" + "---|" * len(metrics),
    ]
    for row in rows:
        cells = " | ".join(cell(row, m) for m in metrics)
        lines.append(f"| {row.config} | {runs_cell(row)} | {cells} |")
    return "\n".join(lines) + "\n"


def plot(rows: list[Row], metric: str, path: Path, title: str = "") -> None:
    """Horizontal bars of `metric` (mean, std as error bars), best on top; failed rows marked."""
    figure = Figure(figsize=(8, 0.45 * len(rows) + 1.2))
    ax = figure.add_subplot()
    positions = range(len(rows))[::-1]
    for y, row in zip(positions, rows):
        if metric in row.stats:
            mean, std = row.stats[metric]
            ax.barh(y, 100 * mean, xerr=None if std is None else 100 * std, color="tab:blue")
            ax.text(100 * mean, y, f" {100 * mean:.2f}", va="center", fontsize=8)
        else:
            ax.text(0, y, " failed", va="center", color="tab:red", fontsize=8)
    ax.set_yticks(list(positions), [row.config for row in rows], fontsize=8)
    finished = [100 * r.stats[metric][0] for r in rows if metric in r.stats]
    if finished:  # room on the right for the value labels
        ax.set_xlim(max(0.0, min(finished) - 5), max(finished) + 3)
    ax.set_xlabel(f"{metric} (%), mean ± std over seeds")
    ax.set_title(title, fontsize=8, loc="left")
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def print_table(rows: list[Row], metrics: list[str], title: str) -> None:
    table = Table(title=title, header_style="bold")
    table.add_column("configuration")
    table.add_column("runs", justify="right")
    for metric in metrics:
        table.add_column(f"{metric} (%)", justify="right")
    for row in rows:
        style = "red" if row.failed else None
        table.add_row(row.config, runs_cell(row), *(cell(row, m) for m in metrics), style=style)
    rich.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sweep", type=Path, help="a sweep folder, e.g. logs/multiruns/<time>")
    parser.add_argument("--metric", default="val/acc_best", help="sort and plot by this metric")
    parser.add_argument("--out", type=Path, help="where to write compare.* (default: the sweep)")
    args = parser.parse_args(argv)
    try:
        jobs, common = find_jobs(args.sweep)
    except FileNotFoundError as err:
        parser.exit(2, f"error: {err}\n")
    metrics = list(dict.fromkeys([args.metric, *METRICS]))
    rows = summarize(jobs, metrics)
    title = f"{args.sweep}" + (f" (every job: {' '.join(common)})" if common else "")
    out = args.out or args.sweep
    out.mkdir(parents=True, exist_ok=True)
    write_csv(rows, metrics, out / "compare.csv")
    atomic.write_text(out / "compare.md", markdown(rows, metrics, title))
    plot(rows, args.metric, out / "compare.png", title)
    print_table(rows, metrics, title)
    failed = sum(row.failed for row in rows)
    print(f"{len(jobs)} jobs, {failed} failed; wrote compare.csv, compare.md, compare.png in {out}")
    return 0


def cli() -> None:
    """The installed command: `main`'s status as the exit code."""
    sys.exit(main())

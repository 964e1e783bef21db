"""A sweep's results side by side: one row per configuration, mean ± std over its seeds.

    python scripts/compare.py logs/multiruns/<time>                   # sorted by val/acc_best
    python scripts/compare.py logs/multiruns/<time> --metric test/f1 --out reports/
    python scripts/compare.py logs/multiruns/<time> --baseline model.pooling=last

For the chosen metric each row also gets its 95 % t-interval over seeds and its difference
from a baseline configuration (default: the best) with the 95 % interval and p-value of
Welch's t-test; each swept factor (an override key with several values) gets its main effect:
each level over every job at that level, against the best level (docs/analysis.md).

A job is a folder holding `.hydra/overrides.yaml`; its configuration is its overrides without
`seed` (and without those every job shares, shown once in the title), so `seed=1,2,3` jobs of
one configuration share a row. A job without `results.json`
failed (or is still running): it is counted in its row and shown in the table and the plot,
never dropped. An Optuna trial stopped by its pruner (`status: pruned` in results.json) is
counted as pruned, and left out of the statistics as a failed job is. Writes compare.csv,
compare.md and compare.png next to the jobs (or in --out).
Reading the jobs and computing the rows: `sweep.py`; this module renders them.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import rich
from matplotlib.figure import Figure
from rich.table import Table

from lstmlab.io import atomic
from lstmlab.io.atomic import atomic_open
from lstmlab.reporting.hparams import HEADLINE_METRICS as METRICS  # besides the chosen one
from lstmlab.reporting.sweep import Row, compare_to, find_jobs, main_effects, summarize


def interval_cell(row: Row) -> str:
    if not row.values:
        return "-"
    if row.interval is None:
        return "n/a (1 seed)"
    return f"[{100 * row.interval.low:.2f}, {100 * row.interval.high:.2f}]"


def difference_cells(row: Row, baseline: str) -> list[str]:
    """The difference against the baseline with its interval (percentage points), and p."""
    if row.config == baseline:
        return ["baseline", ""]
    if row.difference is None:
        return ["n/a (1 seed)" if row.values else "-", "-"]
    d = row.difference.interval
    estimate = f"{100 * d.estimate:+.2f} [{100 * d.low:+.2f}, {100 * d.high:+.2f}]"
    return [estimate, f"{row.difference.p_value:.3g}"]


def significance_columns(metric: str, baseline: str) -> list[str]:
    return [f"{metric} 95% CI", f"Δ vs {baseline} (pp, 95% CI)", "p (Welch t)"]


def no_interval_note(rows: list[Row]) -> str:
    """Said aloud rather than printing zeros: one seed has no spread to build an interval on."""
    single = [row.config for row in rows if row.values and row.interval is None]
    if not single:
        return ""
    return (
        f"No interval can be computed for {', '.join(single)}: one finished seed each. "
        "Run each configuration with several seeds (seed=1,2,3) for intervals and p-values."
    )


def cell(row: Row, metric: str) -> str:
    if metric not in row.stats:
        return not_finished(row) or "-"
    mean, std = row.stats[metric]
    return f"{100 * mean:.2f}" + ("" if std is None else f" ± {100 * std:.2f}")


def not_finished(row: Row) -> str:
    """"failed" or "pruned" for a row none of whose runs finished, else ""."""
    if row.failed == row.runs:
        return "failed"
    return "pruned" if row.failed + row.pruned == row.runs else ""


def runs_cell(row: Row) -> str:
    counts = [f"{n} {what}" for n, what in ((row.failed, "failed"), (row.pruned, "pruned")) if n]
    return f"{row.runs}" + (f" ({', '.join(counts)})" if counts else "")


def write_csv(rows: list[Row], metrics: list[str], path: Path) -> None:
    with atomic_open(path, "w", newline="") as file:
        writer = csv.writer(file)
        header = ["config", "runs", "failed", "pruned"]
        extra = ["ci_low", "ci_high", "diff", "diff_ci_low", "diff_ci_high", "p_welch"]
        means = [f"{m}_{s}" for m in metrics for s in ("mean", "std")]
        writer.writerow(header + means + [f"{metrics[0]}_{e}" for e in extra])
        for row in rows:
            values = []
            for metric in metrics:
                mean, std = row.stats.get(metric, (None, None))
                values += [mean, std]
            ci, diff = row.interval, row.difference
            values += [ci.low, ci.high] if ci else [None, None]
            if diff:
                d = diff.interval
                values += [d.estimate, d.low, d.high, diff.p_value]
            writer.writerow([row.config, row.runs, row.failed, row.pruned, *values])


def markdown(
    rows: list[Row],
    metrics: list[str],
    title: str = "",
    baseline: str = "-",
    effects: list[Row] | None = None,
) -> str:
    columns = [f"{m} (%)" for m in metrics] + significance_columns(metrics[0], baseline)
    lines = [
        f"{title}\n" if title else "",
        "| configuration | runs | " + " | ".join(columns) + " |",
        "|---|---|" + "---|" * len(columns),
    ]
    for row in rows:
        cells = [cell(row, m) for m in metrics] + [interval_cell(row)]
        cells += difference_cells(row, baseline)
        lines.append(f"| {row.config} | {runs_cell(row)} | {' | '.join(cells)} |")
    note = no_interval_note(rows)
    lines += ["", note] if note else []
    if effects:
        lines += ["", f"Main effects on {metrics[0]} (each level over all its jobs):", ""]
        lines += [
            "| level | runs | mean (%) | 95% CI | Δ vs the factor's best (pp) | p (Welch t) |"
        ]
        lines += ["|---|---|---|---|---|---|"]
        best = {}
        for row in effects:
            factor = row.config.split("=", 1)[0]
            best.setdefault(factor, row.config)
            cells = [cell(row, metrics[0]), interval_cell(row)]
            cells += difference_cells(row, best[factor])
            lines.append(f"| {row.config} | {runs_cell(row)} | {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"


def plot(rows: list[Row], metric: str, path: Path, title: str = "") -> None:
    """Horizontal bars of `metric` (mean, 95 % CI as error bars), best on top; failed rows
    marked."""
    figure = Figure(figsize=(8, 0.45 * len(rows) + 1.2))
    ax = figure.add_subplot()
    positions = range(len(rows))[::-1]
    for y, row in zip(positions, rows):
        if metric in row.stats:
            mean, _ = row.stats[metric]
            ci = row.interval
            xerr = None if ci is None else [[100 * (mean - ci.low)], [100 * (ci.high - mean)]]
            ax.barh(y, 100 * mean, xerr=xerr, color="tab:blue")
            ax.text(100 * mean, y, f" {100 * mean:.2f}", va="center", fontsize=8)
        else:
            label = f" {not_finished(row) or 'failed'}"
            ax.text(0, y, label, va="center", color="tab:red", fontsize=8)
    ax.set_yticks(list(positions), [row.config for row in rows], fontsize=8)
    finished = [100 * r.stats[metric][0] for r in rows if metric in r.stats]
    if finished:  # room on the right for the value labels
        ax.set_xlim(max(0.0, min(finished) - 5), max(finished) + 3)
    ax.set_xlabel(f"{metric} (%), mean and 95 % t-interval over seeds")
    ax.set_title(title, fontsize=8, loc="left")
    figure.tight_layout()
    with atomic_open(path) as file:  # whole or not at all, as the CSV and Markdown
        figure.savefig(file, format="png", dpi=120)


def print_table(rows: list[Row], metrics: list[str], title: str, baseline: str = "-") -> None:
    table = Table(title=title, header_style="bold")
    table.add_column("configuration")
    table.add_column("runs", justify="right")
    for column in [f"{m} (%)" for m in metrics] + significance_columns(metrics[0], baseline):
        table.add_column(column, justify="right")
    for row in rows:
        style = "red" if row.failed else None
        cells = [cell(row, m) for m in metrics] + [interval_cell(row)]
        cells += difference_cells(row, baseline)
        table.add_row(row.config, runs_cell(row), *cells, style=style)
    rich.print(table)
    note = no_interval_note(rows)
    if note:
        print(note)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sweep", type=Path, help="a sweep folder, e.g. logs/multiruns/<time>")
    parser.add_argument("--metric", default="val/acc_best", help="sort and plot by this metric")
    parser.add_argument("--out", type=Path, help="where to write compare.* (default: the sweep)")
    parser.add_argument(
        "--baseline", help="the configuration (as the table names it) others are compared with"
    )
    args = parser.parse_args(argv)
    try:
        jobs, common = find_jobs(args.sweep)
    except FileNotFoundError as err:
        parser.exit(2, f"error: {err}\n")
    metrics = list(dict.fromkeys([args.metric, *METRICS]))
    rows = summarize(jobs, metrics)
    try:
        baseline = compare_to(rows, args.metric, args.baseline)
    except ValueError as err:
        parser.exit(2, f"error: {err}\n")
    effects = main_effects(jobs, args.metric)
    title = f"{args.sweep}" + (f" (every job: {' '.join(common)})" if common else "")
    out = args.out or args.sweep
    out.mkdir(parents=True, exist_ok=True)
    write_csv(rows, metrics, out / "compare.csv")
    atomic.write_text(out / "compare.md", markdown(rows, metrics, title, baseline, effects))
    plot(rows, args.metric, out / "compare.png", title)
    print_table(rows, metrics, title, baseline)
    failed, pruned = sum(row.failed for row in rows), sum(row.pruned for row in rows)
    print(
        f"{len(jobs)} jobs, {failed} failed, {pruned} pruned; wrote compare.csv, compare.md, "
        f"compare.png in {out}"
    )
    return 0


def cli() -> None:
    """The installed command: `main`'s status as the exit code."""
    sys.exit(main())

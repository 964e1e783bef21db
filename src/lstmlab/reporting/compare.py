"""A sweep's results side by side: one row per configuration, mean ± std over its seeds.

    python scripts/compare.py logs/multiruns/<time>                   # sorted by val/acc_best
    python scripts/compare.py logs/multiruns/<time> --metric test/f1 --out reports/
    python scripts/compare.py logs/multiruns/<time> --baseline model.pooling=last
    python scripts/compare.py logs/multiruns/<time> --baseline model=cnn  # per dataset, too
    python scripts/compare.py logs/multiruns/<time> --report          # + one HTML page

For the chosen metric each row also gets its 95 % t-interval over seeds and its difference
from a baseline configuration (default: the best on the row's dataset; a baseline naming only
some swept keys is one per level of the others) with the 95 % interval and p-value of Welch's
t-test; the swept factors get a linear model's ANOVA and level effects (`effects.py`; how and
why: docs/research.md, "Over seeds").

A job is a folder holding `.hydra/overrides.yaml`; its configuration is its overrides without
`seed` (and without those every job shares, shown once in the title), so `seed=1,2,3` jobs of
one configuration share a row, shown by its swept values. A job without `results.json` failed
(or is still running), one whose results.json has a `status` other than complete (pruned)
stopped early: both are counted in their row and listed, never dropped. Writes compare.csv,
compare.md and the figure compare.{png,pdf,svg} next to the jobs (or in --out), and with
--report report.html (`report.py`). Reading the jobs and computing the rows: `sweep.py`.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from lstmlab.io import atomic
from lstmlab.io.atomic import atomic_open
from lstmlab.reporting.effects import Effects, factor_effects
from lstmlab.reporting.hparams import HEADLINE_METRICS as METRICS  # besides the chosen one
from lstmlab.reporting.report import Study, write_report
from lstmlab.reporting.sweep import (
    UNREADABLE,
    Row,
    check_metric,
    compare_to,
    factors,
    find_jobs,
    summarize,
)
from lstmlab.reporting.sweep_figures import save, seeds_figure
from lstmlab.reporting.tables import effect_tables, markdown_table, notes, table_rows


def write_csv(rows: list[Row], metrics: list[str], path: Path) -> None:
    """One line per configuration, every line with every field of the header (empty where a
    value does not exist): the swept values, then the statistics."""
    keys = list(factors(row.settings for row in rows))
    extra = ["ci_low", "ci_high", "diff", "diff_ci_low", "diff_ci_high", "p_welch"]
    header = ["config", *keys, "runs", "failed"]
    header += [f"{m}_{s}" for m in metrics for s in ("mean", "std")]
    header += [f"{metrics[0]}_{e}" for e in extra]
    with atomic_open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        for row in rows:
            values = [row.config, *(row.settings.get(k, "") for k in keys), row.runs, row.failed]
            values += [v for m in metrics for v in row.stats.get(m, (None, None))]
            ci, diff = row.interval, row.difference
            values += [ci.low, ci.high] if ci else [None, None]
            d = diff.interval if diff else None
            values += [d.estimate, d.low, d.high, diff.p_value] if d else [None] * 4
            writer.writerow(values)


def markdown(rows: list[Row], metrics: list[str], title: str, effects: Effects | None) -> str:
    lines = [f"{title}\n" if title else "", *markdown_table(*table_rows(rows, metrics))]
    for caption, header, cells in effect_tables(effects) if effects else []:
        lines += ["", f"{caption} on {metrics[0]}:", "", *markdown_table(header, cells)]
    return "\n".join([*lines, "", *notes(rows, effects)]) + "\n"


def print_tables(rows: list[Row], metrics: list[str], title: str, effects: Effects | None) -> None:
    """The tables in the terminal, a rule between rows: names folded at their dots and never
    narrower than their values, so every row keeps its swept values in a 120-column terminal
    (numbers wrap where a terminal is narrower still)."""
    console = Console()
    header, cells = table_rows(rows, metrics, narrow=True)
    factor_columns = len(factors(row.settings for row in rows)) or 1  # or `configuration`
    tables = [(title, header, cells, factor_columns, [row.failed > 0 for row in rows])]
    for caption, header, cells in effect_tables(effects) if effects else []:
        tables.append((f"{caption} on {metrics[0]}", header, cells, 2, [False] * len(cells)))
    for caption, header, cells, names, failed in tables:
        table = Table(title=caption, header_style="bold", show_lines=True)
        for i, column in enumerate(header):
            if i < names:  # a name: folded at its dots, never narrower than its longest value
                widest = max([len(str(line[i])) for line in cells] + [len(column) // 3])
                table.add_column(
                    column.replace(".", ".\n"), min_width=min(widest, 24), overflow="fold"
                )
            else:
                table.add_column(column.replace(" (", "\n("), justify="right", overflow="fold")
        for line, bad in zip(cells, failed):
            table.add_row(*map(str, line), style="red" if bad else None)
        console.print(table)
    for note in notes(rows, effects):
        console.print(note, highlight=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sweep", type=Path, help="a sweep folder, e.g. logs/multiruns/<time>")
    parser.add_argument("--metric", default="val/acc_best", help="sort and plot by this metric")
    parser.add_argument("--out", type=Path, help="where to write compare.* (default: the sweep)")
    parser.add_argument(
        "--baseline",
        help="the configuration others are compared with, as overrides (e.g. "
        "model.pooling=last; default: the best on each dataset); naming only some swept keys "
        "(model=cnn in a sweep over models and data) compares each row with the one that "
        "shares its other values",
    )
    parser.add_argument(
        "--report", action="store_true", help="also write report.html, the study on one page"
    )
    args = parser.parse_args(argv)
    try:
        jobs, common = find_jobs(args.sweep)
    except FileNotFoundError as err:
        parser.exit(2, f"error: {err}\n")
    metrics = list(dict.fromkeys([args.metric, *METRICS]))
    rows = summarize(jobs, metrics)
    try:
        check_metric(jobs, args.metric)  # before anything is written
        compare_to(rows, args.metric, args.baseline)
    except ValueError as err:
        parser.exit(2, f"error: {err}\n")
    for job in jobs:
        if job.status == UNREADABLE:
            print(f"warning: {job.folder / 'results.json'} is unreadable (cut short?)")
    effects = factor_effects(jobs, args.metric)
    title = f"{args.sweep.name}" + (f" (every job: {' '.join(common)})" if common else "")
    out = args.out or args.sweep
    out.mkdir(parents=True, exist_ok=True)
    write_csv(rows, metrics, out / "compare.csv")
    atomic.write_text(out / "compare.md", markdown(rows, metrics, title, effects))
    caption = f"{args.metric}: each seed, mean and 95 % interval"
    figure = seeds_figure(rows, args.metric, caption, factors(job.settings for job in jobs))
    written = ["compare.csv", "compare.md", *(p.name for p in save(figure, out / "compare"))]
    if args.report:
        study = Study(args.sweep, jobs, common, rows, metrics, effects, args.baseline)
        write_report(out / "report.html", study, figure)
        written.append("report.html")
    print_tables(rows, metrics, title, effects)
    failed = sum(row.failed for row in rows)
    print(f"{len(jobs)} jobs, {failed} not complete; wrote {', '.join(written)} in {out}")
    return 0


def cli() -> None:
    """The installed command: `main`'s status as the exit code."""
    sys.exit(main())

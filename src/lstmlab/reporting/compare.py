"""A sweep's results side by side: one row per configuration, mean ± std over its seeds.

    python scripts/compare.py logs/multiruns/<time>                   # sorted by val/acc_best
    python scripts/compare.py logs/multiruns/<time> --metric test/f1 --out reports/
    python scripts/compare.py logs/multiruns/<time> --baseline model.pooling=last
    python scripts/compare.py logs/multiruns/<time> --report          # + one HTML page

For the chosen metric each row also gets its 95 % t-interval over seeds and its difference
from a baseline configuration (default: the best) with the 95 % interval and p-value of
Welch's t-test; the swept factors get a linear model's ANOVA and level effects
(`effects.py`; how and why: docs/research.md, "Over seeds").

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
from lstmlab.reporting.sweep import Row, compare_to, factors, find_jobs, summarize
from lstmlab.reporting.sweep_figures import save, seeds_figure


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
    return [signed(row.difference.interval), f"{row.difference.p_value:.3g}"]


def signed(d) -> str:
    return f"{100 * d.estimate:+.2f} [{100 * d.low:+.2f}, {100 * d.high:+.2f}]"


def cell(row: Row, metric: str, spread: bool = True) -> str:
    if metric not in row.stats:
        return "/".join(row.incomplete) if row.failed == row.runs else "-"
    mean, std = row.stats[metric]
    return f"{100 * mean:.2f}" + ("" if std is None or not spread else f" ± {100 * std:.2f}")


def runs_cell(row: Row) -> str:
    others = ", ".join(f"{n} {status}" for status, n in row.incomplete.items())
    return f"{row.runs}" + (f" ({others})" if others else "")


def table_rows(
    rows: list[Row], metrics: list[str], baseline: str, narrow: bool = False
) -> tuple[list[str], list[list[str]]]:
    """The configuration table's header and cells, one column per swept factor (its values),
    shared by the terminal, Markdown and HTML; `narrow` (a terminal) leaves out the spread of
    the metrics besides the chosen one."""
    keys = list(factors(row.settings for row in rows)) or ["configuration"]
    chosen, *others = metrics
    header = [*keys, "runs", f"{chosen} (%)", "95% CI", "Δ vs baseline (pp, 95% CI)", "p (Welch)"]
    header += [f"{m} (%)" for m in others]
    cells = [
        [row.settings.get(k, row.config if k == "configuration" else "-") for k in keys]
        + [runs_cell(row), cell(row, chosen), interval_cell(row)]
        + difference_cells(row, baseline)
        + [cell(row, m, spread=not narrow) for m in others]
        for row in rows
    ]
    return header, cells


def effect_tables(effects: Effects) -> list[tuple[str, list[str], list[list[str]]]]:
    """(caption, header, cells) of the ANOVA and of the level effects."""
    anova = (
        f"ANOVA (OLS, type II; residual df {effects.residual_df:g})",
        ["term", "df", "F", "p"],
        [[t.name, f"{t.df:g}", f"{t.f:.3g}", f"{t.p:.3g}"] for t in effects.terms],
    )
    levels = (
        "Each level against its factor's best level, the other factors fixed (additive OLS)",
        ["factor", "level", "jobs", "mean of its jobs (%)", "Δ (pp, 95% CI)", "p"],
        [
            [e.factor, e.level, str(e.jobs), f"{100 * e.mean:.2f}"]
            + (["best", ""] if e.difference is None else [signed(e.difference), f"{e.p:.3g}"])
            for e in effects.levels
        ],
    )
    return [anova, levels] if effects.terms else []


def no_interval_note(rows: list[Row]) -> str:
    """Said aloud rather than printing zeros: one seed has no spread to build an interval on."""
    single = [row.config for row in rows if row.values and row.interval is None]
    if not single:
        return ""
    return (
        f"No interval can be computed for {', '.join(single)}: one finished seed each. "
        "Run each configuration with several seeds (seed=1,2,3) for intervals and p-values."
    )


def notes(rows: list[Row], effects: Effects | None) -> list[str]:
    said = [no_interval_note(rows), effects.note if effects else ""]
    said.append("Intervals of a mean are cut to [0, 100] %, the range of the metric.")
    return [note for note in said if note]


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


def markdown_table(header: list[str], cells: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(str(c) for c in line) + " |" for line in cells]


def markdown(
    rows: list[Row], metrics: list[str], title: str, baseline: str, effects: Effects | None
) -> str:
    lines = [f"{title}\n" if title else "", *markdown_table(*table_rows(rows, metrics, baseline))]
    for caption, header, cells in effect_tables(effects) if effects else []:
        lines += ["", f"{caption} on {metrics[0]}:", "", *markdown_table(header, cells)]
    return "\n".join([*lines, "", *notes(rows, effects)]) + "\n"


def print_tables(
    rows: list[Row], metrics: list[str], title: str, baseline: str, effects: Effects | None
) -> None:
    """The tables in the terminal: numbers whole, long names folded at their dots, so every
    row keeps its swept values in a 120-column terminal."""
    console = Console()
    header, cells = table_rows(rows, metrics, baseline, narrow=True)
    factor_columns = len(header) - 5 - (len(metrics) - 1)
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
                table.add_column(column.replace(" (", "\n("), justify="right")
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
        help="the configuration others are compared with, as overrides "
        "(e.g. model.pooling=last; default: the best)",
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
        baseline = compare_to(rows, args.metric, args.baseline)
    except ValueError as err:
        parser.exit(2, f"error: {err}\n")
    effects = factor_effects(jobs, args.metric)
    title = f"{args.sweep.name}" + (f" (every job: {' '.join(common)})" if common else "")
    out = args.out or args.sweep
    out.mkdir(parents=True, exist_ok=True)
    write_csv(rows, metrics, out / "compare.csv")
    atomic.write_text(out / "compare.md", markdown(rows, metrics, title, baseline, effects))
    caption = f"{args.metric}: each seed, mean and 95 % interval"
    figure = seeds_figure(rows, args.metric, caption, factors(job.settings for job in jobs))
    written = ["compare.csv", "compare.md", *(p.name for p in save(figure, out / "compare"))]
    if args.report:
        from lstmlab.reporting.report import write_report  # TensorBoard's reader: only here

        write_report(
            out / "report.html", args.sweep, jobs, common, rows, metrics, baseline, effects, figure
        )
        written.append("report.html")
    print_tables(rows, metrics, title, baseline, effects)
    failed = sum(row.failed for row in rows)
    print(f"{len(jobs)} jobs, {failed} not complete; wrote {', '.join(written)} in {out}")
    return 0


def cli() -> None:
    """The installed command: `main`'s status as the exit code."""
    sys.exit(main())

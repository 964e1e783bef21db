"""A sweep's tables as cells, shared by the terminal, Markdown and the HTML report: one column
per swept factor, named by its values, then the statistics (`sweep.py`, `effects.py`)."""

from __future__ import annotations

from lstmlab.reporting.effects import Effects
from lstmlab.reporting.significance import Interval
from lstmlab.reporting.sweep import Row, factors


def interval_cell(row: Row) -> str:
    if not row.values:
        return "-"
    if row.interval is None:
        return "n/a (1 seed)"
    return f"[{100 * row.interval.low:.2f}, {100 * row.interval.high:.2f}]"


def difference_cells(row: Row) -> list[str]:
    """The difference against the row's baseline with its interval (percentage points), and p."""
    if row.baseline is row:
        return ["baseline", ""]
    if row.baseline is None:
        return ["no baseline run" if row.values else "-", "-"]
    if row.difference is None:
        return ["n/a (1 seed)", "-"]
    return [signed(row.difference.interval), f"{row.difference.p_value:.3g}"]


def signed(d: Interval) -> str:
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
    rows: list[Row], metrics: list[str], narrow: bool = False
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
        + difference_cells(row)
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


def markdown_table(header: list[str], cells: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(str(c) for c in line) + " |" for line in cells]

"""A sweep's figures, fit for a paper: every seed's value with each configuration's mean and
95 % interval, drawn by factor, and the learning curves of the metric each run monitored.

The seeds figure is a dot plot, not bars: a bar's length reads as the value, which only holds
from zero, while a dot's position can be read on a zoomed axis that shows the differences. A
factorial sweep is drawn by factor: the first swept factor along the axis, the second as
colour, each combination of the others in a panel of its own. Any other sweep (one whose
configurations do not fill a grid) gets one position per configuration.
"""

from __future__ import annotations

import itertools
import math
import textwrap
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from lstmlab.io.atomic import atomic_open
from lstmlab.reporting.sweep import Row, factors, label

FORMATS = {"png": {"dpi": 300}, "pdf": {}, "svg": {}}  # 300 dpi: print resolution
COLOURS = [f"C{i}" for i in range(10)]
PANELS_PER_LINE = 3
WIDTH = 0.7  # of one axis position, shared by its colours


def save(figure: Figure, stem: Path) -> list[Path]:
    """`stem`.png, .pdf and .svg, each whole or not at all."""
    paths = []
    for suffix, options in FORMATS.items():
        path = stem.with_suffix(f".{suffix}")
        with atomic_open(path) as file:
            figure.savefig(file, format=suffix, bbox_inches="tight", metadata=None, **options)
        paths.append(path)
    return paths


def layout(rows: list[Row], swept: dict[str, list[str]]) -> tuple[list[str], dict[str, list[str]]]:
    """The keys drawn along the axis, as colour and as panels (in that order), and their
    levels; no keys when the configurations are not a full grid of the swept factors."""
    cells = math.prod(len(levels) for levels in swept.values())
    complete = all(set(swept) <= set(row.settings) for row in rows)
    if swept and complete and cells == len(rows):
        return list(swept), swept
    return [], {}


def seeds_figure(
    rows: list[Row], metric: str, title: str = "", swept: dict[str, list[str]] | None = None
) -> Figure:
    """Each configuration's seeds (small dots) and mean with its 95 % t-interval (large
    marker and bar; none with one seed) of `metric` in %, by factor. `swept`: the factors and
    their levels in the order to draw them (default: as the rows first show them)."""
    swept = swept or factors(row.settings for row in rows)
    keys, levels = layout(rows, swept)
    axis_key, colour_key = ([*keys, None, None])[:2]
    panels = list(itertools.product(*(levels[k] for k in keys[2:]))) or [()]
    positions = levels[axis_key] if axis_key else [label(row.settings, swept) for row in rows]
    colours = levels[colour_key] if colour_key else [None]
    lines = math.ceil(len(panels) / PANELS_PER_LINE)
    across = min(len(panels), PANELS_PER_LINE)
    width = min(12.0, 2.5 + across * max(2.5, 0.9 * len(positions) * len(colours) ** 0.5))
    figure = Figure(figsize=(width, 0.4 + 3.2 * lines), layout="constrained")
    axes = figure.subplots(lines, across, sharey=True, squeeze=False).ravel()
    for ax, panel in zip(axes, panels):
        fixed = dict(zip(keys[2:], panel))
        for number, row in enumerate(rows):
            if any(row.settings.get(k) != v for k, v in fixed.items()):
                continue
            at = positions.index(row.settings[axis_key]) if axis_key else number
            shade = colours.index(row.settings.get(colour_key))
            x = at + (shade - (len(colours) - 1) / 2) * WIDTH / len(colours)  # aside for its colour
            colour = COLOURS[shade % 10]
            draw_row(ax, row, metric, x, colour, WIDTH / len(colours))
        ax.set_xticks(
            range(len(positions)),
            positions,
            rotation=0 if axis_key else 30,
            ha="center" if axis_key else "right",
        )
        ax.set_xlim(-0.5, len(positions) - 0.5)
        ax.set_xlabel(axis_key or " · ".join(swept) or "configuration")
        ax.set_title(", ".join(f"{k}={v}" for k, v in fixed.items()), fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    axes[0].set_ylabel(f"{metric} (%)")
    axes[0].set_ylim(*value_limits(rows, metric))
    figure.legend(handles=legend_handles(rows, metric, colour_key, colours), loc="outside right")
    if title:
        figure.suptitle(textwrap.fill(title, int(width * 11)), fontsize=10)
    return figure


def draw_row(ax: Axes, row: Row, metric: str, x: float, colour: str, room: float) -> None:
    values = [100 * v for v in row.values.get(metric, [])]
    if not values:
        ax.text(
            x,
            0.02,
            (row.incomplete and "/".join(row.incomplete)) or "no result",
            transform=ax.get_xaxis_transform(),
            color="tab:red",
            fontsize=7,
            ha="center",
            rotation=90,
            va="bottom",
        )
        return
    spread = [room * 0.35 * (i / max(1, len(values) - 1) - 0.5) for i in range(len(values))]
    ax.scatter([x + s for s in spread], values, s=14, color=colour, alpha=0.55, linewidths=0)
    mean = 100 * row.stats[metric][0]
    ci = row.interval
    error = None if ci is None else [[mean - 100 * ci.low], [100 * ci.high - mean]]
    ax.errorbar(
        x + room * 0.3,
        mean,
        yerr=error,
        fmt="D",
        color=colour,
        markersize=5,
        capsize=3,
        elinewidth=1.2,
        clip_on=False,  # a cap at 0 or 100 % lies on the frame: drawn, not cut
    )


def value_limits(rows: list[Row], metric: str) -> tuple[float, float]:
    """Every seed and every interval inside, with a margin; within 0-100 %."""
    ends = [100 * v for row in rows for v in row.values.get(metric, [])]
    ends += [100 * e for row in rows if row.interval for e in (row.interval.low, row.interval.high)]
    if not ends:
        return 0.0, 100.0
    low, high = min(ends), max(ends)
    margin = max(0.08 * (high - low), 0.5)
    return max(0.0, low - margin), min(100.0, high + margin)


def legend_handles(rows: list[Row], metric: str, colour_key, colours: list) -> list[Line2D]:
    handles = [
        Line2D([], [], marker="o", ls="", color="grey", alpha=0.55, label="each seed"),
        Line2D([], [], marker="D", color="grey", label="mean, 95 % t-interval"),
    ]
    if any(len(row.values.get(metric, [])) == 1 for row in rows):
        handles.append(Line2D([], [], ls="", label="(1 seed: no interval)"))
    if colour_key:
        handles.append(Line2D([], [], ls="", label=f"\n{colour_key}"))
        handles += [
            Line2D([], [], marker="s", ls="", color=COLOURS[i % 10], label=level)
            for i, level in enumerate(colours)
        ]
    return handles


def curves_figure(
    curves: dict[str, list[tuple[list[int], list[float]]]], tag: str, named_by: str
) -> Figure:
    """One line per run of `tag` against the step, a colour per configuration (`curves` maps
    its label, its values of the keys `named_by` lists, to its runs' steps and values)."""
    figure = Figure(figsize=(8, 3.6), layout="constrained")
    ax = figure.add_subplot()
    for i, (name, runs) in enumerate(curves.items()):
        for j, (steps, values) in enumerate(runs):
            ax.plot(
                steps,
                [100 * v for v in values],
                color=COLOURS[i % 10],
                alpha=0.8,
                lw=1.2,
                marker=".",
                ms=4,
                label=name if j == 0 else None,
            )
    ax.set_xlabel("step")
    ax.set_ylabel(f"{tag} (%)")
    ax.grid(alpha=0.3)
    title = f"{named_by}\n(one line per seed)"
    figure.legend(loc="outside right", title=title, fontsize=8, title_fontsize=8)
    return figure

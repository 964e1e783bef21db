"""A sweep's study on one self-contained HTML page (`scripts/compare.py <sweep> --report`).

What a reader needs to judge the study without the folders: the swept factors and the fixed
settings, the configuration table with intervals, the seeds figure, the factor effects, the
learning curves of the metric each run monitored (read from its event files with
TensorBoard's own reader), the jobs that did not complete (failed, pruned), paired tests of
models that `evaluate.py` scored on the same examples, and the command that reruns the sweep.
Figures are embedded as base64 PNG and the style is inline, so the file can be mailed or
archived alone.
"""

from __future__ import annotations

import base64
import html
import io
import shlex
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import yaml
from matplotlib.figure import Figure

from lstmlab.io import atomic
from lstmlab.reporting.effects import Effects
from lstmlab.reporting.events import monitored_metric, scalar_curve
from lstmlab.reporting.paired import PREDICTIONS, PairedComparison, compare, read_predictions
from lstmlab.reporting.sweep import COMPLETE, Job, Row, factors, label
from lstmlab.reporting.sweep_figures import curves_figure
from lstmlab.reporting.tables import effect_tables, notes, signed, table_rows

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1180px;
       padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { font-size: 1.25em; margin-top: 1.8em;
     border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
tr.incomplete td { color: #b00; }
img { max-width: 100%; } figcaption, .note { color: #555; font-size: 0.9em; }
code, pre { background: #f6f6f6; padding: 0.1em 0.3em; }
pre { padding: 0.6em; overflow-x: auto; white-space: pre-wrap; }
"""


@dataclass(frozen=True)
class Study:
    """What compare.py read and computed from a sweep, as the page shows it."""

    sweep: Path
    jobs: list[Job]
    common: list[str]  # the overrides every job shares
    rows: list[Row]
    metrics: list[str]  # the chosen one first
    effects: Effects | None
    baseline: str | None = None  # --baseline as given (None: the default)


def write_report(path: Path, study: Study, figure: Figure) -> None:
    """The page, written whole or not at all."""
    metric, name = study.metrics[0], esc(study.sweep.name)
    sections = [
        f"<h1>Study: {name}</h1>",
        f"<p class=note>{esc(study.sweep)} · {len(study.jobs)} jobs · sorted by {esc(metric)} · "
        f"written {datetime.now():%Y-%m-%d %H:%M}</p>",
        "<h2>Setup</h2>",
        setup_section(study.jobs, study.common),
        "<h2>Configurations</h2>",
        html_table(
            *table_rows(study.rows, study.metrics),
            [row.failed > 0 for row in study.rows],
        ),
        "".join(f"<p class=note>{esc(n)}</p>" for n in notes(study.rows, study.effects)),
        "<figure>" + image(figure) + f"<figcaption>{esc(metric)} of every seed (dots), each "
        "configuration's mean and 95 % t-interval over seeds (diamond and bar; none for one "
        "seed).</figcaption></figure>",
        "<h2>Factor effects</h2>",
        effects_section(study.effects, metric),
        "<h2>Learning curves</h2>",
        curves_section(study.jobs, study.rows),
        "<h2>Jobs that did not complete</h2>",
        incomplete_section(study.jobs),
        "<h2>Paired tests on the same examples</h2>",
        paired_section(study.sweep, study.jobs, study.rows),
        "<h2>Reproduce</h2>",
        reproduce_section(study.sweep, metric, study.baseline),
    ]
    page = (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        f"<title>{name}: study report</title><style>{STYLE}</style></head>"
        f"<body>{''.join(sections)}</body></html>\n"
    )
    atomic.write_text(path, page)


def esc(text: object) -> str:
    return html.escape(str(text))


def html_table(header: list[str], cells: list[list], flagged: list[bool] | None = None) -> str:
    flagged = flagged or [False] * len(cells)
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join(
        f"<tr{' class=incomplete' if bad else ''}>"
        + "".join(f"<td>{esc(c)}</td>" for c in line)
        + "</tr>"
        for line, bad in zip(cells, flagged)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def image(figure: Figure, dpi: int = 150) -> str:
    """The figure as an <img> whose data is in the page."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="figure" src="data:image/png;base64,{data}">'


def setup_section(jobs: list[Job], common: list[str]) -> str:
    swept = factors(job.settings for job in jobs)
    seeds = sorted({job.seed for job in jobs if job.seed is not None}, key=str)
    factor_rows = [[key, ", ".join(levels)] for key, levels in swept.items()]
    if seeds:
        factor_rows.append(["seed (repeats)", ", ".join(seeds)])
    fixed = " ".join(f"<code>{esc(o)}</code>" for o in common) or "none besides the defaults"
    config = jobs[0].folder / ".hydra" / "config.yaml"
    composed = (
        f"<details><summary>The composed config of {esc(jobs[0].folder.name)}</summary>"
        f"<pre>{esc(config.read_text())}</pre></details>"
        if config.exists()
        else ""
    )
    return (
        html_table(["swept factor", "levels"], factor_rows)
        + f"<p>Fixed by the command (every job): {fixed}. Everything else: the configs' "
        f"defaults.</p>{composed}"
    )


def effects_section(effects: Effects | None, metric: str) -> str:
    if effects is None:
        return "<p>No factor has two levels among the complete jobs.</p>"
    parts = [
        f"<p>{esc(caption)} on {esc(metric)}:</p>" + html_table(header, cells)
        for caption, header, cells in effect_tables(effects)
    ]
    if effects.note:
        parts.append(f"<p class=note>{esc(effects.note)}</p>")
    return "".join(parts) + (
        "<p class=note>A linear model over every complete job, each swept factor a "
        'categorical term (statsmodels OLS); see docs/research.md, "Over seeds".</p>'
    )


def curves_section(jobs: list[Job], rows: list[Row]) -> str:
    """The monitored metric of every run against the step, a colour per configuration."""
    tag = monitored_metric(jobs[0].folder)
    keys = list(factors(row.settings for row in rows))
    curves: dict[str, list] = {}
    for row in rows:
        mine = [scalar_curve(job.folder, tag) for job in jobs if job.config == row.config]
        found = [curve for curve in mine if curve]
        if found:
            curves[label(row.settings, keys)] = found
    if not curves:
        return f"<p>No run logged {esc(tag)} to its event files.</p>"
    legend = " · ".join(keys) or "configuration"
    return (
        "<figure>"
        + image(curves_figure(curves, tag, legend))
        + f"<figcaption>{esc(tag)} (the metric "
        "the best checkpoint was chosen by) per run, from its TensorBoard event files."
        "</figcaption></figure>"
    )


def incomplete_section(jobs: list[Job]) -> str:
    left = [job for job in jobs if job.status != COMPLETE]
    if not left:
        return "<p>Every job completed.</p>"
    cells = [
        [job.folder.name, job.config, job.seed or "-", job.status, last_line(job.folder)]
        for job in left
    ]
    return html_table(
        ["job folder", "configuration", "seed", "status", "last log line"],
        cells,
        [True] * len(cells),
    )


def last_line(folder: Path) -> str:
    """The last line of the job's log (a failure's message), if it wrote one."""
    logs = sorted(folder.glob("*.log"))
    lines = logs[0].read_text(errors="replace").strip().splitlines() if logs else []
    return lines[-1][-200:] if lines else "-"


def evaluations_of(sweep: Path, jobs: list[Job]) -> dict[Path, tuple[Job, str]]:
    """evaluate.py folders (in the sweep or its log folder's evaluations/) that scored a
    checkpoint of one of the sweep's jobs: folder -> (job, split)."""
    found = {}
    places = [sweep, sweep.parent.parent / "evaluations"]
    for place in places:
        for record in sorted(place.glob("**/evaluation.json")):
            if not (record.parent / PREDICTIONS).exists():
                continue
            saved = yaml.safe_load(record.read_text())  # JSON is YAML
            checkpoint = Path(str(saved.get("checkpoint", "")))
            job = next((j for j in jobs if is_inside(checkpoint, j.folder)), None)
            if job is not None:
                found[record.parent] = (job, saved.get("split", "test"))
    return found


def is_inside(checkpoint: Path, folder: Path) -> bool:
    """Whether the checkpoint lies in the job folder, however either path was written."""
    parts = checkpoint.parts
    return (folder.name in parts and folder.parent.name in parts) or (
        folder.resolve() in checkpoint.resolve().parents
    )


def paired_section(sweep: Path, jobs: list[Job], rows: list[Row]) -> str:
    """Each configuration's model against its baseline's model of the same seed, scored on
    the same split (McNemar's exact test, paired bootstrap)."""
    evaluations = evaluations_of(sweep, jobs)
    baseline_of = {row.config: row.baseline.config for row in rows if row.baseline is not None}
    scored = {(job.config, job.seed, split): folder for folder, (job, split) in evaluations.items()}
    cells = []
    for folder, (job, split) in evaluations.items():
        base = baseline_of.get(job.config)
        other = scored.get((base, job.seed, split))
        if base == job.config or other is None:
            continue
        try:
            result = compare(read_predictions(other), read_predictions(folder))
            cells.append([base, *paired_cells(job, split, result)])
        except ValueError as err:  # scored other examples: no pairing exists
            cells.append([base, job.config, job.seed or "-", split, str(err), *[""] * 5])
    if not cells:
        return (
            "<p>None: no two configurations' models of one seed were scored by evaluate.py "
            "(<code>python evaluate.py ckpt_path=&lt;job&gt;/checkpoints/&lt;best&gt;.ckpt</code>"
            " for the baseline and another configuration).</p>"
        )
    header = [
        "configuration A (baseline)",
        "configuration B",
        "seed",
        "split",
        "examples",
        "acc A (%)",
        "acc B (%)",
        "A − B (pp, paired bootstrap 95% CI)",
        "only A / only B right",
        "McNemar exact p",
    ]
    return html_table(header, cells)


def paired_cells(job: Job, split: str, result: PairedComparison) -> list[str]:
    d = result.difference
    return [
        job.config,
        job.seed or "-",
        split,
        str(result.examples),
        f"{100 * result.accuracy_a:.2f}",
        f"{100 * result.accuracy_b:.2f}",
        signed(d),
        f"{result.only_a_right} / {result.only_b_right}",
        f"{result.mcnemar_p:.3g}",
    ]


def reproduce_section(sweep: Path, metric: str, baseline: str | None) -> str:
    """The sweep's command from its multirun.yaml, and this report's."""
    multirun = sweep / "multirun.yaml"
    commands = []
    if multirun.exists():
        hydra = yaml.safe_load(multirun.read_text())["hydra"]
        task = hydra["overrides"]["task"]
        commands.append(f"python {hydra['job']['name']}.py -m {shlex.join(task)}")
    compared = ["--metric", metric, *(["--baseline", baseline] if baseline else []), "--report"]
    commands.append(shlex.join(["python", "scripts/compare.py", str(sweep), *compared]))
    note = "" if multirun.exists() else "<p>No multirun.yaml in the sweep: its command is lost.</p>"
    return note + "<pre>" + esc("\n".join(commands)) + "</pre>"

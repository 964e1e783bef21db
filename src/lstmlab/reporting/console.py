"""What a run prints: the composed config at the start, the results at the end (rich), each
also copied into the run's log file (see run_log.py)."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import rich
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf
from rich.console import Console, RenderableType
from rich.syntax import Syntax
from rich.table import Table
from rich.tree import Tree

from lstmlab.reporting.run_log import RECORD

# Columns for output that is not a terminal: rich assumes 80 there, which cut the config's
# paths; a file or a pipe has no width, so nothing is cut or wrapped.
UNLIMITED = 1_000_000

SECTION_ORDER = (
    "data",
    "model",
    "optimizer",
    "scheduler",
    "trainer",
    "callbacks",
    "logger",
    "paths",
)


@rank_zero_only
def print_config_tree(cfg: DictConfig) -> None:
    """The resolved config, one branch per group, so the log shows exactly what ran."""
    tree = Tree("config", guide_style="dim")
    rest = [key for key in cfg if key not in SECTION_ORDER]
    for key in (*SECTION_ORDER, *rest):
        if key not in cfg:
            continue
        value = cfg[key]
        text = (
            OmegaConf.to_yaml(value, resolve=True) if isinstance(value, DictConfig) else str(value)
        )
        tree.add(f"[bold]{key}[/bold]").add(Syntax(text.rstrip(), "yaml", theme="ansi_dark"))
    console().print(tree)
    RECORD.info("config:\n%s", OmegaConf.to_yaml(cfg, resolve=True).rstrip())


@rank_zero_only
def print_summary(
    metrics: Mapping[str, float], output_dir: str, best_ckpt: str | None, browse: Sequence[str]
) -> None:
    """Final metrics as a table, then where the run's files are and the `browse` commands
    that open it in its trackers (unwrapped, to copy-paste)."""
    table = Table(title="results", show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name in sorted(metrics):
        table.add_row(name, f"{metrics[name]:.4f}")
    show(table)
    best = f"best checkpoint: {best_ckpt}" if best_ckpt else None  # none: evaluate.py
    places = [
        f"run folder:      {output_dir}",
        best,
        *(f"compare runs:    {command}" for command in browse),
    ]
    console().print("\n".join(p for p in places if p), soft_wrap=True)
    if best:
        RECORD.info(best)


def show(renderable: RenderableType) -> None:
    """Prints `renderable` (a table) and copies it, as plain text, into the run's log file."""
    console().print(renderable)
    text = Console(file=io.StringIO(), width=UNLIMITED, color_system=None)
    text.print(renderable)
    RECORD.info("\n%s", text.file.getvalue().rstrip())


def console() -> Console:
    """Rich's console on a terminal; anywhere else (a file, a pipe, a SLURM log) one that
    never cuts or wraps lines."""
    terminal = rich.get_console()
    return terminal if terminal.is_terminal else Console(width=UNLIMITED)

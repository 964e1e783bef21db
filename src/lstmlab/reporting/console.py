"""What a run prints: the composed config at the start, the results at the end (rich)."""

from __future__ import annotations

from collections.abc import Mapping

import rich
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf
from rich.syntax import Syntax
from rich.table import Table
from rich.tree import Tree

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
    rich.print(tree)


@rank_zero_only
def print_summary(
    metrics: Mapping[str, float], output_dir: str, best_ckpt: str | None, log_dir: str
) -> None:
    """Final metrics as a table, then where the run's files are (unwrapped, to copy-paste)."""
    table = Table(title="results", show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name in sorted(metrics):
        table.add_row(name, f"{metrics[name]:.4f}")
    console = rich.get_console()
    console.print(table)
    console.print(f"run folder:      {output_dir}", soft_wrap=True)
    console.print(f"best checkpoint: {best_ckpt or '(none saved)'}", soft_wrap=True)
    console.print(f"compare runs:    tensorboard --logdir {log_dir}", soft_wrap=True)

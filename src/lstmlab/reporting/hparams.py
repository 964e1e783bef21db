"""The HPARAMS tab: every hyperparameter of a run next to its headline final metrics.

TensorBoard (2.21, plugins/hparams/backend_context.py) builds the tab in one of two ways. If any
run holds an hparams *experiment* summary (what `torch.utils.tensorboard.summary.hparams` and
Lightning's `log_hyperparams` write), it shows that one run's copy as it is: nothing is marked as
differing and no values are listed. Only when no run holds one does it build the experiment from
every run's *session* records, marking each hyperparameter whose values differ (`differs`), and
the table shows those first. Its metric columns are then every scalar tag logged in a session's
run or below it, sorted, of which the first five are shown.

So each run writes session records only, into a sub-run `<run>/hparams` that holds copies of the
headline metrics and nothing else: the table shows the swept keys against val/acc_best, test/acc
and test/f1 without a click, and per-class metrics do not crowd them out. A run continued in its
own folder (`ckpt_path`, `resume=`) replaces that sub-run whole: with two session starts in one
run, TensorBoard shows the first, the hyperparameters from before the continuation.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import Logger, TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.plugins.hparams import api_pb2, metadata
from tensorboard.plugins.hparams.plugin_data_pb2 import (
    HParamsPluginData,
    SessionEndInfo,
    SessionStartInfo,
)
from torch.utils.tensorboard import SummaryWriter

from lstmlab.io.atomic import atomic_folder

# The metric columns every run shows (at most five are shown without a click).
HEADLINE_METRICS = ("val/acc_best", "test/acc", "test/f1")
SUB_RUN = "hparams"  # <run>/hparams: the session records and the headline metrics
HPARAM_SECTIONS = ("data", "model", "optimizer", "scheduler", "trainer")
NOT_SETTINGS = {"trainer.default_root_dir"}  # the run's own folder: would "differ" in every run


def hyperparameters(cfg: DictConfig) -> dict[str, Any]:
    """`{"model.pooling": "attn", "optimizer.class": "Adam", "seed": 42, ...}`.

    `_target_` becomes `class` (the short class name, e.g. which optimiser); values TensorBoard
    cannot show as they are (booleans, None, lists) become strings.
    """
    flat: dict[str, Any] = {"seed": cfg.get("seed")}
    for section in HPARAM_SECTIONS:
        node = cfg.get(section)
        if node:
            flat.update(_flatten(OmegaConf.to_container(node, resolve=True), section))
    return {key: _displayable(value) for key, value in flat.items() if key not in NOT_SETTINGS}


def _flatten(node: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in node.items():
        if key == "_partial_":
            continue
        if key == "_target_":
            key, value = "class", str(value).rsplit(".", 1)[-1]
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{prefix}.{key}"))
        else:
            flat[f"{prefix}.{key}"] = value
    return flat


def _displayable(value: Any) -> Any:
    # Booleans as "true"/"false", the override spelling: torch's hparams() would turn them
    # into 1.0/0.0 (it tests for int before bool).
    if isinstance(value, bool):
        return str(value).lower()
    return value if isinstance(value, (int, float, str)) else str(value)


@rank_zero_only  # other DDP ranks hold dummy loggers with no file to write to
def log_hparams(
    loggers: Iterable[Logger],
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    name: str,
    step: int,
    optimized: str | None = None,
) -> None:
    """Writes (or replaces) the `hparams` sub-run next to every TensorBoard logger's events: the
    session records (`params`; `name` is what the table's Trial ID column shows) and, at `step`, the
    final value of each headline metric in `metrics` and of `optimized` (the one a sweeper
    optimises)."""
    headline = [tag for tag in dict.fromkeys([*HEADLINE_METRICS, optimized]) if tag in metrics]
    for logger in loggers:
        if not isinstance(logger, TensorBoardLogger):
            continue
        sub_run = atomic_folder(Path(logger.log_dir) / SUB_RUN, replace=True)
        with sub_run as folder, SummaryWriter(str(folder)) as writer:
            for tag in headline:
                writer.add_scalar(tag, metrics[tag], step)
            for summary in session_summaries(params, name):
                writer.file_writer.add_summary(summary)


def session_summaries(params: Mapping[str, Any], name: str) -> list[Summary]:
    """A finished session's start and end records, as TensorBoard's hparams plugin reads them.
    `name` becomes the session group's name (runs with one name are averaged in one row)."""
    now = time.time()
    start = SessionStartInfo(group_name=name, start_time_secs=now)
    for key, value in params.items():
        if isinstance(value, str):
            start.hparams[key].string_value = value
        else:
            start.hparams[key].number_value = value
    end = SessionEndInfo(status=api_pb2.STATUS_SUCCESS, end_time_secs=now)
    return [
        _summary(metadata.SESSION_START_INFO_TAG, HParamsPluginData(session_start_info=start)),
        _summary(metadata.SESSION_END_INFO_TAG, HParamsPluginData(session_end_info=end)),
    ]


def _summary(tag: str, data: HParamsPluginData) -> Summary:
    return Summary(value=[Summary.Value(tag=tag, metadata=metadata.create_summary_metadata(data))])

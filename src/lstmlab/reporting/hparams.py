"""The HPARAMS tab: the hyperparameters that tell a run apart, next to its headline metrics.

TensorBoard (2.21, plugins/hparams/backend_context.py) builds the tab from an hparams
*experiment* summary if a run holds one, else from every run's *session* records; its table
ticks the first five hyperparameters (those marked `differs` first, then by name) and the
first five metrics without a click. A computed experiment lists every scalar tag as a metric,
sorted (`test/acc`, `test/ece`, ... `val/acc_best` far down), so each run writes all three
records itself: the experiment (which hyperparameters and metrics are columns, in our order),
the session start (the values) and the session end.

They go into the run's own folder, as one event file with a fixed name (`EVENT_FILE`), so each
run appears once in TensorBoard (no `<run>/hparams` twin) and "Show Metrics" draws the metrics'
learning curves from the run's own scalars. A run continued in its folder (`ckpt_path`,
`resume=`) replaces that file whole: one session, its final values.

Columns: the swept keys (or a single run's overridden ones, marked `differs`), or, for a run
that overrides nothing, a few headline keys (`HEADLINE_HPARAMS`). Constant settings would push
`val/acc_best` off a 1366-px screen, so the whole composed config goes beside them as a text
summary (TEXT tab, `config`).
TensorBoard takes the columns of one run's experiment: open one sweep at a time
(`--logdir logs/multiruns/<time>`) to see that sweep's keys.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import Logger, TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf
from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.plugins.hparams import api_pb2, metadata
from tensorboard.plugins.hparams.plugin_data_pb2 import (
    HParamsPluginData,
    SessionEndInfo,
    SessionStartInfo,
)
from tensorboard.summary.writer.record_writer import RecordWriter
from torch.utils.tensorboard.summary import text

from lstmlab.io.atomic import atomic_open

# Metric columns, in this order (TensorBoard shows the first five without a click): the final
# values, then the learning curves "Show Metrics" draws for a row.
HEADLINE_METRICS = ("val/acc_best", "test/acc", "test/f1")
CURVES = ("val/acc", "val/loss")
# Hyperparameter columns of a run that overrides nothing (when its config has them).
HEADLINE_HPARAMS = ("encoder", "pooling", "model.encoder.bidirectional", "optimizer.lr", "seed")
PARTS = "model/"  # groups of the network's parts (model/pooling): named by their chosen option
EVENT_FILE = "events.out.tfevents.hparams"  # sorts after the timestamped files: read last
HPARAM_SECTIONS = ("data", "model", "optimizer", "scheduler", "trainer")
NOT_SETTINGS = {"trainer.default_root_dir"}  # the run's own folder: would "differ" in every run


def hyperparameters(cfg: DictConfig, choices: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """`{"pooling": "attn", "optimizer.class": "Adam", "seed": 42, ...}`.

    `_target_` becomes `class` (the short class name, e.g. which optimiser); values TensorBoard
    cannot show as they are (booleans, None, lists) become strings. `choices` (Hydra's
    `runtime.choices`) name each part of the network by its option (`pooling: max`), which
    says more than the part's class path.
    """
    flat: dict[str, Any] = {"seed": cfg.get("seed")}
    flat.update({hparam_key(g): o for g, o in (choices or {}).items() if g.startswith(PARTS)})
    for section in HPARAM_SECTIONS:
        node = cfg.get(section)
        if node:
            flat.update(_flatten(OmegaConf.to_container(node, resolve=True), section))
    return {key: _displayable(value) for key, value in flat.items() if key not in NOT_SETTINGS}


def hparam_key(key: str) -> str:
    """The HPARAMS column of an override's key: a part's group (`model/pooling`) is `pooling`."""
    return key.removeprefix(PARTS) if key.startswith(PARTS) else key


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
    metrics: Sequence[str],
    name: str,
    differing: Sequence[str] = (),
    config: str = "",
) -> None:
    """Writes (or replaces) `EVENT_FILE` in every TensorBoard logger's run folder: the columns
    (the `differing` keys, or `HEADLINE_HPARAMS` if none; `metrics`: the tags that are columns),
    the session's values from `params` (`name` is what the table's Trial ID column shows) and
    `config` (the composed YAML) as a text summary."""
    shown = [key for key in (differing or HEADLINE_HPARAMS) if key in params]
    summaries = [
        experiment_summary({key: params[key] for key in shown}, set(differing), metrics),
        *session_summaries({key: params[key] for key in shown}, name),
    ]
    if config:
        summaries.append(text("config", f"```yaml\n{config}\n```"))
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            write_events(Path(logger.log_dir) / EVENT_FILE, summaries)


def metric_columns(optimized: str | None) -> list[str]:
    """The headline metrics, the one a sweeper optimises, then the learning curves."""
    return list(dict.fromkeys([*HEADLINE_METRICS, *([optimized] if optimized else []), *CURVES]))


def write_events(path: Path, summaries: Iterable[Summary]) -> None:
    """An event file holding `summaries` at step 0, written whole or not at all."""
    now = time.time()
    with atomic_open(path) as file:
        records = RecordWriter(file)
        records.write(Event(wall_time=now, file_version="brain.Event:2").SerializeToString())
        for summary in summaries:
            records.write(Event(wall_time=now, step=0, summary=summary).SerializeToString())


def experiment_summary(
    params: Mapping[str, Any], differing: set[str], metrics: Sequence[str]
) -> Summary:
    """The HPARAMS table's columns: `params`' keys (those in `differing` marked so, which
    TensorBoard lists first) and `metrics`, in order."""
    infos = [
        api_pb2.HParamInfo(
            name=key,
            type=api_pb2.DATA_TYPE_STRING if isinstance(value, str) else api_pb2.DATA_TYPE_FLOAT64,
            differs=key in differing,
        )
        for key, value in params.items()
    ]
    columns = [api_pb2.MetricInfo(name=api_pb2.MetricName(tag=tag)) for tag in metrics]
    experiment = api_pb2.Experiment(hparam_infos=infos, metric_infos=columns)
    return _summary(metadata.EXPERIMENT_TAG, HParamsPluginData(experiment=experiment))


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

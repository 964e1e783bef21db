"""The HPARAMS tab: every hyperparameter of a run next to its real final metrics.

Lightning's default puts `hp_metric = -1` there. We instead write TensorBoard's hparams
summary once, at the end, naming metrics that the run already logged as scalars
(val/acc_best, test/acc, ...); TensorBoard reads their latest values from the same folder.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from lightning.pytorch.loggers import Logger, TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf
from torch.utils.tensorboard.summary import hparams as hparams_summary

HPARAM_SECTIONS = ("data", "model", "optimizer", "scheduler", "trainer")


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
    return {key: _displayable(value) for key, value in flat.items()}


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
def log_hparams_with_metrics(
    loggers: Iterable[Logger], params: Mapping[str, Any], metric_names: Iterable[str]
) -> None:
    """Write the hparams summary to every TensorBoard logger of the run."""
    names = sorted(metric_names)
    for logger in loggers:
        if not isinstance(logger, TensorBoardLogger):
            continue
        writer = logger.experiment._get_file_writer()  # reopened if fit/test closed it
        # The metric values are placeholders: TensorBoard shows each tag's last logged scalar.
        for summary in hparams_summary(dict(params), dict.fromkeys(names, 0.0)):
            writer.add_summary(summary)
        writer.flush()

"""Trackers besides TensorBoard (MLflow, W&B, CSV) get what its HPARAMS tab shows: the run's
hyperparameters, and the metrics each tracker already received as the run logged them (so
its latest values are the final metrics). MLflow also keeps the best checkpoint."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from lightning.pytorch.loggers import Logger, MLFlowLogger, TensorBoardLogger, WandbLogger
from lightning.pytorch.utilities import rank_zero_only


@rank_zero_only
def log_to_trackers(
    loggers: Iterable[Logger], params: Mapping[str, Any], best_checkpoint: str | None
) -> None:
    """`params` (hparams.py's `hyperparameters`) to every tracker but TensorBoard, whose
    HPARAMS summary hparams.py writes, and the best checkpoint to MLflow. Ends W&B's run: a
    sweep's next job in this process would otherwise log into it."""
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            continue
        logger.log_hyperparams(dict(params))
        logger.save()
        if isinstance(logger, MLFlowLogger) and best_checkpoint:
            logger.experiment.log_artifact(logger.run_id, best_checkpoint, "checkpoints")
        if isinstance(logger, WandbLogger):
            logger.experiment.finish()

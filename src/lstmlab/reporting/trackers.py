"""Trackers besides TensorBoard (MLflow, W&B, CSV) get what TensorBoard shows: the run's
hyperparameters, the metrics each tracker already received as the run logged them (so its
latest values are the final metrics) and the figures (callbacks/figures.py sends them); and the
run's files: `results.json`, `train.log`, the composed config and, for MLflow, the best
checkpoint. Each run ends by saying how to browse it with the trackers it used."""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import Logger, MLFlowLogger, TensorBoardLogger, WandbLogger
from lightning.pytorch.utilities import rank_zero_only

CONFIG_FILE = "composed_config.yaml"  # beside W&B's own config.yaml, so another name


@rank_zero_only
def log_to_trackers(
    loggers: Iterable[Logger],
    params: Mapping[str, Any],
    best_checkpoint: str | None,
    files: Sequence[Path] = (),
    config: str = "",
) -> None:
    """`params` (hparams.py's `hyperparameters`) to every tracker but TensorBoard, whose
    HPARAMS summary hparams.py writes; `files` that exist and `config` (the composed YAML, as
    `CONFIG_FILE`) as the run's files; the best checkpoint to MLflow. Ends W&B's run: a
    sweep's next job in this process would otherwise log into it."""
    kept = [path for path in files if path.is_file()]
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            continue
        logger.log_hyperparams(dict(params))
        logger.save()
        if isinstance(logger, MLFlowLogger):
            client, run = logger.experiment, logger.run_id
            for path in kept:
                client.log_artifact(run, str(path))
            if config:
                client.log_text(run, config, CONFIG_FILE)
            if best_checkpoint:
                client.log_artifact(run, best_checkpoint, "checkpoints")
        if isinstance(logger, WandbLogger):
            folder = Path(logger.experiment.dir)  # the run's files/, uploaded by `wandb sync`
            for path in kept:
                shutil.copy(path, folder / path.name)
            if config:
                (folder / CONFIG_FILE).write_text(config)
            logger.experiment.finish()


def browse_commands(loggers: Iterable[Logger], comparison_dir: str) -> list[str]:
    """How to look at the run with each tracker it logged to: TensorBoard over
    `comparison_dir`, MLflow's UI over its tracking database, W&B's sync of the offline run."""
    commands = []
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            commands.append(f"tensorboard --logdir {comparison_dir}")
        elif isinstance(logger, MLFlowLogger):
            commands.append(f"mlflow ui --backend-store-uri {logger._tracking_uri}")
        elif isinstance(logger, WandbLogger) and logger._offline:
            commands.append(f"wandb sync {logger.save_dir}/wandb/offline-run-*")
    return commands

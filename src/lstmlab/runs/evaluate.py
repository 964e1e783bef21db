"""Score a trained checkpoint on a split: `python evaluate.py ckpt_path=... [split=val]`.

The checkpoint holds the data settings it was trained with and its tokenizer, so by default
the very same split is rebuilt and encoded as in training, and the metrics equal the ones
the run recorded. `+data.<key>=...` changes one setting (e.g. where the data is), and
`data=<option>` scores on other data with the same label set. Besides evaluation.json it
writes predictions.parquet, every example's scores, for paired comparisons (reporting/paired.py).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import pyarrow as pa
import pyarrow.parquet as pq
from hydra.utils import instantiate
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf
from rich.table import Table
from torch.utils.data import DataLoader

from lstmlab.callbacks.figures import reliability_figure
from lstmlab.io import atomic
from lstmlab.models.lit_module import ClassifierModule
from lstmlab.models.metrics import Evaluation
from lstmlab.reporting.console import print_summary, show
from lstmlab.reporting.paired import PREDICTIONS
from lstmlab.reporting.run_log import run_logged
from lstmlab.runs import resolvers, run_folder
from lstmlab.runs.calibrate import CALIBRATED, calibrate, save_calibrated
from lstmlab.runs.checkpoints import (
    CheckpointError,
    align_labels,
    check_classes,
    load_model,
    read_checkpoint,
)
from lstmlab.runs.config_checks import check_config
from lstmlab.runs.instantiation import instantiate_each
from lstmlab.runs.refusals import checking_input, without_traceback
from lstmlab.runs.results import confusion_matrix

SPLITS = ("test", "val")


def evaluate(cfg: DictConfig) -> dict[str, float]:
    """Metrics of `cfg.ckpt_path` on `cfg.split`, printed, logged and saved as evaluation.json."""
    with checking_input():  # a refused checkpoint or setting: its message alone
        if cfg.split not in SPLITS:
            raise ValueError(f"split={cfg.split!r}: expected one of {', '.join(SPLITS)}")
        if OmegaConf.is_missing(cfg, "ckpt_path"):  # else omegaconf's bare MissingMandatoryValue
            raise ValueError(
                "No checkpoint given: evaluate.py scores one, e.g. "
                "python evaluate.py ckpt_path=logs/runs/<run>/checkpoints/<best>.ckpt"
            )
        check_config(cfg, "evaluate")
        L.seed_everything(cfg.seed)
        checkpoint = read_checkpoint(cfg.ckpt_path)
        model = load_model(checkpoint, cfg.ckpt_path)
        datamodule = build_datamodule(checkpoint, cfg.data, cfg.ckpt_path)
        datamodule.prepare_data()
        datamodule.setup("test" if cfg.split == "test" else "validate")  # its classes are known
        check_classes(model.class_names, getattr(datamodule, "class_names", None), cfg.ckpt_path)
    trainer: L.Trainer = instantiate(
        cfg.trainer,
        callbacks=instantiate_each(cfg.get("callbacks")),
        logger=instantiate_each(cfg.get("logger")),
    )
    calibration = calibrate(model, datamodule) if cfg.get("calibrate") else None
    run = trainer.test if cfg.split == "test" else trainer.validate
    run(model, datamodule=datamodule, verbose=False)  # print_summary shows the metrics

    prefix = f"{cfg.split}/"
    metrics = {
        name: float(value)
        for name, value in trainer.callback_metrics.items()
        if name.startswith(prefix) and not name.endswith("_best")
    }
    out = Path(cfg.paths.output_dir)
    matrix = confusion_matrix(model, cfg.split)
    loader = trainer.test_dataloaders if cfg.split == "test" else trainer.val_dataloaders
    save_predictions(out / PREDICTIONS, model, cfg.split, loader)
    save_reliability(out / "reliability.png", model.last_evaluation(cfg.split))
    if calibration:
        save_calibrated(checkpoint, calibration, out / CALIBRATED)
    save_evaluation(
        out / "evaluation.json",
        checkpoint=str(cfg.ckpt_path),
        split=cfg.split,
        metrics=metrics,
        confusion_matrix=matrix,
        class_names=model.class_names,
        calibration=calibration,
    )
    print_confusion(matrix, model.class_names)
    print_summary(
        metrics, cfg.paths.output_dir, None, [f"tensorboard --logdir {cfg.paths.log_dir}"]
    )
    return metrics


def build_datamodule(
    checkpoint: dict[str, Any], overrides: DictConfig | None, path: str
) -> L.LightningDataModule:
    """The training run's datamodule with `overrides` applied (a whole config with a
    `_target_` replaces it), reading text with the checkpoint's tokenizer."""
    overrides = overrides or OmegaConf.create()
    trained_on = checkpoint["hyper_parameters"].get("data")
    if "_target_" in overrides:
        data_cfg = overrides
    elif trained_on:
        data_cfg = OmegaConf.merge(trained_on, overrides)
    else:
        raise CheckpointError(
            f"{path} does not record the data it was trained on (written by an older "
            "lstmlab): choose it with data=<option> and the run's data.* settings."
        )
    datamodule = instantiate(
        align_labels(data_cfg, checkpoint["hyper_parameters"].get("class_names"))
    )
    state = checkpoint.get(type(datamodule).__qualname__)
    if state:  # before setup: the splits are encoded with exactly the trained tokenizer
        datamodule.load_state_dict(state)
    return datamodule


@rank_zero_only
def save_evaluation(path: Path, **evaluation: object) -> None:
    atomic.write_text(path, json.dumps(evaluation, indent=2) + "\n")


@rank_zero_only
def save_predictions(path: Path, model: ClassifierModule, split: str, loader: DataLoader) -> None:
    """Every example's label, prediction and class probabilities, by its index in the split
    (the loader may batch by length), for comparing two models example by example
    (`scripts/compare_evaluations.py`)."""
    scored = model.last_evaluation(split)
    order = [index for batch in loader.batch_sampler for index in batch]
    probabilities, labels = scored.probabilities, scored.labels
    if len(order) != len(labels):  # e.g. trainer.limit_test_batches: only part was scored
        return
    names = model.class_names
    predicted = probabilities.argmax(-1)
    columns = {
        "example": order,
        "label": [names[i] for i in labels.tolist()],
        "prediction": [names[i] for i in predicted.tolist()],
        "correct": (predicted == labels).tolist(),
        **{f"p_{name}": probabilities[:, i].tolist() for i, name in enumerate(names)},
    }
    with atomic.atomic_open(path) as file:
        pq.write_table(pa.table(columns), file)


@rank_zero_only
def save_reliability(path: Path, scored: Evaluation) -> None:
    """The reliability diagram of the scored split, as a PNG beside evaluation.json."""
    if len(scored.labels):
        with atomic.atomic_open(path) as file:
            reliability_figure(scored.probabilities, scored.labels).savefig(file, format="png")


@rank_zero_only
def print_confusion(matrix: list[list[int]] | None, class_names: list[str]) -> None:
    """Rows: true class, columns: predicted class."""
    if matrix is None:
        return
    table = Table(title="confusion matrix (rows: true, columns: predicted)", header_style="bold")
    table.add_column("")
    for name in class_names:
        table.add_column(name, justify="right")
    for name, row in zip(class_names, matrix):
        table.add_row(name, *map(str, row))
    show(table)


@hydra.main(version_base="1.3", config_path=resolvers.CONFIG_DIR, config_name="evaluate")
def _main(cfg: DictConfig) -> dict[str, float]:
    # a refused evaluation leaves no folder (run_folder.py)
    with run_folder.writing(cfg.paths.output_dir), run_logged(), without_traceback():
        return evaluate(cfg)


def main() -> None:
    """`python evaluate.py ...` / `lstmlab-evaluate ...`."""
    resolvers.register()
    run_folder.run_in_own_folder(_main, sys.argv[1:])  # a folder of its own, before Hydra

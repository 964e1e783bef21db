"""`evaluate.py calibrate=true`: temperature scaling fitted on the validation split, kept in a
copy of the checkpoint (`<evaluation>/calibrated.ckpt`) that predict.py, export.py and later
evaluations read. The original checkpoint is never rewritten."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor

from lstmlab.io import atomic
from lstmlab.models.calibration import class_logits, fit_temperature, scores_at

CALIBRATED = "calibrated.ckpt"


def calibrate(model: L.LightningModule, datamodule: L.LightningDataModule) -> dict[str, Any]:
    """Fits the model's temperature on the validation split and sets it; returns what was
    fitted, with the split's NLL and ECE at the old and the new temperature."""
    datamodule.setup("validate")
    logits, labels = validation_logits(model, datamodule)
    old, new = model.temperature, fit_temperature(logits, labels)
    before, after = scores_at(logits, labels, old), scores_at(logits, labels, new)
    model.temperature = new
    rank_zero_info(
        f"Temperature {new:.3f} fitted on {len(labels)} validation examples: "
        f"NLL {before['nll']:.4f} -> {after['nll']:.4f}, ECE {before['ece']:.4f} -> "
        f"{after['ece']:.4f}"
    )
    return {
        "temperature": new,
        "fitted_on": "val",
        "examples": len(labels),
        "val_nll": [before["nll"], after["nll"]],
        "val_ece": [before["ece"], after["ece"]],
    }


@torch.no_grad()
def validation_logits(model: L.LightningModule, datamodule: Any) -> tuple[Tensor, Tensor]:
    """Class logits [N, C] and labels [N] of the whole validation split."""
    model.eval()
    batches = [
        (model(batch["tokens"], batch["lengths"])[0], batch["labels"])
        for batch in datamodule.val_dataloader()
    ]
    logits = torch.cat([logits for logits, _ in batches])
    return class_logits(logits, model.binary_head), torch.cat([y for _, y in batches])


def save_calibrated(checkpoint: dict[str, Any], calibration: dict[str, Any], path: Path) -> None:
    """The checkpoint with its `calibration` entry, written whole or not at all."""
    with atomic.atomic_open(path) as file:
        torch.save({**checkpoint, "calibration": calibration}, file)
    rank_zero_info(f"Calibrated checkpoint: {path} (predict.py and export.py use its temperature)")

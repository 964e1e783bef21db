"""A pretrained encoder as a file: what `pretrain.py` writes to `encoder.pt` and how a
classifier starts from it (`model.pretrained_encoder`).

The file holds the encoder's state dict (`LSTMEncoder`'s own keys), the `model.*` keys that
decide its weight shapes, and the tokenizer it was trained with, so a classifier of another
shape or vocabulary is refused instead of reading wrong rows.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.utilities import rank_zero_info

from lstmlab.models.encoder import LSTMEncoder

SHAPE_KEYS = ("embed_dim", "hidden_size", "num_layers", "bidirectional", "init_state")


def encoder_state(
    encoder: LSTMEncoder, network: dict[str, Any], tokenizer: str | None
) -> dict[str, Any]:
    """What `load_encoder` needs: the encoder's weights, its shapes and the tokenizer."""
    return {
        "encoder": {k: v.cpu() for k, v in encoder.state_dict().items()},
        "network": encoder_shapes(network),
        "tokenizer": tokenizer,
    }


def encoder_shapes(network: dict[str, Any]) -> dict[str, Any]:
    """The `model.*` keys that decide the encoder's weight shapes, defaults filled in."""
    built = inspect.signature(LSTMEncoder).parameters
    return {k: network.get(k, built[k].default) for k in SHAPE_KEYS}


def load_encoder(
    encoder: LSTMEncoder, path: str | Path, network: dict[str, Any], tokenizer: str | None
) -> None:
    """Copies a pretrained encoder (`pretrain.py`'s encoder.pt) into `encoder`, after checking
    that it was trained with the same vocabulary and shapes."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"model.pretrained_encoder={path}: no such file. Give the encoder.pt that "
            "`python pretrain.py` wrote in its run folder."
        )
    saved = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(saved, dict) or "encoder" not in saved:
        raise ValueError(f"{path} is not an encoder written by pretrain.py (no 'encoder' key).")
    if saved["tokenizer"] != tokenizer:
        raise ValueError(
            f"{path} was pretrained with another tokenizer / vocabulary than this run's data, so "
            "its embedding rows would mean other words. Use the data.* settings of the "
            "pretraining run (its .hydra/config.yaml)."
        )
    shapes = encoder_shapes(network)
    differ = {k: v for k, v in saved["network"].items() if v != shapes[k]}
    if differ:
        fixes = " ".join(f"model.{k}={v}" for k, v in differ.items())
        raise ValueError(
            f"{path} holds an encoder of another shape ({', '.join(differ)} differ). Build the "
            f"classifier like the pretraining run: {fixes}"
        )
    encoder.load_state_dict(saved["encoder"])
    rank_zero_info(f"Encoder weights ({len(saved['encoder'])} tensors) loaded from {path}")

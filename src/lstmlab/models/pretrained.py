"""Pretrained starts: an encoder file (`model.pretrained_encoder`) and word vectors for the
embedding (`model.embedding`), for the classifier and the language model alike.

An encoder.pt (what `pretrain.py` writes) holds the encoder's state dict (`LSTMEncoder`'s own
keys), the `model.*` keys that decide its weight shapes, and the tokenizer it was trained
with, so a classifier of another shape or vocabulary is refused instead of reading wrong rows.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.utilities import rank_zero_info
from torch import nn

from lstmlab.models.encoder import LSTMEncoder
from lstmlab.models.vectors import Coverage, load_into

SHAPE_KEYS = ("embed_dim", "hidden_size", "num_layers", "bidirectional", "init_state")
EMBEDDING_KEYS = {"vectors": None, "freeze": False}  # model.embedding.* and their defaults


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


def prepare_embedding(embedding: nn.Embedding, options: dict[str, Any] | None) -> dict[str, Any]:
    """`model.embedding` with its defaults filled in, after freezing `embedding` if it says
    so; unknown keys and a frozen embedding without vectors (random vectors that never learn)
    are refused."""
    options = {**EMBEDDING_KEYS, **(options or {})}
    unknown = set(options) - set(EMBEDDING_KEYS)
    if unknown:
        raise ValueError(
            f"model.embedding has unknown keys {sorted(unknown)}: expected "
            f"{', '.join(EMBEDDING_KEYS)} (conf/model/lstm.yaml)"
        )
    if not isinstance(options["freeze"], bool):
        raise TypeError(f"model.embedding.freeze={options['freeze']!r}: expected true or false")
    if options["freeze"] and options["vectors"] is None:
        raise ValueError(
            "model.embedding.freeze=true keeps the embedding as it starts, but "
            "model.embedding.vectors is null, so it would stay random. Set "
            "model.embedding.vectors=<file>, or model.embedding.freeze=false."
        )
    embedding.weight.requires_grad_(not options["freeze"])
    return options


def load_vectors(
    embedding: nn.Embedding, options: dict[str, Any], vocab: dict[str, int], pad_id: int
) -> Coverage | None:
    """Starts `embedding` from `model.embedding.vectors` (None when it is not set): `vocab`
    maps each token to its id (a tokenizer's `get_vocab()`)."""
    if options["vectors"] is None:
        return None
    return load_into(embedding, vocab, str(options["vectors"]), pad_id)

"""Starting weights (conf/init/): an encoder file (`init.encoder`) and word vectors for the
embedding (`init.vectors`, `init.freeze`), for the classifier and the language model alike.

An encoder.pt (what `pretrain.py` writes) holds the encoder's state dict, its config (plain
data with `_target_`) and the tokenizer it was trained with, so a classifier of another shape
or vocabulary is refused instead of reading wrong rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.utilities import rank_zero_info
from torch import nn

from lstmlab.models.legacy import upgrade_encoder_settings
from lstmlab.models.vectors import Coverage, load_into

INIT_KEYS = {"vectors": None, "freeze": False, "encoder": None}  # init.* and their defaults


def encoder_state(encoder: nn.Module, config: dict[str, Any], tokenizer: str | None) -> dict:
    """What `load_encoder` needs: the encoder's weights, its config and the tokenizer."""
    return {
        "encoder": {k: v.cpu() for k, v in encoder.state_dict().items()},
        "config": dict(config),
        "tokenizer": tokenizer,
    }


def load_encoder(
    encoder: nn.Module, path: str | Path, config: dict[str, Any] | None, tokenizer: str | None
) -> None:
    """Copies a pretrained encoder (`pretrain.py`'s encoder.pt) into `encoder` (built from
    `config`), after checking that it was trained with the same vocabulary and shapes."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"init.encoder={path}: no such file. Give the encoder.pt that "
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
    try:
        encoder.load_state_dict(saved["encoder"])
    except RuntimeError as err:
        raise ValueError(
            f"{path} holds an encoder of another kind or shape. Build the classifier like the "
            f"pretraining run: {differences(saved, config or {}) or err}"
        ) from None
    rank_zero_info(f"Encoder weights ({len(saved['encoder'])} tensors) loaded from {path}")


def differences(saved: dict[str, Any], config: dict[str, Any]) -> str:
    """The encoder settings to give to match an encoder file, as overrides."""
    own = saved.get("config") or upgrade_encoder_settings(saved.get("network", {}))
    keys = [k for k in own if k != "_partial_" and own[k] != config.get(k)]
    return " ".join(f"model.encoder.{k}={own[k]}" for k in keys)


def prepare_embedding(embedding: nn.Embedding, options: dict[str, Any] | None) -> dict[str, Any]:
    """`init` with its defaults filled in, after freezing `embedding` if it says so; unknown
    keys and a frozen embedding without vectors (random vectors that never learn) are
    refused."""
    options = {**INIT_KEYS, **(options or {})}
    unknown = set(options) - set(INIT_KEYS)
    if unknown:
        raise ValueError(
            f"init has unknown keys {sorted(unknown)}: expected {', '.join(INIT_KEYS)} "
            "(conf/init/default.yaml)"
        )
    if not isinstance(options["freeze"], bool):
        raise TypeError(f"init.freeze={options['freeze']!r}: expected true or false")
    if options["freeze"] and options["vectors"] is None:
        raise ValueError(
            "init.freeze=true keeps the embedding as it starts, but init.vectors is null, so "
            "it would stay random. Set init.vectors=<file>, or init.freeze=false."
        )
    embedding.weight.requires_grad_(not options["freeze"])
    return options


def load_vectors(
    embedding: nn.Embedding, options: dict[str, Any], vocab: dict[str, int], pad_id: int
) -> Coverage | None:
    """Starts `embedding` from `init.vectors` (None when it is not set): `vocab` maps each
    token to its id (a tokenizer's `get_vocab()`)."""
    if options["vectors"] is None:
        return None
    return load_into(embedding, vocab, str(options["vectors"]), pad_id)

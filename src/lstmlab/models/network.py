"""The text classifier as a plain nn.Module: encoder -> pooling -> dropout -> linear head
(AllenNLP's `basic_classifier`). It receives its parts, each built from its own config
(conf/model/encoder/, conf/model/pooling/), and sizes the head from the pooling's output width,
which the pooling derives from the encoder's. Training logic lives in `lit_module.py`; this
file is usable on its own, e.g. in a hand-written loop.

A whole other network can replace it (conf/model/<name>.yaml with its own `_target_`): the
LightningModule needs only `forward(tokens, lengths, push=None) -> (logits, weights or None)`,
`embedding` (the token embedding) and `get_output_dim()` (1 for a single BCE logit).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from lstmlab.models.encoders.base import Encoder
from lstmlab.models.encoders.recurrent import move_encoder_keys
from lstmlab.models.pooling import Pooling

HEADS = ("ce", "bce")


class TextClassifier(nn.Module):
    """Classifies padded token batches; padding never influences the logits.

    Args:
        vocab_size, num_classes, pad_id: from the datamodule.
        encoder: builds the encoder from (vocab_size=, pad_id=): a partial config
            (conf/model/encoder/*.yaml, `_partial_: true`) or an `Encoder` class.
        pooling: builds the pooling from the encoder's output width (`input_dim=`):
            conf/model/pooling/*.yaml.
        dropout: dropout on the pooled vector, before the head.
        head: `ce` (num_classes logits, cross-entropy) or `bce` (one logit, binary only).
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        encoder: Callable[..., Encoder],
        pooling: Callable[..., Pooling],
        pad_id: int = 0,
        dropout: float = 0.0,
        head: str = "ce",
    ) -> None:
        super().__init__()
        _check_head(num_classes, head)
        self.encoder = encoder(vocab_size=vocab_size, pad_id=pad_id)
        self.pooling = pooling(input_dim=self.encoder.get_output_dim())
        if getattr(self.pooling, "needs_final", False) and not self.encoder.has_final:
            raise ValueError(
                f"model/pooling={type(self.pooling).__name__} reads the encoder's final state, "
                f"but {type(self.encoder).__name__} has none. Choose another pooling, e.g. "
                "model/pooling=max or model/pooling=mean."
            )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.pooling.get_output_dim(), 1 if head == "bce" else num_classes)
        self.register_load_state_dict_pre_hook(_upgrade_old_keys)

    @property
    def embedding(self) -> nn.Embedding:
        """The token embedding (adversarial pushes, vectors, attributions act on it)."""
        return self.encoder.embedding

    def get_output_dim(self) -> int:
        """The number of logits: one per class, or one for the BCE head."""
        return self.head.out_features

    def forward(
        self, tokens: Tensor, lengths: Tensor, push: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """Logits [B, C] (or [B, 1] for the BCE head) and the pooling's weights [B, T'] (or
        None).

        tokens: [B, T] right-padded ids; lengths: [B] real lengths. An empty sequence is read
        as a single padding token, so every row has at least one position to pool over.
        push: [B, T, E] added to the token embeddings (adversarial training).
        """
        encoded = self.encoder(tokens, lengths.clamp(min=1), push)
        pooled, weights = self.pooling(encoded)  # [B, D'], [B, T'] | None
        return self.head(self.dropout(pooled)), weights


def returns_weights(net: nn.Module) -> bool:
    """Whether `net` returns weights over the positions it read (an attention-like pooling):
    asked of the network itself, on a one-token text."""
    one = torch.full((1, 1), int(net.embedding.padding_idx))
    was_training = net.training
    with torch.no_grad():
        weights = net.eval()(one, torch.ones(1, dtype=torch.long))[1]
    net.train(was_training)
    return weights is not None


def _upgrade_old_keys(module: nn.Module, state_dict: dict[str, Any], prefix: str, *_: Any) -> None:
    """Checkpoints written before the classifier owned an encoder hold its weights as
    `<prefix>embedding.weight`, `<prefix>lstm.*`, ...: they now live under `<prefix>encoder.`."""
    move_encoder_keys(state_dict, prefix, prefix + "encoder.")


def _check_head(num_classes: int, head: str) -> None:
    """Refuse settings that would silently do something other than what they say."""
    if head not in HEADS:
        raise ValueError(f"model.head={head!r}: expected one of {', '.join(HEADS)}")
    if head == "bce" and num_classes != 2:
        raise ValueError(
            f"model.head=bce gives a single logit, so it needs exactly 2 classes, but the data "
            f"has {num_classes}. Use model.head=ce for multi-class data."
        )

"""The LSTM text classifier as a plain nn.Module: encoder -> pooling -> linear head.

One class covers every variant the template compares (pooling, directions, layers, dropout,
initial state, head). The encoder (embedding + LSTMs, `encoder.LSTMEncoder`) is the part a
language model pretrains; training logic lives in `lit_module.py`. This file is usable on its
own, e.g. in a hand-written loop.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from lstmlab.models.encoder import LSTMEncoder, move_encoder_keys
from lstmlab.models.pooling import POOLINGS, build_pooling

HEADS = ("ce", "bce")


class LSTMClassifier(nn.Module):
    """Classifies padded token batches; padding never influences the logits.

    Args:
        vocab_size: number of token ids (from the datamodule).
        num_classes: number of labels (from the datamodule).
        pad_id, embed_dim, hidden_size, num_layers, bidirectional, embed_dropout,
            lstm_dropout, weight_dropout, init_state, forget_bias, lstm_impl: the encoder's,
            see `LSTMEncoder`.
        pooling: how to summarise the sequence, one of `pooling.POOLINGS`.
        attn_dim: width of the attention projection (`pooling=attn`); defaults to the LSTM
            output width.
        dropout: dropout on the pooled vector, before the classifier.
        head: `ce` (num_classes logits, cross-entropy) or `bce` (one logit, binary only).
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        pad_id: int = 0,
        embed_dim: int = 128,
        hidden_size: int = 128,
        num_layers: int = 1,
        bidirectional: bool = True,
        pooling: str = "attn",
        attn_dim: int | None = None,
        embed_dropout: float = 0.0,
        lstm_dropout: float = 0.0,
        weight_dropout: float = 0.0,
        dropout: float = 0.0,
        init_state: str = "zeros",
        head: str = "ce",
        forget_bias: float | None = None,
        lstm_impl: str = "auto",
    ) -> None:
        super().__init__()
        _check_args(num_classes, pooling, head)
        self.encoder = LSTMEncoder(
            vocab_size,
            pad_id,
            embed_dim,
            hidden_size,
            num_layers,
            bidirectional,
            embed_dropout,
            lstm_dropout,
            weight_dropout,
            init_state,
            forget_bias,
            lstm_impl,
        )
        out_dim = self.encoder.output_dim
        self.pooling = build_pooling(pooling, out_dim, attn_dim or out_dim)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(out_dim, 1 if head == "bce" else num_classes)
        self.register_load_state_dict_pre_hook(_upgrade_old_keys)

    def forward(
        self, tokens: Tensor, lengths: Tensor, push: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """Logits [B, C] (or [B, 1] for the BCE head) and attention weights [B, T] (or None).

        tokens: [B, T] right-padded ids; lengths: [B] real lengths. An empty sequence is read
        as a single padding token, so every row has at least one position to pool over.
        push: [B, T, E] added to the token embeddings (adversarial training).
        """
        steps = tokens.size(1)
        lengths = lengths.clamp(min=1)
        mask = torch.arange(steps, device=tokens.device) < lengths.unsqueeze(1)  # [B, T]
        outputs, h_n = self.encoder(tokens, lengths, push)  # [B, T, D], [dirs, B, H]
        pooled, weights = self.pooling(outputs, mask, h_n)  # [B, D], [B, T] | None
        return self.head(self.dropout(pooled)), weights


def _upgrade_old_keys(module: nn.Module, state_dict: dict[str, Any], prefix: str, *_: Any) -> None:
    """Checkpoints written before the classifier owned an `LSTMEncoder` hold its weights as
    `<prefix>embedding.weight`, `<prefix>lstm.*`, ...: they now live under `<prefix>encoder.`."""
    move_encoder_keys(state_dict, prefix, prefix + "encoder.")


def _check_args(num_classes: int, pooling: str, head: str) -> None:
    """Refuse settings that would silently do something other than what they say."""
    if pooling not in POOLINGS:
        raise ValueError(f"model.pooling={pooling!r}: expected one of {', '.join(POOLINGS)}")
    if head not in HEADS:
        raise ValueError(f"model.head={head!r}: expected one of {', '.join(HEADS)}")
    if head == "bce" and num_classes != 2:
        raise ValueError(
            f"model.head=bce gives a single logit, so it needs exactly 2 classes, but the data "
            f"has {num_classes}. Use model.head=ce for multi-class data."
        )

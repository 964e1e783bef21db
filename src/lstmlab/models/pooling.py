"""Ways to turn an encoder's per-position outputs into one vector per sequence.

Every strategy reads only real positions: padding never reaches the result. That is the bug
of the source notebooks, whose `output[:, -1]` read the padding of every sequence shorter
than the batch maximum and scored ~50 % on IMDB.

A pooling is built with the encoder's output width (`input_dim`), says its own width
(`get_output_dim()`, which sizes the classifier's head) and maps an `Encoded` (outputs
[B, T, D], mask [B, T], final [B, D] or None) to (pooled [B, D'], weights [B, T] or None).
Weights that are returned are shown as attention (figures, serving). Each is chosen by its
config, conf/model/pooling/<name>.yaml; `needs_final` marks one that reads `Encoded.final`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lstmlab.models.encoders.base import Encoded


class Pooling(nn.Module):
    """A pooling that keeps the encoder's width."""

    needs_final = False

    def __init__(self, input_dim: int) -> None:
        super().__init__()
        self.input_dim = input_dim

    def get_output_dim(self) -> int:
        return self.input_dim


class LastStepPooling(Pooling):
    """Output at each sequence's last *real* position (gathered at `length - 1`, not at -1)."""

    def forward(self, encoded: Encoded) -> tuple[Tensor, None]:
        outputs = encoded.outputs
        last = encoded.mask.sum(dim=1) - 1  # [B]
        index = last.view(-1, 1, 1).expand(-1, 1, outputs.size(-1))  # [B, 1, D]
        return outputs.gather(1, index).squeeze(1), None


class FinalStatePooling(Pooling):
    """The encoder's final state (a recurrent encoder's top-layer final hidden states, forward
    and backward concatenated). The backward direction's final state is the one after reading
    the *first* token, which is why this differs from `last` for a bidirectional encoder."""

    needs_final = True

    def forward(self, encoded: Encoded) -> tuple[Tensor, None]:
        return encoded.final, None


class MeanPooling(Pooling):
    """Average over real positions only (sum divided by each sequence's own count)."""

    def forward(self, encoded: Encoded) -> tuple[Tensor, None]:
        weights = encoded.mask.unsqueeze(-1).to(encoded.outputs.dtype)  # [B, T, 1]
        return (encoded.outputs * weights).sum(1) / weights.sum(1), None


class MaxPooling(Pooling):
    """Element-wise maximum over real positions (padding filled with -inf first)."""

    def forward(self, encoded: Encoded) -> tuple[Tensor, None]:
        filled = encoded.outputs.masked_fill(~encoded.mask.unsqueeze(-1), float("-inf"))
        return filled.max(dim=1).values, None


class AttentionPooling(Pooling):
    """Additive attention with a learned context vector (Yang et al., 2016, Hierarchical
    Attention Networks): u_t = tanh(W h_t + b), a = softmax_t(u_t · c), pooled = Σ_t a_t h_t.

    Returns the weights so that callers can inspect what the model read; they are exactly 0 on
    padding and sum to 1 over real positions.

    Args:
        input_dim: the encoder's output width.
        attn_dim: width of the attention projection (None: input_dim).
    """

    def __init__(self, input_dim: int, attn_dim: int | None = None) -> None:
        super().__init__(input_dim)
        attn_dim = attn_dim or input_dim
        self.proj = nn.Linear(input_dim, attn_dim)
        self.context = nn.Parameter(torch.empty(attn_dim).uniform_(-0.1, 0.1))

    def forward(self, encoded: Encoded) -> tuple[Tensor, Tensor]:
        scores = torch.tanh(self.proj(encoded.outputs)) @ self.context  # [B, T]
        weights = scores.masked_fill(~encoded.mask, float("-inf")).softmax(dim=1)  # [B, T]
        return torch.einsum("bt,btd->bd", weights, encoded.outputs), weights

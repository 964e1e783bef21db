"""Ways to turn the LSTM's per-token outputs into one vector per sequence.

Every strategy reads only real tokens: padding positions never reach the result. That is the
bug of the source notebooks, whose `output[:, -1]` read the padding of every sequence shorter
than the batch maximum and scored ~50 % on IMDB.

Each pooling takes
    outputs: [B, T, D]   top layer's outputs, D = hidden_size * num_directions (exact at real
                         positions; whatever sits on padding positions must be ignored)
    mask:    [B, T]      True on real tokens
    h_n:     [dirs, B, H] the top layer's final hidden states, at each sequence's real end
and returns (pooled [B, D], attention weights [B, T] or None).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

POOLINGS = ("last", "hn", "mean", "max", "attn")


class LastStepPooling(nn.Module):
    """Output at each sequence's last *real* token (gathered at `length - 1`, not at `-1`)."""

    def forward(self, outputs: Tensor, mask: Tensor, h_n: Tensor) -> tuple[Tensor, None]:
        last = mask.sum(dim=1) - 1  # [B]
        index = last.view(-1, 1, 1).expand(-1, 1, outputs.size(-1))  # [B, 1, D]
        return outputs.gather(1, index).squeeze(1), None


class FinalHiddenPooling(nn.Module):
    """Final hidden state of the top layer; forward and backward concatenated when bidirectional.

    The backward direction's final state is the one after reading the *first* token, which is
    why this differs from `last` for a BiLSTM.
    """

    def forward(self, outputs: Tensor, mask: Tensor, h_n: Tensor) -> tuple[Tensor, None]:
        return torch.cat(list(h_n), dim=-1), None  # (forward, backward) -> [B, dirs*H]


class MeanPooling(nn.Module):
    """Average over real tokens only (sum divided by each sequence's own length)."""

    def forward(self, outputs: Tensor, mask: Tensor, h_n: Tensor) -> tuple[Tensor, None]:
        weights = mask.unsqueeze(-1).to(outputs.dtype)  # [B, T, 1]
        return (outputs * weights).sum(1) / weights.sum(1), None


class MaxPooling(nn.Module):
    """Element-wise maximum over real tokens (padding filled with -inf first)."""

    def forward(self, outputs: Tensor, mask: Tensor, h_n: Tensor) -> tuple[Tensor, None]:
        filled = outputs.masked_fill(~mask.unsqueeze(-1), float("-inf"))
        return filled.max(dim=1).values, None


class AttentionPooling(nn.Module):
    """Additive attention with a learned context vector (Yang et al., 2016, Hierarchical
    Attention Networks): u_t = tanh(W h_t + b), a = softmax_t(u_t · c), pooled = Σ_t a_t h_t.

    Returns the weights so that callers can inspect what the model read; they are exactly 0 on
    padding and sum to 1 over real tokens.
    """

    def __init__(self, dim: int, attn_dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, attn_dim)
        self.context = nn.Parameter(torch.empty(attn_dim).uniform_(-0.1, 0.1))

    def forward(self, outputs: Tensor, mask: Tensor, h_n: Tensor) -> tuple[Tensor, Tensor]:
        scores = torch.tanh(self.proj(outputs)) @ self.context  # [B, T]
        weights = scores.masked_fill(~mask, float("-inf")).softmax(dim=1)  # [B, T]
        return torch.einsum("bt,btd->bd", weights, outputs), weights


def build_pooling(name: str, dim: int, attn_dim: int) -> nn.Module:
    """The pooling module called `name` (one of POOLINGS) for outputs of width `dim`."""
    if name == "last":
        return LastStepPooling()
    if name == "hn":
        return FinalHiddenPooling()
    if name == "mean":
        return MeanPooling()
    if name == "max":
        return MaxPooling()
    if name == "attn":
        return AttentionPooling(dim, attn_dim)
    raise ValueError(
        f"model.pooling={name!r} is not a pooling strategy; choose one of {', '.join(POOLINGS)}"
    )

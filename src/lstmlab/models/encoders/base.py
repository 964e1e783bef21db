"""What every encoder is: the contract the classifier, the poolings, adversarial training,
VAT, word vectors, integrated gradients and the ONNX export rely on.

An encoder is an `nn.Module` with
    embedding           an `nn.Embedding` of the token ids (pushes, vectors and attributions act
                        on it; its `padding_idx` is the pad id)
    embed(tokens, push=None) -> [B, T, E]   the embedded tokens (plus an adversarial push)
    encode(embedded, lengths) -> Encoded    one vector per position
    forward(tokens, lengths, push=None)     encode(embed(tokens, push), lengths)
    get_output_dim() -> int                 D, the width of `Encoded.outputs` and `.final`
    has_final: bool                         whether `Encoded.final` is given (the `hn` pooling
                                            needs it)

Subclass `Encoder` to get `embed` and `forward`; a new encoder then writes `encode` and
`get_output_dim` (see `cnn.py`, the shortest).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn


class Encoded(NamedTuple):
    """An encoder's reading of a right-padded batch.

    outputs: [B, T', D] one vector per position, exact at real positions (whatever stands at
        padding positions is ignored by every pooling); T' need not be the token count.
    mask: [B, T'] True at real positions (at least one per row).
    final: [B, D] a summary of each whole sequence (a recurrent encoder's final states), or None.
    """

    outputs: Tensor
    mask: Tensor
    final: Tensor | None


class Encoder(nn.Module):
    """Base of the encoders: the embedding, its dropout and `forward`.

    Args:
        vocab_size: number of token ids (from the datamodule).
        pad_id: id of the padding token; its embedding is fixed at zero.
        embed_dim: width of the token embeddings.
        embed_dropout: dropout on the token embeddings.
    """

    has_final = False

    def __init__(
        self, vocab_size: int, pad_id: int = 0, embed_dim: int = 128, embed_dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)
        self.embed_dropout = nn.Dropout(embed_dropout)

    def forward(self, tokens: Tensor, lengths: Tensor, push: Tensor | None = None) -> Encoded:
        """`encode` of the embedded tokens [B, T] (lengths [B], each >= 1); push [B, T, E] is
        added to the embeddings (adversarial training)."""
        return self.encode(self.embed(tokens, push), lengths)

    def embed(self, tokens: Tensor, push: Tensor | None = None) -> Tensor:
        """Token embeddings [B, T, E] (plus `push`), after the embedding dropout."""
        x = self.embedding(tokens)  # [B, T, E]
        return self.embed_dropout(x if push is None else x + push)

    def encode(self, embedded: Tensor, lengths: Tensor) -> Encoded:
        raise NotImplementedError

    def get_output_dim(self) -> int:
        raise NotImplementedError


def real_positions(lengths: Tensor, steps: int) -> Tensor:
    """[B, steps] True where a position holds a real token."""
    return torch.arange(steps, device=lengths.device) < lengths.unsqueeze(1)

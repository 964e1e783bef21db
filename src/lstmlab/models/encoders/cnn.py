"""A convolutional encoder (Kim, 2014, "Convolutional Neural Networks for Sentence
Classification"): filters of several widths slide over the embeddings, ReLU.

Position t of the output holds, for every width k, the feature maps of the window of k tokens
starting at t; windows that run past a text's end read zeros there (the padding embeddings are
zeroed first, and the batch gets k - 1 zero steps more). So every real token starts a window,
a text shorter than the widest filter still gets every feature, and the outputs at real
positions never depend on how much padding follows: `max` pooling over them is Kim's
max-over-time pooling, `mean` an average over windows.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lstmlab.models.encoders.base import Encoded, Encoder, real_positions


class CNNEncoder(Encoder):
    """Embedding -> one Conv1d per filter width (ReLU), concatenated per window start.

    Args:
        vocab_size, pad_id, embed_dim, embed_dropout: the embedding's, see `base.Encoder`.
        widths: the filter widths (tokens per window).
        num_filters: feature maps per width; the output width is len(widths) * num_filters.
    """

    def __init__(
        self,
        vocab_size: int,
        pad_id: int = 0,
        embed_dim: int = 128,
        embed_dropout: float = 0.0,
        widths: list[int] | tuple[int, ...] = (3, 4, 5),
        num_filters: int = 100,
    ) -> None:
        super().__init__(vocab_size, pad_id, embed_dim, embed_dropout)
        if not widths or min(widths) < 1:
            raise ValueError(f"model.encoder.widths={list(widths)}: expected widths of 1 or more")
        self.widths = tuple(widths)
        self.convs = nn.ModuleList(nn.Conv1d(embed_dim, num_filters, k) for k in self.widths)
        self.output_dim = num_filters * len(self.widths)

    def get_output_dim(self) -> int:
        return self.output_dim

    def encode(self, embedded: Tensor, lengths: Tensor) -> Encoded:
        mask = real_positions(lengths, embedded.size(1))  # [B, T]
        x = (embedded * mask.unsqueeze(-1)).transpose(1, 2)  # [B, E, T], zero past the end
        outputs = [
            F.relu(conv(F.pad(x, (0, k - 1)))) for conv, k in zip(self.convs, self.widths)
        ]  # each [B, F, T]: window starting at every position
        return Encoded(torch.cat(outputs, dim=1).transpose(1, 2), mask, None)

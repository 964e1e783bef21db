"""Variable-length sequences stored flat, so a split of 50 000 texts is three tensors."""

from __future__ import annotations

import torch
from torch import Tensor


class RaggedSequences:
    """Variable-length sequences stored flat: item i is `flat[starts[i] : starts[i] + length]`,
    cut to `max_len`. A Sequence[Tensor] for `EncodedDataset`, built in a few array copies."""

    def __init__(self, flat: Tensor, starts: Tensor, lengths: Tensor, max_len: int | None) -> None:
        self.flat = flat
        self.starts = starts
        self.lengths = lengths if max_len is None else lengths.clamp(max=max_len)

    @classmethod
    def concat(cls, parts: list[RaggedSequences]) -> RaggedSequences:
        """All sequences of `parts`, in order, as one (each keeps its cut to max_len)."""
        offsets = torch.tensor([0, *(len(p.flat) for p in parts)]).cumsum(0)
        starts = torch.cat([p.starts + offset for p, offset in zip(parts, offsets)])
        flat = torch.cat([p.flat for p in parts])
        return cls(flat, starts, torch.cat([p.lengths for p in parts]), None)

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, index: int) -> Tensor:
        start = int(self.starts[index])
        return self.flat[start : start + int(self.lengths[index])]

"""Encoded sequences and the dynamic padding that turns them into batches.

Every datamodule stores its splits as an `EncodedDataset` and batches them with `PadCollator`,
so the model always receives the same batch layout:
    tokens  [B, T]  right-padded with pad_id, T = longest sequence in *this* batch
    lengths [B]     real lengths
    labels  [B]
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from itertools import islice
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import BatchSampler, DataLoader, Dataset, Sampler, SequentialSampler


class EncodedDataset(Dataset):
    """Token-id sequences of varying length with one integer label each."""

    def __init__(self, sequences: Sequence[Tensor], labels: Tensor) -> None:
        if len(sequences) != len(labels):
            raise ValueError(f"{len(sequences)} sequences but {len(labels)} labels")
        self.sequences = sequences
        self.labels = labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return self.sequences[index], self.labels[index]


class PadCollator:
    """Pads a list of (tokens, label) pairs to the longest sequence of the batch.

    An empty sequence becomes length 0 here; the network reads it as one padding token.
    """

    def __init__(self, pad_id: int = 0) -> None:
        self.pad_id = pad_id

    def __call__(self, items: list[tuple[Tensor, Tensor]]) -> dict[str, Tensor]:
        sequences, labels = zip(*items)
        lengths = torch.tensor([len(s) for s in sequences])
        tokens = pad_sequence(list(sequences), batch_first=True, padding_value=self.pad_id)
        if tokens.size(1) == 0:  # every sequence empty: keep one column to pool over
            tokens = torch.full((len(sequences), 1), self.pad_id, dtype=torch.long)
        return {"tokens": tokens, "lengths": lengths, "labels": torch.stack(labels)}


def check_batch_size(batch_size: int, train_size: int) -> None:
    """A batch larger than the training split makes every epoch a single step: surely a slip."""
    if batch_size > train_size:
        raise ValueError(
            f"data.batch_size={batch_size} is larger than the training split ({train_size} "
            f"examples), so every epoch would be a single step. Use data.batch_size={train_size} "
            "or less, or more training data."
        )


def mixed_seed(*entropy: int) -> int:
    """One seed from several integers (NumPy's SeedSequence: nearby inputs, unrelated seeds)."""
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


def seeded_generator(*entropy: int) -> torch.Generator:
    """A torch generator determined by the given integers alone."""
    return torch.Generator().manual_seed(mixed_seed(*entropy))


class EpochShuffleSampler(Sampler[int]):
    """A new training order every epoch that depends on (seed, epoch) only, as under DDP with
    DistributedSampler (whose `seed` / `epoch` attributes it shares): a continued run then sees
    exactly the batches an uninterrupted run would have (from mid-epoch: `ResumableLoader`).
    Lightning calls `set_epoch` before every epoch.

    `num_samples` (default: `size`) indices an epoch: epoch e takes the e-th such slice of one
    endless stream of shuffles (pass p shuffled from (seed, p)), so a stream drawn at its own
    pace beside another (unlabelled batches beside labelled ones) still sees every index once
    per pass. With `num_samples == size`, epoch e is exactly pass e."""

    def __init__(self, size: int, seed: int, num_samples: int | None = None) -> None:
        self.size, self.seed, self.epoch = size, seed, 0
        self.num_samples = size if num_samples is None else num_samples

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        start = self.epoch * self.num_samples
        stop = start + self.num_samples
        for p in range(start // self.size, -(-stop // self.size)):  # the passes it overlaps
            order = torch.randperm(self.size, generator=seeded_generator(self.seed, p)).tolist()
            yield from order[max(start - p * self.size, 0) : stop - p * self.size]

    def __len__(self) -> int:
        return self.num_samples


class ResumableLoader(DataLoader):
    """A training loader that a run checkpointed mid-epoch continues exactly.

    Lightning stores the `state_dict()` of a training loader that has one in every checkpoint
    and hands it to `load_state_dict` when the run continues. The state is the epoch and the
    batches of it handed to the trainer so far: counted here, as the trainer takes them, not in
    the sampler, which DataLoader workers read ahead of training. The first pass over that
    epoch after a restore draws those batches again and drops them, so training goes on with
    the rest of the order an uninterrupted run sees (it depends on (seed, epoch) only:
    `EpochShuffleSampler`). Dropping costs at most an epoch of loading, no training, and asks
    nothing of the sampler. The pass starts at the first batch requested, after Lightning's
    `set_epoch`, so the epoch it reads from the sampler is the one being trained.
    """

    served: tuple[int, int] = (0, 0)  # (epoch, batches of it handed to the trainer)
    restored: tuple[int, int] | None = None  # `served` from a checkpoint, for the next pass

    def state_dict(self) -> dict[str, int]:
        epoch, batches = self.served
        return {"epoch": epoch, "batches": batches}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.restored = (state["epoch"], state["batches"])

    def __iter__(self) -> Iterator[Any]:
        epoch = getattr(self.batch_sampler.sampler, "epoch", 0)
        done = self.restored[1] if self.restored and self.restored[0] == epoch else 0
        self.restored, self.served = None, (epoch, done)
        for batch in islice(super().__iter__(), done, None):
            self.served = (epoch, self.served[1] + 1)
            yield batch


class BucketBatchSampler(BatchSampler):
    """Batches of similar lengths, to cut the compute spent on padding.

    The indices of `sampler` (shuffled for training; Lightning swaps in a DistributedSampler
    under DDP) are taken in pools of `pool_batches` batches; each pool is sorted by length and
    cut into batches, and with `shuffle` the batches are shuffled, so batch order and
    composition still change every epoch. `pool_batches=None`: one pool (evaluation).
    """

    def __init__(
        self,
        sampler: Sampler[int],
        batch_size: int,
        drop_last: bool,
        lengths: Tensor,
        shuffle: bool = True,
        pool_batches: int | None = 50,
    ) -> None:
        super().__init__(sampler, batch_size, drop_last)
        self.lengths = lengths
        self.shuffle = shuffle
        self.pool_batches = pool_batches

    def __iter__(self) -> Iterator[list[int]]:
        indices = torch.tensor(list(self.sampler), dtype=torch.long)
        pool = len(indices) if self.pool_batches is None else self.batch_size * self.pool_batches
        batches = []
        for chunk in indices.split(max(pool, 1)):
            chunk = chunk[torch.argsort(self.lengths[chunk], stable=True)]
            batches += [b.tolist() for b in chunk.split(self.batch_size)]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()  # pools are whole batches, so only the very last can be short
        if self.shuffle:  # from the sampler's (seed, epoch), so a resumed run sees the same order
            seed, epoch = (getattr(self.sampler, key, 0) for key in ("seed", "epoch"))
            order = torch.randperm(len(batches), generator=seeded_generator(seed, epoch, 1))
            batches = [batches[i] for i in order]
        yield from batches

    def __len__(self) -> int:
        count = len(self.sampler) / self.batch_size
        return math.floor(count) if self.drop_last else math.ceil(count)


def batch_loader(
    dataset: Dataset,
    *,
    pad_id: int,
    batch_size: int,
    seed: int,
    train: bool = False,
    lengths: Tensor | None = None,
    num_workers: int = 0,
    pin_memory: bool = False,
    num_samples: int | None = None,
) -> DataLoader:
    """Padded batches of `dataset`, as every datamodule serves them: for training shuffled per
    (seed, epoch) and resumable mid-epoch, for evaluation in order; bucketed by length when
    the sequences' `lengths` are given. `num_samples`: training examples an epoch (default:
    the whole dataset), see `EpochShuffleSampler`."""
    options = {
        "collate_fn": PadCollator(pad_id),
        "num_workers": num_workers,
        "pin_memory": pin_memory,
        "persistent_workers": num_workers > 0,
    }
    if train:
        check_batch_size(batch_size, len(dataset))
    sampler = EpochShuffleSampler(len(dataset), seed, num_samples) if train else None
    loader = ResumableLoader if train else DataLoader  # training: resumable mid-epoch
    if lengths is None:
        return loader(dataset, batch_size=batch_size, sampler=sampler, **options)
    batches = BucketBatchSampler(
        sampler or SequentialSampler(dataset),
        batch_size,
        drop_last=False,
        lengths=lengths,
        shuffle=train,
        pool_batches=50 if train else None,
    )
    return loader(dataset, batch_sampler=batches, **options)

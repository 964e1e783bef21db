"""Unlabelled batches beside the labelled ones, for semi-supervised training (virtual
adversarial training, entropy minimisation: models/semi_supervised.py).

Each training step gets one labelled batch and one unlabelled batch of `unlabelled_ratio` times
its size. The unlabelled stream is drawn at its own pace from a pool of texts whose labels are
never used (IMDB: the labelled training reviews and the 50,000 unsupervised ones, never
validation or test): an epoch is still one pass over the labelled training split, and it takes
from the pool as many texts as its batches need, where the previous epoch stopped
(`EpochShuffleSampler(num_samples=...)`). Both streams are `ResumableLoader`s under Lightning's
`CombinedLoader`, which saves both positions in every checkpoint, so a run continued mid-epoch
sees what an uninterrupted one would.

The model receives the labelled batch with the unlabelled one under its key "unlabelled":
    tokens [B, T], lengths [B], labels [B], unlabelled: {tokens [U, T'], lengths [U], labels [U]}
(unlabelled labels are all -1), put together by `merge_batches` in the datamodules'
`on_before_batch_transfer`, so callbacks see a labelled batch as always.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from lightning.pytorch.utilities import CombinedLoader
from torch.utils.data import DataLoader

from lstmlab.data.batching import EncodedDataset, mixed_seed
from lstmlab.data.sequences import RaggedSequences

UNLABELLED = -1  # the label every text of the pool carries


def check_ratio(ratio: float) -> None:
    if ratio < 0:
        raise ValueError(
            f"data.unlabelled_ratio={ratio}: expected >= 0 (unlabelled texts per labelled one "
            "in each training step; 0: no unlabelled batches)"
        )


def unlabelled_pool(parts: list[EncodedDataset]) -> EncodedDataset:
    """The texts of `parts`, in order, as one dataset whose labels are all `UNLABELLED`."""
    sequences = [p.sequences for p in parts]
    if all(isinstance(s, RaggedSequences) for s in sequences):
        joined = RaggedSequences.concat(sequences)
    else:
        joined = [seq for s in sequences for seq in s]
    return EncodedDataset(joined, torch.full((len(joined),), UNLABELLED, dtype=torch.long))


def with_unlabelled(
    labelled: DataLoader,
    pool: EncodedDataset,
    ratio: float,
    batch_size: int,
    seed: int,
    make_loader: Callable[..., DataLoader],
) -> CombinedLoader:
    """`labelled` (the training loader, batches of `batch_size`) and, beside each of its
    batches, one of `ratio * batch_size` texts of `pool`: `make_loader(dataset, batch_size=,
    seed=, num_samples=)` builds that stream (the datamodule's training loader settings)."""
    size = max(1, round(ratio * batch_size))
    unlabelled = make_loader(
        pool, batch_size=size, seed=mixed_seed(seed, 1), num_samples=len(labelled) * size
    )
    return CombinedLoader({"labelled": labelled, "unlabelled": unlabelled}, mode="min_size")


def merge_batches(batch: Any) -> Any:
    """`{"labelled": b, "unlabelled": u}` from `with_unlabelled` as `{**b, "unlabelled": u}`;
    any other batch as it is."""
    if isinstance(batch, dict) and set(batch) == {"labelled", "unlabelled"}:
        return {**batch["labelled"], "unlabelled": batch["unlabelled"]}
    return batch

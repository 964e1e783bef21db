"""The training sampler's epochs: a shuffle of every example per (seed, epoch), or slices of an
endless stream of shuffles when an epoch takes fewer or more examples than the dataset holds."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from lstmlab.data.batching import EpochShuffleSampler, seeded_generator


def epochs(sampler: EpochShuffleSampler, count: int) -> list[list[int]]:
    drawn = []
    for epoch in range(count):
        sampler.set_epoch(epoch)
        drawn.append(list(sampler))
    return drawn


def test_an_epoch_of_the_whole_dataset_is_one_shuffle_per_seed_and_epoch():
    for epoch, order in enumerate(epochs(EpochShuffleSampler(10, seed=3), 3)):
        assert order == torch.randperm(10, generator=seeded_generator(3, epoch)).tolist()


@pytest.mark.parametrize("num_samples", [4, 7, 23])
def test_epochs_of_another_size_take_every_example_once_per_pass(num_samples):
    drawn = epochs(EpochShuffleSampler(10, seed=3, num_samples=num_samples), 10)
    assert all(len(order) == num_samples for order in drawn)
    stream = [i for order in drawn for i in order]
    for start in range(0, len(stream) - 9, 10):  # each pass over the dataset
        assert Counter(stream[start : start + 10]) == Counter(range(10))

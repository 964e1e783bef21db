"""Unlabelled batches beside the labelled ones (data/unlabelled.py): where their texts come
from (never validation or test), their size and labels, and the synthetic task's hidden labels."""

from __future__ import annotations

import pytest
import torch
from imdb_corpus import UNSUP, datamodule, ids, quiet_datasets, ready, write_parquet  # noqa: F401

from lstmlab.data.synthetic import SyntheticDataModule
from lstmlab.data.unlabelled import UNLABELLED, merge_batches


def synthetic(**options) -> SyntheticDataModule:
    sizes = {"num_samples": 100, "val_samples": 40, "test_samples": 40, "min_len": 5}
    dm = SyntheticDataModule(**sizes, max_len=12, batch_size=8, **options)
    dm.setup("fit")
    return dm


def token_lists(dataset) -> set[tuple[int, ...]]:
    return {tuple(seq.tolist()) for seq, _ in dataset}


def test_hidden_labels_leave_the_labelled_split_and_the_pool_holds_no_evaluation_text():
    whole = synthetic()
    dm = synthetic(hidden_labels=0.3, unlabelled_ratio=1.0)
    assert len(dm.splits["train"]) == 70
    assert [s.tolist() for s, _ in dm.splits["train"]] == [
        s.tolist() for s, _ in list(whole.splits["train"])[30:]
    ]
    pool = dm.unlabelled_pool
    assert token_lists(pool) == token_lists(whole.splits["train"])  # every training text
    assert torch.all(pool.labels == UNLABELLED)
    assert not token_lists(pool) & (token_lists(dm.splits["test"]) | token_lists(dm.splits["val"]))


def test_the_imdb_pool_is_the_training_reviews_and_the_unsupervised_ones_never_val_or_test(
    tmp_path,
):
    dm = ready(datamodule(tmp_path, write_parquet(tmp_path / "pq"), min_freq=1))
    pool = dm.unlabelled_pool()
    unsupervised = [seq.tolist() for seq, _ in dm.unlabeled_split()]
    assert [seq.tolist() for seq, _ in pool] == ids(dm, "train") + unsupervised
    assert len(unsupervised) == len(UNSUP) and torch.all(pool.labels == UNLABELLED)
    evaluation = {tuple(seq) for split in ("val", "test") for seq in ids(dm, split)}
    assert not token_lists(pool) & evaluation


@pytest.mark.parametrize("ratio, size", [(1.0, 8), (2.5, 20), (0.1, 1)])
def test_each_labelled_batch_comes_with_an_unlabelled_one_of_ratio_times_its_size(ratio, size):
    dm = synthetic(hidden_labels=0.2, unlabelled_ratio=ratio)
    loader = dm.train_dataloader()
    batches = [merge_batches(batch) for batch, _, _ in iter(loader)]
    assert len(batches) == len(dm.splits["train"]) // 8  # one epoch: the labelled split
    assert all(len(b["labels"]) == 8 and len(b["unlabelled"]["labels"]) == size for b in batches)
    assert all(torch.all(b["unlabelled"]["labels"] == UNLABELLED) for b in batches)
    assert all(torch.all(b["labels"] >= 0) for b in batches)


def test_without_a_ratio_the_training_loader_is_the_labelled_one():
    batch = next(iter(synthetic(hidden_labels=0.5).train_dataloader()))
    assert set(batch) == {"tokens", "lengths", "labels"}


@pytest.mark.parametrize("key, value", [("unlabelled_ratio", -1), ("hidden_labels", 1.0)])
def test_bad_settings_are_refused(key, value):
    with pytest.raises(ValueError, match=f"data.{key}={value}"):
        synthetic(**{key: value})

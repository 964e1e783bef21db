"""k-fold cross-validation (folds.py): the folds partition the training data, stratified and
seeded; each fold's validation split and tokenizer come from its own cache; the test split is
untouched; folds that do not exist, and a dataset that validates on a split of its own, are
refused before any data is cached."""

from __future__ import annotations

import numpy as np
import pytest
from imdb_corpus import (
    TEST,
    TRAIN,
    datamodule,
    parquet_dir,  # noqa: F401 (a fixture)
    quiet_datasets,  # noqa: F401 (a fixture)
    ready,
)
from test_text_files import colour_rows, files_datamodule, write

from lstmlab.data.folds import stratified_fold
from lstmlab.data.synthetic import SyntheticDataModule


def test_the_folds_partition_the_training_rows_stratified_and_seeded():
    labels = np.array([0] * 30 + [1] * 10 + [2] * 7)
    parts = [stratified_fold(labels, 5, k, seed=3) for k in range(5)]
    validated = np.concatenate([val for _, val in parts])
    assert sorted(validated.tolist()) == list(range(len(labels)))  # each row validates once
    for train, val in parts:
        assert sorted([*train, *val]) == list(range(len(labels)))
        share = np.bincount(labels) / 5  # 30:10:7 over 5 folds
        assert (np.abs(np.bincount(labels[val], minlength=3) - share) < 1).all()
        assert len(val) in (9, 10)
    assert np.array_equal(parts[2][1], stratified_fold(labels, 5, 2, seed=3)[1])
    assert not np.array_equal(parts[2][1], stratified_fold(labels, 5, 2, seed=4)[1])


def test_each_fold_validates_on_its_own_rows_from_its_own_cache(tmp_path, parquet_dir):
    labels = np.array([label for _, label in TRAIN])
    folds = [ready(datamodule(tmp_path, parquet_dir, folds=4, fold=k)) for k in range(4)]
    expected = [stratified_fold(labels, 4, k, seed=1234)[1] for k in range(4)]
    for dm, rows in zip(folds, expected):
        assert dm.splits["val"].labels.tolist() == labels[rows].tolist()
        assert len(dm.splits["train"]) == len(TRAIN) - len(rows)
        assert dm.splits["test"].labels.tolist() == [label for _, label in TEST]
    caches = list((tmp_path / "cache").glob("*/meta.json"))
    assert len(caches) == 4  # one per fold: each trains its tokenizer on its own training rows
    held_out = ready(datamodule(tmp_path, parquet_dir))  # without folds: val_size held out
    assert len(held_out.splits["val"]) == 8 and len(list((tmp_path / "cache").iterdir())) == 5


def test_synthetic_folds_cut_the_training_split_and_leave_the_test_split():
    sizes = {"num_samples": 100, "val_samples": 40, "test_samples": 30, "min_len": 5}
    plain = SyntheticDataModule(**sizes, max_len=20, seed=1)
    plain.setup()
    folded = [SyntheticDataModule(**sizes, max_len=20, seed=1, folds=5, fold=k) for k in range(5)]
    for dm in folded:
        dm.setup()
        assert len(dm.splits["val"]) == 20 and len(dm.splits["train"]) == 80
        assert dm.splits["test"].labels.tolist() == plain.splits["test"].labels.tolist()
    validated = sorted(tuple(s.tolist()) for dm in folded for s, _ in dm.splits["val"])
    assert validated == sorted(tuple(s.tolist()) for s, _ in plain.splits["train"])


@pytest.mark.parametrize(
    ("folds", "fold", "message"),
    [(5, 5, r"data.fold=5 with data.folds=5: folds are numbered 0 to 4"), (1, 0, "2 or more")],
)
def test_a_fold_that_does_not_exist_is_refused(folds, fold, message):
    with pytest.raises(ValueError, match=message):
        SyntheticDataModule(folds=folds, fold=fold)


def test_folds_of_a_dataset_with_its_own_validation_file_are_refused(tmp_path):
    files = {s: str(write(tmp_path / f"{s}.csv", colour_rows(30))) for s in ("train", "val")}
    files["test"] = files["val"]
    with pytest.raises(ValueError, match=r"data.folds=5: .*has its own validation split"):
        files_datamodule(tmp_path, **files, folds=5, fold=0)
    assert not list((tmp_path / "cache").glob("*/meta.json"))  # nothing cached

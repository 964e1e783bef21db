"""A synthetic classification task that needs memory, for fast and meaningful comparisons.

The rule: every sequence is random "noise" tokens among which sit key tokens, one key token per
class. The label is the class of the *first* key token. After it come `num_distractors` more
key tokens of random classes, so "the most recent key" is usually the wrong answer. Ids:
0 = <pad>, 1 = <unk> (unused here), 2 .. 2+C-1 = the C key tokens, the rest = noise.

The first key sits uniformly among the positions that leave room for the distractors, so it is
often far from the end. A model that looks at every position (attention or max pooling over a
BiLSTM, whose forward half knows whether a key came before) can find it directly; a
unidirectional LSTM read at its last step must latch the first key and hold it through every
later key and noise token, which it learns much later, if at all. The source notebooks'
synthetic set drew labels with `randint(0, 1)`, i.e. all zero: nothing to learn, and no way to
tell the variants apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from lstmlab.data.batching import EncodedDataset, batch_loader
from lstmlab.data.folds import check_fold, stratified_fold
from lstmlab.data.unlabelled import check_ratio, merge_batches, unlabelled_pool, with_unlabelled

PAD_ID, UNK_ID, FIRST_KEY_ID = 0, 1, 2
TASK_KEYS = ("vocab_size", "num_classes", "min_len", "max_len", "num_distractors")


def make_key_task(
    num_samples: int,
    vocab_size: int,
    num_classes: int,
    min_len: int,
    max_len: int,
    num_distractors: int,
    seed: int | np.random.SeedSequence,
) -> EncodedDataset:
    """`num_samples` sequences following the first-key rule above, reproducible from `seed`."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_classes, size=num_samples)
    lengths = rng.integers(min_len, max_len + 1, size=num_samples)
    sequences = []
    for label, length in zip(labels, lengths):
        tokens = rng.integers(FIRST_KEY_ID + num_classes, vocab_size, size=length)
        first = rng.integers(0, length - num_distractors)  # room for the distractors after it
        later = rng.choice(np.arange(first + 1, length), size=num_distractors, replace=False)
        tokens[first] = FIRST_KEY_ID + label
        tokens[later] = FIRST_KEY_ID + rng.integers(0, num_classes, size=num_distractors)
        sequences.append(torch.from_numpy(tokens))
    return EncodedDataset(sequences, torch.from_numpy(labels))


class SyntheticDataModule(L.LightningDataModule):
    """Train / validation / test splits of the key-token task, generated in memory.

    The three splits come from independent streams of one seed, so they never share samples by
    construction and change together when `seed` changes. With `folds`, fold `fold` of the
    training split validates instead (k-fold cross-validation, folds.py). `hidden_labels` of
    the training split lose their labels: they are only in `unlabelled_pool` (with the
    labelled rest), which feeds unlabelled batches with `unlabelled_ratio > 0`
    (unlabelled.py), as IMDB's unsupervised reviews do.
    """

    pad_id = PAD_ID

    def __init__(
        self,
        num_samples: int = 10_000,
        val_samples: int = 2_000,
        test_samples: int = 2_000,
        vocab_size: int = 1_000,
        num_classes: int = 4,
        min_len: int = 20,
        max_len: int = 100,
        num_distractors: int = 2,
        seed: int = 0,
        batch_size: int = 64,
        num_workers: int = 0,
        pin_memory: bool = False,
        hidden_labels: float = 0.0,
        unlabelled_ratio: float = 0.0,
        folds: int | None = None,
        fold: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(logger=False)  # trackers get train.py's flat hyperparameters
        _check_args(self.hparams)
        check_fold(folds, fold)
        check_ratio(unlabelled_ratio)
        self.vocab_size = vocab_size
        self.num_classes = num_classes
        self.splits: dict[str, EncodedDataset] = {}
        self.unlabelled_pool: EncodedDataset | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        h = self.hparams
        rule = {key: h[key] for key in TASK_KEYS}
        seeds = np.random.SeedSequence(h.seed).spawn(3)
        sizes = {"train": h.num_samples, "val": h.val_samples, "test": h.test_samples}
        for (name, size), split_seed in zip(sizes.items(), seeds):
            self.splits[name] = make_key_task(size, seed=split_seed, **rule)
        if h.folds:  # the validation split is a fold of the training split
            train = self.splits["train"]
            parts = stratified_fold(train.labels.numpy(), h.folds, h.fold, h.seed)
            self.splits["train"], self.splits["val"] = (subset(train, rows) for rows in parts)
        train = self.splits["train"]
        hidden = round(h.hidden_labels * len(train))  # the first ones: the draw is random
        self.unlabelled_pool = unlabelled_pool([train])
        self.splits["train"] = EncodedDataset(train.sequences[hidden:], train.labels[hidden:])

    def _loader(self, dataset: EncodedDataset, train: bool = False, **settings: int) -> DataLoader:
        h = self.hparams
        return batch_loader(
            dataset,
            pad_id=self.pad_id,
            train=train,
            num_workers=h.num_workers,
            pin_memory=h.pin_memory,
            **{"batch_size": h.batch_size, "seed": h.seed, **settings},
        )

    def train_dataloader(self) -> Any:
        h = self.hparams
        labelled = self._loader(self.splits["train"], train=True)
        if not h.unlabelled_ratio:
            return labelled
        make_loader = partial(self._loader, train=True)
        pool, ratio = self.unlabelled_pool, h.unlabelled_ratio
        return with_unlabelled(labelled, pool, ratio, h.batch_size, h.seed, make_loader)

    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        return merge_batches(batch)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.splits["val"])

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.splits["test"])


def subset(data: EncodedDataset, rows: np.ndarray) -> EncodedDataset:
    return EncodedDataset([data.sequences[i] for i in rows], data.labels[torch.from_numpy(rows)])


def _check_args(h: Mapping[str, float]) -> None:
    """Clear errors for settings that cannot produce the task."""
    for name in ("num_samples", "val_samples", "test_samples", "min_len", "batch_size"):
        if h[name] < 1:
            raise ValueError(f"data.{name}={h[name]}: expected a positive integer")
    if not 0 <= h["num_distractors"] < h["min_len"]:
        raise ValueError(
            f"data.num_distractors={h['num_distractors']}: expected 0 <= num_distractors < "
            f"data.min_len={h['min_len']}, so that every sequence has room for the first key "
            "after which the distractors come"
        )
    if not 0 <= h["hidden_labels"] < 1:
        raise ValueError(
            f"data.hidden_labels={h['hidden_labels']}: expected a fraction of the training "
            "split in [0, 1) whose labels are hidden (some must stay labelled)"
        )
    if h["max_len"] < h["min_len"]:
        raise ValueError(f"data.max_len={h['max_len']} is below data.min_len={h['min_len']}")
    if h["num_classes"] < 2:
        raise ValueError(f"data.num_classes={h['num_classes']}: a classification task needs >= 2")
    if h["vocab_size"] <= FIRST_KEY_ID + h["num_classes"]:
        raise ValueError(
            f"data.vocab_size={h['vocab_size']} leaves no noise tokens: ids 0-1 are <pad>/<unk> "
            f"and {h['num_classes']} ids are key tokens, so vocab_size must be at least "
            f"{h['num_classes'] + 3}"
        )

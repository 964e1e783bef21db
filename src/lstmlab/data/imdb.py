"""IMDB movie reviews (positive / negative): the shared text pipeline (text.py) reading the
data from `data.path`, the project's local copy or the Hugging Face Hub (sources.py)."""

from __future__ import annotations

from functools import partial
from typing import Any

import datasets
import numpy as np

from lstmlab.data import chunks
from lstmlab.data.batching import EncodedDataset
from lstmlab.data.cache import encode_split, load_encoded
from lstmlab.data.sources import UNSUPERVISED, Source, find_source
from lstmlab.data.text import TextDataModule
from lstmlab.data.unlabelled import check_ratio, merge_batches, unlabelled_pool, with_unlabelled
from lstmlab.io import atomic


class IMDBDataModule(TextDataModule):
    """IMDB's train / validation / test splits; see conf/data/imdb.yaml for every key.

    Validation is `val_size` reviews held out from train (stratified, seeded); `class_names` are
    `neg`, `pos`. The 50,000 unlabelled reviews are reachable through `load_unsupervised`, and
    in training with `unlabelled_ratio > 0`: each labelled batch then comes with an unlabelled
    one drawn from the training reviews and the unsupervised ones (unlabelled.py), never from
    validation or test.
    """

    name = "IMDB"

    def __init__(
        self,
        path: str | None = None,
        local_dir: str = "data/imdb",
        hub_name: str | None = "stanfordnlp/imdb",
        cache_dir: str = "data/cache/imdb",
        unlabelled_ratio: float = 0.0,
        **text_options: Any,
    ) -> None:
        check_ratio(unlabelled_ratio)
        super().__init__(cache_dir=cache_dir, **text_options)

    def find_source(self) -> Source:
        h = self.hparams
        return find_source(h.path, h.local_dir, h.hub_name)

    def load_unsupervised(self) -> datasets.Dataset:
        """The 50 000 unlabelled reviews (column `text`), raw, for pretraining. They are never
        part of train / validation / test; encode them with `self.tokenizer` if needed."""
        return self.find_source().load([UNSUPERVISED])[UNSUPERVISED]

    def unlabeled_split(self) -> EncodedDataset:
        """The unlabelled reviews encoded with this datamodule's tokenizer (call `setup`
        first), cut to `max_len`, labels -1: for language-model pretraining. Encoded once and
        cached beside the labelled splits."""
        path = self._cache_folder() / f"{UNSUPERVISED}.arrow"
        if not path.exists():
            texts = self.load_unsupervised().select_columns(["text"])
            part = texts.add_column("label", np.full(len(texts), -1, dtype=np.int64))
            encode = chunks.text_encoder(self.tokenizer)
            with atomic.atomic_path(path) as tmp:  # the published cache never holds half a file
                encode_split(part, encode, tmp, UNSUPERVISED)
        return load_encoded(path, self.hparams.max_len)

    def unlabelled_pool(self) -> EncodedDataset:
        """The texts semi-supervised training reads without their labels: the training split
        (validation held out) and the unsupervised reviews; never validation or test."""
        return unlabelled_pool([self.splits["train"], self.unlabeled_split()])

    def train_dataloader(self) -> Any:
        labelled = super().train_dataloader()
        h = self.hparams
        if not h.unlabelled_ratio:
            return labelled
        make_loader = partial(self.loader, train=True)
        pool = self.unlabelled_pool()
        return with_unlabelled(
            labelled, pool, h.unlabelled_ratio, h.batch_size, h.shuffle_seed, make_loader
        )

    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        return merge_batches(batch)

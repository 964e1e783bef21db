"""IMDB movie reviews (positive / negative): the shared text pipeline (text.py) reading the
data from `data.path`, the project's local copy or the Hugging Face Hub (sources.py)."""

from __future__ import annotations

from typing import Any

import datasets
import numpy as np

from lstmlab.data import chunks
from lstmlab.data.batching import EncodedDataset
from lstmlab.data.cache import encode_split, load_encoded
from lstmlab.data.sources import UNSUPERVISED, Source, find_source
from lstmlab.data.text import TextDataModule
from lstmlab.io import atomic


class IMDBDataModule(TextDataModule):
    """IMDB's train / validation / test splits; see conf/data/imdb.yaml for every key.

    Validation is `val_size` reviews held out from train (stratified, seeded); `class_names` are
    `neg`, `pos`. The 50,000 unlabelled reviews are only reachable through `load_unsupervised`.
    """

    name = "IMDB"

    def __init__(
        self,
        path: str | None = None,
        local_dir: str = "data/imdb",
        hub_name: str | None = "stanfordnlp/imdb",
        cache_dir: str = "data/cache/imdb",
        **text_options: Any,
    ) -> None:
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

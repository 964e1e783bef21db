"""Text for language-model pretraining: the training split of the classifier's data (never
validation or test; validation measures the LM's perplexity) plus, for IMDB, the 50,000
unlabelled reviews."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_info

from lstmlab.data.batching import EncodedDataset
from lstmlab.data.sequences import RaggedSequences
from lstmlab.data.text import TextDataModule


class LanguageModelData(L.LightningDataModule):
    """A text datamodule's training split (+ its unlabelled text) as LM training text, and its
    validation split for perplexity. Batching is the text datamodule's own (`loader`)."""

    def __init__(self, text: TextDataModule, unlabeled: bool = True) -> None:
        super().__init__()
        if unlabeled and not hasattr(text, "unlabeled_split"):
            raise ValueError(
                f"lm.unlabeled=true, but {type(text).__name__} has no unlabelled text (only "
                "data=imdb does): set lm.unlabeled=false to pretrain on the training split."
            )
        self.text, self.unlabeled = text, unlabeled
        self.train: EncodedDataset | None = None

    def prepare_data(self) -> None:
        self.text.prepare_data()

    def setup(self, stage: str | None = None) -> None:
        if self.train is not None:
            return
        self.text.setup("fit")
        parts = [self.text.splits["train"]]
        if self.unlabeled:
            parts.append(self.text.unlabeled_split())
        sequences = RaggedSequences.concat([part.sequences for part in parts])
        self.train = EncodedDataset(sequences, torch.cat([part.labels for part in parts]))
        rank_zero_info(f"language model: {len(self.train)} training texts")

    def train_dataloader(self) -> Any:
        return self.text.loader(self.train, train=True)

    def val_dataloader(self) -> Any:
        return self.text.loader(self.text.splits["val"])

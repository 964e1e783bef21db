"""Labelled text as a LightningDataModule: the pipeline every text dataset shares.

`TextDataModule` is the base of `IMDBDataModule` (imdb.py) and `TextFilesDataModule`
(text_files.py); a subclass only says where its text comes from (`find_source`, returning a
`TextSource`). Flow: `prepare_data` finds the data, holds out a stratified validation split from
train (or fold `fold` of `folds`, folds.py) unless the source has one, trains the tokenizer on
what remains (never on validation or test), encodes train / validation / test with
`datasets.map` and writes all of it to one cache folder, named after everything that decides its
content. `setup` memory-maps that folder. A second run with the same data and settings finds the
folder and tokenises nothing; a cache folder appears in one rename once complete, so an
interrupted preparation is never mistaken for a finished one.

The cache itself (building, encoding, loading, the stratified validation split) lives in
cache.py, the flat storage of encoded texts in sequences.py, the argument checks in
options.py. `max_len` is applied when slicing, so changing it needs no new cache.

Empty texts (or texts made only of markup) are valid: they become empty sequences, which
the collator gives length 0 and the network reads as a single padding token.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from tokenizers import Tokenizer
from torch.utils.data import DataLoader

from lstmlab.data import tokenization
from lstmlab.data.batching import EncodedDataset, batch_loader
from lstmlab.data.cache import (
    CACHE_FORMAT,
    SPLITS,
    TextSource,
    build_cache,
    describe_classes,
    digest,
    discard_unreadable,
    file_digest,
    load_encoded,
)
from lstmlab.data.folds import check_fold
from lstmlab.data.labels import lookalike_warning
from lstmlab.data.options import check_options
from lstmlab.data.overlap import overlap_warning


class TextDataModule(L.LightningDataModule):
    """Train / validation / test splits of labelled text, tokenised and cached.

    Subclasses implement `find_source()` and pass `**text_options` (the keys below) on to
    `__init__`, which saves their own keys as hyperparameters too. After `setup`:
    `vocab_size`, `num_classes`, `class_names`, `class_counts` (training split),
    `loss_weights` (with `class_weights=true`, else None), `pad_id` (0 for the trained
    tokenizers), `tokenizer` and `splits` (EncodedDataset per split). `state_dict()` carries
    the tokenizer and class names into every checkpoint; `runs.checkpoints.load_text_encoder` and
    predict.py read them back.
    """

    name = "text"  # in log messages

    def __init__(
        self,
        cache_dir: str = "data/cache/text",
        tokenizer: str = "word",
        pretrained: str | None = None,
        min_freq: int = 2,
        max_size: int | None = 25_000,
        max_len: int | None = 400,
        val_size: float = 5_000,
        folds: int | None = None,
        fold: int = 0,
        seed: int = 1234,
        shuffle_seed: int = 0,
        class_weights: bool = False,
        batch_size: int = 64,
        bucket: bool = True,
        num_workers: int = 0,
        pin_memory: bool = False,
    ) -> None:
        super().__init__()
        check_options(
            tokenizer, pretrained, min_freq, max_size, max_len, val_size, batch_size, num_workers
        )
        check_fold(folds, fold)
        # these keys and the subclass's own (Lightning walks up); logger=False: trackers get
        # the run's flat hyperparameters from train.py instead
        self.save_hyperparameters(logger=False)
        self.tokenizer: Tokenizer | None = None
        self.vocab_size: int | None = None
        self.num_classes: int | None = None
        self.class_names: list[str] | None = None
        self.class_counts: list[int] | None = None
        self.pad_id = 0
        self.splits: dict[str, EncodedDataset] = {}
        self._restored: str | None = None  # tokenizer JSON from a checkpoint, before setup

    def find_source(self) -> TextSource:
        raise NotImplementedError

    @property
    def loss_weights(self) -> list[float] | None:
        """With `class_weights=true`: N / (classes * count) per class, so every class weighs
        as much in the loss as in a balanced training split."""
        if not self.hparams.class_weights or self.class_counts is None:
            return None
        total, k = sum(self.class_counts), len(self.class_counts)
        return [total / (k * count) for count in self.class_counts]

    # ------------------------------------------------------------------ preparing and loading

    def prepare_data(self) -> None:
        """Builds the cache if it is missing (once per machine; Lightning calls this on one
        process). Returns fast when it exists."""
        self._cache_folder()

    def setup(self, stage: str | None = None) -> None:
        """Loads every split from the cache (built here if `prepare_data` was skipped).
        Idempotent: `train()` calls it before fitting and Lightning again inside `fit`."""
        if self.splits:
            return
        folder = self._cache_folder()
        meta = json.loads((folder / "meta.json").read_text())
        self.tokenizer = tokenization.from_json((folder / "tokenizer.json").read_text())
        self.vocab_size = self.tokenizer.get_vocab_size()
        self.pad_id = meta["pad_id"]
        self.class_names = meta["class_names"]
        self.num_classes = len(self.class_names)
        self.class_counts = meta["class_counts"]["train"]
        for split in SPLITS:
            self.splits[split] = load_encoded(folder / f"{split}.arrow", self.hparams.max_len)
        sizes = {split: len(data) for split, data in self.splits.items()}
        rank_zero_info(
            f"{self.name}: {sizes}, vocabulary {self.vocab_size}, "
            f"{describe_classes(self.class_names, self.class_counts)}, from {folder}"
        )
        if self._restored is None:  # training: what the user can still fix in the data settings
            for warning in (
                numbers_warning(self.class_names),
                lookalike_warning(self.class_names),
                overlap_warning(meta.get("val_in_train")),
            ):
                if warning is not None:
                    rank_zero_warn(warning)

    def _cache_folder(self) -> Path:
        """The cache folder for the current data and settings, built when missing."""
        h = self.hparams
        source = self.find_source()
        recipe = self._recipe(source)
        key = digest(json.dumps(recipe, sort_keys=True))
        kind = "checkpoint" if self._restored is not None else h.tokenizer
        folder = Path(h.cache_dir) / f"{kind}-{key}"
        discard_unreadable(folder)
        if not (folder / "meta.json").exists():
            build_cache(folder, source, recipe, self._restored, self.name)
        return folder

    def _recipe(self, source: TextSource) -> dict[str, Any]:
        """Everything that decides the cache's content (and nothing else: not max_len)."""
        h = self.hparams
        if self._restored is not None:
            rules = {"checkpoint": digest(self._restored)}
        elif h.tokenizer == "pretrained":
            rules = {"pretrained": str(h.pretrained), "file": file_digest(h.pretrained)}
        else:
            rules = {
                "kind": h.tokenizer,
                "rules": digest(tokenization.untrained(h.tokenizer).to_str()),  # code counts
                "min_freq": h.min_freq,
                "max_size": h.max_size,
            }
        return {
            "format": CACHE_FORMAT,
            "source": str(source),
            "fingerprint": source.fingerprint(),
            "tokenizer": rules,
            "val_size": h.val_size,
            "seed": h.seed,
            **({"folds": h.folds, "fold": h.fold} if h.folds else {}),  # a cache per fold
        }

    # ------------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint needs to turn text into ids again (plain str / int: loadable with
        `torch.load(weights_only=True)`)."""
        if self.tokenizer is None:
            return {}
        return {
            "tokenizer": self.tokenizer.to_str(),
            "pad_id": self.pad_id,
            "max_len": self.hparams.max_len,
            "num_classes": self.num_classes,
            "class_names": self.class_names,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Before `setup`: encode with the checkpoint's tokenizer instead of training one.
        After `setup` (resuming, testing a checkpoint): the vocabularies must agree, or the
        model's ids would mean other words."""
        restored = state_dict["tokenizer"]
        if self.tokenizer is None:
            self._restored = restored
        elif restored != self.tokenizer.to_str():
            raise ValueError(
                "The checkpoint was trained with a different tokenizer / vocabulary than this "
                "run's data settings give, so its token ids would mean other words. Use the "
                "data.* settings of the run that wrote the checkpoint (its .hydra/config.yaml)."
            )

    # ------------------------------------------------------------------ loaders

    def loader(self, dataset: EncodedDataset, train: bool = False, **settings: Any) -> DataLoader:
        """Batches of `dataset` with this datamodule's settings: shuffled per (seed, epoch) and
        bucketed by length for training; in order for evaluation. `settings` replace
        `batch_loader` arguments (`batch_size`, `seed`, `num_samples`)."""
        h = self.hparams
        return batch_loader(
            dataset,
            pad_id=self.pad_id,
            train=train,
            **{"batch_size": h.batch_size, "seed": h.shuffle_seed, **settings},
            lengths=dataset.sequences.lengths if h.bucket else None,
            num_workers=h.num_workers,
            pin_memory=h.pin_memory,
        )

    def train_dataloader(self) -> DataLoader:
        return self.loader(self.splits["train"], train=True)

    def val_dataloader(self) -> DataLoader:
        return self.loader(self.splits["val"])

    def test_dataloader(self) -> DataLoader:
        return self.loader(self.splits["test"])


def numbers_warning(class_names: list[str]) -> str | None:
    """Integer labels without `data.labels` name the classes `0`, `1`, ...: in every metric,
    figure and prediction. Said once, with the fix, when a run starts."""
    if not all(name.lstrip("-").isdigit() for name in class_names):
        return None
    shown = ", ".join(class_names[:5]) + (", ..." if len(class_names) > 5 else "")
    return (
        f"The {len(class_names)} classes are named by their integer labels ({shown}): runs "
        f"log them so and predict.py answers '{class_names[-1]}'. Name them with "
        f"{len(class_names)} names in id order, e.g. data.labels=[neg,pos] for two classes."
    )

"""Labelled text as a LightningDataModule: the pipeline every text dataset shares.

`TextDataModule` is the base of `IMDBDataModule` (imdb.py) and `TextFilesDataModule`
(text_files.py); a subclass only says where its text comes from (`find_source`, returning a
`TextSource`). Flow: `prepare_data` finds the data, holds out a stratified validation split
from train unless the source has one, trains the tokenizer on what remains (never on
validation or test), encodes train / validation / test with `datasets.map` and writes all of
it to one cache folder, named after everything that decides its content. `setup` memory-maps
that folder. A second run with the same data and settings finds the folder and
tokenises nothing; a cache folder appears in one rename once complete, so an interrupted
preparation is never mistaken for a finished one.

Encoded splits are kept as one flat tensor of ids plus offsets per split (`RaggedSequences`),
not 50 000 tensors: loading them is a few array copies. `max_len` is applied when slicing, so
changing it needs no new cache.

Empty texts (or texts made only of markup) are valid: they become empty sequences, which
the collator gives length 0 and the network reads as a single padding token.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import datasets
import lightning as L
import numpy as np
import pyarrow as pa
import torch
from lightning.pytorch.utilities import rank_zero_info
from tokenizers import Tokenizer
from torch import Tensor
from torch.utils.data import DataLoader, SequentialSampler

from lstmlab.data import tokenization
from lstmlab.data.batching import (
    BucketBatchSampler,
    EncodedDataset,
    EpochShuffleSampler,
    PadCollator,
    ResumableLoader,
    check_batch_size,
)

CACHE_FORMAT = 2  # bump when the cache layout changes, so old caches are not read
SPLITS = ("train", "val", "test")
ENCODED = datasets.Features(
    {"label": datasets.Value("int64"), "ids": datasets.Sequence(datasets.Value("int32"))}
)
MAP_BATCH = 10_000  # texts per `datasets.map` call (and per vocabulary-training batch)


class TextSource(Protocol):
    """Where a datamodule's text comes from (`sources.Source` for IMDB, `FileSource` for files)."""

    def fingerprint(self) -> str:
        """Changes whenever the data (or how it is read) does, so a stale cache is never used."""

    def labeled(self) -> tuple[dict[str, datasets.Dataset], list[str]]:
        """`train`, `test` and optionally `val`, with columns `text` (str) and `label` (class
        id), and the class names, in id order."""


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
        seed: int = 1234,
        shuffle_seed: int = 0,
        class_weights: bool = False,
        batch_size: int = 64,
        bucket: bool = True,
        num_workers: int = 0,
        pin_memory: bool = False,
    ) -> None:
        super().__init__()
        _check_args(
            tokenizer, pretrained, min_freq, max_size, max_len, val_size, batch_size, num_workers
        )
        self.save_hyperparameters()  # these keys and the subclass's own (Lightning walks up)
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

    def _cache_folder(self) -> Path:
        """The cache folder for the current data and settings, built when missing."""
        h = self.hparams
        source = self.find_source()
        recipe = self._recipe(source)
        key = _digest(json.dumps(recipe, sort_keys=True))
        kind = "checkpoint" if self._restored is not None else h.tokenizer
        folder = Path(h.cache_dir) / f"{kind}-{key}"
        if not (folder / "meta.json").exists():
            build_cache(folder, source, recipe, self._restored, self.name)
        return folder

    def _recipe(self, source: TextSource) -> dict[str, Any]:
        """Everything that decides the cache's content (and nothing else: not max_len)."""
        h = self.hparams
        if self._restored is not None:
            rules = {"checkpoint": _digest(self._restored)}
        elif h.tokenizer == "pretrained":
            rules = {"pretrained": str(h.pretrained), "file": _file_digest(h.pretrained)}
        else:
            rules = {
                "kind": h.tokenizer,
                "rules": _digest(tokenization.untrained(h.tokenizer).to_str()),  # code counts
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

    def loader(self, dataset: EncodedDataset, train: bool = False) -> DataLoader:
        """Batches of `dataset` with this datamodule's settings: shuffled per (seed, epoch) and
        bucketed by length for training; in order for evaluation."""
        h = self.hparams
        options = {
            "collate_fn": PadCollator(self.pad_id),
            "num_workers": h.num_workers,
            "pin_memory": h.pin_memory,
            "persistent_workers": h.num_workers > 0,
        }
        if train:
            check_batch_size(h.batch_size, len(dataset))
        sampler = EpochShuffleSampler(len(dataset), h.shuffle_seed) if train else None
        loader = ResumableLoader if train else DataLoader  # training: resumable mid-epoch
        if not h.bucket:
            return loader(dataset, batch_size=h.batch_size, sampler=sampler, **options)
        batches = BucketBatchSampler(
            sampler or SequentialSampler(dataset),
            h.batch_size,
            drop_last=False,
            lengths=dataset.sequences.lengths,
            shuffle=train,
            pool_batches=50 if train else None,
        )
        return loader(dataset, batch_sampler=batches, **options)

    def train_dataloader(self) -> DataLoader:
        return self.loader(self.splits["train"], train=True)

    def val_dataloader(self) -> DataLoader:
        return self.loader(self.splits["val"])

    def test_dataloader(self) -> DataLoader:
        return self.loader(self.splits["test"])


# ---------------------------------------------------------------------- the cache


def build_cache(
    folder: Path, source: TextSource, recipe: dict, restored: str | None, name: str = "text"
) -> None:
    """Split, train the tokenizer, encode, and write `folder` atomically (tmp folder + rename)."""
    clock = Clock()
    raw, class_names = source.labeled()
    train_texts = raw["train"].data.column("text")
    if "val" in raw:
        parts = {"train": raw["train"], "val": raw["val"], "test": raw["test"]}
    else:
        labels = raw["train"].data.column("label").to_numpy()
        size = holdout_size(recipe["val_size"], len(labels))
        train_idx, val_idx = stratified_split(labels, size, recipe["seed"])
        parts = {"train": raw["train"].select(train_idx), "val": raw["train"].select(val_idx)}
        parts["test"] = raw["test"]
        train_texts = train_texts.take(pa.array(train_idx))  # `.data` ignores select()
    train_texts = train_texts.combine_chunks()
    clock.lap("read_s")
    tokenizer, encode = make_tokenizer(recipe["tokenizer"], train_texts, restored)
    pad_id = tokenization.pad_id_of(tokenizer)
    clock.lap("vocabulary_s")
    tmp = folder.parent / f".tmp-{folder.name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    try:
        counts = {}
        for split, part in parts.items():
            encoded = encode_split(part, encode, tmp / f"{split}.arrow", split)
            labels = encoded.data.column("label").to_numpy()
            counts[split] = np.bincount(labels, minlength=len(class_names)).tolist()
        clock.lap("encode_s")
        tokenizer.save(str(tmp / "tokenizer.json"))
        meta = {
            **recipe,
            "pad_id": pad_id,
            "class_names": class_names,
            "class_counts": counts,
            "sizes": {split: sum(c) for split, c in counts.items()},
            "build": clock.laps,
        }
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        _publish(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rank_zero_info(
        f"{name} from {source}: {meta['sizes']}, vocabulary {tokenizer.get_vocab_size()}, "
        f"cached in {folder} ({clock.total():.1f} s)"
    )


def describe_classes(names: list[str], counts: list[int]) -> str:
    """`3 classes (a 120, b 40, c 40; largest/smallest 3.0)`: imbalance at a glance."""
    listed = ", ".join(f"{n} {c}" for n, c in zip(names, counts))
    ratio = max(counts) / max(min(counts), 1)
    return f"{len(names)} classes in train ({listed}; largest/smallest {ratio:.1f})"


def holdout_size(val_size: float, rows: int) -> int:
    """`val_size` rows, or that fraction of the training split when it is below 1."""
    return round(val_size * rows) if val_size < 1 else int(val_size)


class Clock:
    """Seconds spent per step, for meta.json and the benchmark."""

    def __init__(self) -> None:
        self.start = self.last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(now - self.last, 3)
        self.last = now

    def total(self) -> float:
        return time.perf_counter() - self.start


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _file_digest(name_or_path: str) -> str | None:
    """The content hash of a local tokenizer file (or a folder's tokenizer.json); None for a
    Hub name."""
    path = Path(name_or_path)
    path = path / "tokenizer.json" if path.is_dir() else path
    return _digest(path.read_text()) if path.is_file() else None


def _publish(tmp: Path, folder: Path) -> None:
    """Renames the finished `tmp` to `folder`; if another process got there first, keeps theirs
    (same recipe, same content)."""
    try:
        tmp.rename(folder)
    except OSError:
        if not (folder / "meta.json").exists():
            raise


def make_tokenizer(
    rules: dict, train_texts: pa.Array, restored: str | None
) -> tuple[Tokenizer, Callable[[pa.Array], pa.ListArray]]:
    """The tokenizer, from a checkpoint, pretrained, or trained on the training texts (never
    validation or test), and the function that encodes texts with it."""
    if restored is not None:
        tokenizer = tokenization.from_json(restored)
    elif "pretrained" in rules:
        tokenizer = tokenization.load_pretrained(rules["pretrained"])
    elif rules["kind"] == "word":
        chunks = tokenization.split_chunks(train_texts)
        encoder = tokenization.word_vocabulary(chunks, rules["min_freq"], rules["max_size"])
        return encoder.tokenizer, encoder  # it knows the training chunks already
    else:
        batches = (
            train_texts.slice(i, MAP_BATCH).to_pylist()
            for i in range(0, len(train_texts), MAP_BATCH)
        )
        tokenizer = tokenization.train_tokenizer(
            rules["kind"], batches, rules["min_freq"], rules["max_size"]
        )
    return tokenizer, tokenization.text_encoder(tokenizer)


def encode_split(
    part: datasets.Dataset, encode: Callable[[pa.Array], pa.ListArray], path: Path, name: str
) -> datasets.Dataset:
    """`part` as token ids and labels, written by `datasets.map` to the Arrow file `path`."""

    def encode_rows(batch: pa.Table) -> pa.Table:
        ids = encode(batch.column("text").combine_chunks())
        return pa.table({"label": batch.column("label"), "ids": ids})

    return part.with_format("arrow").map(
        encode_rows,
        batched=True,
        batch_size=MAP_BATCH,
        remove_columns=["text"],
        features=ENCODED,
        cache_file_name=str(path),
        new_fingerprint=f"{path.parent.name}-{name}",  # no hashing of the tokenizer
        desc=f"Encoding {name}",
    )


def load_encoded(path: Path, max_len: int | None) -> EncodedDataset:
    """An encoded split from its Arrow file: ids flat in one tensor, sliced per text."""
    table = datasets.Dataset.from_file(str(path)).data
    ids = table.column("ids").combine_chunks()
    offsets = ids.offsets.to_numpy()
    flat = torch.from_numpy(ids.flatten().to_numpy().astype(np.int64))
    labels = torch.from_numpy(table.column("label").to_numpy().astype(np.int64))
    starts = torch.from_numpy((offsets[:-1] - offsets[0]).astype(np.int64))
    lengths = torch.from_numpy(np.diff(offsets).astype(np.int64))
    return EncodedDataset(RaggedSequences(flat, starts, lengths, max_len), labels)


def stratified_split(labels: np.ndarray, val_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) row indices: `val_size` rows drawn per class in proportion to the
    class sizes (largest remainder, so the total is exact), reproducible from `seed`."""
    if not 0 < val_size < len(labels):
        raise ValueError(
            f"data.val_size={val_size}: expected between 1 and {len(labels) - 1}, the training "
            f"split has {len(labels)} texts (a value below 1 is a fraction of it)."
        )
    classes, counts = np.unique(labels, return_counts=True)
    quotas = val_size * counts / len(labels)
    take = np.floor(quotas).astype(int)
    leftover = np.argsort(-(quotas - take), kind="stable")[: val_size - take.sum()]
    take[leftover] += 1
    if len(classes) < 2 or (take >= counts).any():
        raise ValueError(
            f"data.val_size={val_size} leaves the training split without every class "
            f"(class sizes {dict(zip(classes.tolist(), counts.tolist()))}): lower data.val_size."
        )
    rng = np.random.default_rng(seed)
    val = [rng.permutation(np.flatnonzero(labels == c))[:k] for c, k in zip(classes, take)]
    val_idx = np.sort(np.concatenate(val))
    return np.setdiff1d(np.arange(len(labels)), val_idx), val_idx


# ---------------------------------------------------------------------- batching


class RaggedSequences:
    """Variable-length sequences stored flat: item i is `flat[starts[i] : starts[i] + length]`,
    cut to `max_len`. A Sequence[Tensor] for `EncodedDataset`, built in a few array copies."""

    def __init__(self, flat: Tensor, starts: Tensor, lengths: Tensor, max_len: int | None) -> None:
        self.flat = flat
        self.starts = starts
        self.lengths = lengths if max_len is None else lengths.clamp(max=max_len)

    @classmethod
    def concat(cls, parts: list[RaggedSequences]) -> RaggedSequences:
        """All sequences of `parts`, in order, as one (each keeps its cut to max_len)."""
        offsets = torch.tensor([0, *(len(p.flat) for p in parts)]).cumsum(0)
        starts = torch.cat([p.starts + offset for p, offset in zip(parts, offsets)])
        flat = torch.cat([p.flat for p in parts])
        return cls(flat, starts, torch.cat([p.lengths for p in parts]), None)

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, index: int) -> Tensor:
        start = int(self.starts[index])
        return self.flat[start : start + int(self.lengths[index])]


# ---------------------------------------------------------------------- arguments


def _check_args(
    tokenizer: str,
    pretrained: str | None,
    min_freq: int,
    max_size: int | None,
    max_len: int | None,
    val_size: float,
    batch_size: int,
    num_workers: int,
) -> None:
    """Clear errors for settings that cannot work, before any data is read."""
    if tokenizer not in tokenization.KINDS:
        raise ValueError(
            f"data.tokenizer={tokenizer!r}: expected one of {', '.join(tokenization.KINDS)}"
        )
    if (tokenizer == "pretrained") != (pretrained is not None):
        raise ValueError(
            f"data.tokenizer={tokenizer} with data.pretrained={pretrained!r}: a pretrained "
            "tokenizer needs data.pretrained=<Hub name or path>, and data.pretrained needs "
            "data.tokenizer=pretrained"
        )
    if max_len is not None and max_len <= 0:
        raise ValueError(
            f"data.max_len={max_len}: expected a positive number of tokens, or null to keep "
            "whole texts"
        )
    if max_size is not None and max_size <= len(tokenization.SPECIALS):
        raise ValueError(
            f"data.max_size={max_size}: expected more than {len(tokenization.SPECIALS)} "
            "(<pad> and <unk> count), or null for no cap"
        )
    if max_size is None and tokenizer in ("wordpiece", "bpe"):
        raise ValueError(
            f"data.tokenizer={tokenizer} needs a vocabulary size: set data.max_size (e.g. 16000)"
        )
    if val_size <= 0:
        raise ValueError(
            f"data.val_size={val_size}: expected a number of texts, or a fraction below 1"
        )
    for name, value in [("min_freq", min_freq), ("batch_size", batch_size)]:
        if value < 1:
            raise ValueError(f"data.{name}={value}: expected a positive integer")
    if num_workers < 0:
        raise ValueError(f"data.num_workers={num_workers}: expected 0 or more worker processes")

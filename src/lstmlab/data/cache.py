"""The encoded-text cache: one folder per recipe, built once, memory-mapped after.

`build_cache` splits the labelled text (a stratified validation split, or one fold of k, unless
the source has one), trains the tokenizer on the training split only, encodes every split with
`datasets.map` and publishes the folder in one rename (`io.atomic.atomic_folder`), so an
interrupted preparation is never mistaken for a finished one. `load_encoded` reads a split
back as one flat tensor of ids plus offsets (`RaggedSequences`), not 50 000 tensors: a few
array copies.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import datasets
import numpy as np
import pyarrow as pa
import torch
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from tokenizers import Tokenizer

from lstmlab.data import chunks, tokenization
from lstmlab.data.batching import EncodedDataset
from lstmlab.data.folds import no_validation_file, stratified_fold
from lstmlab.data.overlap import phrases_in_train
from lstmlab.data.sequences import RaggedSequences
from lstmlab.io import atomic

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


def build_cache(
    folder: Path, source: TextSource, recipe: dict, restored: str | None, name: str = "text"
) -> None:
    """Split, train the tokenizer, encode, and write `folder` atomically (tmp folder + rename)."""
    clock = Clock()
    raw, class_names = source.labeled()
    train_texts = raw["train"].data.column("text")
    labels = raw["train"].data.column("label").to_numpy()
    check_two_classes(
        [class_names[i] for i in np.unique(labels)], f"The training split of {source}"
    )
    val_in_train = None  # a validation split of its own is the user's to judge
    if "val" in raw:
        no_validation_file(recipe.get("folds"), source)
        parts = {"train": raw["train"], "val": raw["val"], "test": raw["test"]}
    else:
        train_idx, val_idx = held_out(labels, recipe)
        parts = {"train": raw["train"].select(train_idx), "val": raw["train"].select(val_idx)}
        parts["test"] = raw["test"]
        val_texts = train_texts.take(pa.array(val_idx))  # `.data` ignores select()
        train_texts = train_texts.take(pa.array(train_idx))
        val_in_train = phrases_in_train(
            val_texts.to_pylist(), train_texts.to_pylist(), recipe["seed"]
        )
    train_texts = train_texts.combine_chunks()
    clock.lap("read_s")
    tokenizer, encode = make_tokenizer(recipe["tokenizer"], train_texts, restored)
    pad_id = tokenization.pad_id_of(tokenizer)
    clock.lap("vocabulary_s")
    with atomic.atomic_folder(folder) as tmp:  # theirs is kept if another process won
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
            "val_in_train": val_in_train,  # see overlap.py
            "build": clock.laps,
        }
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
    rank_zero_info(
        f"{name} from {source}: {meta['sizes']}, vocabulary {tokenizer.get_vocab_size()}, "
        f"cached in {folder} ({clock.total():.1f} s)"
    )


def check_two_classes(present: list[str], where: str) -> None:
    """A classifier learns nothing from one class: say so, rather than fail later at the
    validation split or a test label the training split lacks."""
    if len(present) < 2:
        raise ValueError(
            f"{where} has texts of a single class ({present}): a classifier needs two or more. "
            "Check that the label column is the one meant (data.label_column for your own "
            "files) and that the training file holds every class."
        )


def discard_unreadable(folder: Path) -> None:
    """Removes a published cache folder that no longer reads whole (a file cut short by a full
    disk, a copy or a sync that did not finish), so that it is built again instead of stopping
    every later run with a bare pyarrow error."""
    if not (folder / "meta.json").exists():
        return
    try:
        json.loads((folder / "meta.json").read_text())
        tokenization.from_json((folder / "tokenizer.json").read_text())
        for split in SPLITS:
            with pa.memory_map(str(folder / f"{split}.arrow")) as arrow:
                pa.ipc.open_stream(arrow).read_all()  # memory-mapped: no copy of the data
    except Exception as err:  # OSError, JSON, Arrow and tokenizers errors: all mean "damaged"
        rank_zero_warn(
            f"The data cache {folder} is damaged ({type(err).__name__}: {err}): building it again."
        )
        aside = folder.parent / f".damaged-{folder.name}-{uuid.uuid4().hex[:8]}"
        try:
            folder.rename(aside)  # one step, so no run reads a half-deleted folder
        except FileNotFoundError:  # another process moved it first
            return
        shutil.rmtree(aside, ignore_errors=True)


def describe_classes(names: list[str], counts: list[int]) -> str:
    """`3 classes (a 120, b 40, c 40; largest/smallest 3.0)`: imbalance at a glance."""
    listed = ", ".join(f"{n} {c}" for n, c in zip(names, counts))
    ratio = max(counts) / max(min(counts), 1)
    return f"{len(names)} classes in train ({listed}; largest/smallest {ratio:.1f})"


def held_out(labels: np.ndarray, recipe: dict) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) rows of the training split: fold `fold` of `folds` (k-fold
    cross-validation, folds.py), else `val_size` rows, both stratified and seeded."""
    if recipe.get("folds"):
        return stratified_fold(labels, recipe["folds"], recipe["fold"], recipe["seed"])
    return stratified_split(labels, holdout_size(recipe["val_size"], len(labels)), recipe["seed"])


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


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def file_digest(name_or_path: str) -> str | None:
    """The content hash of a local tokenizer file (or a folder's tokenizer.json); None for a
    Hub name."""
    path = Path(name_or_path)
    path = path / "tokenizer.json" if path.is_dir() else path
    return digest(path.read_text()) if path.is_file() else None


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
        pieces = chunks.split_chunks(train_texts)
        encoder = chunks.word_vocabulary(pieces, rules["min_freq"], rules["max_size"])
        return encoder.tokenizer, encoder  # it knows the training chunks already
    else:
        batches = (
            train_texts.slice(i, MAP_BATCH).to_pylist()
            for i in range(0, len(train_texts), MAP_BATCH)
        )
        tokenizer = tokenization.train_tokenizer(
            rules["kind"], batches, rules["min_freq"], rules["max_size"]
        )
    return tokenizer, chunks.text_encoder(tokenizer)


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
    if (take >= counts).any():
        raise ValueError(
            f"data.val_size={val_size} leaves the training split without every class "
            f"(class sizes {dict(zip(classes.tolist(), counts.tolist()))}): lower data.val_size."
        )
    rng = np.random.default_rng(seed)
    val = [rng.permutation(np.flatnonzero(labels == c))[:k] for c, k in zip(classes, take)]
    val_idx = np.sort(np.concatenate(val))
    return np.setdiff1d(np.arange(len(labels)), val_idx), val_idx

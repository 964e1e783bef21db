"""Where the IMDB reviews come from, read into `datasets.Dataset`s of `text`, `label`.

Three layouts are understood, wherever they are found:
    parquet   a folder with `train*.parquet` and `test*.parquet` (and optionally
              `unsupervised*.parquet`), columns `text` and `label`: what `datasets` writes
    aclimdb   the original Stanford folder: `train/pos/*.txt`, `train/neg/*.txt`, `test/...`,
              `train/unsup/*.txt` (the folder itself, or a folder holding `aclImdb/`)
    archive   `aclImdb_v1.tar.gz` itself, read without unpacking it

`find_source` looks, in order, at `data.path`, the project's local copy (`data/imdb`) and the
Hugging Face Hub; a Hub download is written to the local copy, so the next run needs no network.
Labels are 0 = negative, 1 = positive. The unsupervised split (no labels) is read only on
request, so it can never leak into the classifier's splits. Reading each layout and checking
what was read: `imdb_files.py`.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import datasets
from datasets.table import InMemoryTable

from lstmlab.data.hub_access import DataUnavailableError, HubUnavailableError, load_from_hub
from lstmlab.data.imdb_files import (
    ACL_LABELS,
    ARCHIVE_NAME,
    LABELED,
    UNSUPERVISED,
    check_table,
    parquet_files,
    read_acl_folder,
    read_archive,
    read_parquet,
    review_files,
)
from lstmlab.io import atomic

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")
FIXES = (
    "set data.path=/path/to/imdb (a folder with train.parquet and test.parquet, an aclImdb/ "
    "folder, or aclImdb_v1.tar.gz), place those files in {local}, or run the synthetic task "
    "with data=synthetic"
)


@dataclass(frozen=True)
class Source:
    """One readable copy of IMDB: its layout (`parquet`, `aclimdb`, `archive`) and location."""

    kind: str
    location: Path

    def __str__(self) -> str:
        return f"{self.location} ({self.kind})"

    def fingerprint(self) -> str:
        """A hash of the files' names, sizes and modification times: cheap on every start, and
        it changes when the data does, so a cache built from older files is never reused."""
        stats = [(str(f.relative_to(self.location)), *_stat(f)) for f in self._files()]
        blob = json.dumps([self.kind, str(self.location), stats])
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def _files(self) -> list[Path]:
        if self.kind == "archive":
            return [self.location]
        if self.kind == "parquet":
            return [f for split in LABELED for f in parquet_files(self.location, split)]
        return [
            f
            for split in LABELED
            for label in ACL_LABELS
            for f in review_files(self.location, split, label)
        ]

    def labeled(self) -> tuple[dict[str, datasets.Dataset], list[str]]:
        """Train and test, and the class names: label 0 is `neg`, 1 is `pos`."""
        return self.load(LABELED), list(ACL_LABELS)

    def load(self, splits: Iterable[str] = LABELED) -> dict[str, datasets.Dataset]:
        """The requested splits, in memory: `text` (and `label` except for `unsupervised`)."""
        splits = tuple(splits)
        if self.kind == "parquet":
            tables = {split: read_parquet(self.location, split) for split in splits}
        elif self.kind == "aclimdb":
            tables = {split: read_acl_folder(self.location, split) for split in splits}
        else:
            tables = read_archive(self.location, splits)
        for split, table in tables.items():
            check_table(table, f"the {split} split of {self}", labeled=split != UNSUPERVISED)
        return {split: datasets.Dataset(InMemoryTable(t)) for split, t in tables.items()}


def _stat(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


# ----------------------------------------------------------------------------- finding the data


def find_source(path: str | Path | None, local_dir: str | Path, hub_name: str | None) -> Source:
    """The first of `path`, `local_dir`, the Hub that holds IMDB (see the module docstring).

    An explicit `path` must be valid: a typo there is an error, not a silent Hub download.
    """
    local_dir = Path(local_dir)
    if path is not None:
        return detect_layout(Path(path), "data.path")
    if local_dir.exists() and any(local_dir.iterdir()):
        return detect_layout(local_dir, "the local copy (data.local_dir)")
    tried = ["data.path (not set)", f"a local copy in {local_dir} (absent or empty)"]
    if not hub_name:
        tried.append("the Hugging Face Hub (skipped: data.hub_name is null)")
        raise DataUnavailableError(_no_data_message(tried, local_dir))
    try:
        download_from_hub(hub_name, local_dir)
    except Exception as err:  # offline, no such dataset, a failed download: all mean "not here"
        reason = err if isinstance(err, HubUnavailableError) else f"{type(err).__name__}: {err}"
        tried.append(f"the Hugging Face Hub '{hub_name}' ({reason})")
        raise DataUnavailableError(_no_data_message(tried, local_dir)) from err
    return detect_layout(local_dir, f"the local copy of '{hub_name}'")


def _no_data_message(tried: list[str], local_dir: Path) -> str:
    return (
        "No IMDB data found. Tried, in order: "
        + "; ".join(tried)
        + ". To fix it, "
        + FIXES.format(local=local_dir)
        + "."
    )


def detect_layout(path: Path, what: str) -> Source:
    """The layout of `path`, or an error naming what was found and what was expected."""
    if not path.exists():
        raise FileNotFoundError(
            f"{what}={path} does not exist. Expected a folder with train.parquet and "
            f"test.parquet, an aclImdb/ folder, or {ARCHIVE_NAME}; check the path (relative "
            f"paths are relative to the directory you run from: {Path.cwd()})."
        )
    if not os.access(path, os.R_OK):
        raise PermissionError(f"{what}={path} exists but is not readable: check its permissions.")
    if path.is_file():
        if path.name.endswith(ARCHIVE_SUFFIXES):
            return Source("archive", path.resolve())
        raise ValueError(
            f"{what}={path} is a file, not {ARCHIVE_NAME}: give the folder that holds the "
            "train and test files instead (e.g. the folder of train.parquet)."
        )
    for folder in (path, path / "plain_text"):  # plain_text/: a snapshot of the Hub's repository
        if parquet_files(folder, "train") or parquet_files(folder, "test"):
            for split in LABELED:
                if not parquet_files(folder, split):
                    raise ValueError(
                        f"{what}={folder} has no {split}*.parquet: expected train and test."
                    )
            return Source("parquet", folder.resolve())
    for root in (path, path / "aclImdb"):
        if (root / "train").is_dir() or (root / "test").is_dir():
            _check_acl_folder(root, what)
            return Source("aclimdb", root.resolve())
    archives = sorted(p for p in path.iterdir() if p.name.endswith(ARCHIVE_SUFFIXES))
    if archives:
        return Source("archive", archives[0].resolve())
    found = ", ".join(sorted(p.name for p in path.iterdir())[:10]) or "nothing"
    raise ValueError(
        f"{what}={path} is neither a parquet folder (train.parquet, test.parquet), nor an "
        f"aclImdb folder (train/pos/*.txt, train/neg/*.txt, test/...), nor holds {ARCHIVE_NAME}; "
        f"it holds: {found}."
    )


def _check_acl_folder(root: Path, what: str) -> None:
    missing = [
        f"{split}/{label}"
        for split in LABELED
        for label in ACL_LABELS
        if not (root / split / label).is_dir()
    ]
    if missing:
        raise ValueError(
            f"{what}: {root} looks like an aclImdb folder but lacks {', '.join(missing)}: "
            "expected train/pos, train/neg, test/pos and test/neg, each with one review per .txt."
        )


def download_from_hub(name: str, local_dir: Path) -> None:
    """Every split of the Hub dataset `name`, written as parquet into `local_dir`, atomically:
    an interrupted download leaves no half-written copy that a later run would trust."""
    downloaded = load_from_hub(name)
    with atomic.atomic_folder(local_dir) as tmp:
        for split, dataset in downloaded.items():
            dataset.to_parquet(str(tmp / f"{split}.parquet"))

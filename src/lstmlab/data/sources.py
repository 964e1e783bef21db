"""Where the IMDB reviews come from, and reading them into `datasets.Dataset`s of `text`, `label`.

Three layouts are understood, wherever they are found:
    parquet   a folder with `train*.parquet` and `test*.parquet` (and optionally
              `unsupervised*.parquet`), columns `text` and `label`: what `datasets` writes
    aclimdb   the original Stanford folder: `train/pos/*.txt`, `train/neg/*.txt`, `test/...`,
              `train/unsup/*.txt` (the folder itself, or a folder holding `aclImdb/`)
    archive   `aclImdb_v1.tar.gz` itself, read without unpacking it

`find_source` looks, in order, at `data.path`, the project's local copy (`data/imdb`) and the
Hugging Face Hub; a Hub download is written to the local copy, so the next run needs no network.
Labels are 0 = negative, 1 = positive. The unsupervised split (no labels) is read only on
request, so it can never leak into the classifier's splits.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from datasets.table import InMemoryTable

from lstmlab.data.hub_access import DataUnavailableError, HubUnavailableError, load_from_hub
from lstmlab.io import atomic

LABELED = ("train", "test")
UNSUPERVISED = "unsupervised"
ACL_LABELS = {"neg": 0, "pos": 1}  # aclImdb folder name -> label
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")
ARCHIVE_NAME = "aclImdb_v1.tar.gz"
# aclImdb/<split>/<label folder>/<id>_<rating>.txt inside the archive
ARCHIVE_MEMBER = re.compile(r"(?:^|/)aclImdb/(train|test)/(pos|neg|unsup)/([^/]+\.txt)$")
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
            for f in _txt(self.location, split, label)
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


# ----------------------------------------------------------------------------- reading


def parquet_files(folder: Path, split: str) -> list[Path]:
    """`<split>.parquet` or its shards `<split>-00000-of-00002.parquet`, in order."""
    return sorted(
        f
        for f in folder.glob(f"{split}*.parquet")
        if f.name == f"{split}.parquet" or f.name.startswith(f"{split}-")
    )


def read_parquet(folder: Path, split: str) -> pa.Table:
    files = parquet_files(folder, split)
    if not files:
        raise FileNotFoundError(f"{folder} has no {split}*.parquet")
    columns = ["text"] if split == UNSUPERVISED else ["text", "label"]
    tables = []
    for file in files:
        try:
            names = pq.read_schema(file).names
        except (OSError, pa.ArrowException) as err:
            raise ValueError(f"{file} is not a readable parquet file ({err}).") from err
        missing = [c for c in columns if c not in names]
        if missing:
            raise ValueError(
                f"{file} has columns {names}, but {missing} are missing: expected 'text' (the "
                "review) and 'label' (0 negative, 1 positive), as in the Hub's stanfordnlp/imdb."
            )
        tables.append(pq.read_table(file, columns=columns))
    return pa.concat_tables(tables)


def _txt(root: Path, split: str, label: str) -> list[Path]:
    folder = root / split / label
    return sorted(folder.glob("*.txt")) if folder.is_dir() else []


def read_acl_folder(root: Path, split: str) -> pa.Table:
    """One split of an aclImdb folder, one review per file, in a fixed (sorted) order."""
    if split == UNSUPERVISED:
        files = _txt(root, "train", "unsup")
        if not files:
            raise FileNotFoundError(f"{root} has no train/unsup/*.txt: no unsupervised split.")
        return pa.table({"text": [_decode(f.read_bytes(), f) for f in files]})
    texts, labels = [], []
    for folder, label in ACL_LABELS.items():
        for file in _txt(root, split, folder):
            texts.append(_decode(file.read_bytes(), file))
            labels.append(label)
    return pa.table({"text": pa.array(texts, pa.string()), "label": pa.array(labels, pa.int64())})


def read_archive(archive: Path, splits: tuple[str, ...]) -> dict[str, pa.Table]:
    """The requested splits of aclImdb_v1.tar.gz in one pass, sorted as `read_acl_folder` sorts."""
    wanted = set()  # (split, label folder) pairs to collect
    for split in splits:
        wanted |= (
            {("train", "unsup")} if split == UNSUPERVISED else {(split, f) for f in ACL_LABELS}
        )
    found: dict[tuple[str, str], list[tuple[str, str]]] = {key: [] for key in wanted}
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                match = ARCHIVE_MEMBER.search(member.name)
                if member.isfile() and match and match.group(1, 2) in wanted:
                    data = tar.extractfile(member).read()
                    found[match.group(1, 2)].append((match.group(3), _decode(data, member.name)))
    except (tarfile.TarError, OSError, EOFError) as err:
        raise ValueError(f"{archive} is not a readable tar archive ({err}).") from err
    empty = [f"aclImdb/{s}/{lab}/" for (s, lab), items in found.items() if not items]
    if empty:
        raise ValueError(
            f"{archive} has no reviews under {', '.join(sorted(empty))}: expected the Stanford "
            f"{ARCHIVE_NAME} layout (aclImdb/train/pos/*.txt, ...)."
        )
    tables = {}
    for split in splits:
        if split == UNSUPERVISED:
            tables[split] = pa.table({"text": [t for _, t in sorted(found["train", "unsup"])]})
            continue
        texts, labels = [], []
        for folder, label in ACL_LABELS.items():
            texts += [text for _, text in sorted(found[split, folder])]
            labels += [label] * len(found[split, folder])
        tables[split] = pa.table({"text": texts, "label": pa.array(labels, pa.int64())})
    return tables


def _decode(data: bytes, where: object) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(
            f"{where} is not valid UTF-8 (byte {err.start}: {data[err.start : err.start + 4]!r}). "
            "Re-encode it, e.g. `iconv -f latin1 -t utf-8`, or fix the bytes by hand."
        ) from err


# ----------------------------------------------------------------------------- checking


def check_table(table: pa.Table, where: str, labeled: bool = True) -> None:
    """Text must be UTF-8 strings; labels 0 or 1. Empty reviews are allowed (see text.py)."""
    if table.num_rows == 0:
        raise ValueError(f"{where} has no reviews.")
    text = table.column("text")
    if not (pa.types.is_string(text.type) or pa.types.is_large_string(text.type)):
        raise ValueError(f"{where}: column 'text' has type {text.type}; expected UTF-8 strings.")
    try:
        text.validate(full=True)
    except pa.ArrowInvalid as err:
        raise ValueError(f"{where}: column 'text' holds bytes that are not UTF-8 ({err}).") from err
    if text.null_count:
        raise ValueError(f"{where}: {text.null_count} reviews have no text (null).")
    if labeled:
        _check_labels(table.column("label"), where)


def _check_labels(label: pa.ChunkedArray, where: str) -> None:
    if not pa.types.is_integer(label.type):
        raise ValueError(
            f"{where}: column 'label' has type {label.type}; expected integers 0 (negative) "
            "and 1 (positive)."
        )
    values = label.to_numpy(zero_copy_only=False) if not label.null_count else None
    if values is None or not np.isin(values, (0, 1)).all():
        bad = "null" if values is None else sorted(set(values[~np.isin(values, (0, 1))].tolist()))
        raise ValueError(
            f"{where}: labels must be 0 (negative) or 1 (positive), found {bad}. The "
            "unsupervised split (label -1) is not a classification split: use "
            "IMDBDataModule.load_unsupervised() for it."
        )

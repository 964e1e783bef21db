"""Reading one copy of IMDB into arrow tables of `text` (and `label`: 0 negative, 1 positive),
whatever its layout (parquet files, an aclImdb folder, the aclImdb_v1.tar.gz archive), and
checking what was read. `sources.py` finds the copy and says which layout it has.
"""

from __future__ import annotations

import re
import tarfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

LABELED = ("train", "test")
UNSUPERVISED = "unsupervised"
ACL_LABELS = {"neg": 0, "pos": 1}  # aclImdb folder name -> label
ARCHIVE_NAME = "aclImdb_v1.tar.gz"
# aclImdb/<split>/<label folder>/<id>_<rating>.txt inside the archive
ARCHIVE_MEMBER = re.compile(r"(?:^|/)aclImdb/(train|test)/(pos|neg|unsup)/([^/]+\.txt)$")


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


def review_files(root: Path, split: str, label: str) -> list[Path]:
    folder = root / split / label
    return sorted(folder.glob("*.txt")) if folder.is_dir() else []


def read_acl_folder(root: Path, split: str) -> pa.Table:
    """One split of an aclImdb folder, one review per file, in a fixed (sorted) order."""
    if split == UNSUPERVISED:
        files = review_files(root, "train", "unsup")
        if not files:
            raise FileNotFoundError(f"{root} has no train/unsup/*.txt: no unsupervised split.")
        return pa.table({"text": [_decode(f.read_bytes(), f) for f in files]})
    texts, labels = [], []
    for folder, label in ACL_LABELS.items():
        for file in review_files(root, split, folder):
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

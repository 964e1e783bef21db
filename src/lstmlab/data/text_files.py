"""Your own labelled text from local files: `data=text_files` (conf/data/text_files.yaml).

CSV, TSV, JSON lines or parquet; separate train / (validation) / test files, or one file with
a split column. Several text columns are joined (title + body); labels may be integers or
strings. Class ids follow `labels` if given, else the sorted labels of the training split, so
the order is stable and saved with every checkpoint. Files are read with pyarrow's readers;
tokenising, caching and batching are the shared pipeline of text.py.
"""

from __future__ import annotations

import codecs
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from lstmlab.data.labels import inferred_names, label_ids, text_and_labels
from lstmlab.data.text import TextDataModule

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "json", ".json": "json", ".parquet": "parquet"}
SPLIT_NAMES = {  # values of a split column, and what they mean
    "train": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "dev": "val",
    "test": "test",
}
SEPARATORS = (";", "\t", "|", ",")  # in a lone header: the file's likely column separator


@dataclass(frozen=True)
class FileSource:
    """Where the text is and how to read it; `labeled()` reads, checks and maps labels."""

    files: dict[str, Path]  # split -> file; one "all" entry when split_column is set
    format: str | None
    delimiter: str | None  # csv / tsv: the column separator (None: `,` / tab)
    encoding: str  # csv / tsv: the files' text encoding (utf8, latin-1, cp1252, ...)
    text_columns: tuple[str, ...]
    label_column: str
    labels: tuple[str, ...] | None
    split_column: str | None

    def __str__(self) -> str:
        return ", ".join(f"{split}: {path}" for split, path in self.files.items())

    def fingerprint(self) -> str:
        """Names, sizes and modification times of the files, plus how they are read."""
        stats = {
            split: [str(p), p.stat().st_size, p.stat().st_mtime_ns]
            for split, p in self.files.items()
        }
        settings = [
            self.format,
            self.delimiter,
            self.encoding,
            self.text_columns,
            self.label_column,
            self.labels,
            self.split_column,
        ]
        return hashlib.sha256(json.dumps([stats, settings]).encode()).hexdigest()[:16]

    def labeled(self) -> tuple[dict[str, datasets.Dataset], list[str]]:
        tables = self._read_splits()
        names = (
            list(self.labels)
            if self.labels
            else inferred_names(tables["train"], self.label_column, self._where("train"))
        )
        splits = {}
        for split, table in tables.items():
            labels = label_ids(
                table.column(self.label_column), names, self._where(split), given=bool(self.labels)
            )
            splits[split] = text_and_labels(table, self.text_columns, labels)
        return splits, names

    def _where(self, split: str) -> str:
        return f"the {split} split ({self.files.get(split, self.files.get('all'))})"

    def _read_splits(self) -> dict[str, pa.Table]:
        columns = [*self.text_columns, self.label_column]
        how = {"format": self.format, "delimiter": self.delimiter, "encoding": self.encoding}
        if self.split_column is None:
            return {
                split: read_table(path, columns=columns, **how)
                for split, path in self.files.items()
            }
        table = read_table(self.files["all"], columns=[*columns, self.split_column], **how)
        return split_by_column(table, self.split_column, self.files["all"])


class TextFilesDataModule(TextDataModule):
    """Labelled text from local files; see conf/data/text_files.yaml for every key."""

    name = "text files"

    def __init__(
        self,
        train: str,
        val: str | None = None,
        test: str | None = None,
        format: str | None = None,
        delimiter: str | None = None,
        encoding: str = "utf8",
        text_columns: str | Sequence[str] = ("text",),
        label_column: str = "label",
        labels: Sequence[str] | None = None,
        split_column: str | None = None,
        cache_dir: str = "data/cache/text_files",
        val_size: float = 0.1,
        **text_options: Any,
    ) -> None:
        # one name (data.text_columns=sentence) is one column, not a list of letters
        text_columns = [text_columns] if isinstance(text_columns, str) else text_columns
        text_columns = [str(c) for c in text_columns]  # plain lists: checkpoints stay weights_only
        labels = None if labels is None else [str(name) for name in labels]
        self.source = FileSource(
            files=_files(train, val, test, split_column),
            format=_format(format),
            delimiter=_delimiter(delimiter),
            encoding=_encoding(encoding),
            text_columns=tuple(text_columns),
            label_column=label_column,
            labels=None if labels is None else tuple(labels),
            split_column=split_column,
        )
        super().__init__(cache_dir=cache_dir, val_size=val_size, **text_options)

    def find_source(self) -> FileSource:
        return self.source


# ----------------------------------------------------------------------------- reading


def read_table(
    path: Path,
    format: str | None,
    columns: list[str],
    delimiter: str | None = None,
    encoding: str = "utf8",
) -> pa.Table:
    """The file's `columns`, or an error naming the file and what is wrong with it."""
    kind = format or FORMATS.get(path.suffix.lower())
    try:
        if kind in ("csv", "tsv"):
            separator = delimiter or ("\t" if kind == "tsv" else ",")
            parse = pa_csv.ParseOptions(delimiter=separator, newlines_in_values=True)
            read = pa_csv.ReadOptions(encoding=encoding)
            table = pa_csv.read_csv(path, read_options=read, parse_options=parse)
        elif kind == "json":
            table = pa_json.read_json(path)
        elif kind == "parquet":
            table = pq.read_table(path)
        else:
            raise ValueError(
                f"{path}: cannot tell the format from the extension '{path.suffix}'. Set "
                f"data.format to one of csv, tsv, json (JSON lines), parquet."
            )
    except (pa.ArrowException, OSError) as err:
        if kind != "parquet" and (bad := undecodable(path, encoding, kind)):
            raise ValueError(bad) from err
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if "Empty CSV file" in reason or path.stat().st_size == 0:
            raise ValueError(f"{path} is empty: expected a header row and labelled texts.") from err
        raise ValueError(f"{path} could not be read as {kind} ({reason}).") from err
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise ValueError(
            f"{path} has no column {', '.join(map(repr, missing))}; its columns are "
            f"{table.column_names}. " + column_advice(table.column_names, kind)
        )
    if table.num_rows == 0:
        raise ValueError(f"{path} has a header but no rows: expected labelled texts.")
    text = table.select(columns)
    if kind != "parquet" and not all_text(text) and (bad := undecodable(path, encoding, kind)):
        raise ValueError(bad)
    return text


def all_text(table: pa.Table) -> bool:
    """False where a column holds bytes that are not UTF-8 text, which would fail only when
    read: pyarrow's CSV reader gives such a column as binary, its JSON reader as text."""
    for column in table.columns:
        if pa.types.is_binary(column.type):
            return False
        try:
            column.validate(full=True)
        except pa.ArrowInvalid:
            return False
    return True


def undecodable(path: Path, encoding: str, kind: str | None) -> str | None:
    """Where `path` first holds bytes that are not `encoding` text and how to read it, or
    None if it is all text. Read line by line, so a large file is never held whole."""
    offset = 0
    with path.open("rb") as lines:
        for number, line in enumerate(lines, 1):
            try:
                line.decode(encoding)
            except UnicodeDecodeError as err:
                byte = line[err.start : err.start + 1]
                convert = f"iconv -f latin1 -t utf-8 {path} > {path.stem}.utf8{path.suffix}"
                fix = (
                    "Set data.encoding to it (e.g. data.encoding=latin-1), or convert the file: "
                    if kind in ("csv", "tsv")
                    else "Convert the file (JSON is UTF-8), e.g.: "
                )
                return (
                    f"{path}: line {number} (byte {offset + err.start}) holds the byte {byte!r}, "
                    f"which is not {encoding} text: the file was saved in another encoding "
                    f"(often Latin-1 or Windows-1252). {fix}{convert}"
                )
            offset += len(line)
    return None


def column_advice(names: list[str], kind: str) -> str:
    """How to fix missing columns: one column whose header holds a likely separator means the
    file is separated by it (a semicolon-separated CSV, as spreadsheets in many locales write)."""
    if kind in ("csv", "tsv") and len(names) == 1:
        found = [c for c in SEPARATORS if c in names[0]]
        if found:
            return (
                f"The header holds {found[0]!r}: the file looks separated by it. Set "
                f"data.delimiter='{found[0]}'."
            )
    return (
        "Set data.text_columns / data.label_column / data.split_column to the names your file uses."
    )


def split_by_column(table: pa.Table, column: str, path: Path) -> dict[str, pa.Table]:
    """Rows per split of a one-file dataset; `train` and `test` must be there, `val` may be."""
    values = pc.utf8_lower(pc.cast(table.column(column), pa.string())).to_numpy(
        zero_copy_only=False
    )
    unknown = sorted({v for v in values if v not in SPLIT_NAMES}, key=str)
    if unknown:
        raise ValueError(
            f"{path}: column '{column}' holds {unknown}; expected split names "
            f"{sorted(SPLIT_NAMES)}."
        )
    meaning = np.array([SPLIT_NAMES[v] for v in values])
    splits = {s: table.filter(pa.array(meaning == s)) for s in ("train", "val", "test")}
    for required in ("train", "test"):
        if splits[required].num_rows == 0:
            raise ValueError(
                f"{path}: no row has {column} = {required}; both train and test are needed."
            )
    if splits["val"].num_rows == 0:
        del splits["val"]  # held out from train instead
    return {split: t.drop_columns([column]) for split, t in splits.items()}


def _files(
    train: str, val: str | None, test: str | None, split_column: str | None
) -> dict[str, Path]:
    if split_column is not None:
        if val is not None or test is not None:
            raise ValueError(
                f"data.split_column={split_column!r} reads every split from data.train; leave "
                "data.val and data.test unset (null)."
            )
        files = {"all": Path(train)}
    elif test is None:
        raise ValueError(
            "data.test is not set: give a test file, or one file with every split and "
            "data.split_column naming the column that says which split each row is in."
        )
    else:
        files = {"train": Path(train), "test": Path(test)}
        if val is not None:
            files["val"] = Path(val)
    for split, path in files.items():
        if not path.is_file():
            key = "train" if split == "all" else split
            raise FileNotFoundError(
                f"data.{key}={path} is not a file (relative paths are relative to the "
                f"directory you run from: {Path.cwd()})."
            )
    return files


def _delimiter(delimiter: str | None) -> str | None:
    if delimiter is not None and len(delimiter) != 1:
        raise ValueError(
            f"data.delimiter={delimiter!r}: expected one character (e.g. ';'), or null for "
            "',' in .csv and tab in .tsv files"
        )
    return delimiter


def _encoding(encoding: str) -> str:
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ValueError(
            f"data.encoding={encoding!r}: not an encoding Python knows; e.g. utf8, latin-1, cp1252"
        ) from None
    return encoding


def _format(format: str | None) -> str | None:
    if format is not None and format not in set(FORMATS.values()):
        raise ValueError(f"data.format={format!r}: expected csv, tsv, json, parquet or null")
    return format

"""Labelled text as the cache reads it: one `text` column (text columns joined) and `label`
class ids. Shared by every source whose labels arrive as a column of values (text_files, hub):
labels are read as they look (`clean_labels`), names are given or inferred from the training
split, and values outside them are errors."""

from __future__ import annotations

from collections import defaultdict

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from datasets.table import InMemoryTable

from lstmlab.data.cache import check_two_classes

JOIN = "\n"  # between the text columns of one row


def text_and_labels(
    table: pa.Table, text_columns: tuple[str, ...], labels: pa.Array
) -> datasets.Dataset:
    """The `text` (`text_columns` joined) and `label` (class ids) columns the cache reads."""
    text = joined_text(table, text_columns)
    return datasets.Dataset(InMemoryTable(pa.table({"text": text, "label": labels})))


def joined_text(table: pa.Table, columns: tuple[str, ...]) -> pa.Array:
    """The text columns as strings (missing values as empty), joined per row."""
    parts = [pc.fill_null(pc.cast(table.column(c), pa.string()), "") for c in columns]
    if len(parts) == 1:
        return parts[0].combine_chunks()
    return pc.binary_join_element_wise(*parts, JOIN).combine_chunks()


def clean_labels(values: pa.ChunkedArray, where: str) -> pa.ChunkedArray:
    """Labels as they look: text without the spaces around it (`neg ` is `neg`), floats that
    hold integers as those integers (`1.0` is `1`, as pandas writes integer labels with gaps
    to parquet). A row with no label (null, NaN, or an empty cell, which pyarrow reads as `''`
    in a text column) is an error naming its rows, never a class of its own."""
    if pa.types.is_floating(values.type):
        values = pc.if_else(pc.is_nan(values), None, values)  # pandas' missing value
        present = values.drop_null()
        if pc.all(pc.equal(pc.floor(present), present)).as_py() is not False:
            values = pc.cast(values, pa.int64())
    elif pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        values = pc.utf8_trim_whitespace(values)
    missing = pc.fill_null(pc.equal(pc.cast(values, pa.string()), ""), True)
    rows = np.flatnonzero(missing.to_numpy(zero_copy_only=False)) + 1
    if len(rows):
        shown = ", ".join(map(str, rows[:10])) + (", ..." if len(rows) > 10 else "")
        raise ValueError(
            f"{where}: {len(rows)} rows have no label (rows {shown}, counting the first row of "
            "data as 1). Give each a label, or remove those rows."
        )
    return values


def lookalike_warning(names: list[str]) -> str | None:
    """Classes whose names differ only by case or spacing (`Neg` and `neg`): usually one class
    written two ways, which trains a model to tell them apart. Said when a run starts."""
    groups = defaultdict(list)
    for name in names:
        groups[" ".join(name.split()).casefold()].append(name)
    alike = [sorted(group) for group in groups.values() if len(group) > 1]
    if not alike:
        return None
    return (
        f"Labels that differ only by case or spacing are separate classes: "
        f"{', '.join(map(str, alike))}. If they are one class, write it one way in the data."
    )


def inferred_names(train: pa.Table, column: str, where: str = "the training split") -> list[str]:
    """The training split's distinct labels, sorted (numbers numerically), as names."""
    values = clean_labels(train.column(column), where)
    distinct = pc.unique(values.drop_null()).to_pylist()
    names = [str(v) for v in sorted(distinct)]
    check_two_classes(names, where)
    return names


def label_ids(values: pa.ChunkedArray, names: list[str], where: str, given: bool) -> pa.Array:
    """Class ids of `values` in `names` order; integer labels may also be ids when names are
    given. Missing labels and labels outside `names` are errors."""
    values = clean_labels(values, where)
    if given and pa.types.is_integer(values.type):
        ids = values.to_numpy()
        if ((ids >= 0) & (ids < len(names))).all() and not set(map(str, ids)) <= set(names):
            return pa.array(ids.astype(np.int64))  # integer ids for the given names
    text = pc.cast(values, pa.string())
    index = pc.index_in(text, value_set=pa.array(names))
    if index.null_count:
        unknown = sorted(set(pc.filter(text, pc.is_null(index)).to_pylist()))
        source = "data.labels" if given else "the training split"
        raise ValueError(
            f"{where} has labels {unknown[:10]} that {source} does not have ({names}). "
            + ("Add them to data.labels." if given else "List every class in data.labels.")
        )
    return index.combine_chunks().cast(pa.int64())

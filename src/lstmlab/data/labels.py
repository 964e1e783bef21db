"""Labelled text as the cache reads it: one `text` column (text columns joined) and `label`
class ids. Shared by every source whose labels arrive as a column of values (text_files, hub):
names are given or inferred from the training split, and values outside them are errors."""

from __future__ import annotations

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


def inferred_names(train: pa.Table, column: str, where: str = "the training split") -> list[str]:
    """The training split's distinct labels, sorted (numbers numerically), as names."""
    values = train.column(column)
    distinct = pc.unique(values.drop_null()).to_pylist()
    names = [str(v) for v in sorted(distinct)]
    check_two_classes(names, where)
    return names


def label_ids(values: pa.ChunkedArray, names: list[str], where: str, given: bool) -> pa.Array:
    """Class ids of `values` in `names` order; integer labels may also be ids when names are
    given. Missing labels and labels outside `names` are errors."""
    if values.null_count:
        raise ValueError(f"{where}: {values.null_count} rows have no label.")
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

"""Any Hugging Face dataset by name: `data=hub data.name=<dataset>` (conf/data/hub.yaml).

`name` is a Hub dataset (`owner/name`: `datasets.load_dataset`, which keeps the download in the
Hugging Face cache), a local folder of data files (parquet, CSV, JSON lines: `load_dataset`
too, offline), or a folder written by `save_to_disk` (`load_from_disk`). `splits` says which of
the dataset's splits train, validate and test; without a validation split, `val_size` is held
out from train, stratified, as for text_files. Class names are `labels` if given, else the
names of the label column's `ClassLabel`, else the training split's labels, sorted.
Tokenising, caching and batching are the shared pipeline of text.py.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import datasets
import pyarrow as pa
import pyarrow.compute as pc

from lstmlab.data.hub_access import DataUnavailableError, HubUnavailableError, load_from_hub
from lstmlab.data.labels import inferred_names, label_ids, text_and_labels
from lstmlab.data.text import TextDataModule

ROLES = ("train", "val", "test")
VAL_NAMES = ("validation", "valid", "dev", "val")  # a split by one of these names validates
LOCAL_COPY = (
    "To use a local copy, set data.name to a folder: its data files (train.parquet, "
    "test.csv, ...) or a dataset written with save_to_disk; with HF_HUB_OFFLINE=1, a dataset "
    "loaded once before is read from the Hugging Face cache."
)


@dataclass(frozen=True)
class HubSource:
    """A dataset by name or folder, which of its splits to use, and its text and label columns."""

    name: str
    config: str | None
    splits: Mapping[str, str | None]  # role (train / val / test) -> the dataset's split name
    text_columns: tuple[str, ...]
    label_column: str
    labels: tuple[str, ...] | None

    def __str__(self) -> str:
        return self.name + (f" ({self.config})" if self.config else "")

    @cached_property
    def dataset(self) -> datasets.DatasetDict:
        return load(self.name, self.config)

    @cached_property
    def chosen(self) -> dict[str, str]:
        """Role -> split name, each checked against the dataset's splits."""
        return choose_splits(list(self.dataset), self.splits, str(self))

    def fingerprint(self) -> str:
        """The settings and the fingerprints `datasets` gives the chosen splits (which change
        with the files, the Hub revision or a new save_to_disk)."""
        prints = {role: self.dataset[split]._fingerprint for role, split in self.chosen.items()}
        settings = [str(self), self.chosen, self.text_columns, self.label_column, self.labels]
        return hashlib.sha256(json.dumps([prints, settings]).encode()).hexdigest()[:16]

    def labeled(self) -> tuple[dict[str, datasets.Dataset], list[str]]:
        columns = [*self.text_columns, self.label_column]
        tables = {}
        for role, split in self.chosen.items():
            part = self.dataset[split]
            check_columns(part, columns, f"{self}'s split '{split}'")
            tables[role] = part.select_columns(columns).with_format("arrow")[:]
        feature = self.dataset[self.chosen["train"]].features[self.label_column]
        class_label = isinstance(feature, datasets.ClassLabel)
        names = self.class_names(feature if class_label else None, tables["train"])
        splits = {}
        for role, table in tables.items():
            where = f"the {role} split ('{self.chosen[role]}' of {self})"
            values = table.column(self.label_column)
            if class_label:
                check_hidden_labels(values, role, where)
            labels = label_ids(values, names, where, given=bool(self.labels) or class_label)
            splits[role] = text_and_labels(table, self.text_columns, labels)
        return splits, names

    def class_names(self, feature: datasets.ClassLabel | None, train: pa.Table) -> list[str]:
        """`labels` if given, else the ClassLabel's names, else the training labels, sorted."""
        if self.labels:
            return list(self.labels)
        if feature is not None:
            return list(feature.names)
        return inferred_names(train, self.label_column)


class HubDataModule(TextDataModule):
    """A Hugging Face dataset (Hub or local folder); see conf/data/hub.yaml for every key."""

    def __init__(
        self,
        name: str,
        config: str | None = None,
        splits: Mapping[str, str | None] | None = None,
        text_column: str | Sequence[str] = "text",
        label_column: str = "label",
        labels: Sequence[str] | None = None,
        cache_dir: str = "data/cache/hub",
        val_size: float = 0.1,
        **text_options: Any,
    ) -> None:
        # plain str / list / dict: the saved hyperparameters stay loadable with weights_only
        text_column = [text_column] if isinstance(text_column, str) else list(map(str, text_column))
        labels = None if labels is None else [str(label) for label in labels]
        splits = {str(k): None if v is None else str(v) for k, v in (splits or {}).items()}
        self.source = HubSource(
            name=str(name),
            config=config,
            splits=splits,
            text_columns=tuple(text_column),
            label_column=label_column,
            labels=None if labels is None else tuple(labels),
        )
        self.name = str(self.source)  # in log messages
        super().__init__(cache_dir=cache_dir, val_size=val_size, **text_options)

    def find_source(self) -> HubSource:
        return self.source


# ----------------------------------------------------------------------------- loading


def load(name: str, config: str | None) -> datasets.DatasetDict:
    """The dataset `name`: a save_to_disk folder, a folder of data files, or a Hub dataset."""
    path = Path(name).expanduser()
    if path.is_dir() and _saved_to_disk(path):
        if config is not None:
            raise ValueError(
                f"data.config={config!r}: {path} was written by save_to_disk and has no "
                "configurations. Set data.config=null."
            )
        loaded = datasets.load_from_disk(str(path))
        if not isinstance(loaded, datasets.DatasetDict):
            raise ValueError(
                f"data.name={name} holds one dataset without splits. Save a DatasetDict "
                "instead: DatasetDict(train=..., test=...).save_to_disk(folder)."
            )
        return loaded
    if not path.is_dir() and _looks_like_a_path(name):
        raise DataUnavailableError(
            f"data.name={name} is not a folder (relative paths are relative to the directory "
            f"you run from: {Path.cwd()}). Give a folder, or a Hub dataset as owner/name."
        )
    try:
        if path.is_dir():
            return datasets.load_dataset(str(path), config)
        return load_from_hub(name, config)
    except HubUnavailableError as err:
        raise HubUnavailableError(f"data.name={name}: {err}. {LOCAL_COPY}") from err
    except FileNotFoundError as err:  # a folder without data files `datasets` can read
        found = ", ".join(sorted(p.name for p in path.iterdir())[:10]) or "nothing"
        raise DataUnavailableError(
            f"data.name={name}: {err}. Expected data files (parquet, CSV, JSON lines) or a "
            f"save_to_disk folder; it holds: {found}."
        ) from err
    except ValueError as err:  # e.g. a missing or unknown configuration, with the valid ones
        reason = " ".join(str(err).split())  # datasets' message, on one line
        raise ValueError(
            f"data.name={name}, data.config={config}: {reason} (data.config names the "
            "configuration)"
        ) from err


def _saved_to_disk(path: Path) -> bool:
    return (path / datasets.config.DATASETDICT_JSON_FILENAME).is_file() or (
        path / datasets.config.DATASET_STATE_JSON_FILENAME
    ).is_file()


def _looks_like_a_path(name: str) -> bool:
    """A Hub name is `name` or `owner/name`; anything else is meant as a folder."""
    return name.startswith(("/", ".", "~")) or name.count("/") > 1


# ----------------------------------------------------------------------------- checking


def choose_splits(
    available: list[str], wanted: Mapping[str, str | None], what: str
) -> dict[str, str]:
    """Role -> split name: `wanted`'s, else `train`, `test` and the first of VAL_NAMES that is
    neither (none: validation is held out from train). A split the dataset lacks is an error
    listing the splits it has."""
    unknown = sorted(set(wanted) - set(ROLES))
    if unknown:
        raise ValueError(f"data.splits has {unknown}: its keys are train, val and test.")
    train, test = wanted.get("train") or "train", wanted.get("test") or "test"
    val = wanted.get("val") or next(
        (s for s in available if s in VAL_NAMES and s not in (train, test)), None
    )
    chosen = {role: s for role, s in zip(ROLES, (train, val, test)) if s is not None}
    for role, split in chosen.items():
        if split not in available:
            raise ValueError(
                f"{what} has no split '{split}' (data.splits.{role}); its splits are "
                f"{available}. Set data.splits.{role} to one of them."
            )
    if len(set(chosen.values())) < len(chosen):
        raise ValueError(f"data.splits uses one split for two roles ({chosen}): give each its own.")
    return chosen


def check_columns(part: datasets.Dataset, columns: list[str], where: str) -> None:
    """The columns exist, the text columns hold text and the label one label per row."""
    missing = [c for c in columns if c not in part.column_names]
    if missing:
        raise ValueError(
            f"{where} has no column {', '.join(map(repr, missing))}; its columns are "
            f"{part.column_names}. Set data.text_column / data.label_column to them."
        )
    schema = part.data.schema
    for column in columns[:-1]:
        kind = schema.field(column).type
        if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
            raise ValueError(
                f"{where}: column '{column}' holds {kind}, not text. Set data.text_column to "
                "a column of strings."
            )
    kind = schema.field(columns[-1]).type
    if not (pa.types.is_integer(kind) or pa.types.is_string(kind)):
        raise ValueError(
            f"{where}: column '{columns[-1]}' holds {kind}; expected one label per row "
            "(integers or strings). Multi-label datasets are not supported."
        )


def check_hidden_labels(values: pa.ChunkedArray, role: str, where: str) -> None:
    """ClassLabel's -1 means "no label": test splits whose labels are kept secret (GLUE)."""
    hidden = pc.sum(pc.less(values, 0)).as_py()
    if hidden:
        advice = (
            "data.splits.test=validation (and validate on a split held out from train)"
            if role == "test"
            else f"data.splits.{role}=<a labelled split>"
        )
        raise ValueError(
            f"{where}: {hidden} of {len(values)} rows have no label (-1): the dataset keeps "
            f"them secret. Use a labelled split instead, e.g. {advice}."
        )

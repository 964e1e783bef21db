"""Where IMDB text comes from (sources.py): every layout, the local copy, the Hub, and
every refused input with its specific message."""

from __future__ import annotations

import os
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from imdb_corpus import (
    SPLITS,
    TEST,
    datamodule,
    ids,
    parquet_dir,  # noqa: F401 (a fixture)
    quiet_datasets,  # noqa: F401 (a fixture)
    ready,
    write_acl,
    write_archive,
    write_parquet,
)

from lstmlab.data import cache

# ----------------------------------------------------------------------------- sources


@pytest.mark.parametrize("layout", ["parquet", "acl_folder", "acl_parent", "archive"])
def test_every_layout_gives_the_same_encoded_splits(tmp_path, layout):
    reference = ready(datamodule(tmp_path / "ref", write_parquet(tmp_path / "ref" / "imdb")))
    if layout == "parquet":
        path = write_parquet(tmp_path / "data")
    elif layout == "acl_folder":
        path = write_acl(tmp_path / "data")
    elif layout == "acl_parent":
        path = write_acl(tmp_path / "data").parent
    else:
        path = write_archive(tmp_path / "data" / "aclImdb_v1.tar.gz")
    dm = ready(datamodule(tmp_path, path))

    assert (dm.vocab_size, dm.num_classes, dm.pad_id) == (reference.vocab_size, 2, 0)
    assert {name: len(split) for name, split in dm.splits.items()} == {
        "train": 32,
        "val": 8,
        "test": len(TEST),
    }
    for split in cache.SPLITS:
        assert ids(dm, split) == ids(reference, split)
        assert torch.equal(dm.splits[split].labels, reference.splits[split].labels)


def test_the_local_copy_is_used_when_data_path_is_unset(tmp_path, monkeypatch):
    write_parquet(tmp_path / "local")
    monkeypatch.setattr(datasets, "load_dataset", _no_network)
    dm = ready(datamodule(tmp_path, hub_name="stanfordnlp/imdb"))
    assert len(dm.splits["test"]) == len(TEST)


def test_the_hub_is_tried_last_and_saved_as_the_local_copy(tmp_path, monkeypatch):
    calls = []

    def fake_hub(name, *args, **kwargs):
        calls.append(name)
        return datasets.DatasetDict(
            {
                split: datasets.Dataset.from_dict(dict(zip(["text", "label"], zip(*reviews))))
                for split, reviews in SPLITS.items()
            }
        )

    monkeypatch.setattr(datasets, "load_dataset", fake_hub)
    dm = ready(datamodule(tmp_path, hub_name="stanfordnlp/imdb"))
    assert calls == ["stanfordnlp/imdb"]
    assert sorted(p.name for p in (tmp_path / "local").iterdir()) == [
        "test.parquet",
        "train.parquet",
        "unsupervised.parquet",
    ]
    assert len(dm.splits["train"]) == 32
    ready(datamodule(tmp_path, hub_name="stanfordnlp/imdb"))  # next run: the local copy
    assert calls == ["stanfordnlp/imdb"]


def _no_network(name, *args, **kwargs):
    raise ConnectionError(f"Couldn't reach '{name}' on the Hub")


def test_no_data_anywhere_says_what_was_tried_and_how_to_fix_it(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "load_dataset", _no_network)
    with pytest.raises(FileNotFoundError) as error:
        datamodule(tmp_path, hub_name="stanfordnlp/imdb").prepare_data()
    message = str(error.value)
    for expected in [
        "data.path (not set)",
        str(tmp_path / "local"),
        "'stanfordnlp/imdb'",
        "ConnectionError",
        "set data.path=",
        "data=synthetic",
    ]:
        assert expected in message
    with pytest.raises(FileNotFoundError, match=r"skipped: data\.hub_name is null"):
        datamodule(tmp_path).prepare_data()


# ----------------------------------------------------------------------------- refused input


def _bad_parquet(tmp_path: Path, **columns) -> Path:
    folder = tmp_path / "bad"
    folder.mkdir()
    for split in ("train", "test"):
        pq.write_table(pa.table(columns), folder / f"{split}.parquet")
    return folder


def _not_utf8(tmp_path: Path) -> Path:
    acl = write_acl(tmp_path / "data")
    (acl / "train" / "pos" / "000_8.txt").write_bytes(b"caf\xe9 latin-1")
    return acl


def _corrupt(tmp_path: Path, name: str) -> Path:
    folder = write_parquet(tmp_path / "data")
    (folder / name).write_bytes(b"not what it claims to be")
    return folder / name if name.endswith("gz") else folder


def _unrelated_folder(tmp_path: Path) -> Path:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "notes.txt").write_text("not IMDB")
    return tmp_path / "x"


def _only_train(tmp_path: Path) -> Path:
    folder = write_parquet(tmp_path / "data")
    (folder / "test.parquet").unlink()
    return folder


def _half_acl(tmp_path: Path) -> Path:
    acl = write_acl(tmp_path / "data")
    for file in (acl / "test" / "neg").iterdir():
        file.unlink()
    (acl / "test" / "neg").rmdir()
    return acl


BAD_SOURCES = {
    "missing": (lambda p: p / "nowhere", FileNotFoundError, "does not exist"),
    "neither": (_unrelated_folder, ValueError, "neither a parquet folder"),
    "file": (lambda p: write_parquet(p / "d") / "train.parquet", ValueError, "is a file"),
    "no test": (_only_train, ValueError, "no test"),
    "half acl": (_half_acl, ValueError, "lacks test/neg"),
    "columns": (lambda p: _bad_parquet(p, review=["a"], label=[0]), ValueError, "'text'"),
    "label type": (lambda p: _bad_parquet(p, text=["a"], label=["pos"]), ValueError, "integers"),
    "labels": (lambda p: _bad_parquet(p, text=["a", "b"], label=[0, 2]), ValueError, r"\[2\]"),
    "bytes": (lambda p: _bad_parquet(p, text=[b"caf\xe9"], label=[0]), ValueError, "UTF-8"),
    "null text": (lambda p: _bad_parquet(p, text=["a", None], label=[0, 1]), ValueError, "null"),
    "no rows": (
        lambda p: _bad_parquet(p, text=pa.array([], pa.string()), label=pa.array([], pa.int64())),
        ValueError,
        "no reviews",
    ),
    "utf-8": (_not_utf8, ValueError, "000_8.txt is not valid UTF-8"),
    "parquet": (lambda p: _corrupt(p, "test.parquet"), ValueError, "not a readable parquet"),
    "archive": (lambda p: _corrupt(p, "aclImdb_v1.tar.gz"), ValueError, "not a readable tar"),
}


@pytest.mark.parametrize("case", BAD_SOURCES)
def test_bad_data_is_refused_with_a_specific_message(tmp_path, case):
    make, error, message = BAD_SOURCES[case]
    with pytest.raises(error, match=message):
        ready(datamodule(tmp_path, make(tmp_path), val_size=1))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_an_unreadable_folder_is_refused(tmp_path, parquet_dir):
    parquet_dir.chmod(0)
    try:
        with pytest.raises(PermissionError, match="not readable"):
            ready(datamodule(tmp_path, parquet_dir))
    finally:
        parquet_dir.chmod(0o755)

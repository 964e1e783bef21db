"""The encoded-text cache (cache.py): the stratified validation holdout, a second run that
tokenises nothing, an interrupted preparation that leaves nothing behind, a damaged cache that
is built again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from imdb_corpus import (
    SPLITS,
    TEST,
    TRAIN,
    datamodule,
    ids,
    parquet_dir,  # noqa: F401 (a fixture)
    quiet_datasets,  # noqa: F401 (a fixture)
    ready,
    write_parquet,
)

from lstmlab.data import cache, chunks
from lstmlab.data.cache import stratified_split

# ----------------------------------------------------------------------------- splits


def test_validation_is_a_stratified_seeded_holdout_from_train(tmp_path, parquet_dir):
    labels = np.array([label for _, label in TRAIN])
    train_idx, val_idx = stratified_split(labels, 8, seed=1234)
    assert np.bincount(labels[val_idx]).tolist() == [6, 2]  # 30:10, as in train
    assert sorted([*train_idx, *val_idx]) == list(range(len(labels)))
    assert np.array_equal(val_idx, stratified_split(labels, 8, seed=1234)[1])
    assert not np.array_equal(val_idx, stratified_split(labels, 8, seed=99)[1])
    uneven = np.array([0] * 7 + [1] * 3)
    assert len(stratified_split(uneven, 5, seed=0)[1]) == 5  # exact total despite rounding

    dm = ready(datamodule(tmp_path, parquet_dir))
    assert dm.splits["val"].labels.tolist() == labels[val_idx].tolist()
    assert dm.splits["test"].labels.tolist() == [label for _, label in TEST]


# ----------------------------------------------------------------------------- cache


def test_a_second_run_reads_the_cache_and_tokenizes_nothing(tmp_path, parquet_dir, monkeypatch):
    calls = []  # every run of the tokenizer on review text, and every vocabulary built
    encode_distinct, word_vocabulary = (
        chunks.ChunkEncoder.encode_distinct,
        chunks.word_vocabulary,
    )

    def spying_encode(self, chunks):
        calls.append(len(chunks))
        return encode_distinct(self, chunks)

    def spying_vocabulary(*args):
        calls.append("vocabulary")
        return word_vocabulary(*args)

    monkeypatch.setattr(chunks.ChunkEncoder, "encode_distinct", spying_encode)
    monkeypatch.setattr(chunks, "word_vocabulary", spying_vocabulary)
    first = ready(datamodule(tmp_path, parquet_dir))
    assert calls[0] == "vocabulary" and len(calls) > 2  # then new chunks of val and test

    calls.clear()
    second = ready(datamodule(tmp_path, parquet_dir, max_len=3, batch_size=2))  # same cache
    assert calls == []
    assert [s[:3] for s in ids(first, "test")] == ids(second, "test")

    ready(datamodule(tmp_path, parquet_dir, min_freq=1))  # another vocabulary: another cache
    assert calls[0] == "vocabulary"
    write_parquet(parquet_dir, {**SPLITS, "test": TEST[:4]})  # the data changed
    assert len(ready(datamodule(tmp_path, parquet_dir)).splits["test"]) == 4
    assert len(list((tmp_path / "cache").iterdir())) == 3


def test_an_interrupted_preparation_leaves_no_cache_behind(tmp_path, parquet_dir, monkeypatch):
    encode_split = cache.encode_split

    def dies_on_test(part, tokenizer, path, name):
        if name == "test":
            raise KeyboardInterrupt
        return encode_split(part, tokenizer, path, name)

    monkeypatch.setattr(cache, "encode_split", dies_on_test)
    with pytest.raises(KeyboardInterrupt):
        ready(datamodule(tmp_path, parquet_dir))
    assert list((tmp_path / "cache").iterdir()) == []
    monkeypatch.undo()
    assert len(ready(datamodule(tmp_path, parquet_dir)).splits["test"]) == len(TEST)


STALLS_MID_BUILD = """
import sys, time
from pathlib import Path
from imdb_corpus import datamodule, ready
from lstmlab.data import cache

encode_split = cache.encode_split

def stalls_on_test(part, tokenizer, path, name):
    if name == "test":  # train and val are written: the folder is half built
        (path.parent / "STALLED").touch()
        time.sleep(600)
    return encode_split(part, tokenizer, path, name)

cache.encode_split = stalls_on_test
ready(datamodule(Path(sys.argv[1]), Path(sys.argv[2])))
"""


@pytest.mark.slow
def test_a_preparation_killed_mid_build_publishes_nothing_and_the_next_cleans_up(
    tmp_path, parquet_dir
):
    """SIGKILL runs no `finally`: only building aside and renaming keeps a half cache unseen."""
    here = Path(__file__).resolve().parent
    paths = [str(here), os.environ.get("PYTHONPATH", "")]  # the tests' helpers, and any set
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, paths))}
    script = textwrap.dedent(STALLS_MID_BUILD)
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path), str(parquet_dir)], env=env
    )
    try:
        while not list((tmp_path / "cache").glob("*/STALLED")):
            assert child.poll() is None, "the preparation ended before it stalled"
            time.sleep(0.1)
        child.send_signal(signal.SIGKILL)
        child.wait()
    finally:
        child.kill()
    (staging,) = (tmp_path / "cache").iterdir()  # the half-built folder, and nothing published
    assert staging.name.startswith(".tmp-") and (staging / "train.arrow").exists()

    assert len(ready(datamodule(tmp_path, parquet_dir)).splits["test"]) == len(TEST)
    (published,) = (tmp_path / "cache").iterdir()  # the killed one's folder is gone
    assert not published.name.startswith(".") and (published / "test.arrow").exists()


def test_setup_is_idempotent(tmp_path, parquet_dir):
    dm = ready(datamodule(tmp_path, parquet_dir))
    splits, tokenizer = dict(dm.splits), dm.tokenizer
    dm.setup("fit")
    dm.setup("test")
    assert dm.tokenizer is tokenizer
    assert all(dm.splits[name] is split for name, split in splits.items())


def test_a_validation_split_as_large_as_train_is_refused(tmp_path, parquet_dir):
    with pytest.raises(ValueError, match="val_size=40: expected between 1 and 39"):
        ready(datamodule(tmp_path, parquet_dir, val_size=40))
    with pytest.raises(ValueError, match="without every class"):
        ready(datamodule(tmp_path, parquet_dir, val_size=39))


@pytest.mark.parametrize("damaged", ["train.arrow", "tokenizer.json"])
def test_a_damaged_cache_is_built_again(tmp_path, parquet_dir, damaged):
    first = ready(datamodule(tmp_path, parquet_dir))
    expected = {name: ids(first, name) for name in ("train", "val", "test")}
    (folder,) = (tmp_path / "cache").iterdir()
    path = folder / damaged
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])  # a copy cut short
    with pytest.warns(UserWarning, match=f"data cache {folder} is damaged"):
        again = ready(datamodule(tmp_path, parquet_dir))
    assert {name: ids(again, name) for name in ("train", "val", "test")} == expected
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [folder.name]  # nothing left aside

"""The IMDB datamodule as a whole: the unsupervised split, the Hydra config, and one test on
the real data beside the repository (../shared/data/imdb), skipped where it is absent."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from conftest import compose_config
from hydra.utils import instantiate
from imdb_corpus import (
    SHARED_IMDB,
    TEST,
    TRAIN,
    UNSUP,
    datamodule,
    ids,
    quiet_datasets,  # noqa: F401 (a fixture)
    ready,
    vocabulary,
    write_acl,
    write_archive,
    write_parquet,
)

from lstmlab.data import chunks, tokenization
from lstmlab.data.imdb import IMDBDataModule
from lstmlab.data.tokenization import train_tokenizer


def test_the_unsupervised_split_is_available_but_never_in_the_classifier_splits(tmp_path):
    for path in [
        write_parquet(tmp_path / "pq"),
        write_acl(tmp_path / "acl"),
        write_archive(tmp_path / "tar" / "aclImdb_v1.tar.gz"),
    ]:
        dm = ready(datamodule(tmp_path / path.parent.name, path, min_freq=1))
        assert dm.load_unsupervised()["text"] == [text for text, _ in UNSUP]
        assert not {"unsupa", "unsupb", "unsupc"} & vocabulary(dm)
        assert sum(len(split) for split in dm.splits.values()) == len(TRAIN) + len(TEST)


def test_the_config_composes_with_the_projects_data_folder(tmp_path):
    cfg = compose_config(["data=imdb"], tmp_path)
    dm = instantiate(cfg.data)
    assert isinstance(dm, IMDBDataModule) and dm.hparams.path is None
    assert dm.hparams.cache_dir.endswith("data/cache/imdb") and dm.hparams.seed == 1234


# ----------------------------------------------------------------------------- the real data


def test_real_imdb_subset(tmp_path):
    """Real reviews (every 25th of train, every 50th of test) through the whole pipeline."""
    if not (SHARED_IMDB / "train.parquet").exists():
        pytest.skip(f"the IMDB parquet files are not in {SHARED_IMDB} (CI keeps them there)")
    folder = tmp_path / "imdb"
    folder.mkdir()
    for split, step in [("train", 25), ("test", 50)]:
        table = pq.read_table(SHARED_IMDB / f"{split}.parquet")
        pq.write_table(table.take(np.arange(0, len(table), step)), folder / f"{split}.parquet")
    dm = ready(datamodule(tmp_path, folder, val_size=200, max_len=None))

    assert {name: len(split) for name, split in dm.splits.items()} == {
        "train": 800,
        "val": 200,
        "test": 500,
    }
    assert dm.splits["val"].labels.float().mean() == dm.splits["train"].labels.float().mean()
    words = vocabulary(dm)
    assert {"the", "movie", "great", "bad", "don't", "!"} <= words
    assert not {"br", "<br", "/>"} & words
    test_ids = torch.cat([seq for seq, _ in dm.splits["test"]])
    assert (test_ids == 1).float().mean() < 0.1  # unknown words are rare
    assert 150 < len(test_ids) / 500 < 400  # tokens per review, as expected for IMDB

    # the fast paths give exactly what the plain tokenizer and its trainer give, on real text
    texts = pq.read_table(folder / "test.parquet").column("text").to_pylist()
    plain = tokenization.encode_batch(dm.tokenizer, texts)
    assert ids(dm, "test") == plain
    trained = train_tokenizer("word", [texts], min_freq=2, max_size=5000)
    fast = chunks.word_vocabulary(chunks.split_chunks(pa.array(texts)), 2, 5000)
    assert fast.tokenizer.to_str() == trained.to_str()

"""The shared text datamodule (text.py): checkpoint state, loaders and bucketing, and the
settings refused before any data is read."""

from __future__ import annotations

import warnings

import pytest
import torch
from conftest import compose_config
from hydra.utils import instantiate
from imdb_corpus import (
    EMPTY,
    TEST,
    datamodule,
    ids,
    parquet_dir,  # noqa: F401 (a fixture)
    quiet_datasets,  # noqa: F401 (a fixture)
    ready,
)
from torch.utils.data import SequentialSampler

from lstmlab.data.batching import BucketBatchSampler, EpochShuffleSampler
from lstmlab.data.text_files import TextFilesDataModule
from lstmlab.data.tokenization import TextEncoder
from lstmlab.runs.checkpoints import load_text_encoder
from lstmlab.runs.train import train

# ----------------------------------------------------------------------------- checkpoints


def test_the_state_dict_carries_the_tokenizer(tmp_path, parquet_dir):
    dm = ready(datamodule(tmp_path, parquet_dir, max_len=5))
    torch.save(dm.state_dict(), tmp_path / "state.pt")
    state = torch.load(tmp_path / "state.pt", weights_only=True)
    encoder = TextEncoder.from_state(state)
    assert [t.tolist() for t in encoder.encode([t for t, _ in TEST])] == ids(dm, "test")

    other = datamodule(tmp_path / "other", parquet_dir, min_freq=1, max_len=5)
    other.load_state_dict(state)  # before setup: encode with the checkpoint's vocabulary
    ready(other)
    assert other.tokenizer.get_vocab() == dm.tokenizer.get_vocab()
    assert ids(other, "test") == ids(dm, "test")

    different = ready(datamodule(tmp_path / "different", parquet_dir, max_size=10))
    with pytest.raises(ValueError, match="different tokenizer"):
        different.load_state_dict(state)


def test_a_run_checkpoint_is_enough_to_encode_text_again(tmp_path, parquet_dir):
    cfg = compose_config(
        [
            "data=imdb",
            f"data.path={parquet_dir}",
            f"data.cache_dir={tmp_path}/cache",
            "data.hub_name=null",
            "data.val_size=8",
            "data.batch_size=8",
            "data.bucket=true",
            "model=lstm",
            "model.encoder.embed_dim=8",
            "model.encoder.hidden_size=8",
            "trainer=cpu",
            "trainer.max_epochs=1",
            "trainer.log_every_n_steps=1",
            "+trainer.enable_model_summary=false",
            "logger=csv",
        ],
        tmp_path,
    )
    train(cfg)
    checkpoint = tmp_path / "checkpoints" / "last.ckpt"
    encoder = load_text_encoder(checkpoint)
    dm = ready(instantiate(cfg.data))
    assert [t.tolist() for t in encoder.encode([t for t, _ in TEST])] == ids(dm, "test")
    assert encoder.batch(["Great!", ""])["tokens"].shape == (2, 2)
    assert encoder.tokenizer.to_str() == dm.tokenizer.to_str()

    torch.save({"state_dict": {}, "hyper_parameters": {}}, tmp_path / "synthetic.ckpt")
    with pytest.raises(ValueError, match="holds no tokenizer"):
        load_text_encoder(tmp_path / "synthetic.ckpt")


# ----------------------------------------------------------------------------- batching


def test_batches_pad_to_the_batch_maximum_and_truncate_to_max_len(tmp_path, parquet_dir):
    dm = ready(datamodule(tmp_path, parquet_dir, max_len=6, batch_size=len(TEST)))
    batch = next(iter(dm.test_dataloader()))
    assert batch["tokens"].dtype == torch.long and batch["labels"][EMPTY].tolist() == [0, 1]
    assert batch["lengths"].max() == 6 == batch["tokens"].shape[1]
    assert batch["lengths"][EMPTY].tolist() == [0, 0]  # empty and markup-only reviews
    assert (batch["tokens"][EMPTY] == dm.pad_id).all()

    whole = ready(datamodule(tmp_path, parquet_dir, max_len=None))
    assert max(len(seq) for seq, _ in whole.splits["test"]) > 6


def test_loader_settings_reach_the_dataloaders(tmp_path, parquet_dir):
    dm = ready(datamodule(tmp_path, parquet_dir, num_workers=2, pin_memory=True, batch_size=5))
    for loader in [dm.train_dataloader(), dm.val_dataloader(), dm.test_dataloader()]:
        assert (loader.num_workers, loader.pin_memory, loader.persistent_workers) == (2, True, True)
        assert loader.batch_size == 5
    assert not ready(datamodule(tmp_path, parquet_dir)).train_dataloader().persistent_workers


def test_bucketing_batches_similar_lengths_and_covers_every_review_once():
    lengths = torch.randint(0, 500, (1000,))
    shuffle = EpochShuffleSampler(1000, seed=7)
    sampler = BucketBatchSampler(shuffle, 32, False, lengths, pool_batches=5)
    epoch1 = list(sampler)
    assert len(epoch1) == len(sampler) == 32
    assert sorted(i for batch in epoch1 for i in batch) == list(range(1000))
    shuffle.set_epoch(1)
    epoch2 = list(sampler)
    assert epoch1 != epoch2  # shuffled anew every epoch...
    torch.manual_seed(123)  # ...from (seed, epoch) alone: a resumed run gets the same batches
    assert (
        list(sampler) == epoch2
        and list(BucketBatchSampler(shuffle, 32, False, lengths, pool_batches=5)) == epoch2
    )
    assert list(BucketBatchSampler(EpochShuffleSampler(1000, seed=8), 32, False, lengths)) != epoch1

    def padding(batches):
        return sum(int(lengths[b].max()) * len(b) - int(lengths[b].sum()) for b in batches)

    plain = [list(range(i, min(i + 32, 1000))) for i in range(0, 1000, 32)]
    assert padding(epoch1) < padding(plain) / 3

    ordered = BucketBatchSampler(
        SequentialSampler(range(1000)), 32, True, lengths, shuffle=False, pool_batches=None
    )
    flat = [i for batch in ordered for i in batch]
    assert len(list(ordered)) == len(ordered) == 31
    assert lengths[flat].tolist() == sorted(lengths[flat].tolist())


def test_bucketed_loaders_serve_whole_splits(tmp_path, parquet_dir):
    dm = ready(datamodule(tmp_path, parquet_dir, bucket=True, batch_size=3))
    for loader, split in [(dm.train_dataloader(), "train"), (dm.test_dataloader(), "test")]:
        labels = torch.cat([batch["labels"] for batch in loader])
        assert sorted(labels.tolist()) == sorted(dm.splits[split].labels.tolist())


@pytest.mark.parametrize("bucket", [True, False])
def test_a_batch_larger_than_the_training_split_is_refused(tmp_path, parquet_dir, bucket):
    dm = ready(datamodule(tmp_path, parquet_dir, bucket=bucket, batch_size=33))
    with pytest.raises(ValueError, match=r"batch_size=33 is larger than the training split \(32 "):
        dm.train_dataloader()
    assert len(dm.val_dataloader()) == 1  # evaluation may take a split in one batch


def test_bucketing_survives_lightnings_distributed_sampler(tmp_path, parquet_dir):
    """Under DDP Lightning rebuilds the batch sampler around a DistributedSampler (this uses
    its internal helpers, as the Trainer does): each rank then buckets its own share."""
    from lightning.fabric.utilities.data import _replace_dunder_methods
    from lightning.pytorch.utilities.data import _update_dataloader
    from torch.utils.data import BatchSampler, DataLoader
    from torch.utils.data.distributed import DistributedSampler

    dm = ready(datamodule(tmp_path, parquet_dir, bucket=True, batch_size=3))
    with _replace_dunder_methods(DataLoader, "dataset"), _replace_dunder_methods(BatchSampler):
        loader = dm.train_dataloader()
    shares = []
    for rank in range(2):
        sampler = DistributedSampler(dm.splits["train"], num_replicas=2, rank=rank)
        batches = list(_update_dataloader(loader, sampler).batch_sampler)
        assert isinstance(_update_dataloader(loader, sampler).batch_sampler, BucketBatchSampler)
        shares.append({i for batch in batches for i in batch})
    assert shares[0] | shares[1] == set(range(32)) and not shares[0] & shares[1]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_len": 0}, "max_len=0: expected a positive"),
        ({"tokenizer": "chars"}, "expected one of word, wordpiece"),
        ({"tokenizer": "pretrained"}, "needs data.pretrained"),
        ({"pretrained": "bert-base-uncased"}, "needs data.tokenizer=pretrained"),
        ({"tokenizer": "bpe", "max_size": None}, "set data.max_size"),
        ({"max_size": 2}, "expected more than 2"),
        ({"min_freq": 0}, "min_freq=0"),
        ({"num_workers": -1}, "num_workers=-1"),
    ],
)
def test_impossible_settings_are_refused_before_reading_data(tmp_path, options, message):
    with pytest.raises(ValueError, match=message):
        datamodule(tmp_path, **options)


# ----------------------------------------------------------------------------- notes at the start


def test_integer_class_names_are_pointed_out_once_with_the_fix(tmp_path):
    rows = "".join(f"word{i % 4} text,{i % 4}\n" for i in range(40))
    (tmp_path / "ints.csv").write_text("text,label\n" + rows)
    files = {"train": str(tmp_path / "ints.csv"), "test": str(tmp_path / "ints.csv")}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dm = TextFilesDataModule(**files, cache_dir=str(tmp_path / "c"))
        dm.prepare_data()
        dm.setup("fit")
        dm.setup("test")
    notes = [str(w.message) for w in caught if "integer labels" in str(w.message)]
    assert notes == [
        "The 4 classes are named by their integer labels (0, 1, 2, 3): runs log them so and "
        "predict.py answers '3'. Name them with 4 names in id order, e.g. "
        "data.labels=[neg,pos] for two classes."
    ]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        named = TextFilesDataModule(**files, labels=list("abcd"), cache_dir=str(tmp_path / "c"))
        named.prepare_data()
        named.setup("fit")
    assert named.class_names == ["a", "b", "c", "d"]
    assert not [w for w in caught if "integer labels" in str(w.message)]

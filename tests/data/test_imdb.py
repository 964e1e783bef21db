"""The IMDB datamodule: every source layout, splits, vocabulary rules, the cache, checkpoints,
batching and every refused input, on tiny reviews written into tmp_path; one test on the real
data beside the repository (../shared/data/imdb), skipped where it is absent."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from conftest import compose_config
from hydra.utils import instantiate
from tokenizers import Tokenizer, models, pre_tokenizers
from torch.utils.data import SequentialSampler

from lstmlab.data import text as text_pipeline
from lstmlab.data import tokenization
from lstmlab.data.batching import BucketBatchSampler, EpochShuffleSampler
from lstmlab.data.imdb import IMDBDataModule
from lstmlab.data.text import stratified_split
from lstmlab.data.tokenization import TextEncoder, train_tokenizer
from lstmlab.runs.checkpoints import load_text_encoder
from lstmlab.runs.train import train

SHARED_IMDB = Path(__file__).resolve().parents[3] / "shared" / "data" / "imdb"
LETTERS = "abcdefghijklmnopqrstuvwxyz"

Review = tuple[str, int]


@pytest.fixture(autouse=True, scope="module")
def _quiet_datasets():
    datasets.disable_progress_bars()
    yield
    datasets.enable_progress_bars()


# ----------------------------------------------------------------------------- tiny corpora


def marker(prefix: str, i: int) -> str:
    """A word unique to one review, letters only (`traa`, `trab`, ...)."""
    return prefix + LETTERS[i // 26] + LETTERS[i % 26]


def corpus(prefix: str, n_neg: int, n_pos: int) -> list[Review]:
    """Negatives then positives, each naming its own marker twice (so min_freq=2 keeps it)."""
    reviews = []
    for label, count in [(0, n_neg), (1, n_pos)]:
        for i in range(count):
            word = marker(prefix + "np"[label], i)
            mood = "GREAT" if label else "awful"
            reviews.append((f"{word} {word} This movie was {mood}!!<br /><br />The end.", label))
    return reviews


TRAIN = corpus("tr", 30, 10)  # imbalanced, so stratification is visible
# in aclImdb order (negatives, then positives), with two reviews that encode to nothing
TEST = [*corpus("te", 6, 0), ("", 0), *corpus("te", 0, 6), ("<br /><br />", 1)]
EMPTY = [6, 13]  # their positions
UNSUP = [(f"unsup{c} unsup{c} a film", -1) for c in "abc"]
SPLITS = {"train": TRAIN, "test": TEST, "unsupervised": UNSUP}


def write_parquet(folder: Path, splits: dict[str, list[Review]] = SPLITS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for split, reviews in splits.items():
        texts, labels = zip(*reviews)
        pq.write_table(pa.table({"text": texts, "label": labels}), folder / f"{split}.parquet")
    return folder


def write_acl(root: Path) -> Path:
    """The Stanford layout: aclImdb/{train,test}/{neg,pos}/<id>_<rating>.txt, train/unsup."""
    for split in ("train", "test"):
        counters = {0: 0, 1: 0}
        for text, label in SPLITS[split]:
            folder = root / "aclImdb" / split / ("pos" if label else "neg")
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{counters[label]:03d}_{8 if label else 2}.txt").write_text(text)
            counters[label] += 1
    unsup = root / "aclImdb" / "train" / "unsup"
    unsup.mkdir()
    for i, (text, _) in enumerate(UNSUP):
        (unsup / f"{i:03d}_0.txt").write_text(text)
    return root / "aclImdb"


def write_archive(path: Path) -> Path:
    acl = write_acl(path.parent / "unpacked")
    with tarfile.open(path, "w:gz") as tar:
        tar.add(acl, arcname="aclImdb")
    return path


def datamodule(tmp_path: Path, path: Path | None = None, **options) -> IMDBDataModule:
    """A datamodule on the tiny corpus that never reaches for the network."""
    options = {"val_size": 8, "batch_size": 4, "hub_name": None, "bucket": False, **options}
    return IMDBDataModule(
        path=None if path is None else str(path),
        local_dir=str(tmp_path / "local"),
        cache_dir=str(tmp_path / "cache"),
        **options,
    )


def ready(dm: IMDBDataModule) -> IMDBDataModule:
    dm.prepare_data()
    dm.setup("fit")
    return dm


def ids(dm: IMDBDataModule, split: str) -> list[list[int]]:
    return [seq.tolist() for seq, _ in dm.splits[split]]


def vocabulary(dm: IMDBDataModule) -> set[str]:
    return set(dm.tokenizer.get_vocab())


@pytest.fixture
def parquet_dir(tmp_path: Path) -> Path:
    return write_parquet(tmp_path / "imdb")


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
    for split in text_pipeline.SPLITS:
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


# ----------------------------------------------------------------------------- vocabulary


def test_the_vocabulary_comes_from_the_training_split_only(tmp_path, parquet_dir):
    dm = ready(datamodule(tmp_path, parquet_dir))
    labels = np.array([label for _, label in TRAIN])
    _, val_idx = stratified_split(labels, 8, seed=1234)
    markers = {TRAIN[i][0].split()[0] for i in range(len(TRAIN))}
    val_markers = {TRAIN[i][0].split()[0] for i in val_idx}
    test_markers = {text.split()[0] for i, (text, _) in enumerate(TEST) if i not in EMPTY}

    words = vocabulary(dm)
    assert markers - val_markers <= words
    assert not val_markers & words
    assert not test_markers & words
    test_ids = ids(dm, "test")
    assert test_ids[0][:2] == [1, 1]  # a test-only marker is <unk>


def test_word_rules_markup_case_apostrophes_and_punctuation():
    tokenizer = train_tokenizer("word", [["x"]], min_freq=1, max_size=None)
    text = "Don't   STOP<br /><BR />it's <i>rock'n'roll</i> 10/10!!! ... ‘café’ <br/>end"
    words = [
        w
        for w, _ in tokenizer.pre_tokenizer.pre_tokenize_str(
            tokenizer.normalizer.normalize_str(text)
        )
    ]
    assert words == [
        "don't",
        "stop",
        "it's",
        "rock'n'roll",
        "10",
        "/",
        "10",
        "!!!",
        "...",
        "'",
        "café",
        "'",
        "end",
    ]


def test_min_freq_max_size_and_special_ids():
    texts = ["the the the a a b", "the a c"]
    tokenizer = train_tokenizer("word", [texts], min_freq=2, max_size=None)
    vocab = tokenizer.get_vocab()
    assert (vocab["<pad>"], vocab["<unk>"]) == (0, 1)
    assert set(vocab) == {"<pad>", "<unk>", "the", "a"}  # b, c seen once
    assert [vocab["the"], vocab["a"]] == [2, 3]  # most frequent first
    assert tokenizer.encode("the zebra").ids == [2, 1]
    assert tokenizer.encode("<pad> <unk>").ids == [1, 1, 1] * 2  # typed, they are text

    capped = train_tokenizer("word", [texts], min_freq=1, max_size=4).get_vocab()
    assert set(capped) == {"<pad>", "<unk>", "the", "a"}
    tied = train_tokenizer("word", [["b a c", "c a b"]], min_freq=1, max_size=None).get_vocab()
    assert [tied[w] for w in "abc"] == [2, 3, 4]  # ties: alphabetical, so ids are reproducible


# Text that could trip the chunk-by-chunk encoding: markup with and without spaces, case,
# every kind of whitespace, Unicode whose lower case differs in length, typed special tokens.
AWKWARD = [
    "",
    "   ",
    "The End.<br /><br />THE END<BR/>the<br>end<br  />x",
    "<I>Italic</I> <i >no</i > <em>em</em><hr><SPOILER>",
    "tab\tnew\nline\r\nvt\x0bff\x0cnbsp\u00a0ideo\u3000para\u2029end",
    "İstanbul KELVIN\u212a ß ﬁne Ⅻ ＡＢＣ café naïve",
    "Don’t ‘quote’ `tick` rock'n'roll '90s 10/10!!! ... ?! ---",
    "<pad> <unk> [PAD] \n <br /> <pad>",
    "  leading and trailing  ",
]


@pytest.mark.parametrize("kind", ["word", "wordpiece", "bpe"])
def test_chunk_by_chunk_encoding_equals_plain_encoding(kind):
    texts = [text for text, _ in TRAIN + TEST] + AWKWARD
    if kind == "word":
        tokenizer = train_tokenizer("word", [texts], min_freq=1, max_size=None)
    else:
        tokenizer = train_tokenizer(kind, [texts], min_freq=1, max_size=150)
    chunked = tokenization.ChunkEncoder(tokenizer)(pa.array(texts)).to_pylist()
    assert chunked == tokenization.encode_batch(tokenizer, texts)
    assert tokenization.chunk_safe(tokenizer)


@pytest.mark.parametrize("limits", [(1, None), (2, None), (1, 20), (3, 10)])
def test_the_word_vocabulary_equals_what_the_tokenizers_trainer_learns(limits):
    texts = [text for text, _ in TRAIN + TEST] + AWKWARD
    encoder = tokenization.word_vocabulary(tokenization.split_chunks(pa.array(texts)), *limits)
    trained = train_tokenizer("word", [texts], *limits)
    assert encoder.tokenizer.get_vocab() == trained.get_vocab()
    assert encoder.tokenizer.to_str() == trained.to_str()
    plain = tokenization.encode_batch(trained, texts)
    assert encoder(pa.array(texts)).to_pylist() == plain  # from the chunks it learned
    assert encoder(pa.array(texts[::-1])).to_pylist() == plain[::-1]


@pytest.mark.parametrize("kind", ["wordpiece", "bpe"])
def test_subword_tokenizers_train_on_the_training_split(tmp_path, parquet_dir, kind):
    dm = ready(datamodule(tmp_path, parquet_dir, tokenizer=kind, max_size=120, min_freq=1))
    assert dm.vocab_size <= 120 and dm.pad_id == 0
    assert dm.tokenizer.token_to_id("<unk>") == 1
    assert all(len(seq) > 0 for seq, _ in dm.splits["train"])
    assert "br" not in dm.tokenizer.encode("a<br />b").tokens


def test_a_pretrained_tokenizer_from_a_file_keeps_or_adds_its_padding(tmp_path, parquet_dir):
    def save(vocab: dict[str, int], path: Path) -> None:
        tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
        tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        path.parent.mkdir(exist_ok=True)
        tokenizer.save(str(path))

    save({"[UNK]": 0, "the": 1, "[PAD]": 2}, tmp_path / "bert" / "tokenizer.json")
    dm = ready(
        datamodule(
            tmp_path / "a", parquet_dir, tokenizer="pretrained", pretrained=str(tmp_path / "bert")
        )
    )  # a folder, as on the Hub
    assert (dm.pad_id, dm.vocab_size) == (2, 3)
    assert dm.tokenizer.encode("the<br />end").ids == [1, 0]  # markup removed, its own rules

    save({"hello": 0, "[UNK]": 1}, tmp_path / "gpt" / "nopad.json")
    dm = ready(
        datamodule(
            tmp_path / "b",
            parquet_dir,
            tokenizer="pretrained",
            pretrained=str(tmp_path / "gpt" / "nopad.json"),
        )
    )
    assert (dm.pad_id, dm.vocab_size) == (2, 3)  # a new id, not one of "hello"

    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ValueError, match="could not be loaded"):
        ready(
            datamodule(
                tmp_path / "c",
                parquet_dir,
                tokenizer="pretrained",
                pretrained=str(tmp_path / "broken.json"),
            )
        )


# ----------------------------------------------------------------------------- cache


def test_a_second_run_reads_the_cache_and_tokenizes_nothing(tmp_path, parquet_dir, monkeypatch):
    calls = []  # every run of the tokenizer on review text, and every vocabulary built
    encode_distinct, word_vocabulary = (
        tokenization.ChunkEncoder.encode_distinct,
        tokenization.word_vocabulary,
    )

    def spying_encode(self, chunks):
        calls.append(len(chunks))
        return encode_distinct(self, chunks)

    def spying_vocabulary(*args):
        calls.append("vocabulary")
        return word_vocabulary(*args)

    monkeypatch.setattr(tokenization.ChunkEncoder, "encode_distinct", spying_encode)
    monkeypatch.setattr(tokenization, "word_vocabulary", spying_vocabulary)
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
    encode_split = text_pipeline.encode_split

    def dies_on_test(part, tokenizer, path, name):
        if name == "test":
            raise KeyboardInterrupt
        return encode_split(part, tokenizer, path, name)

    monkeypatch.setattr(text_pipeline, "encode_split", dies_on_test)
    with pytest.raises(KeyboardInterrupt):
        ready(datamodule(tmp_path, parquet_dir))
    assert list((tmp_path / "cache").iterdir()) == []
    monkeypatch.undo()
    assert len(ready(datamodule(tmp_path, parquet_dir)).splits["test"]) == len(TEST)


def test_setup_is_idempotent(tmp_path, parquet_dir):
    dm = ready(datamodule(tmp_path, parquet_dir))
    splits, tokenizer = dict(dm.splits), dm.tokenizer
    dm.setup("fit")
    dm.setup("test")
    assert dm.tokenizer is tokenizer
    assert all(dm.splits[name] is split for name, split in splits.items())


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
            "model.embed_dim=8",
            "model.hidden_size=8",
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


def test_a_validation_split_as_large_as_train_is_refused(tmp_path, parquet_dir):
    with pytest.raises(ValueError, match="val_size=40: expected between 1 and 39"):
        ready(datamodule(tmp_path, parquet_dir, val_size=40))
    with pytest.raises(ValueError, match="without every class"):
        ready(datamodule(tmp_path, parquet_dir, val_size=39))


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
    fast = tokenization.word_vocabulary(tokenization.split_chunks(pa.array(texts)), 2, 5000)
    assert fast.tokenizer.to_str() == trained.to_str()

"""Vocabulary rules (tokenization.py): training split only, word rules, limits, chunked
encoding equal to plain encoding, subword and pretrained tokenizers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from imdb_corpus import (
    EMPTY,
    TEST,
    TRAIN,
    datamodule,
    ids,
    parquet_dir,  # noqa: F401 (a fixture)
    quiet_datasets,  # noqa: F401 (a fixture)
    ready,
    vocabulary,
)
from tokenizers import Tokenizer, models, pre_tokenizers

from lstmlab.data import chunks, tokenization
from lstmlab.data.cache import stratified_split
from lstmlab.data.tokenization import train_tokenizer

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
    chunked = chunks.ChunkEncoder(tokenizer)(pa.array(texts)).to_pylist()
    assert chunked == tokenization.encode_batch(tokenizer, texts)
    assert tokenization.chunk_safe(tokenizer)


@pytest.mark.parametrize("limits", [(1, None), (2, None), (1, 20), (3, 10)])
def test_the_word_vocabulary_equals_what_the_tokenizers_trainer_learns(limits):
    texts = [text for text, _ in TRAIN + TEST] + AWKWARD
    encoder = chunks.word_vocabulary(chunks.split_chunks(pa.array(texts)), *limits)
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

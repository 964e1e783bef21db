"""A validation split held out from a phrase-level training set overlaps train: the run warns
(overlap.py); an ordinary corpus, or a validation file of its own, gives no warning."""

from __future__ import annotations

import random
import warnings
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from lstmlab.data.overlap import SAMPLE, overlap_warning, phrases_in_train
from lstmlab.data.text_files import TextFilesDataModule

WORDS = [f"w{i}" for i in range(300)]


def sentences(count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=rng.randint(8, 14))) for _ in range(count)]


def with_phrases(texts: list[str], seed: int = 0) -> list[str]:
    """Each sentence and five of its phrases (runs of 2-5 words), as SST lists them."""
    rng = random.Random(seed)
    rows = []
    for text in texts:
        words = text.split()
        rows.append(text)
        for _ in range(5):
            start, size = rng.randrange(len(words) - 1), rng.randint(2, 5)
            rows.append(" ".join(words[start : start + size]))
    return rows


def write(path: Path, texts: list[str]) -> str:
    labels = [len(t.split()) % 2 for t in texts]  # any two classes will do
    pq.write_table(pa.table({"text": texts, "label": labels}), path)
    return str(path)


def warnings_of(tmp_path: Path, **files: str) -> list[str]:
    """The overlap warnings a run on `files` gives when it starts."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dm = TextFilesDataModule(**files, labels=["a", "b"], cache_dir=str(tmp_path / "c"))
        dm.prepare_data()
        dm.setup("fit")
    return [str(w.message) for w in caught if "occur inside training texts" in str(w.message)]


def test_phrases_of_training_sentences_are_found_and_ordinary_sentences_are_not():
    corpus = with_phrases(sentences(300))
    random.Random(0).shuffle(corpus)
    held_out = phrases_in_train(corpus[:300], corpus[300:], seed=0)  # as a held-out split
    assert held_out["inside"] > held_out["checked"] / 2
    assert "occur inside training texts" in overlap_warning(held_out)
    train = sentences(300)
    phrases = with_phrases(train)[1::6]  # phrases of training sentences only: all inside
    assert phrases_in_train(phrases, train, seed=0)["inside"] == SAMPLE // 2 + 1  # stops there
    ordinary = phrases_in_train(sentences(300, seed=2), train, seed=0)
    assert ordinary == {"checked": SAMPLE // 2, "inside": 0}  # stops once it cannot be mostly
    assert overlap_warning(ordinary) is None


def test_whole_words_only_and_case_and_spacing_do_not_matter():
    train = ["The  Film was GREAT fun"]
    assert phrases_in_train(["film was great"], train, seed=0)["inside"] == 1
    assert phrases_in_train(["ilm was"], train, seed=0)["inside"] == 0  # not a whole word


def test_a_phrase_corpus_warns_and_suggests_a_validation_file(tmp_path):
    corpus = with_phrases(sentences(200))
    test = write(tmp_path / "test.parquet", sentences(20, seed=3))
    found = warnings_of(tmp_path, train=write(tmp_path / "phrases.parquet", corpus), test=test)
    assert len(found) == 1 and "data.val=<file>" in found[0]


def test_an_ordinary_corpus_or_a_validation_file_gives_no_warning(tmp_path):
    test = write(tmp_path / "test.parquet", sentences(20, seed=3))
    ordinary = write(tmp_path / "train.parquet", sentences(1200))
    assert warnings_of(tmp_path, train=ordinary, test=test) == []
    phrases = write(tmp_path / "phrases.parquet", with_phrases(sentences(200)))
    val = write(tmp_path / "val.parquet", sentences(20, seed=4))
    assert warnings_of(tmp_path, train=phrases, val=val, test=test) == []  # its own: not judged

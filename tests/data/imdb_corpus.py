"""A tiny IMDB-like corpus written into tmp_path in every layout the datamodule reads, and
the helpers the data tests share (a datamodule that never reaches for the network)."""

from __future__ import annotations

import tarfile
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lstmlab.data.imdb import IMDBDataModule

SHARED_IMDB = Path(__file__).resolve().parents[3] / "shared" / "data" / "imdb"
LETTERS = "abcdefghijklmnopqrstuvwxyz"

Review = tuple[str, int]


@pytest.fixture(autouse=True, scope="module")
def quiet_datasets():
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

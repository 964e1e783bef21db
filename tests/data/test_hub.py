"""data=hub: a Hugging Face dataset by name, run offline against local copies (a folder of
data files, a save_to_disk folder); the Hub's own refusals are in test_hub_access.py."""

from __future__ import annotations

import json
import random
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from conftest import compose_config
from hydra.utils import instantiate

from lstmlab.data.hub import HubDataModule
from lstmlab.data.hub_access import DataUnavailableError, HubUnavailableError
from lstmlab.runs.train import train

MOODS = {0: ["awful", "dull", "bad"], 1: ["great", "fine", "superb"]}
FILLER = ["the", "a", "film", "plot", "was", "and", "it", "of"]


@pytest.fixture(autouse=True, scope="module")
def quiet_datasets():
    datasets.disable_progress_bars()
    yield
    datasets.enable_progress_bars()


def rows(count: int, seed: int = 0) -> dict[str, list]:
    """Short sentences whose label (0 / 1) is told by one mood word among filler."""
    rng = random.Random(seed)
    labels = [i % 2 for i in range(count)]
    texts = [" ".join([*rng.choices(FILLER, k=4), rng.choice(MOODS[y])]) for y in labels]
    return {"sentence": texts, "label": labels}


def saved(folder: Path, splits: dict[str, int], names: list[str] | None = None) -> Path:
    """A DatasetDict written with save_to_disk; `names` makes the label a ClassLabel."""
    parts = {
        s: datasets.Dataset.from_dict(rows(n, seed=i)) for i, (s, n) in enumerate(splits.items())
    }
    dataset = datasets.DatasetDict(parts)
    if names:
        dataset = dataset.cast_column("label", datasets.ClassLabel(names=names))
    dataset.save_to_disk(str(folder))
    return folder


def hub_datamodule(tmp_path: Path, name: Path | str, **options) -> HubDataModule:
    options = {"text_column": "sentence", "cache_dir": str(tmp_path / "cache"), **options}
    dm = HubDataModule(name=str(name), batch_size=4, **options)
    dm.prepare_data()
    dm.setup("fit")
    return dm


def sizes(dm: HubDataModule) -> dict[str, int]:
    return {split: len(data) for split, data in dm.splits.items()}


# ----------------------------------------------------------------------------- reading


def test_a_save_to_disk_folder_gives_classlabel_names_and_its_validation_split(tmp_path):
    folder = saved(tmp_path / "saved", {"train": 40, "validation": 10, "test": 8}, ["neg", "pos"])
    cfg = compose_config(
        [
            "data=hub",
            f"data.name={folder}",
            "data.text_column=sentence",
            f"data.cache_dir={tmp_path}/c",
        ],
        tmp_path,
    )
    dm = instantiate(cfg.data)  # conf/data/hub.yaml as a user composes it
    dm.prepare_data()
    dm.setup("fit")
    assert dm.class_names == ["neg", "pos"]  # the ClassLabel's names
    assert sizes(dm) == {"train": 40, "val": 10, "test": 8}  # validation is the dataset's own
    first = rows(40)["sentence"][0]
    assert dm.splits["train"][0][0].tolist() == dm.tokenizer.encode(first).ids


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_a_folder_of_data_files_without_validation_holds_one_out(tmp_path, suffix):
    folder = tmp_path / "files"
    folder.mkdir()
    for split, count in {"train": 50, "test": 10}.items():
        table = pa.table(rows(count, seed=len(split)))
        if suffix == "parquet":
            pq.write_table(table, folder / f"{split}.parquet")
        else:
            pa_csv.write_csv(table, folder / f"{split}.csv")
    dm = hub_datamodule(tmp_path, folder, labels=["neg", "pos"])
    assert sizes(dm) == {"train": 45, "val": 5, "test": 10}  # val_size 0.1, held out
    assert dm.class_names == ["neg", "pos"]  # integer labels as ids of the given names
    assert sorted(dm.splits["val"].labels.tolist()) == [0, 0, 0, 1, 1]  # stratified


def test_splits_choose_which_split_tests_and_validation_is_then_held_out(tmp_path):
    folder = saved(tmp_path / "saved", {"train": 40, "validation": 10, "test": 8}, ["neg", "pos"])
    dm = hub_datamodule(
        tmp_path, folder, splits={"train": "train", "val": None, "test": "validation"}
    )
    assert sizes(dm) == {"train": 36, "val": 4, "test": 10}


def test_a_dataset_saved_again_is_read_again(tmp_path):
    folder = saved(tmp_path / "saved", {"train": 20, "test": 8}, ["neg", "pos"])
    assert sizes(hub_datamodule(tmp_path, folder))["test"] == 8
    saved(tmp_path / "new", {"train": 20, "test": 6}, ["neg", "pos"])
    for file in (tmp_path / "new").rglob("*"):  # the same folder, new content
        if file.is_file():
            target = folder / file.relative_to(tmp_path / "new")
            target.write_bytes(file.read_bytes())
    assert sizes(hub_datamodule(tmp_path, folder))["test"] == 6  # not the stale cache


@pytest.mark.slow
def test_a_run_trains_on_a_hub_dataset_and_names_its_classes(tmp_path):
    folder = saved(tmp_path / "saved", {"train": 120, "test": 40}, ["neg", "pos"])
    overrides = [
        "data=hub",
        f"data.name={folder}",
        "data.text_column=sentence",
        f"data.cache_dir={tmp_path}/cache",
        "data.batch_size=16",
        "model.encoder.embed_dim=16",
        "model.encoder.hidden_size=16",
        "optimizer.lr=0.01",
        "trainer=cpu",
        "trainer.max_epochs=3",
        "+trainer.enable_model_summary=false",
    ]
    train(compose_config(overrides, tmp_path / "run"))
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["metrics"]["test/acc"] > 0.8  # one mood word tells the label
    assert "test_per_class/f1/pos" in results["metrics"]


# ----------------------------------------------------------------------------- refused input


def test_a_missing_column_lists_the_columns_there_are(tmp_path):
    folder = saved(tmp_path / "saved", {"train": 20, "test": 8})
    with pytest.raises(
        ValueError, match=r"no column 'text'; its columns are \['sentence', 'label'\]"
    ):
        hub_datamodule(tmp_path, folder, text_column="text")
    with pytest.raises(ValueError, match=r"no column 'stars'; its columns are"):
        hub_datamodule(tmp_path, folder, label_column="stars")


def test_columns_that_are_not_text_or_not_one_label_per_row_are_refused(tmp_path):
    data = {"tokens": [["a", "b"]] * 4, "sentence": ["a b"] * 4, "score": [0.5] * 4}
    part = datasets.Dataset.from_dict(data)
    datasets.DatasetDict({"train": part, "test": part}).save_to_disk(str(tmp_path / "odd"))
    with pytest.raises(ValueError, match=r"column 'tokens' holds list<.*>, not text"):
        hub_datamodule(tmp_path, tmp_path / "odd", text_column="tokens", label_column="score")
    with pytest.raises(ValueError, match=r"column 'score' holds double; expected one label per"):
        hub_datamodule(tmp_path, tmp_path / "odd", label_column="score")


def test_a_save_to_disk_folder_needs_splits_and_has_no_configurations(tmp_path):
    datasets.Dataset.from_dict(rows(8)).save_to_disk(str(tmp_path / "one"))
    with pytest.raises(ValueError, match=r"one dataset without splits. Save a DatasetDict"):
        hub_datamodule(tmp_path, tmp_path / "one")
    folder = saved(tmp_path / "saved", {"train": 20, "test": 8})
    with pytest.raises(ValueError, match=r"data.config='plain_text': .* Set data.config=null"):
        hub_datamodule(tmp_path, folder, config="plain_text")


def test_a_missing_split_lists_the_splits_there_are(tmp_path):
    folder = saved(tmp_path / "saved", {"train": 20, "dev": 8})
    with pytest.raises(
        ValueError,
        match=r"has no split 'test' \(data.splits.test\); its splits are \['train', 'dev'\]",
    ):
        hub_datamodule(tmp_path, folder)
    with pytest.raises(ValueError, match=r"data.splits has \[.dev.\]: its keys are train, val"):
        hub_datamodule(tmp_path, folder, splits={"dev": "dev"})


def test_hidden_test_labels_point_to_a_labelled_split(tmp_path):
    dataset = datasets.DatasetDict(
        {"train": datasets.Dataset.from_dict(rows(20)), "test": datasets.Dataset.from_dict(rows(4))}
    ).cast_column("label", datasets.ClassLabel(names=["neg", "pos"]))
    dataset["test"] = dataset["test"].map(lambda row: {"label": -1})  # as GLUE's test splits
    dataset.save_to_disk(str(tmp_path / "glue"))
    with pytest.raises(
        ValueError, match=r"4 of 4 rows have no label \(-1\).*data.splits.test=validation"
    ):
        hub_datamodule(tmp_path, tmp_path / "glue")


def test_a_configuration_that_is_missing_or_unknown_lists_the_configurations(tmp_path):
    folder = tmp_path / "configs"
    for config in ("first", "second"):
        (folder / config).mkdir(parents=True)
        for split, count in {"train": 20, "test": 8}.items():
            pq.write_table(pa.table(rows(count)), folder / config / f"{split}.parquet")
    (folder / "README.md").write_text(
        "---\nconfigs:\n"
        + "".join(
            f"- config_name: {c}\n  data_files:\n"
            f"  - split: train\n    path: {c}/train.parquet\n"
            f"  - split: test\n    path: {c}/test.parquet\n"
            for c in ("first", "second")
        )
        + "---\n"
    )
    assert sizes(hub_datamodule(tmp_path, folder, config="second"))["test"] == 8
    with pytest.raises(
        ValueError, match=r"data.config=None: Config name is missing. .*\['first', 'second'\]"
    ):
        hub_datamodule(tmp_path, folder)
    with pytest.raises(ValueError, match=r"'third' not found. Available: \['first', 'second'\]"):
        hub_datamodule(tmp_path, folder, config="third")


def test_a_missing_folder_or_a_folder_without_data_says_so(tmp_path):
    with pytest.raises(DataUnavailableError, match=r"data.name=\./nowhere is not a folder"):
        hub_datamodule(tmp_path, "./nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataUnavailableError, match=r"Expected data files .* it holds: nothing"):
        hub_datamodule(tmp_path, tmp_path / "empty")


def test_a_hub_name_offline_says_the_hub_cannot_help_and_how_to_use_a_local_copy(tmp_path):
    # HF_HUB_OFFLINE=1 (conftest), and the name is in no cache
    with pytest.raises(HubUnavailableError) as error:
        hub_datamodule(tmp_path, "someone/never-downloaded")
    message = str(error.value)
    assert "data.name=someone/never-downloaded" in message
    assert "HF_HUB_OFFLINE is set" in message
    assert "To use a local copy, set data.name to a folder" in message

"""data=text_files: labelled text in CSV / TSV / JSON lines / parquet, multi-class end to end."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
import torch
from conftest import compose_config, run_script
from hydra.errors import InstantiationException
from hydra.utils import instantiate

from lstmlab.data.text_files import TextFilesDataModule, read_table
from lstmlab.runs.checkpoints import CheckpointError
from lstmlab.runs.evaluate import evaluate
from lstmlab.runs.model_setup import new_model
from lstmlab.runs.train import train
from lstmlab.serving.predict import Predictor

COLORS = {
    "red": ["cherry", "blood", "ruby"],
    "green": ["grass", "leaf", "lime"],
    "blue": ["sky", "sea"],
}
FILLER = ["the", "a", "is", "was", "very", "quite", "and", "of"]


def colour_rows(count: int, seed: int = 0) -> list[dict]:
    """Short texts whose label (a colour) is told by one word among filler; 50/30/20 %."""
    rng = random.Random(seed)
    labels = rng.choices(list(COLORS), weights=[5, 3, 2], k=count)
    rows = []
    for label in labels:
        words = rng.choices(FILLER, k=rng.randint(2, 8))
        words.insert(rng.randrange(len(words) + 1), rng.choice(COLORS[label]))
        rows.append({"title": rng.choice(FILLER), "body": " ".join(words), "label": label})
    return rows


def write(path: Path, rows: list[dict]) -> Path:
    """`rows` in the format `path`'s extension names."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(rows)
    if path.suffix == ".parquet":
        pq.write_table(table, path)
    elif path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    else:
        delimiter = "\t" if path.suffix == ".tsv" else ","
        pa_csv.write_csv(table, path, pa_csv.WriteOptions(delimiter=delimiter))
    return path


def files_datamodule(tmp_path: Path, **options) -> TextFilesDataModule:
    options = {"cache_dir": str(tmp_path / "cache"), "text_columns": ["body"], **options}
    dm = TextFilesDataModule(**options)
    dm.prepare_data()
    dm.setup("fit")
    return dm


def encoded(dm: TextFilesDataModule, split: str) -> list[tuple[list[int], int]]:
    return [(ids.tolist(), int(label)) for ids, label in dm.splits[split]]


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".parquet"])
def test_every_format_gives_the_same_splits(tmp_path, suffix):
    rows, test_rows = colour_rows(60), colour_rows(20, seed=1)
    reference = files_datamodule(
        tmp_path / "ref",
        train=str(write(tmp_path / "ref" / "train.csv", rows)),
        test=str(write(tmp_path / "ref" / "test.csv", test_rows)),
    )
    dm = files_datamodule(
        tmp_path / suffix,
        train=str(write(tmp_path / suffix / f"train{suffix}", rows)),
        test=str(write(tmp_path / suffix / f"test{suffix}", test_rows)),
    )
    assert dm.class_names == ["blue", "green", "red"]  # the string labels, sorted
    assert dm.num_classes == 3
    for split in ("train", "val", "test"):
        assert encoded(dm, split) == encoded(reference, split)
    assert len(dm.splits["val"]) == 6  # val_size 0.1 of the training file


def test_one_file_with_a_split_column_and_joined_text_columns(tmp_path):
    rows = [{**row, "split": "train"} for row in colour_rows(50)]
    rows += [{**row, "split": "validation"} for row in colour_rows(10, seed=1)]
    rows += [{**row, "split": "TEST"} for row in colour_rows(10, seed=2)]
    path = write(tmp_path / "all.csv", rows)
    dm = files_datamodule(
        tmp_path, train=str(path), split_column="split", text_columns=["title", "body"]
    )
    assert {name: len(split) for name, split in dm.splits.items()} == {
        "train": 50,
        "val": 10,
        "test": 10,
    }
    first = rows[0]
    expected = dm.tokenizer.encode(f"{first['title']}\n{first['body']}").ids
    assert encoded(dm, "train")[0] == (expected, dm.class_names.index(first["label"]))


def test_one_text_column_given_as_a_plain_name_is_that_column(tmp_path):
    """`data.text_columns=body` on the command line arrives as a string, not a list."""
    files = {
        "train": str(write(tmp_path / "train.csv", colour_rows(40))),
        "test": str(write(tmp_path / "test.csv", colour_rows(10, seed=1))),
    }
    as_list = files_datamodule(tmp_path / "list", **files, text_columns=["body"])
    as_name = files_datamodule(tmp_path / "name", **files, text_columns="body")
    assert as_name.source.text_columns == ("body",)
    assert encoded(as_name, "train") == encoded(as_list, "train")


def test_label_orders_integer_labels_and_given_names(tmp_path):
    rows = [{"body": f"word{i % 3}", "label": [5, 1, 3][i % 3]} for i in range(30)]
    path = write(tmp_path / "ints.csv", rows)
    dm = files_datamodule(tmp_path / "a", train=str(path), test=str(path), val_size=6)
    assert dm.class_names == ["1", "3", "5"]  # numeric order, as names
    assert [label for _, label in encoded(dm, "test")][:3] == [2, 0, 1]

    ids = write(
        tmp_path / "ids.csv", [{"body": r["body"], "label": i % 3} for i, r in enumerate(rows)]
    )
    named = files_datamodule(
        tmp_path / "b", train=str(ids), test=str(ids), labels=["x", "y", "z"], val_size=6
    )
    assert named.class_names == ["x", "y", "z"]
    assert [label for _, label in encoded(named, "test")][:3] == [0, 1, 2]  # integers are ids

    ordered = files_datamodule(
        tmp_path / "c", train=str(path), test=str(path), labels=["5", "3", "1"], val_size=6
    )
    assert [label for _, label in encoded(ordered, "test")][:3] == [0, 2, 1]  # by name, given order


def test_the_class_count_reaches_the_model_and_bce_is_refused_for_three_classes(tmp_path):
    data = write(tmp_path / "train.csv", colour_rows(60))
    overrides = [
        "data=text_files",
        f"data.train={data}",
        f"data.test={data}",
        f"data.cache_dir={tmp_path}/c",
    ]
    cfg = compose_config([*overrides, "data.text_columns=[body]"], tmp_path)
    dm = instantiate(cfg.data)
    dm.prepare_data()
    dm.setup("fit")
    model = new_model(cfg, dm)
    assert model.net.head.out_features == 3 and model.class_names == ["blue", "green", "red"]
    cfg.model.head = "bce"
    with pytest.raises(InstantiationException, match="needs exactly 2 classes, but the data has 3"):
        new_model(cfg, dm)


def test_class_weights_balance_the_loss(tmp_path):
    data = write(tmp_path / "train.csv", colour_rows(100))
    dm = files_datamodule(tmp_path, train=str(data), test=str(data), class_weights=True)
    counts = dm.class_counts
    assert dm.loss_weights == pytest.approx([sum(counts) / (3 * c) for c in counts])
    assert files_datamodule(tmp_path, train=str(data), test=str(data)).loss_weights is None
    weighted = [w * c for w, c in zip(dm.loss_weights, counts)]
    assert weighted == pytest.approx([weighted[0]] * 3)  # every class weighs the same in total


def test_class_weights_reach_the_models_loss(tmp_path):
    """Built as a run builds it, the model's loss is the weighted cross-entropy."""
    data = write(tmp_path / "train.csv", colour_rows(100))
    overrides = ["data=text_files", f"data.train={data}", f"data.test={data}"]
    overrides += [f"data.cache_dir={tmp_path}/c", "data.text_columns=[body]"]
    cfg = compose_config([*overrides, "data.class_weights=true"], tmp_path)
    dm = instantiate(cfg.data)
    dm.prepare_data()
    dm.setup("fit")
    model = new_model(cfg, dm)
    batch = next(iter(dm.train_dataloader()))
    logits = model(batch["tokens"], batch["lengths"])[0]
    weights = torch.tensor(dm.loss_weights)
    weighted = torch.nn.functional.cross_entropy(logits, batch["labels"], weight=weights)
    plain = torch.nn.functional.cross_entropy(logits, batch["labels"])
    torch.testing.assert_close(model.loss(logits, batch["labels"]), weighted)
    assert not torch.isclose(weighted, plain)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"label_column": "colour"},
            r"has no column 'colour'; its columns are \['title', 'body', 'label'\]",
        ),
        (
            {"test_rows": [{"title": "a", "body": "b", "label": "purple"}]},
            r"labels \['purple'\] that the training split does not have",
        ),
        ({"test_rows": []}, "is empty"),
        ({"labels": ["red", "green"]}, r"labels \['blue'\] that data.labels does not have"),
        ({"test": None}, "data.test is not set"),
        ({"train": "missing.csv"}, "data.train=missing.csv is not a file"),
        ({"format": "xml"}, "data.format='xml': expected csv"),
        ({"encoding": "latin-9x"}, "data.encoding='latin-9x': not an encoding"),
    ],
)
def test_bad_files_and_settings_are_refused_with_a_specific_message(tmp_path, change, message):
    rows = colour_rows(30)
    test_rows = change.pop("test_rows", colour_rows(10, seed=1))
    options = {
        "train": str(write(tmp_path / "train.csv", rows)),
        "test": str(tmp_path / "test.csv"),
        **change,
    }
    if test_rows:
        write(tmp_path / "test.csv", test_rows)
    else:
        (tmp_path / "test.csv").write_text("")
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        files_datamodule(tmp_path, **options)


def test_a_training_file_of_a_single_class_is_told_so(tmp_path):
    one = [row for row in colour_rows(60) if row["label"] == "red"]
    train, test = write(tmp_path / "one.csv", one), write(tmp_path / "test.csv", colour_rows(10))
    with pytest.raises(
        ValueError, match=r"\(.*one.csv\) has texts of a single class \(\['red'\]\)"
    ):
        files_datamodule(tmp_path, train=str(train), test=str(test))
    given = {"labels": ["red", "green", "blue"], "val": str(test)}  # a validation file: no holdout
    with pytest.raises(ValueError, match=r"single class \(\['red'\]\).*data.label_column"):
        files_datamodule(tmp_path, train=str(train), test=str(test), **given)
    assert not list((tmp_path / "cache").glob("*/meta.json"))


def test_a_semicolon_separated_csv_is_told_to_set_data_delimiter(tmp_path):
    rows, test_rows = colour_rows(30), colour_rows(10, seed=1)
    options = {"text_columns": ["body"]}
    for name, part in (("train", rows), ("test", test_rows)):
        table = pa.Table.from_pylist(part)
        pa_csv.write_csv(table, tmp_path / f"{name}.csv", pa_csv.WriteOptions(delimiter=";"))
        options[name] = str(tmp_path / f"{name}.csv")
    with pytest.raises(ValueError, match=r"The header holds ';'.*Set data.delimiter=';'"):
        files_datamodule(tmp_path, **options)
    read = files_datamodule(tmp_path, delimiter=";", **options)
    comma = files_datamodule(
        tmp_path / "comma",
        train=str(write(tmp_path / "comma" / "train.csv", rows)),
        test=str(write(tmp_path / "comma" / "test.csv", test_rows)),
    )
    assert encoded(read, "test") == encoded(comma, "test")
    with pytest.raises(ValueError, match=r"data\.delimiter=';;': expected one character"):
        files_datamodule(tmp_path, delimiter=";;", **options)


def test_header_only_files_and_unknown_split_names_are_refused(tmp_path):
    (tmp_path / "header.csv").write_text("body,label\n")
    train = str(write(tmp_path / "train.csv", colour_rows(20)))
    with pytest.raises(ValueError, match="has a header but no rows"):
        files_datamodule(tmp_path, train=train, test=str(tmp_path / "header.csv"))
    rows = [{**row, "split": "holdout"} for row in colour_rows(5)]
    with pytest.raises(ValueError, match=r"holds \['holdout'\]; expected split names"):
        files_datamodule(tmp_path, train=str(write(tmp_path / "s.csv", rows)), split_column="split")


@pytest.fixture(scope="module")
def colour_run(tmp_path_factory) -> dict:
    """A BiLSTM + attention trained on three colour classes (chance: 50 % for the majority)."""
    root = tmp_path_factory.mktemp("colours")
    train_file = write(root / "train.jsonl", colour_rows(600))
    test_file = write(root / "test.jsonl", colour_rows(150, seed=1))
    overrides = [
        "data=text_files",
        f"data.train={train_file}",
        f"data.test={test_file}",
        "data.text_columns=[title,body]",
        f"data.cache_dir={root}/cache",
        "data.batch_size=16",
        "model.encoder.embed_dim=16",
        "model.encoder.hidden_size=16",
        "optimizer.lr=0.01",
        "trainer=cpu",
        "trainer.max_epochs=3",
        "+trainer.enable_model_summary=false",
    ]
    train(compose_config(overrides, root / "run"))
    return {**json.loads((root / "run" / "results.json").read_text()), "overrides": overrides}


@pytest.mark.slow
def test_a_three_class_run_beats_chance_and_reports_every_class(colour_run):
    metrics = colour_run["metrics"]
    assert metrics["test/acc"] > 0.9  # majority class: ~0.5
    for name in ("blue", "green", "red"):
        assert metrics[f"test_per_class/f1/{name}"] > 0.8
    assert metrics["test/f1"] == pytest.approx(
        sum(metrics[f"test_per_class/f1/{c}"] for c in ("blue", "green", "red")) / 3, abs=1e-5
    )
    assert len(colour_run["test_confusion_matrix"]) == 3


def test_predict_names_the_classes_of_a_multi_class_checkpoint(colour_run):
    predictor = Predictor.from_checkpoint(colour_run["best_checkpoint"])
    predictions = predictor(["the\nthe sky was very", "a\ncherry and", "of\nlime"])
    assert [p.label for p in predictions] == ["blue", "red", "green"]
    assert all(set(p.probabilities) == {"blue", "green", "red"} for p in predictions)


def test_the_worked_example_dataset_script_writes_a_readable_file(tmp_path):
    process = run_script("scripts/make_topics_dataset.py", "--out", str(tmp_path), "--rows", "200")
    assert process.returncode == 0, process.stderr
    cfg = compose_config(
        ["data=topics", f"data.train={tmp_path}/topics.csv", f"data.cache_dir={tmp_path}/c"],
        tmp_path,
    )
    dm = instantiate(cfg.data)
    dm.prepare_data()
    dm.setup("fit")
    assert dm.class_names == ["food", "politics", "science", "sports"]
    assert sum(len(split) for split in dm.splits.values()) == 200
    assert max(dm.class_counts) > 2 * min(dm.class_counts)  # imbalanced, as documented
    assert torch.is_tensor(dm.splits["train"][0][0])


def test_evaluate_maps_reordered_labels_by_name_and_refuses_other_classes(colour_run, tmp_path):
    checkpoint = colour_run["best_checkpoint"]  # classes blue, green, red

    def scores(out: str, *overrides: str) -> dict:
        cfg = compose_config([f"ckpt_path={checkpoint}", *overrides], tmp_path / out, "evaluate")
        return evaluate(cfg)

    assert scores("mapped", "+data.labels=[red,blue,green]")["test/acc"] == pytest.approx(
        colour_run["metrics"]["test/acc"], abs=1e-6
    )  # not the 0.0 of scoring red as blue
    with pytest.raises(CheckpointError, match=r"trained on the classes \['blue', 'green', 'red'\]"):
        scores("other", "+data.labels=[red,blue,green,purple]")
    assert not (tmp_path / "other" / "evaluation.json").exists()


def test_a_run_from_a_checkpoint_maps_reordered_labels_and_names_the_settings_that_differ(
    colour_run, tmp_path
):
    start = [*colour_run["overrides"], f"ckpt_path={colour_run['best_checkpoint']}"]
    start = [o for o in start if not o.startswith("trainer.max_epochs")] + ["trainer.max_epochs=4"]
    cfg = compose_config([*start, "data.labels=[red,green,blue]"], tmp_path / "mapped")
    train(cfg)
    results = json.loads((tmp_path / "mapped" / "results.json").read_text())
    assert results["metrics"]["test/acc"] > 0.9  # a swapped red and blue would score ~0.3
    differ = r"model.encoder.hidden_size 16 in the checkpoint vs 32"
    with pytest.raises(CheckpointError, match=differ):
        train(compose_config([*start, "model.encoder.hidden_size=32"], tmp_path / "shapes"))
    assert not list((tmp_path / "shapes").rglob("*.ckpt"))


def test_labels_are_read_as_they_look(tmp_path):
    """Spaces around a label are not part of it; float labels that hold integers (parquet
    from pandas) are those integers, matching integer labels in another file."""
    rows = colour_rows(30)
    for row in rows[::3]:
        row["label"] = f" {row['label']} "  # ' red ' is red, not a fourth class
    dm = files_datamodule(
        tmp_path / "spaces",
        train=str(write(tmp_path / "spaces.csv", rows)),
        test=str(write(tmp_path / "test.csv", colour_rows(10, seed=1))),
    )
    assert dm.class_names == ["blue", "green", "red"]

    numbers = [{"body": row["body"], "label": float(i % 2)} for i, row in enumerate(rows)]
    ids = [{**row, "label": int(row["label"])} for row in numbers]
    floats, ints = write(tmp_path / "floats.parquet", numbers), write(tmp_path / "ints.csv", ids)
    dm = files_datamodule(tmp_path / "numbers", train=str(floats), test=str(ints))
    assert dm.class_names == ["0", "1"]


@pytest.mark.parametrize("empty", ["", "  ", None])
def test_rows_without_a_label_are_refused_naming_them(tmp_path, empty):
    """An empty cell of a text column reads as '' (pyarrow), of a number column as null, in
    parquet as None or NaN: each is a row with no label, never a class named ''."""
    rows = colour_rows(30)
    for index in (2, 6):
        rows[index]["label"] = empty
    options = {"train": str(write(tmp_path / "train.csv", rows))}
    options["test"] = str(write(tmp_path / "test.csv", colour_rows(10, seed=1)))
    with pytest.raises(ValueError, match=r"2 rows have no label.*rows 3, 7"):
        files_datamodule(tmp_path, **options)
    numbers = [{"body": row["body"], "label": 1.0} for row in rows]
    numbers[4]["label"] = float("nan")
    options["train"] = str(write(tmp_path / "nan.parquet", numbers))
    with pytest.raises(ValueError, match=r"1 rows have no label.*rows 5\b"):
        files_datamodule(tmp_path, **options)


def test_labels_that_differ_only_by_case_or_spacing_are_pointed_out(tmp_path):
    rows = colour_rows(30)
    rows[0]["label"], rows[1]["label"] = "Red", "light  blue"
    rows[2]["label"] = "light blue"
    train, test = write(tmp_path / "train.csv", rows), write(tmp_path / "test.csv", rows)
    with pytest.warns(UserWarning) as warned:
        files_datamodule(tmp_path, train=str(train), test=str(test))
    message = " ".join(str(w.message) for w in warned)
    assert "['Red', 'red']" in message and "['light  blue', 'light blue']" in message


def test_a_csv_in_another_encoding_is_refused_naming_the_line_and_read_with_data_encoding(
    tmp_path,
):
    rows, test_rows = colour_rows(30), colour_rows(10, seed=1)
    rows[6]["body"] += " café"  # a Latin-1 byte (é) on line 8 of the file (1: the header)
    train = write(tmp_path / "train.csv", [])
    train.write_bytes(
        b"body,label\n" + b"".join(f"{r['body']},{r['label']}\n".encode("latin-1") for r in rows)
    )
    test = write(tmp_path / "test.csv", test_rows)
    with pytest.raises(ValueError) as refused:
        files_datamodule(tmp_path, train=str(train), test=str(test))
    message = str(refused.value)
    assert str(train) in message and "line 8" in message and "data.encoding=" in message
    files_datamodule(tmp_path, train=str(train), test=str(test), encoding="latin-1")
    read = read_table(train, None, ["body"], encoding="latin-1")
    assert read.column("body")[6].as_py().endswith(" café")
    lines = tmp_path / "train.jsonl"  # JSON lines: no encoding but UTF-8, so the fix converts
    lines.write_bytes(
        b"".join(json.dumps(r).encode().replace(b"\\u00e9", b"\xe9") + b"\n" for r in rows)
    )
    with pytest.raises(ValueError, match=r"train.jsonl: line 7 .* iconv -f latin1"):
        read_table(lines, None, ["body", "label"])

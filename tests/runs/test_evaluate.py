"""evaluate.py: a checkpoint alone reproduces the metrics its training run recorded."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
import torch
from conftest import compose_config, run_script

from lstmlab.runs.checkpoints import CheckpointError, load_model, read_checkpoint
from lstmlab.runs.evaluate import build_datamodule, evaluate
from lstmlab.runs.train import train


def run_evaluate(tmp_path, checkpoint, *overrides):
    out = tmp_path / "evaluation"
    metrics = evaluate(compose_config([f"ckpt_path={checkpoint}", *overrides], out, "evaluate"))
    return metrics, json.loads((out / "evaluation.json").read_text())


def test_evaluating_the_best_checkpoint_reproduces_the_runs_test_metrics(text_run, tmp_path):
    results = text_run["results"]
    metrics, saved = run_evaluate(tmp_path, results["best_checkpoint"])
    for name in ("test/loss", "test/acc", "test/f1", "test/precision", "test/recall"):
        assert metrics[name] == pytest.approx(results["metrics"][name], abs=1e-6), name
    assert saved["confusion_matrix"] == results["test_confusion_matrix"]
    assert sum(map(sum, saved["confusion_matrix"])) == 100  # every test review, once
    assert saved["class_names"] == ["neg", "pos"]
    assert results["metrics"]["test/acc"] > 0.8  # the model learned the mood words


def test_the_validation_split_scores_as_the_best_epoch_did(text_run, tmp_path):
    results = text_run["results"]
    metrics, saved = run_evaluate(tmp_path, results["best_checkpoint"], "split=val")
    assert metrics["val/acc"] == pytest.approx(results["metrics"]["val/acc_best"], abs=1e-6)
    assert "val/acc_best" not in metrics
    assert sum(map(sum, saved["confusion_matrix"])) == 100


def test_data_settings_can_be_changed_without_changing_the_scores(text_run, tmp_path):
    results = text_run["results"]
    metrics, _ = run_evaluate(tmp_path, results["best_checkpoint"], "+data.batch_size=7")
    assert metrics["test/acc"] == pytest.approx(results["metrics"]["test/acc"], abs=1e-6)


@pytest.mark.slow
def test_a_synthetic_run_is_evaluated_from_its_checkpoint_alone(tiny_cfg, tmp_path):
    cfg = tiny_cfg()
    train(cfg)
    results = json.loads((tmp_path / "results.json").read_text())
    metrics, _ = run_evaluate(tmp_path, results["best_checkpoint"])
    assert metrics["test/acc"] == pytest.approx(results["metrics"]["test/acc"], abs=1e-6)


def test_a_wrong_split_or_checkpoint_is_refused(text_run, tmp_path):
    with pytest.raises(ValueError, match="split='train': expected one of test, val"):
        run_evaluate(tmp_path, text_run["results"]["best_checkpoint"], "split=train")
    with pytest.raises(CheckpointError, match="No checkpoint at"):
        run_evaluate(tmp_path, tmp_path / "missing.ckpt")
    old = tmp_path / "old.ckpt"
    checkpoint = torch.load(text_run["results"]["best_checkpoint"], weights_only=True)
    del checkpoint["hyper_parameters"]["data"]
    torch.save(checkpoint, old)
    with pytest.raises(CheckpointError, match="does not record the data"):
        run_evaluate(tmp_path, old)


@pytest.mark.slow
def test_evaluate_py_fails_with_a_message_and_writes_nothing_without_a_checkpoint(tmp_path):
    """In a real process, for its exit status and stderr; a missing or unreadable checkpoint
    is refused at the same point (test_a_wrong_split_or_checkpoint_is_refused)."""
    process = run_script("evaluate.py", f"paths.log_dir={tmp_path}")  # no ckpt_path at all
    assert process.returncode != 0
    assert "No checkpoint given: evaluate.py scores one, e.g. python evaluate.py ckpt_path=" in (
        process.stderr
    )
    assert "Traceback" not in process.stderr  # the message alone
    assert not list((tmp_path / "evaluations").iterdir())  # not even Hydra's .hydra/ and log


@pytest.mark.slow
def test_evaluate_py_refuses_a_file_that_is_not_a_checkpoint_with_its_message_alone(tmp_path):
    (tmp_path / "notes.ckpt").write_bytes(b"not a checkpoint")
    process = run_script(
        "evaluate.py", f"ckpt_path={tmp_path}/notes.ckpt", f"paths.log_dir={tmp_path}"
    )
    assert process.returncode != 0 and "notes.ckpt" in process.stderr
    assert "Traceback" not in process.stderr


def test_predictions_parquet_holds_every_example_by_its_index_in_the_split(text_run, tmp_path):
    """Each row's probabilities are the model's on the example its index names, although the
    loader batches the split by length (data.bucket): a wrong order would pair an example with
    another's scores."""
    checkpoint = text_run["results"]["best_checkpoint"]
    metrics, _ = run_evaluate(tmp_path, checkpoint)
    rows = pq.read_table(tmp_path / "evaluation" / "predictions.parquet").to_pylist()
    assert sorted(row["example"] for row in rows) == list(range(100))
    assert sum(row["correct"] for row in rows) / 100 == pytest.approx(metrics["test/acc"])

    data_cfg = compose_config([f"ckpt_path={checkpoint}"], tmp_path / "unused", "evaluate").data
    saved = read_checkpoint(checkpoint)
    model = load_model(saved, checkpoint).eval()
    split = build_datamodule(saved, data_cfg, checkpoint)
    split.setup("test")
    dataset = split.splits["test"]
    for row in rows:
        tokens, label = dataset[row["example"]]
        with torch.no_grad():
            logits, _ = model(tokens[None], torch.tensor([len(tokens)]))
        probabilities = model.probabilities(logits)[0]
        assert row["label"] == model.class_names[label]
        assert [row["p_neg"], row["p_pos"]] == pytest.approx(probabilities.tolist(), abs=1e-5)
        assert row["prediction"] == model.class_names[probabilities.argmax()]

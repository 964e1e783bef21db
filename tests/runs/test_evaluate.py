"""evaluate.py: a checkpoint alone reproduces the metrics its training run recorded."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import compose_config, run_script

from lstmlab.runs.checkpoints import CheckpointError
from lstmlab.runs.evaluate import evaluate
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


def test_evaluate_py_fails_with_a_message_and_writes_nothing_for_a_bad_checkpoint(tmp_path):
    process = run_script(
        "evaluate.py", f"ckpt_path={tmp_path}/none.ckpt", f"paths.log_dir={tmp_path}"
    )
    assert process.returncode != 0
    assert "No checkpoint at" in process.stderr
    assert not list(tmp_path.rglob("evaluation.json"))

"""evaluate.py calibrate=true on a deliberately over-confident model: the session's text model
(near-certain, and right on every review of its own data) scored on reviews of which every
fifth has its label flipped. The temperature fitted on validation lowers NLL and ECE there,
changes no prediction, and travels with calibrated.ckpt into predict.py and an ONNX export."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import compose_config, write_reviews

from lstmlab.runs.checkpoints import read_checkpoint
from lstmlab.runs.evaluate import evaluate
from lstmlab.serving.export import export
from lstmlab.serving.onnx_predictor import OnnxPredictor
from lstmlab.serving.predict import Predictor

TEXTS = ["a wonderful film", "dull and boring", "", "wonderful yet dull"]


@pytest.fixture(scope="module")
def noisy(tmp_path_factory):
    """Overrides that score on `write_reviews` text with every fifth label flipped."""
    folder = write_reviews(
        tmp_path_factory.mktemp("noisy") / "reviews", {"train": 400, "test": 100}
    )
    for file in folder.glob("*.parquet"):
        table = pq.read_table(file).to_pydict()
        table["label"] = [1 - y if i % 5 == 0 else y for i, y in enumerate(table["label"])]
        pq.write_table(pa.table(table), file)
    return [f"+data.path={folder}", f"+data.cache_dir={folder.parent / 'cache'}"]


def run(tmp_path, name, *overrides):
    out = tmp_path / name
    evaluate(compose_config(list(overrides), out, "evaluate"))
    evaluation = json.loads((out / "evaluation.json").read_text())
    return out, evaluation, pq.read_table(out / "predictions.parquet").to_pylist()


def test_temperature_scaling_lowers_nll_and_ece_and_changes_no_prediction(
    text_run, noisy, tmp_path
):
    checkpoint = f"ckpt_path={text_run['results']['best_checkpoint']}"
    plain, before, rows = run(tmp_path, "plain", checkpoint, *noisy)
    out, after, calibrated_rows = run(tmp_path, "calibrated", checkpoint, *noisy, "calibrate=true")
    fit = after["calibration"]
    assert fit["temperature"] > 2  # a model sure of every review, wrong on a fifth
    assert fit["val_nll"][1] < fit["val_nll"][0]
    assert fit["val_ece"][1] < fit["val_ece"][0]
    assert before["calibration"] is None
    assert after["metrics"]["test/ece"] < before["metrics"]["test/ece"]
    assert after["metrics"]["test/acc"] == before["metrics"]["test/acc"]
    by_example = {row["example"]: row["prediction"] for row in rows}
    assert all(row["prediction"] == by_example[row["example"]] for row in calibrated_rows)
    assert (out / "reliability.png").stat().st_size > 0 and (plain / "reliability.png").exists()
    assert read_checkpoint(out / "calibrated.ckpt")["calibration"] == fit
    assert not (plain / "calibrated.ckpt").exists()  # only when asked for


def test_predict_and_the_onnx_export_use_the_calibrated_temperature(text_run, noisy, tmp_path):
    checkpoint = text_run["results"]["best_checkpoint"]
    out, evaluation, _ = run(
        tmp_path, "calibrated", f"ckpt_path={checkpoint}", *noisy, "calibrate=true"
    )
    temperature = evaluation["calibration"]["temperature"]
    plain = Predictor.from_checkpoint(checkpoint)
    raw = plain(TEXTS)
    plain.model.temperature = temperature  # what the calibrated checkpoint must reproduce
    expected = plain(TEXTS)
    calibrated = Predictor.from_checkpoint(out / "calibrated.ckpt")(TEXTS)
    exported = OnnxPredictor.from_folder(export(out / "calibrated.ckpt", tmp_path / "onnx"))(TEXTS)
    for before, want, after, onnx in zip(raw, expected, calibrated, exported):
        assert after.label == before.label == onnx.label
        assert after.probabilities == want.probabilities != before.probabilities
        assert onnx.probabilities == pytest.approx(after.probabilities, abs=1e-5)
        assert (before.temperature, after.temperature) == (1.0, temperature)
        assert onnx.temperature == pytest.approx(temperature)

"""train.py on the GPU trainer preset (`trainer=gpu`), on the test device: CUDA, or the CPU
with LSTMLAB_TEST_DEVICE=cpu (the dry run of scripts/gpu_check.sh, so these cannot rot).
$LSTMLAB_TEST_IMDB, where set, points the end-to-end run at IMDB itself (the GPU check does)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from conftest import TINY, compose_config, review_overrides, write_reviews

from lstmlab.runs.train import train

pytestmark = pytest.mark.gpu


def on_device(device: torch.device) -> list[str]:
    """The GPU trainer preset, kept on the CPU for a dry run."""
    return ["trainer=gpu", *([] if device.type == "cuda" else ["trainer.accelerator=cpu"])]


def test_two_deterministic_runs_on_the_device_give_identical_metrics(gpu_test_device, tmp_path):
    tiny = [o for o in TINY if not o.startswith("trainer=")]
    overrides = [*tiny, *on_device(gpu_test_device), "trainer.deterministic=true"]
    overrides += ["model=bilstm_attn", "trainer.max_epochs=2"]
    metrics = []
    for run in ("first", "second"):
        train(compose_config(overrides, tmp_path / run))
        metrics.append(json.loads((tmp_path / run / "results.json").read_text())["metrics"])
    assert {"val/acc", "val/loss", "test/acc"} <= set(metrics[0])
    assert metrics[0] == metrics[1]


def test_train_py_on_the_gpu_preset_runs_imdb_end_to_end(gpu_test_device, tmp_path, train_py):
    imdb = os.environ.get("LSTMLAB_TEST_IMDB")
    if imdb:  # IMDB itself: one epoch of the default BiLSTM + attention
        data = [*review_overrides(Path(imdb), tmp_path / "cache"), "data.val_size=5000"]
        data += ["data.batch_size=64"]
    else:  # a dry run: reviews told by one word
        reviews = write_reviews(tmp_path / "reviews", {"train": 300, "test": 60})
        data = [
            *review_overrides(reviews, tmp_path / "cache", val_size=60),
            "model.encoder.embed_dim=16",
        ]
    run_dir = tmp_path / "e2e_run"  # scripts/gpu_check.py reports its results.json
    result = train_py(
        *data,
        *on_device(gpu_test_device),
        "trainer.max_epochs=1",
        "callbacks.progress_bar=null",
        f"hydra.run.dir={run_dir}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((run_dir / "results.json").read_text())
    assert 0.0 <= results["metrics"]["test/acc"] <= 1.0 and results["best_checkpoint"]
    assert len(results["timing"]["train_epoch_s"]) == 1
    assert ("peak_gpu_mb" in results["timing"]) == (gpu_test_device.type == "cuda")
    if imdb:  # one epoch of BiLSTM + attention scores about 83 %: it learned, far above chance
        assert results["metrics"]["val/acc"] > 0.75

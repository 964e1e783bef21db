"""Semi-supervised training through train.py on the synthetic task with hidden labels: it runs
with every loss term on, logs each, and a run killed mid-epoch continues exactly (both the
labelled and the unlabelled stream's positions come back from the checkpoint)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import crash_at_step

from lstmlab.runs.train import train

SEMI_SUPERVISED = [
    "data.hidden_labels=0.5",  # 128 labelled sequences: 4 steps an epoch
    "data.unlabelled_ratio=1.5",  # 48 unlabelled ones a step, from a pool of 256
    "objective.adversarial_eps=0.5",
    "objective.vat_eps=1.0",
    "objective.entropy_weight=0.3",
    "model.dropout=0.5",
    "~callbacks.early_stopping",
    "logger=csv",
]


def logged_columns(run: Path) -> set[str]:
    return set(next(run.rglob("metrics.csv")).read_text().splitlines()[0].split(","))


def test_semi_supervised_training_runs_end_to_end_and_logs_every_term(tiny_cfg, tmp_path):
    assert 0 <= train(tiny_cfg(*SEMI_SUPERVISED)) <= 1
    terms = {f"train/{name}_epoch" for name in ("adversarial_loss", "vat_loss", "entropy_loss")}
    assert terms <= logged_columns(tmp_path)
    assert json.loads((tmp_path / "results.json").read_text())["metrics"]["test/acc"] >= 0


@pytest.mark.slow
def test_a_run_with_unlabelled_batches_continues_exactly_from_a_mid_epoch_checkpoint(
    tiny_cfg, tmp_path, monkeypatch
):
    options = [*SEMI_SUPERVISED, "trainer.max_epochs=3"]
    options.append("callbacks.last_checkpoint.every_n_train_steps=3")
    uninterrupted = tiny_cfg(*options)
    uninterrupted.paths.output_dir = str(tmp_path / "uninterrupted")
    train(uninterrupted)
    with monkeypatch.context() as patch:
        crash_at_step(patch, 6)  # no checkpoint after the last one written
        with pytest.raises(RuntimeError, match="killed"):
            train(tiny_cfg(*options))
    last = tmp_path / "checkpoints" / "last.ckpt"
    state = torch.load(last, weights_only=True)
    assert state["epoch"] == 1 and state["global_step"] == 6  # batch 2 of 4 in epoch 1
    positions = state["loops"]["fit_loop"]["state_dict"]["combined_loader"]
    assert positions == [{"epoch": 1, "batches": 2}] * 2  # labelled, unlabelled
    train(tiny_cfg(*options, f"ckpt_path={last}"))

    runs = (tmp_path, tmp_path / "uninterrupted")
    results = [json.loads((run / "results.json").read_text())["metrics"] for run in runs]
    assert results[0] == results[1]
    weights = [torch.load(run / "checkpoints" / "last.ckpt")["state_dict"] for run in runs]
    assert all(torch.equal(weights[0][name], weights[1][name]) for name in weights[1])

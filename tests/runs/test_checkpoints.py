"""Reading checkpoints: safely (weights_only), and with a clear error for every bad file."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lstmlab.runs.checkpoints import CheckpointError, load_model, read_checkpoint


class NotPlainData:  # torch.save pickles it; weights_only loading must refuse it
    pass


@pytest.fixture
def good(text_run) -> dict:
    return torch.load(text_run["results"]["best_checkpoint"], weights_only=True)


def test_a_run_checkpoint_loads_into_a_model_that_predicts_as_trained(text_run, good):
    checkpoint = read_checkpoint(text_run["results"]["best_checkpoint"])
    model = load_model(checkpoint)
    assert not model.training
    assert model.class_names == ["neg", "pos"]
    assert all(torch.equal(v, good["state_dict"][k]) for k, v in model.state_dict().items())


def test_truncated_and_foreign_files_are_refused(text_run, tmp_path):
    data = Path(text_run["results"]["best_checkpoint"]).read_bytes()
    (tmp_path / "truncated.ckpt").write_bytes(data[: len(data) // 2])
    (tmp_path / "notes.ckpt").write_text("not a checkpoint")
    torch.save({"payload": NotPlainData()}, tmp_path / "pickle.ckpt")
    for name in ("truncated", "notes", "pickle"):
        with pytest.raises(CheckpointError, match="could not be read as a checkpoint"):
            read_checkpoint(tmp_path / f"{name}.ckpt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "tensors.ckpt")
    with pytest.raises(CheckpointError, match=r"not a checkpoint written by train\.py"):
        read_checkpoint(tmp_path / "tensors.ckpt")
    with pytest.raises(CheckpointError, match="No checkpoint at"):
        read_checkpoint(tmp_path / "missing.ckpt")


def test_a_model_from_another_vocabulary_or_architecture_is_refused(good):
    other_vocabulary = {**good, "hyper_parameters": {**good["hyper_parameters"], "vocab_size": 99}}
    with pytest.raises(CheckpointError, match="assembled from different runs"):
        load_model(other_vocabulary)
    wider = {**good, "hyper_parameters": {**good["hyper_parameters"], "hidden_size": 32}}
    with pytest.raises(CheckpointError, match="cannot rebuild"):
        load_model(wider)

"""Reading checkpoints: safely (weights_only), and with a clear error for every bad file."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from lstmlab.models.lit_module import ClassifierModule
from lstmlab.runs.checkpoints import (
    CheckpointError,
    check_shapes,
    load_model,
    read_checkpoint,
    settings,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


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


def with_net(checkpoint: dict, **changes) -> dict:
    """`checkpoint` whose network config has `changes` (`encoder__hidden_size`: a nested key)."""
    changed = copy.deepcopy(checkpoint)
    for key, value in changes.items():
        *path, last = key.split("__")
        place = changed["hyper_parameters"]["net"]
        for part in path:
            place = place[part]
        place[last] = value
    return changed


def test_a_model_from_another_vocabulary_or_architecture_is_refused(good):
    with pytest.raises(CheckpointError, match="assembled from different runs"):
        load_model(with_net(good, vocab_size=99))
    with pytest.raises(CheckpointError, match="cannot rebuild"):
        load_model(with_net(good, encoder__hidden_size=32))


def test_an_old_checkpoint_fits_the_model_of_its_own_settings():
    """Continuing (`ckpt_path=`) from a checkpoint of the old layout: its weights' old names
    (`net.lstm.*`) are compared as they load, not refused as another architecture."""
    path = FIXTURES / "classifier_89da58f.ckpt"
    checkpoint = read_checkpoint(path)
    check_shapes(checkpoint, ClassifierModule(**settings(checkpoint)), path)


def test_an_old_checkpoint_of_other_shapes_names_the_setting_in_todays_spelling():
    path = FIXTURES / "classifier_89da58f.ckpt"
    checkpoint = read_checkpoint(path)
    wider = read_checkpoint(path)
    wider["hyper_parameters"]["hidden_size"] *= 2
    with pytest.raises(CheckpointError, match=r"model\.encoder\.hidden_size 8 in the checkpoint"):
        check_shapes(checkpoint, ClassifierModule(**settings(wider)), path)


def test_a_checkpoint_whose_network_names_something_other_than_a_module_is_refused(good):
    for target in ("os.system", "no.such.Module"):
        forged = with_net(good, encoder___target_=target)
        with pytest.raises(CheckpointError, match=rf"_target_: {target}"):
            load_model(forged)

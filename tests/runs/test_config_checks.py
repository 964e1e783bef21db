"""Config checks before any work (config_checks.py): unknown top-level keys, the seed,
optimiser values torch refuses, and runs that would train nothing."""

from __future__ import annotations

import pytest
from conftest import TINY, compose_config, run_script

from lstmlab.runs.config_checks import check_config, check_spelling, known_keys


def test_known_keys_are_the_primary_configs_keys_and_groups():
    assert {"seed", "ckpt_path", "test", "model", "data", "experiment", "local"} <= set(
        known_keys("train")
    )
    assert {"split", "ckpt_path", "data"} <= set(known_keys("evaluate"))
    assert "model" not in known_keys("evaluate")
    assert {"lm", "model"} <= set(known_keys("pretrain"))


def test_legitimate_additions_pass(tmp_path):
    check_config(compose_config([*TINY, "+trainer.limit_val_batches=2"], tmp_path), "train")
    evaluate = ["ckpt_path=x.ckpt", "+data.batch_size=7", "+data.labels=[a,b]"]
    check_config(compose_config(evaluate, tmp_path, "evaluate"), "evaluate")
    check_config(compose_config(["trainer.max_epochs=1"], tmp_path, "pretrain"), "pretrain")
    check_config(compose_config(["experiment=synthetic_pooling"], tmp_path), "train")


@pytest.mark.parametrize(
    ("name", "overrides", "message"),
    [
        ("train", ["+modle=bilstm"], r"Unknown top-level key modle \(did you mean model\?\): "),
        ("evaluate", ["ckpt_path=x", "+splt=val"], r"splt \(did you mean split\?\): evaluate"),
        ("pretrain", ["+lm_dropout=0.2"], r"Unknown top-level key lm_dropout"),
    ],
)
def test_an_unknown_top_level_key_is_refused_listing_the_known_ones(
    tmp_path, name, overrides, message
):
    with pytest.raises(ValueError, match=message) as refused:
        check_config(compose_config(overrides, tmp_path, name), name)
    assert ", ".join(known_keys(name)) in str(refused.value)


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        (["seed=abc"], TypeError, r"seed='abc': expected an integer"),
        (["optimizer.lr=-1"], ValueError, r"optimizer\.lr=-1: torch\.optim\.Adam refuses it"),
        (["optimizer.weight_decay=-1"], ValueError, r"optimizer\.weight_decay=-1: "),
        (["optimizer=sgd", "optimizer.momentum=-1"], ValueError, r"optimizer\.momentum=-1: "),
        (["trainer.max_epochs=0"], ValueError, r"trainer\.max_epochs=0: the run would train"),
        (["optimizer.lr=0"], ValueError, r"optimizer\.lr=0: the weights would never change"),
        (["optimizer=sgd", "optimizer.lr=0.0"], ValueError, r"optimizer\.lr=0\.0: the weights"),
        (["+trainer.max_steps=0"], ValueError, r"trainer\.max_steps=0: the run would train"),
        (["+trainer.limit_train_batches=0.0"], ValueError, r"limit_train_batches=0\.0: the"),
        (
            ["scheduler=warmup_cosine", "scheduler.scheduler.warmup_steps=0"],
            ValueError,
            r"scheduler\.scheduler\.warmup_steps=0: expected at least 1",
        ),
    ],
)
def test_values_a_library_would_refuse_deep_inside_name_the_key(
    tmp_path, overrides, error, message
):
    with pytest.raises(error, match=message):
        check_config(compose_config([*TINY, *overrides], tmp_path), "train")


@pytest.mark.slow
def test_train_py_refused_before_or_after_the_data_is_read_writes_nothing(train_py, tmp_path):
    """One refusal of each stage in a real process (its exit status and stderr); the other
    checks of a stage end the same way and are tested in this process above."""
    for overrides, message in [
        (["+modle=bilstm"], "Unknown top-level key modle (did you mean model?)"),
        (["data.batch_size=1000"], "data.batch_size=1000 is larger than the training split"),
    ]:
        process = train_py(*TINY, *overrides, f"paths.log_dir={tmp_path}")
        assert process.returncode != 0
        assert message in process.stderr
        assert not list((tmp_path / "runs").iterdir())  # no run folder: nothing was written


@pytest.mark.slow
def test_pretrain_py_refused_before_training_leaves_no_run_folder(tmp_path):
    overrides = ["scheduler=warmup_cosine", "scheduler.scheduler.warmup_steps=0"]
    process = run_script("pretrain.py", *overrides, f"paths.log_dir={tmp_path}")
    assert process.returncode != 0
    assert "scheduler.scheduler.warmup_steps=0: expected at least 1" in process.stderr
    assert not list((tmp_path / "pretrain").iterdir())  # not even Hydra's .hydra/ and log


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("model.pooling=max", "model/pooling=max"),
        ("model.hidden_size=256", "model.encoder.hidden_size=256"),
        ("model.adversarial_eps=1", "objective.adversarial_eps=1"),
    ],
)
def test_the_old_model_spelling_is_refused_with_the_new_one(old, new):
    with pytest.raises(ValueError, match="old spelling") as refusal:
        check_spelling([old])
    assert new in str(refusal.value)
    check_spelling([new])  # the new spelling passes

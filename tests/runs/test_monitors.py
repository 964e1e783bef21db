"""Monitored metric names checked before training (runs/monitors.py): a typo in a callback's
`monitor`, the scheduler's or `optimized_metric` is refused before anything is written."""

from __future__ import annotations

import pytest
from conftest import TINY

from lstmlab.runs.train import train


@pytest.mark.slow
@pytest.mark.parametrize(
    ("override", "close"),
    [
        ("callbacks.early_stopping.monitor=val/acc_typo", "val/acc"),
        ("callbacks.model_checkpoint.monitor=val/los", "val/loss"),
    ],
)
def test_train_py_refuses_a_monitor_typo_before_writing_anything(
    train_py, tmp_path, override, close
):
    process = train_py(*TINY, override, f"paths.log_dir={tmp_path}")
    key, value = override.split("=")
    assert process.returncode != 0
    assert f"{key}={value}" in process.stderr and close in process.stderr
    assert "Traceback" not in process.stderr
    assert "Epoch" not in process.stdout + process.stderr  # refused before any training
    assert not list((tmp_path / "runs").iterdir())  # no run folder, so no checkpoint


@pytest.mark.parametrize(
    ("override", "close"),
    [
        ("optimized_metric=val/acc_bset", "val/acc_best"),
        ("scheduler=plateau scheduler.monitor=val/los", "val/loss"),
        (
            "callbacks=[default,time_to_accuracy] callbacks.time_to_accuracy.monitor=val/ac",
            "val/acc",
        ),
    ],
)
def test_every_watched_name_is_checked_naming_the_key_and_the_closest_names(
    tiny_cfg, tmp_path, override, close
):
    *choices, watched = override.split()
    with pytest.raises(ValueError, match="no metric of that name") as refused:
        train(tiny_cfg(*choices, watched))
    assert watched in str(refused.value)
    assert f"did you mean {close}" in str(refused.value)
    assert not list(tmp_path.iterdir())  # refused before anything is written

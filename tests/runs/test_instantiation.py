"""Loggers of a continued run (instantiation.py, conf/logger/): a run resumed or requeued in its
folder logs into the tracker run it started there, W&B by an id derived from the folder and
MLflow by the run tagged with it."""

from __future__ import annotations

import pytest
from conftest import compose_config

from lstmlab.runs.instantiation import build_loggers


@pytest.mark.slow  # MLflow builds its database: most of a minute on two cores
def test_a_continued_run_logs_into_the_mlflow_run_its_folder_started(tmp_path):
    pytest.importorskip("mlflow")
    tracking = [f"logger.mlflow.tracking_uri=sqlite:///{tmp_path}/mlflow.db"]
    first = compose_config(["logger=mlflow", *tracking], tmp_path / "run").logger
    (started,) = build_loggers(first, resumed_at=None)
    started.log_metrics({"val/acc": 0.5}, step=3)
    (continued,) = build_loggers(first, resumed_at=3)
    assert continued.run_id == started.run_id
    other = compose_config(["logger=mlflow", *tracking], tmp_path / "other").logger
    (elsewhere,) = build_loggers(other, resumed_at=3)  # no run of its own yet: a new one
    assert elsewhere.run_id != started.run_id


def test_the_wandb_run_id_follows_the_run_folder(tmp_path):
    ids = [compose_config(["logger=wandb"], tmp_path / name).logger.wandb for name in "aab"]
    assert ids[0].id == ids[1].id != ids[2].id and ids[0].resume == "allow"

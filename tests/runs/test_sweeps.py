"""Scaling a sweep out with Hydra's own plugins: joblib on one machine, submitit on SLURM, and
Optuna's sweeper for a hyperparameter search."""

from __future__ import annotations

import json

import optuna
import pytest
import yaml
from conftest import TINY, compose_config, run_script
from hydra.utils import instantiate


@pytest.mark.slow
def test_the_parallel_launcher_runs_two_jobs_at_once(tmp_path):
    sweep = tmp_path / "sweep"
    process = run_script(
        "train.py",
        "-m",
        *TINY,
        "hydra/launcher=parallel",
        "model/pooling=max,mean",
        f"hydra.sweep.dir={sweep}",
    )
    assert process.returncode == 0, process.stderr[-2000:]
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert len(jobs) == 2
    starts, ends, pids = [], [], set()
    for job in jobs:
        events = list(job.glob("events.out.tfevents.*"))  # ...tfevents.<time>.<host>.<pid>.<n>
        starts.append(min(int(e.name.split(".")[3]) for e in events))
        pids |= {e.name.split(".")[5] for e in events}
        ends.append((job / "results.json").stat().st_mtime)
    assert len(pids) == 2  # two worker processes
    assert max(starts) < min(ends)  # each started before the other finished


def test_the_slurm_launcher_composes_with_its_keys(tmp_path):
    """Hydra's submitit plugin takes every key conf/hydra/launcher/slurm.yaml sets (building
    the launcher submits nothing)."""
    overrides = ["hydra/launcher=slurm", "hydra.launcher.partition=gpu"]
    launcher = instantiate(compose_config(overrides, tmp_path, with_hydra=True).hydra.launcher)
    assert type(launcher).__name__ == "SlurmLauncher"
    assert launcher.params["partition"] == "gpu" and launcher.params["timeout_min"] == 120


@pytest.mark.slow
def test_the_optuna_search_runs_its_trials_and_continues_a_stored_study(tmp_path):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    for sweep in ("first", "second"):
        process = run_script(
            "train.py",
            "hparams_search=optuna",
            *TINY,
            "hydra.sweeper.n_trials=2",
            f"hydra.sweeper.storage={storage}",
            f"hydra.sweep.dir={tmp_path / sweep}",
        )
        assert process.returncode == 0, process.stderr[-2000:]
    trials = sorted(p for p in (tmp_path / "first").iterdir() if p.is_dir())
    assert len(trials) == 2  # one run folder per trial, as in any multirun
    scores = [
        json.loads((t / "results.json").read_text())["metrics"]["val/acc_best"] for t in trials
    ]
    best = yaml.safe_load((tmp_path / "first" / "optimization_results.yaml").read_text())
    assert best["best_value"] == max(scores)  # optimised on validation, as optimized_metric says
    # the searched keys, less model.hidden_size: a command-line value (TINY's) fixes a key
    assert set(best["best_params"]) == {"optimizer.lr", "model.dropout", "model.pooling"}
    study = optuna.load_study(study_name="lstmlab", storage=storage)
    assert len(study.trials) == 4  # the second search continued the stored study

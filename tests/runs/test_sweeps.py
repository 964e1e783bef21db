"""Scaling a sweep out with Hydra's own plugins: joblib on one machine, submitit on SLURM (Optuna
searches: test_search.py); a grid sweep re-run into its folder continues it."""

from __future__ import annotations

import json

import pytest
from conftest import TINY, compose_config, run_script
from hydra.utils import instantiate
from test_resume import files_of
from test_train import finished_as_uninterrupted, start_train_py, wait_for_checkpoint

from lstmlab.reporting.compare import main as compare_main
from lstmlab.reporting.hparams import EVENT_FILE  # the HPARAMS records, named by no process


@pytest.mark.slow
def test_the_parallel_launcher_runs_two_jobs_at_once(tmp_path):
    sweep = tmp_path / "sweep"
    process = run_script(
        "train.py",
        "-m",
        *TINY,
        "hydra/launcher=parallel",
        "model.pooling=max,mean",
        f"hydra.sweep.dir={sweep}",
    )
    assert process.returncode == 0, process.stderr[-2000:]
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert len(jobs) == 2
    starts, ends, pids = [], [], set()
    for job in jobs:
        events = [e for e in job.glob("events.out.tfevents.*") if e.name != EVENT_FILE]
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
def test_a_killed_grid_sweep_re_run_into_its_folder_runs_only_what_is_left(tmp_path):
    sweep = tmp_path / "sweep"
    options = [*TINY, "~callbacks.early_stopping", "trainer.max_epochs=2", "data.num_samples=512"]
    command = ["-m", *options, "seed=1,2,3,4", f"hydra.sweep.dir={sweep}"]
    process = start_train_py(*command)
    wait_for_checkpoint(sweep / "seed-3_2" / "checkpoints" / "last.ckpt")  # job 2's first epoch
    process.kill()  # SIGKILL, mid-sweep: jobs 0 and 1 finished, job 2 stopped, job 3 not started
    process.communicate(timeout=60)
    assert [(sweep / f"seed-{n + 1}_{n}" / "results.json").exists() for n in range(4)] == [
        True, True, False, False
    ]  # fmt: skip
    before = files_of(sweep)

    other = run_script("train.py", "-m", *options, "optimizer.lr=0.01", "seed=1,2,3,4",
                       f"hydra.sweep.dir={sweep}")  # fmt: skip
    assert other.returncode != 0 and "holds another sweep" in other.stderr
    assert "only in this one: optimizer.lr=0.01" in other.stderr and "Traceback" not in other.stderr
    assert files_of(sweep) == before  # refused before any job wrote

    again = run_script("train.py", f"resume={sweep}")  # = the same command again
    assert again.returncode == 0, again.stderr[-3000:]
    assert "2 of 4 jobs finished (skipped)" in again.stdout + again.stderr
    after = files_of(sweep)
    for finished in ("seed-1_0", "seed-2_1"):  # not touched, not even their .hydra/ or log
        assert {f: c for f, c in after.items() if f.startswith(finished)} == {
            f: c for f, c in before.items() if f.startswith(finished)
        }
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == [
        "seed-1_0", "seed-2_1", "seed-3_2", "seed-4_3"
    ]  # fmt: skip
    assert "Continuing the run in" in (sweep / "seed-3_2" / "train.log").read_text()
    finished_as_uninterrupted(sweep / "seed-3_2", 2, [*options, "seed=3"], tmp_path)
    assert json.loads((sweep / "seed-4_3" / "results.json").read_text())["epochs"] == 2


@pytest.mark.slow
def test_a_fold_sweep_reports_each_configurations_mean_over_its_folds(tmp_path):
    sweep = tmp_path / "sweep"
    folds = ["data.folds=5", "data.fold=0,1,2,3,4"]
    process = run_script("train.py", "-m", *TINY, *folds, f"hydra.sweep.dir={sweep}")
    assert process.returncode == 0, process.stderr[-3000:]
    sizes = {json.loads((job / "results.json").read_text())["epochs"] for job in sweep.iterdir()
             if job.is_dir()}  # fmt: skip
    assert len(list(sweep.glob("*/results.json"))) == 5 and sizes == {1}
    assert compare_main([str(sweep)]) == 0  # scripts/compare.py, in this process
    markdown = (sweep / "compare.md").read_text()
    assert "| (defaults) | 5 |" in markdown  # one configuration, its five folds pooled
    assert "n/a (1 seed)" not in markdown  # an interval over the folds

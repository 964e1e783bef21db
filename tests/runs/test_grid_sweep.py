"""The grid sweeper's plan (grid_sweep.py) without running jobs: which jobs a re-run launches,
and the folders it refuses (tests/runs/test_sweeps.py runs a killed sweep again end to end)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from lstmlab.runs.grid_sweep import SweepRefused, contiguous, plan

SWEEP = ["seed=1,2,3", "optimizer.lr=0.1"]
JOBS = [[f"seed={s}", "optimizer.lr=0.1"] for s in (1, 2, 3)]


def job(sweep: Path, num: int, results: bool) -> Path:
    """A job folder as Hydra and train.py leave it (no checkpoints kept)."""
    folder = sweep / f"seed-{num + 1}_{num}"
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump({"hydra": {"job": {"num": num}}}))
    if results:
        (folder / "results.json").write_text(json.dumps({"metrics": {}, "global_step": 8}))
    return folder


def test_a_re_run_launches_only_the_unfinished_jobs_under_their_numbers(tmp_path):
    assert plan(tmp_path / "new", JOBS, SWEEP).run == [0, 1, 2]  # a new sweep: every job
    (tmp_path / "multirun.yaml").write_text(
        yaml.safe_dump({"hydra": {"overrides": {"task": SWEEP}}})
    )
    job(tmp_path, 0, results=True)
    (job(tmp_path, 1, results=True) / "results.json").write_text('{"metrics": {')  # cut short
    again = plan(tmp_path, JOBS, SWEEP)
    assert again.run == [1, 2] and "1 of 3 jobs finished (skipped)" in again.summary
    assert contiguous([1, 2, 4, 5, 6, 9], None) == [(1, 2), (4, 3), (9, 1)]
    assert contiguous([4, 5, 6], 2) == [(4, 2), (6, 1)]  # batches of at most max_batch_size


def test_another_sweep_or_a_folder_of_runs_is_refused(tmp_path):
    (tmp_path / "multirun.yaml").write_text(
        yaml.safe_dump({"hydra": {"overrides": {"task": SWEEP}}})
    )
    other = ["seed=1,2,3", "optimizer.lr=0.5"]
    with pytest.raises(SweepRefused, match=r"only in this one: optimizer.lr=0.5") as refused:
        plan(tmp_path, JOBS, other)
    assert f"resume={tmp_path}" in str(refused.value)
    runs = tmp_path / "runs"
    job(runs, 0, results=True)
    with pytest.raises(SweepRefused, match="holds runs but no sweep"):
        plan(runs, JOBS, SWEEP)

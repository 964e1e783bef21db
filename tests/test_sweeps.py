"""Scaling a sweep out with Hydra's own launchers: joblib on one machine, submitit on SLURM."""

from __future__ import annotations

from conftest import TINY, run_script


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
        events = list(job.glob("events.out.tfevents.*"))  # ...tfevents.<time>.<host>.<pid>.<n>
        starts.append(min(int(e.name.split(".")[3]) for e in events))
        pids |= {e.name.split(".")[5] for e in events}
        ends.append((job / "results.json").stat().st_mtime)
    assert len(pids) == 2  # two worker processes
    assert max(starts) < min(ends)  # each started before the other finished


def test_the_slurm_launcher_composes_with_its_keys():
    process = run_script(
        "train.py", "hydra/launcher=slurm", "hydra.launcher.partition=gpu", "--cfg", "hydra"
    )
    assert process.returncode == 0, process.stderr[-2000:]
    assert "SlurmLauncher" in process.stdout
    assert "partition: gpu" in process.stdout and "timeout_min: 120" in process.stdout

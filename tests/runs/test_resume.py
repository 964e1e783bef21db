"""`python train.py resume=<run folder>`: a finished run is left alone, a moved one continues in
its new place, a refused resume leaves the run as it was, and one process writes a run."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import ROOT, TINY, run_script
from test_train import (
    finished_as_uninterrupted,
    start_train_py,
    validated_steps,
    wait_for_checkpoint,
)

from lstmlab.runs.train import main as train_main


def files_of(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` with its content."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_a_finished_run_is_left_alone_and_trains_on_in_a_moved_folder(
    tmp_path, monkeypatch, capsys
):
    run = tmp_path / "run"
    options = [*TINY, "~callbacks.early_stopping", "trainer.max_epochs=2"]
    assert run_script("train.py", *options, f"hydra.run.dir={run}").returncode == 0
    finished = json.loads((run / "results.json").read_text())
    before = files_of(run)

    # what a cluster requeueing the job runs, through train.py's main() here: `resume=` is
    # read before Hydra starts, and a finished run returns (exit status 0)
    monkeypatch.setattr(sys, "argv", ["train.py", f"resume={run}"])
    assert train_main() is None
    again = capsys.readouterr().out
    assert "the run finished" in again and "nothing was changed" in again
    assert files_of(run) == before  # results, checkpoints, events, .hydra: all untouched

    refused = run_script("train.py", f"resume={run}", "trainer.max_epochs=3", "seed=abc")
    assert refused.returncode != 0 and "seed" in refused.stderr
    assert files_of(run) == {**before, "train.log": files_of(run)["train.log"]}  # log: why

    moved = tmp_path / "elsewhere" / "run"
    moved.parent.mkdir()
    shutil.move(run, moved)  # the checkpoints' saved paths now name a folder that is gone
    longer = run_script("train.py", f"resume={moved}", "trainer.max_epochs=4")
    assert longer.returncode == 0, longer.stderr[-3000:]
    results = json.loads((moved / "results.json").read_text())
    assert results["epochs"] == 4 and set(results["metrics"]) == set(finished["metrics"])
    timing = results["timing"]["train_epoch_s"]  # every epoch, those before the resume too
    assert len(timing) == 4 and timing[:2] == finished["timing"]["train_epoch_s"]
    assert Path(results["best_checkpoint"]).parent == moved / "checkpoints"
    assert not run.exists()


@pytest.mark.slow
def test_a_second_process_is_refused_while_the_run_trains_and_ctrl_c_stops_it(tmp_path):
    run, options = tmp_path / "run", [*TINY, "~callbacks.early_stopping"]
    options.append("data.num_samples=1024")  # 32 steps an epoch: Ctrl-C most likely mid-epoch
    process = start_train_py(*options, "trainer.max_epochs=500", f"hydra.run.dir={run}")
    last = run / "checkpoints" / "last.ckpt"
    wait_for_checkpoint(last)
    before = files_of(run / ".hydra")

    second = run_script("train.py", f"resume={run}", "trainer.max_epochs=3")
    assert second.returncode != 0
    assert f"is being written by process {process.pid} on host" in second.stderr
    assert files_of(run / ".hydra") == before  # refused before Hydra wrote anything

    written = last.stat().st_mtime_ns
    process.send_signal(signal.SIGINT)  # Ctrl-C
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 130, output[-3000:]
    assert "Stopped by Ctrl-C (SIGINT) at step" in output and f"resume={run}" in output
    state = torch.load(last, weights_only=True)
    assert last.stat().st_mtime_ns > written and state["global_step"] > 0  # saved on Ctrl-C
    assert not (run / "run.lock").exists()  # released at exit


@pytest.mark.slow
def test_slurms_requeue_signal_ends_in_an_exact_resume_in_the_same_folder(tmp_path):
    """SIGUSR1 in a SLURM batch job (Lightning's SLURMEnvironment on): the run stops after the
    batch with a checkpoint and requeues the job; SLURM starting the job again (same command,
    same environment) continues the run in its folder, as one TensorBoard run."""
    stub = tmp_path / "bin" / "scontrol"  # records the requeue instead of asking SLURM
    stub.parent.mkdir()
    stub.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path / "scontrol.log"}\n')
    stub.chmod(0o755)
    slurm = {"SLURM_JOB_ID": "4242", "SLURM_NTASKS": "1", "SLURM_JOB_NAME": "lstmlab"}
    slurm |= {"SLURM_PROCID": "0", "SLURM_LOCALID": "0", "SLURM_NODEID": "0"}
    env = {**os.environ, **slurm, "PATH": f"{stub.parent}:{os.environ['PATH']}"}
    options = [*TINY, "~callbacks.early_stopping", "model.dropout=0.5", "data.num_samples=1024"]
    command = [sys.executable, "train.py", *options, "trainer.max_epochs=3"]
    command.append(f"paths.log_dir={tmp_path / 'logs'}")

    job = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True,
                           stderr=subprocess.STDOUT)  # fmt: skip
    last = tmp_path / "logs" / "runs" / "*" / "checkpoints" / "last.ckpt"
    while not list(tmp_path.glob(str(last.relative_to(tmp_path)))):
        assert job.poll() is None, job.stdout.read()[-3000:]
        time.sleep(0.05)
    (last,) = tmp_path.glob(str(last.relative_to(tmp_path)))
    wait_for_checkpoint(last)  # the first epoch's end
    job.send_signal(signal.SIGUSR1)
    output, _ = job.communicate(timeout=300)
    assert job.returncode == 138, output[-3000:]
    assert "Stopped by SLURM's requeue signal (SIGUSR1)" in output
    assert (tmp_path / "scontrol.log").read_text() == "requeue 4242\n"
    run = last.parent.parent
    assert run.name.startswith("slurm-4242")

    again = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-3000:]
    assert [p.name for p in run.parent.iterdir()] == [run.name]  # the same folder
    finished_as_uninterrupted(run, 3, options, tmp_path)
    assert validated_steps(run) == validated_steps(tmp_path / "once")  # one TensorBoard run

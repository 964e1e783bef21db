"""`python train.py resume=<run folder>`: a finished run is left alone, a moved one continues in
its new place, a refused resume leaves the run as it was, and one process writes a run."""

from __future__ import annotations

import json
import shutil
import signal
import sys
from pathlib import Path

import pytest
import torch
from conftest import TINY, run_script
from test_train import start_train_py, wait_for_checkpoint

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

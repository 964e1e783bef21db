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
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import yaml
from conftest import CONF_DIR, ROOT, TINY, run_script
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from test_train import (
    finished_as_uninterrupted,
    start_train_py,
    validated_steps,
    wait_for_checkpoint,
)

from lstmlab.models.lit_module import ClassifierModule
from lstmlab.runs.resume import ResumeError, expand_resume
from lstmlab.runs.train import main as train_main


def saved_run(run: Path, overrides: list[str], config_dir: Path | None = None) -> Path:
    """A run folder as train.py leaves one mid-run, without training: `.hydra/` (the composed
    config, the overrides, the config sources) and a `last.ckpt`."""
    search = [f"hydra.searchpath=[file://{config_dir}]"] if config_dir else []
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        config = compose("train", [*overrides, *search])
    sources = [{"path": str(CONF_DIR), "schema": "file", "provider": "main"}]
    if config_dir:
        sources.append({"path": str(config_dir), "schema": "file", "provider": "command-line"})
    hydra = {"hydra": {"runtime": {"config_sources": sources}, "job": {"config_name": "train"}}}
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").write_text(OmegaConf.to_yaml(config))
    (run / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    (run / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump(hydra))
    (run / "checkpoints").mkdir()
    torch.save({"global_step": 3}, run / "checkpoints" / "last.ckpt")
    return run


def test_resume_refuses_settings_that_would_train_another_run_naming_both_values(tmp_path):
    run = saved_run(tmp_path / "run", TINY)
    other = ["data.seed=99", "data.num_samples=512", "optimizer.lr=0.5", "seed=7"]
    with pytest.raises(ResumeError) as refused:
        expand_resume([f"resume={run}", "trainer.max_epochs=5", *other])
    message = str(refused.value)
    for key, was, now in [("data.num_samples", 256, 512), ("optimizer.lr", 0.001, 0.5)]:
        assert f"{key}: {was!r} in the run, {now!r} now" in message
    assert "data.seed:" in message and "seed:" in message  # `${seed}` and 42 in the run
    assert "trainer.max_epochs:" not in message  # may change: said, not refused
    assert "optimizer.lr=0.001" in message  # the run's own values, to give back


def test_resume_says_what_changes_and_allows_how_long_where_and_what_it_reports(tmp_path, capsys):
    run = saved_run(tmp_path / "run", TINY)
    args = expand_resume([f"resume={run}", "trainer.max_epochs=5", "logger=csv"])
    assert args[-2:] == ["trainer.max_epochs=5", "logger=csv"]
    said = capsys.readouterr().out
    assert "trainer.max_epochs 1 -> 5" in said and "logger." in said


def test_resume_composes_from_the_config_dir_the_run_was_started_with(tmp_path):
    mine = tmp_path / "my_conf"
    (mine / "data").mkdir(parents=True)
    (mine / "data" / "held_x.yaml").write_text("defaults:\n  - synthetic\nnum_samples: 128\n")
    run = saved_run(tmp_path / "run", [*TINY, "data=held_x"], config_dir=mine)
    args = expand_resume([f"resume={run}", "trainer.max_epochs=2"])
    assert args[0] == f"--config-dir={mine}"
    with pytest.raises(ResumeError, match=r"data.num_samples: 256 in the run, 128 now"):
        expand_resume([f"resume={run}", "data.num_samples=128"])  # compared all the same
    mine.rename(tmp_path / "moved")
    with pytest.raises(ResumeError, match=rf"--config-dir {mine}, which is gone"):
        expand_resume([f"resume={run}"])


@pytest.mark.slow
def test_a_run_started_with_config_dir_continues_with_the_printed_command(tmp_path, monkeypatch):
    mine, run = tmp_path / "my_conf", tmp_path / "run"
    (mine / "data").mkdir(parents=True)
    (mine / "data" / "held_x.yaml").write_text("defaults:\n  - synthetic\nnum_samples: 128\n")
    options = [o for o in TINY if not o.startswith("data=")]
    started = ["--config-dir", str(mine), "data=held_x", *options, f"hydra.run.dir={run}"]
    for args in (started, [f"resume={run}", "trainer.max_epochs=2"]):
        monkeypatch.setattr(sys, "argv", ["train.py", *args])
        train_main()  # in this process: Hydra reads sys.argv as in `python train.py ...`
    results = json.loads((run / "results.json").read_text())
    assert results["epochs"] == 2 and len(results["timing"]["train_epoch_s"]) == 2


def files_of(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` with its content."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def sigterm_in(
    monkeypatch: pytest.MonkeyPatch, step: str, epoch: int | None = None, then: Callable = print
) -> None:
    """This process gets a real SIGTERM in the first batch of the module's `step` (e.g.
    `validation_step`; in `epoch`, or any), outside the sanity check; `then()` runs just before."""
    original = getattr(ClassifierModule, step)

    def stopped(self, batch, batch_idx):
        here = epoch is None or self.current_epoch == epoch
        if batch_idx == 0 and here and not self.trainer.sanity_checking:
            then()
            os.kill(os.getpid(), signal.SIGTERM)  # Lightning stops after this batch
        return original(self, batch, batch_idx)

    monkeypatch.setattr(ClassifierModule, step, stopped)


def train_py(monkeypatch: pytest.MonkeyPatch, *args: str) -> int | str | None:
    """`python train.py ARGS` in this process (through main(), Hydra included): its exit code."""
    monkeypatch.setattr(sys, "argv", ["train.py", *args])
    try:
        train_main()
    except SystemExit as stopped:
        return stopped.code
    return 0


def test_sigterm_in_validation_keeps_the_epoch_and_the_resumed_run_validates_it(
    tmp_path, monkeypatch
):
    """Stopped in epoch 1's validation (2 batches), the run keeps epoch 1's training and
    validates it on resume, early stopping included, as an uninterrupted run does."""
    run, options = tmp_path / "run", [*TINY, "trainer.max_epochs=3"]
    with monkeypatch.context() as patch:
        sigterm_in(patch, "validation_step", epoch=1)
        assert train_py(patch, *options, f"hydra.run.dir={run}") == 143
    state = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert (state["epoch"], state["global_step"]) == (1, 16)  # epoch 1 trained (8 steps each)

    assert train_py(monkeypatch, f"resume={run}") == 0
    finished_as_uninterrupted(run, 3, options, tmp_path)
    assert validated_steps(run) == validated_steps(tmp_path / "once")  # epoch 1's included


def test_sigterm_in_testing_exits_143_keeps_the_fits_last_state_and_resume_tests(
    tmp_path, monkeypatch, capsys
):
    """Stopped in the test stage of a run that stopped early, the run exits 143 with the
    resume command, `last.ckpt` keeps the fit's final weights, and resuming tests (no more
    training) and writes results.json as an uninterrupted run does."""
    run, options = tmp_path / "run", [*TINY, "trainer.max_epochs=8"]  # stops early, at 4
    last, fitted = run / "checkpoints" / "last.ckpt", {}
    with monkeypatch.context() as patch:
        sigterm_in(patch, "test_step", then=lambda: fitted.setdefault("last", last.read_bytes()))
        assert train_py(patch, *options, f"hydra.run.dir={run}") == 143
    assert f"resume={run}" in capsys.readouterr().out
    assert last.read_bytes() == fitted["last"]  # not replaced by the tested (best) weights
    assert not (run / "results.json").exists()

    assert train_py(monkeypatch, f"resume={run}") == 0
    finished_as_uninterrupted(run, 8, options, tmp_path, trained=4)


def test_sigterm_in_the_only_test_batch_exits_143_and_resume_tests(tmp_path, monkeypatch, capsys):
    """Lightning looks for a signal only before a stage's next batch: with one test batch the
    stage ends normally, and the run must still exit 143 with the resume command."""
    run, options = tmp_path / "run", [*TINY, "trainer.max_epochs=1", "data.test_samples=16"]
    with monkeypatch.context() as patch:
        sigterm_in(patch, "test_step")
        assert train_py(patch, *options, f"hydra.run.dir={run}") == 143
    assert f"resume={run}" in capsys.readouterr().out
    assert not (run / "results.json").exists()

    assert train_py(monkeypatch, f"resume={run}") == 0
    assert json.loads((run / "results.json").read_text())["metrics"]["test/acc"] >= 0


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

    refused = run_script("train.py", f"resume={run}", "trainer.max_epochs=ten")
    assert refused.returncode != 0 and "trainer.max_epochs='ten'" in refused.stderr
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

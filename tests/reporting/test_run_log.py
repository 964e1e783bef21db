"""A run's log file and console output, read as a person meets them: train.log in the run
folder (config, one line per epoch, warnings, results, a failure's traceback) and what the
console shows when it is a file or a pipe."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, TINY

EPOCH_LINE = re.compile(r"epoch (\d)/2  train/loss \S+  train/acc \S+  .*val/acc_best \S+  \S+ s")


def piped_train_py(*args: str) -> subprocess.CompletedProcess:
    """`python train.py ARGS > pipe`, warnings left on, as a batch job or `| tee` runs it."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONWARNINGS", "COLUMNS")}
    return subprocess.run(
        [sys.executable, "train.py", *args],
        cwd=ROOT,
        env={**env, "HYDRA_FULL_ERROR": "0"},
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def piped_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, Path]:
    """A tiny 2-epoch run with its output piped, and its run folder."""
    run_dir = tmp_path_factory.mktemp("piped_run") / ("a-run-folder-name-" * 5)  # > 80 chars
    result = piped_train_py(*TINY, "trainer.max_epochs=2", f"hydra.run.dir={run_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    return result, run_dir


def test_train_log_holds_the_config_each_epoch_warnings_and_the_results(piped_run):
    log = (piped_run[1] / "train.log").read_text()

    assert "config:\nseed: 42" in log and "pooling.AttentionPooling" in log  # the composed config
    assert [m.group(1) for m in EPOCH_LINE.finditer(log)] == ["1", "2"]
    assert "[py.warnings][WARNING]" in log  # Lightning's warning about the tiny epochs
    assert re.search(r"│ test/acc +│ [\d.]+ │", log) and "best checkpoint: " in log
    assert "Traceback" not in log


def test_piped_output_shows_each_epoch_one_results_table_and_no_noise(piped_run):
    result, run_dir = piped_run
    shown = result.stdout + result.stderr

    assert [m.group(1) for m in EPOCH_LINE.finditer(result.stdout)] == ["1", "2"]
    assert "it/s" not in shown and "Testing" not in shown  # no progress bar frames
    assert shown.count("test/acc") == 1  # our table only, not Lightning's too
    assert f"output_dir: {run_dir}\n" in result.stdout  # the config's paths uncut
    for noise in ("LeafSpec", "💡 Tip", "litlogger"):
        assert noise not in shown


@pytest.mark.slow
def test_a_failed_sweep_job_leaves_its_traceback_in_its_own_log(tmp_path):
    sweep = ["model.encoder.impl=exact,bogus", f"hydra.sweep.dir={tmp_path}"]
    result = piped_train_py("-m", *TINY, *sweep)
    assert result.returncode != 0
    jobs = {p.name: p for p in tmp_path.iterdir() if p.is_dir()}  # impl-exact_0, impl-bogus_1
    good, bad = (jobs[name] for name in sorted(jobs, key=lambda name: "bogus" in name))
    assert "Traceback" not in (good / "train.log").read_text()
    log = (bad / "train.log").read_text()
    assert "The run failed:\nTraceback (most recent call last):" in log
    assert "model.encoder.impl='bogus': expected one of" in log

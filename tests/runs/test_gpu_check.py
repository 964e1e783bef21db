"""scripts/gpu_check.sh --dry-run: every step of the GPU check on the CPU with tiny sizes, so
the script that one short GPU lease depends on cannot rot where no GPU is."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT, write_reviews


@pytest.mark.slow
def test_the_dry_run_runs_the_gpu_tests_and_the_benchmark_and_prints_one_json_line(tmp_path):
    data = write_reviews(tmp_path / "imdb", {"train": 300, "test": 60})
    env = {**os.environ, "PYTHON": sys.executable}
    env.pop("LSTMLAB_TEST_DEVICE", None)  # the dry run sets it itself
    result = subprocess.run(
        ["bash", "scripts/gpu_check.sh", "--dry-run", "--data", str(data)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (line,) = result.stdout.strip().splitlines()  # one JSON line, nothing else
    figures = json.loads(line)
    assert figures["ok"] and figures["environment"]["mode"] == "dry"

    tests = figures["gpu_tests"]["tests"]
    ours = "test_train_on_device::test_"
    assert tests[ours + "two_deterministic_runs_on_the_device_give_identical_metrics"] == "passed"
    assert tests[ours + "train_py_on_the_gpu_preset_runs_imdb_end_to_end"] == "passed"
    # every gpu test ran and passed; on a CPU without bf16 instructions oneDNN has no bf16 LSTM
    no_bf16 = {o for o in tests.values() if o.startswith("skipped") and "no bf16" in o}
    assert set(tests.values()) - no_bf16 == {"passed"}
    assert 0.0 <= figures["gpu_tests"]["end_to_end"]["metrics"]["test/acc"] <= 1.0

    assert figures["lstm_impl"]["figures"]["packed_over_exact_mixed"] > 0

    bench = figures["benchmark"]["figures"]
    assert bench["device"] == "cpu"
    for name in ("notebook", "fast"):
        race = bench[name]["time_to_accuracy"]
        assert race["target_acc"] == 0.5 and race["val_checks"]
        assert race["time_to_target_s"] == race["val_checks"][0][0]  # 0.5 is reached at once
    assert bench["fast_vs_notebook_time_to_accuracy_speedup"] > 0
    assert bench["whole_reviews"]["peak_rss_mb"] > 0 and bench["whole_reviews"]["steps"] == 1

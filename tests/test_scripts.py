"""The benchmark scripts run end to end on tiny synthetic input and print what they promise."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import ROOT, TINY


def test_accuracy_benchmark_reports_every_variant_it_ran(tmp_path):
    command = [
        sys.executable,
        "scripts/benchmark_accuracy.py",
        "--only",
        "lstm_last",
        "bilstm_attn",
        "--out",
        str(tmp_path),
        "--",
        *TINY,
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert [run["variant"] for run in figures["runs"]] == ["lstm_last", "bilstm_attn"]
    for run in figures["runs"]:
        assert 0.0 <= run["test_acc"] <= 1.0 and 0.0 <= run["test_f1"] <= 1.0
        assert run["epochs"] == 1 and run["wall_time_s"] > 0
    assert "test acc" in result.stdout and figures["hardware"]

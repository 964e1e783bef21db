"""reporting/paired.py: two models on the same examples, McNemar's exact test and a paired
bootstrap interval; refused when the two evaluations scored different examples."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import ROOT

from lstmlab.reporting.paired import compare, read_predictions

LABELS = np.array(["neg", "pos"] * 100)


def write(folder, correct, labels=LABELS, shuffle_seed=None):
    """An evaluate.py-like folder; rows optionally shuffled, as a length-batched loader
    leaves them."""
    order = np.arange(len(labels))
    if shuffle_seed is not None:
        np.random.default_rng(shuffle_seed).shuffle(order)
    folder.mkdir()
    table = {"example": order, "label": labels[order], "correct": np.asarray(correct)[order]}
    pq.write_table(pa.table(table), folder / "predictions.parquet")
    return folder


def test_a_planted_difference_is_significant_and_its_interval_excludes_zero(tmp_path):
    a = np.ones(200, dtype=bool)
    b = a.copy()
    b[:30] = False  # B is wrong on 30 examples A gets right
    result = compare(
        read_predictions(write(tmp_path / "a", a, shuffle_seed=1)),
        read_predictions(write(tmp_path / "b", b, shuffle_seed=2)),
    )
    assert (result.only_a_right, result.only_b_right) == (30, 0)
    assert result.difference.estimate == pytest.approx(0.15)
    assert result.difference.excludes_zero()
    assert result.mcnemar_p < 1e-6


def test_two_models_that_differ_by_chance_are_not_called_different(tmp_path):
    rng = np.random.default_rng(0)
    a = rng.random(200) < 0.8
    b = a.copy()
    b[:10] = ~b[:10]  # ten disagreements, split both ways
    result = compare(
        read_predictions(write(tmp_path / "a", a)), read_predictions(write(tmp_path / "b", b))
    )
    assert not result.difference.excludes_zero()
    assert result.mcnemar_p > 0.05
    same = compare(
        read_predictions(write(tmp_path / "c", a)), read_predictions(write(tmp_path / "d", a))
    )
    assert same.mcnemar_p == 1.0 and same.difference.estimate == 0


def test_evaluations_of_different_examples_are_refused(tmp_path):
    a = read_predictions(write(tmp_path / "a", np.ones(200, dtype=bool)))
    fewer = read_predictions(write(tmp_path / "b", np.ones(100, dtype=bool), LABELS[:100]))
    with pytest.raises(ValueError, match="200 and 100 examples"):
        compare(a, fewer)
    other = read_predictions(write(tmp_path / "c", np.ones(200, dtype=bool), LABELS[::-1]))
    with pytest.raises(ValueError, match="labels differ at 200 examples"):
        compare(a, other)
    with pytest.raises(FileNotFoundError, match=r"no predictions\.parquet"):
        read_predictions(tmp_path)


@pytest.mark.slow
def test_the_script_compares_two_evaluation_folders(tmp_path):
    a = np.ones(200, dtype=bool)
    b = a.copy()
    b[::4] = False
    script = ROOT / "scripts" / "compare_evaluations.py"
    folders = [str(write(tmp_path / name, c)) for name, c in (("a", a), ("b", b))]
    done = subprocess.run(
        [sys.executable, script, *folders, "--json"], capture_output=True, text=True, check=True
    )
    result = json.loads(done.stdout)
    assert result["only_a_right"] == 50 and result["accuracy_b"] == 0.75
    missing = subprocess.run(
        [sys.executable, script, folders[0], str(tmp_path / "none")], capture_output=True, text=True
    )
    assert missing.returncode == 2 and "no predictions.parquet" in missing.stderr

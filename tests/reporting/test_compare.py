"""scripts/compare.py: a sweep's table (mean ± std over seeds), CSV, Markdown and plot."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml
from conftest import TINY, run_script

from lstmlab.reporting.compare import main
from lstmlab.reporting.sweep import compare_to, find_jobs, summarize


def fake_job(sweep: Path, number: int, overrides: list[str], acc: float | None) -> None:
    """A job folder as Hydra and train.py leave it; acc None: the job failed."""
    folder = sweep / f"{number}_job"
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    if acc is not None:
        metrics = {"val/acc_best": acc, "test/acc": acc - 0.01, "test/f1": acc - 0.02}
        (folder / "results.json").write_text(json.dumps({"metrics": metrics}))


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    jobs = [
        (["data=imdb", "model/pooling=max", "seed=1"], 0.88),
        (["data=imdb", "model/pooling=max", "seed=2"], 0.90),
        (["data=imdb", "model/pooling=last", "seed=1"], 0.80),
        (["data=imdb", "model/pooling=last", "seed=2"], None),
        (["data=imdb", "model/pooling=first", "seed=1"], None),
    ]
    for number, (overrides, acc) in enumerate(jobs):
        fake_job(tmp_path / "sweep", number, overrides, acc)
    return tmp_path / "sweep"


def test_rows_group_seeds_sort_by_the_metric_and_keep_failed_jobs(sweep):
    jobs, common = find_jobs(sweep)
    assert common == ["data=imdb"]
    rows = summarize(jobs, ["val/acc_best", "test/acc"])
    assert [r.config for r in rows] == [
        "model/pooling=max",
        "model/pooling=last",
        "model/pooling=first",
    ]
    best, last, first = rows
    assert best.stats["val/acc_best"][0] == pytest.approx(0.89)
    assert best.stats["val/acc_best"][1] == pytest.approx(0.0141421, abs=1e-6)  # sample std
    assert (last.runs, last.failed, last.stats["val/acc_best"]) == (2, 1, (0.80, None))
    assert (first.runs, first.failed, first.stats) == (1, 1, {})


def test_the_command_writes_csv_markdown_and_a_plot(sweep, tmp_path, capsys):
    assert main([str(sweep), "--metric", "test/acc", "--out", str(tmp_path / "report")]) == 0
    report = tmp_path / "report"
    with (report / "compare.csv").open() as file:
        table = list(csv.DictReader(file))
    assert [row["config"] for row in table] == [
        "model/pooling=max",
        "model/pooling=last",
        "model/pooling=first",
    ]
    assert float(table[0]["test/acc_mean"]) == pytest.approx(0.88)
    markdown = (report / "compare.md").read_text()
    assert "| model.pooling=max | 2 | 88.00 ± 1.41 |" in markdown
    assert "| model.pooling=first | 1 (1 failed) | failed |" in markdown
    assert "| model.pooling=last | 2 (1 failed) | 79.00 |" in markdown
    assert (report / "compare.png").read_bytes()[:4] == b"\x89PNG"
    assert "5 jobs, 2 failed" in capsys.readouterr().out


def test_a_folder_without_jobs_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as refused:  # scripts/compare.py's exit status
        main([str(tmp_path)])
    assert refused.value.code == 2 and "holds no job folders" in capsys.readouterr().err


@pytest.mark.slow
def test_a_real_sweep_with_a_failing_job_still_reports_the_others(tmp_path):
    sweep = tmp_path / "sweep"
    process = run_script(
        "train.py", "-m", *TINY, "model/pooling=max,first", f"hydra.sweep.dir={sweep}"
    )
    assert process.returncode != 0  # the sweep reports the failure...
    assert "model/pooling='first'" in process.stderr
    assert main([str(sweep)]) == 0  # scripts/compare.py, in this process
    markdown = (sweep / "compare.md").read_text()
    assert "| model.pooling=max | 1 |" in markdown  # ...and the other job finished
    assert "| model.pooling=first | 1 (1 failed) | failed |" in markdown


def seeded_sweep(root: Path, accs: dict[str, list[float]]) -> Path:
    number = 0
    for pooling, values in accs.items():
        for seed, acc in enumerate(values, 1):
            fake_job(root, number, [f"model/pooling={pooling}", f"seed={seed}"], acc)
            number += 1
    return root


def test_a_planted_difference_has_an_interval_excluding_zero(tmp_path):
    sweep = seeded_sweep(tmp_path / "s", {"max": [0.90, 0.91, 0.92], "last": [0.80, 0.81, 0.79]})
    rows = summarize(find_jobs(sweep)[0], ["val/acc_best"])
    assert compare_to(rows, "val/acc_best") == "model/pooling=max"
    diff = rows[1].difference
    assert diff.interval.excludes_zero() and diff.p_value < 0.01


def test_identical_configurations_have_an_interval_including_zero(tmp_path):
    sweep = seeded_sweep(tmp_path / "s", {"max": [0.90, 0.85, 0.88], "last": [0.88, 0.85, 0.90]})
    rows = summarize(find_jobs(sweep)[0], ["val/acc_best"])
    compare_to(rows, "val/acc_best")
    diff = rows[1].difference
    assert not diff.interval.excludes_zero() and diff.p_value > 0.5


def test_one_seed_says_no_interval_instead_of_zeros(sweep, tmp_path):
    assert main([str(sweep), "--out", str(tmp_path / "r")]) == 0
    markdown = (tmp_path / "r" / "compare.md").read_text()
    assert "No interval can be computed for model.pooling=last" in markdown

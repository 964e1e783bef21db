"""scripts/compare.py: a sweep's table (mean ± std over seeds), CSV, Markdown, figure, factor
effects and the HTML study report."""

from __future__ import annotations

import csv
import html
import json
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import TINY, run_script
from matplotlib.collections import PathCollection
from PIL import Image
from torch.utils.tensorboard import SummaryWriter

from lstmlab.reporting.compare import main
from lstmlab.reporting.effects import factor_effects
from lstmlab.reporting.events import scalar_curve
from lstmlab.reporting.sweep import compare_to, factors, find_jobs, summarize
from lstmlab.reporting.sweep_figures import seeds_figure


def fake_job(
    sweep: Path,
    number: int,
    overrides: list[str],
    acc: float | None,
    status: str | None = None,
    curve: list[float] | None = None,
) -> Path:
    """A job folder as Hydra and train.py leave it; acc None: the job failed. `curve`: val/acc
    at steps 10, 20, ... in the job's event file."""
    folder = sweep / f"{number}_job"
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    if acc is not None:
        metrics = {"val/acc_best": acc, "test/acc": acc - 0.01, "test/f1": acc - 0.02}
        saved = {"metrics": metrics} | ({"status": status} if status else {})
        (folder / "results.json").write_text(json.dumps(saved))
    if curve:
        with SummaryWriter(str(folder)) as writer:
            for step, value in enumerate(curve, 1):
                writer.add_scalar("val/acc", value, 10 * step)
    return folder


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    jobs = [
        (["data=imdb", "model.pooling=max", "seed=1"], 0.88),
        (["data=imdb", "model.pooling=max", "seed=2"], 0.90),
        (["data=imdb", "model.pooling=last", "seed=1"], 0.80),
        (["data=imdb", "model.pooling=last", "seed=2"], None),
        (["data=imdb", "model.pooling=first", "seed=1"], None),
    ]
    for number, (overrides, acc) in enumerate(jobs):
        fake_job(tmp_path / "sweep", number, overrides, acc)
    return tmp_path / "sweep"


def grid_sweep(root: Path, effect_a: float = 0.0, seeds: int = 3, **job) -> Path:
    """A 2×2 sweep (a=x,y b=u,v) × `seeds` seeds; a=y adds `effect_a` to the accuracy."""
    noise = np.random.default_rng(0).normal(0, 0.01, size=4 * seeds)
    number = 0
    for a in ("x", "y"):
        for b in ("u", "v"):
            for seed in range(1, seeds + 1):
                acc = 0.7 + (effect_a if a == "y" else 0) + noise[number]
                fake_job(root, number, [f"f.a={a}", f"f.b={b}", f"seed={seed}"], acc, **job)
                number += 1
    return root


def rows_of(sweep: Path, metric: str = "val/acc_best"):
    rows = summarize(find_jobs(sweep)[0], [metric])
    compare_to(rows, metric)
    return rows


def test_rows_group_seeds_sort_by_the_metric_and_keep_failed_jobs(sweep):
    jobs, common = find_jobs(sweep)
    assert common == ["data=imdb"]
    rows = summarize(jobs, ["val/acc_best", "test/acc"])
    assert [r.config for r in rows] == [
        "model.pooling=max",
        "model.pooling=last",
        "model.pooling=first",
    ]
    best, last, first = rows
    assert best.stats["val/acc_best"][0] == pytest.approx(0.89)
    assert best.stats["val/acc_best"][1] == pytest.approx(0.0141421, abs=1e-6)  # sample std
    assert (last.runs, last.failed, last.stats["val/acc_best"]) == (2, 1, (0.80, None))
    assert (first.runs, first.failed, first.stats) == (1, 1, {})


def test_the_command_writes_csv_markdown_and_the_figure(sweep, tmp_path, capsys):
    assert main([str(sweep), "--metric", "test/acc", "--out", str(tmp_path / "report")]) == 0
    report = tmp_path / "report"
    with (report / "compare.csv").open() as file:
        table = list(csv.DictReader(file))
    assert [row["model.pooling"] for row in table] == ["max", "last", "first"]
    assert float(table[0]["test/acc_mean"]) == pytest.approx(0.88)
    markdown = (report / "compare.md").read_text()
    assert "| max | 2 | 88.00 ± 1.41 |" in markdown  # the swept value, not the key
    assert "| first | 1 (1 failed) | failed |" in markdown
    assert "| last | 2 (1 failed) | 79.00 | n/a (1 seed) |" in markdown
    with Image.open(report / "compare.png") as png:
        assert round(png.info["dpi"][0]) >= 300  # print resolution
    assert (report / "compare.pdf").read_bytes()[:4] == b"%PDF"
    assert b"<svg" in (report / "compare.svg").read_bytes()[:1000]
    assert "5 jobs, 2 not complete" in capsys.readouterr().out


def test_every_csv_row_has_the_headers_fields(tmp_path):
    sweep = grid_sweep(tmp_path / "s", seeds=2)
    fake_job(sweep, 90, ["f.a=x", "f.b=u", "seed=9"], None)  # failed
    fake_job(sweep, 91, ["f.a=z", "f.b=u", "seed=1"], 0.5)  # one seed: no interval, no p
    fake_job(sweep, 92, ["f.a=z", "f.b=v", "seed=1"], 0.6, status="pruned")
    assert main([str(sweep)]) == 0
    with (sweep / "compare.csv").open() as file:
        header, *lines = list(csv.reader(file))
    assert len(lines) == 6 and {len(line) for line in lines} == {len(header)}
    assert {"f.a", "f.b"} <= set(header)


def test_the_table_keeps_every_rows_swept_values_in_a_120_column_terminal(
    tmp_path, monkeypatch, capsys
):
    number = 0
    for experiment in ("baseline_vs_attention", "imdb_fast"):
        for pooling in ("attn", "max"):
            overrides = [f"experiment={experiment}", f"model.encoder.pooling={pooling}"]
            fake_job(tmp_path / "s", number, [*overrides, "seed=1"], 0.8 + number / 100)
            fake_job(tmp_path / "s", number + 10, [*overrides, "seed=2"], 0.81 + number / 100)
            number += 1
    monkeypatch.setenv("COLUMNS", "120")
    assert main([str(tmp_path / "s")]) == 0
    table = capsys.readouterr().out.split("ANOVA")[0]
    assert max(len(line) for line in table.splitlines()) <= 120
    lines = [line for line in table.splitlines() if "%" not in line and "±" in line]
    seen = [re.findall(r"baseline_vs_attention|imdb_fast|attn|max", line) for line in lines]
    assert sorted(map(tuple, seen)) == sorted(
        (e, p) for e in ("baseline_vs_attention", "imdb_fast") for p in ("attn", "max")
    )


def plotted(figure) -> tuple[list[float], list[tuple[float, float]], tuple[float, float]]:
    """The seeds' values (scatter points), the interval bars' ends and the value axis."""
    ax = figure.axes[0]
    dots = [c for c in ax.collections if isinstance(c, PathCollection)]
    points = [float(y) for c in dots for y in c.get_offsets()[:, 1]]
    bars = [
        (float(segment[0][1]), float(segment[1][1]))
        for c in ax.collections
        if hasattr(c, "get_segments")
        for segment in c.get_segments()
    ]
    return points, bars, ax.get_ylim()


def test_the_figure_plots_every_seed_and_shows_every_interval_whole(tmp_path):
    sweep = grid_sweep(tmp_path / "s", effect_a=0.1)
    rows = rows_of(sweep)
    points, bars, (low, high) = plotted(seeds_figure(rows, "val/acc_best"))
    seeds = sorted(100 * v for row in rows for v in row.values["val/acc_best"])
    assert sorted(points) == pytest.approx(seeds)
    assert len(bars) == 4  # one interval per configuration
    assert all(low <= min(bar) and max(bar) <= high for bar in bars)
    assert all(low <= p <= high for p in points)
    assert high - low < 50  # zoomed on the values, which a dot plot may be


def test_the_figure_draws_a_factorial_sweep_by_factor(tmp_path):
    sweep = grid_sweep(tmp_path / "s")
    jobs = find_jobs(sweep)[0]
    figure = seeds_figure(rows_of(sweep), "val/acc_best", swept=factors(j.settings for j in jobs))
    ax = figure.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["x", "y"]  # the first factor
    assert ax.get_xlabel() == "f.a"
    legend = [t.get_text().strip() for t in figure.legends[0].get_texts()]
    assert {"f.b", "u", "v"} <= set(legend)  # the second factor as colour


def test_one_seed_draws_no_interval_and_says_so(tmp_path):
    sweep = grid_sweep(tmp_path / "s", seeds=1)
    figure = seeds_figure(rows_of(sweep), "val/acc_best")
    points, bars, _ = plotted(figure)
    assert len(points) == 4 and bars == []
    assert any("no interval" in t.get_text() for t in figure.legends[0].get_texts())


def test_a_planted_difference_has_an_interval_excluding_zero(tmp_path):
    sweep = grid_sweep(tmp_path / "s", effect_a=0.1)
    rows = rows_of(sweep)
    assert rows[0].settings["f.a"] == "y"
    worse = next(row for row in rows if row.settings["f.a"] == "x")
    diff = worse.difference
    assert diff.interval.excludes_zero() and diff.p_value < 0.01


def test_identical_configurations_have_an_interval_including_zero(tmp_path):
    for number, (pooling, acc) in enumerate(
        [("max", 0.90), ("max", 0.85), ("max", 0.88), ("last", 0.88), ("last", 0.85), ("last", 0.9)]
    ):
        fake_job(tmp_path / "s", number, [f"model.pooling={pooling}", f"seed={number}"], acc)
    rows = rows_of(tmp_path / "s")
    diff = rows[1].difference
    assert not diff.interval.excludes_zero() and diff.p_value > 0.5


def test_folds_are_pooled_like_seeds_into_each_configurations_mean(tmp_path):
    sweep, number = tmp_path / "folds", 0
    for pooling, base in (("max", 0.9), ("last", 0.8)):
        for fold in range(5):
            for seed in (1, 2):
                overrides = ["data.folds=5", f"model.pooling={pooling}", f"data.fold={fold}"]
                acc = base + fold / 100 + seed / 100
                fake_job(sweep, number, [*overrides, f"seed={seed}"], acc)
                number += 1
    rows = rows_of(sweep)
    assert [(r.config, r.runs) for r in rows] == [
        ("model.pooling=max", 10),
        ("model.pooling=last", 10),
    ]
    assert rows[0].stats["val/acc_best"][0] == pytest.approx(0.9 + 0.02 + 0.015)
    assert rows[0].interval is not None and rows[1].difference is not None


def test_a_mean_interval_stays_within_the_metrics_range(tmp_path):
    for seed, acc in enumerate([0.55, 0.97], 1):  # two seeds far apart: a t-interval of ±400
        fake_job(tmp_path / "s", seed, ["model.pooling=max", f"seed={seed}"], acc)
    fake_job(tmp_path / "s", 9, ["model.pooling=last", "seed=1"], 0.5)
    interval = rows_of(tmp_path / "s")[0].interval
    assert 0 <= interval.low <= interval.estimate <= interval.high <= 1


def test_the_factor_effects_find_the_planted_factor_and_not_the_other(tmp_path):
    sweep = grid_sweep(tmp_path / "s", effect_a=0.05)
    effects = factor_effects(find_jobs(sweep)[0], "val/acc_best")
    terms = {t.name: t.p for t in effects.terms}
    assert terms["f.a"] < 0.001 and terms["f.b"] > 0.05 and "f.a × f.b" in terms
    a_x = next(e for e in effects.levels if (e.factor, e.level) == ("f.a", "x"))
    assert a_x.difference.high < 0 and a_x.difference.estimate == pytest.approx(-0.05, abs=0.02)
    b_levels = [e for e in effects.levels if e.factor == "f.b" and e.difference]
    assert all(not e.difference.excludes_zero() for e in b_levels)


def test_the_effects_hold_the_other_factor_fixed_in_an_unbalanced_sweep(tmp_path):
    """b=v scores 10 points more; a has no effect, but a=y ran mostly with b=v: the marginal
    means differ by 5 points, the model's effect of a is about zero."""
    design = [("x", "u")] * 3 + [("x", "v")] + [("y", "u")] + [("y", "v")] * 3
    noise = np.random.default_rng(1).normal(0, 0.005, size=len(design))
    for number, ((a, b), e) in enumerate(zip(design, noise)):
        acc = 0.7 + (0.1 if b == "v" else 0) + e
        fake_job(tmp_path / "s", number, [f"f.a={a}", f"f.b={b}", f"seed={number}"], acc)
    effects = factor_effects(find_jobs(tmp_path / "s")[0], "val/acc_best")
    a = next(e for e in effects.levels if e.factor == "f.a" and e.difference)
    marginal = {e.level: e.mean for e in effects.levels if e.factor == "f.a"}
    assert abs(marginal["y"] - marginal["x"]) > 0.04
    assert abs(a.difference.estimate) < 0.01 and not a.difference.excludes_zero()


def test_a_folder_without_jobs_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as refused:  # scripts/compare.py's exit status
        main([str(tmp_path)])
    assert refused.value.code == 2 and "holds no job folders" in capsys.readouterr().err


def test_one_seed_says_no_interval_instead_of_zeros(sweep, tmp_path):
    assert main([str(sweep), "--out", str(tmp_path / "r")]) == 0
    markdown = (tmp_path / "r" / "compare.md").read_text()
    assert "No interval can be computed for model.pooling=last" in markdown


def test_a_baseline_naming_some_keys_is_compared_within_each_level_of_the_others(tmp_path):
    """`--baseline model=bag_of_ngrams` over models × datasets: each model against the bag of
    n-grams on its own dataset, never against another dataset's (far higher or lower) results;
    without --baseline, against the best on its own dataset."""
    noise = iter(np.random.default_rng(1).normal(0, 0.005, size=12))
    for number, (a, b, seed) in enumerate(
        (a, b, s) for a in ("x", "y") for b in ("easy", "hard") for s in (1, 2, 3)
    ):
        acc = (0.9 if b == "easy" else 0.6) + next(noise)  # only the dataset matters
        fake_job(tmp_path / "s", number, [f"f.a={a}", f"data={b}", f"seed={seed}"], acc)
    rows = summarize(find_jobs(tmp_path / "s")[0], ["val/acc_best"])
    compare_to(rows, "val/acc_best", "f.a=x")
    for row in rows:
        assert row.baseline.settings == {**row.settings, "f.a": "x"}
        if row.settings["f.a"] == "y":
            assert not row.difference.interval.excludes_zero()
    compare_to(rows, "val/acc_best")  # no baseline: the best on each dataset
    for row in rows:
        assert row.baseline.settings["data"] == row.settings["data"]
        assert row.difference is None or not row.difference.interval.excludes_zero()
    assert main([str(tmp_path / "s"), "--baseline", "f.a=x"]) == 0
    table = (tmp_path / "s" / "compare.md").read_text()
    assert sum("| baseline |" in line for line in table.splitlines()) == 2  # one per dataset


def test_a_baseline_no_configuration_has_is_refused_naming_it(sweep, capsys):
    with pytest.raises(SystemExit) as stopped:
        main([str(sweep), "--baseline", "model.pooling=mean"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "model.pooling=mean" in err and "model.pooling=max" in err
    assert not (sweep / "compare.md").exists()


def evaluation(root: Path, name: str, checkpoint: Path, correct: list[bool]) -> None:
    """An evaluate.py folder: evaluation.json and predictions.parquet."""
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "evaluation.json").write_text(
        json.dumps({"checkpoint": str(checkpoint), "split": "test"})
    )
    table = {"example": list(range(len(correct))), "label": [1] * len(correct), "correct": correct}
    pq.write_table(pa.table(table), folder / "predictions.parquet")


@pytest.fixture
def studied(tmp_path: Path) -> Path:
    """A 2×2 sweep over 2 seeds as train.py leaves it: event files, a pruned and a failed job,
    multirun.yaml, and two evaluate.py folders of seed 1's models."""
    logs = tmp_path / "logs"
    sweep = grid_sweep(logs / "multiruns" / "t", effect_a=0.05, seeds=2, curve=[0.5, 0.6, 0.7])
    fake_job(sweep, 50, ["f.a=x", "f.b=u", "seed=3"], 0.6, status="pruned")
    fake_job(sweep, 51, ["f.a=x", "f.b=u", "seed=4"], None)
    (sweep / "51_job" / "train.log").write_text("start\nValueError: the planted failure\n")
    hydra = {"job": {"name": "train"}, "overrides": {"task": ["f.a=x,y", "f.b=u,v", "seed=1,2"]}}
    (sweep / "multirun.yaml").write_text(yaml.safe_dump({"hydra": hydra}))
    best, other = sweep / "6_job", sweep / "0_job"  # a=y b=v seed 1, a=x b=u seed 1
    evaluation(
        logs / "evaluations", "e1", best / "checkpoints" / "best.ckpt", [True] * 90 + [False] * 10
    )
    evaluation(
        logs / "evaluations", "e2", other / "checkpoints" / "best.ckpt", [True] * 60 + [False] * 40
    )
    elsewhere = sweep / "2_job" / "checkpoints" / "best.ckpt"  # a=x b=v seed 1, fewer examples
    evaluation(logs / "evaluations", "e3", elsewhere, [True] * 50)
    return sweep


def test_the_report_is_one_self_contained_page_with_the_whole_study(studied, tmp_path):
    assert main([str(studied), "--report", "--baseline", "f.a=y f.b=v"]) == 0
    page = (studied / "report.html").read_text()
    links = re.findall(r'(?:src|href)\s*=\s*["\']?([^"\'\s>]+)', page)
    assert links and all(link.startswith(("data:", "#")) for link in links)
    assert "<script" not in page and "@import" not in page and "url(" not in page
    for section in ("Setup", "Configurations", "Factor effects", "Learning curves"):
        assert f"<h2>{section}</h2>" in page
    incomplete = page.split("did not complete")[1].split("<h2>")[0]
    assert "pruned" in incomplete and "the planted failure" in incomplete
    paired = page.split("Paired tests")[1].split("<h2>")[0]
    assert "f.a=x f.b=u" in paired and "+30.00" in paired  # 90 % against 60 %, paired
    assert "f.a=x f.b=v" in paired and "did not score the same examples" in paired
    assert "python train.py -m f.a=x,y f.b=u,v seed=1,2" in page
    # the report's own command, with the baseline it was given
    assert "--baseline 'f.a=y f.b=v' --report" in html.unescape(page)


def test_the_reports_learning_curves_come_from_the_event_files(studied, tmp_path):
    assert scalar_curve(studied / "0_job", "val/acc") == (
        [10, 20, 30],
        pytest.approx([0.5, 0.6, 0.7]),
    )
    assert main([str(studied), "--report"]) == 0
    curves = (studied / "report.html").read_text().split("Learning curves")[1].split("<h2>")[0]
    assert "data:image/png;base64," in curves
    for events in studied.glob("*/events.out.tfevents*"):
        events.unlink()
    assert main([str(studied), "--report"]) == 0
    curves = (studied / "report.html").read_text().split("Learning curves")[1].split("<h2>")[0]
    assert "data:image" not in curves and "No run logged val/acc" in curves


@pytest.mark.slow
def test_a_real_sweep_with_a_failing_job_still_reports_the_others(tmp_path):
    sweep = tmp_path / "sweep"
    process = run_script(
        "train.py", "-m", *TINY, "model.encoder.impl=exact,bogus", f"hydra.sweep.dir={sweep}"
    )
    assert process.returncode != 0  # the sweep reports the failure...
    assert "model.encoder.impl='bogus'" in process.stderr
    assert main([str(sweep), "--report"]) == 0  # scripts/compare.py, in this process
    markdown = (sweep / "compare.md").read_text()
    assert "| exact | 1 |" in markdown  # ...and the other job finished
    assert "| bogus | 1 (1 failed) | failed |" in markdown
    page = (sweep / "report.html").read_text()
    assert "data:image/png;base64," in page.split("Learning curves")[1]  # its real event files


def test_a_metric_no_job_recorded_is_refused_and_the_report_is_kept(sweep, capsys):
    assert main([str(sweep)]) == 0
    report = {name: (sweep / name).read_bytes() for name in ("compare.md", "compare.csv")}
    with pytest.raises(SystemExit) as refused:
        main([str(sweep), "--metric", "val/acc_bset"])
    error = capsys.readouterr().err
    assert refused.value.code == 2 and "val/acc_bset" in error
    assert "did you mean val/acc_best" in error and "test/f1" in error  # what there is
    assert {name: (sweep / name).read_bytes() for name in report} == report


def test_a_cut_short_results_json_is_listed_as_unreadable_and_the_rest_compared(sweep, capsys):
    cut = sweep / "0_job" / "results.json"
    cut.write_text(cut.read_text()[:20])  # a disk that filled up, a copy interrupted
    assert main([str(sweep)]) == 0
    assert f"{cut} is unreadable" in capsys.readouterr().out  # named, and not counted
    assert "| max | 2 (1 unreadable) | 90.00 |" in (sweep / "compare.md").read_text()

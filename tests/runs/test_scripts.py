"""The scripts run end to end on tiny input and print (and write) what they promise."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import ROOT, TINY, classifier_module, run_script, write_reviews

from lstmlab.data.imdb import IMDBDataModule


@pytest.mark.slow
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


@pytest.mark.slow
def test_speed_benchmark_runs_every_pipeline_and_prints_every_figure(tmp_path):
    data = write_reviews(tmp_path / "reviews", {"train": 300, "test": 50})
    command = [sys.executable, "scripts/benchmark.py", "--path", str(data), "--val-size", "60"]
    result = subprocess.run(
        [*command, "--epochs", "2", "--fused-adam", "--deterministic"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["fused_adam"] is True and figures["deterministic"] is True  # what was asked
    for name in ("plain", "lstmlab"):  # what each child's torch really ran under
        assert figures[name]["fused_optimizer"] is True and figures[name]["deterministic"] is True
    assert not figures["notebook"]["fused_optimizer"] and not figures["notebook"]["deterministic"]
    for name in ("notebook", "plain", "lstmlab"):
        run = figures[name]
        assert len(run["train_epoch_s"]) == 2 and run["epoch_s"] == run["train_epoch_s"][1]
        assert run["samples_per_s"] == pytest.approx(240 / run["epoch_s"], rel=0.05)
        assert run["peak_rss_mb"] > 0 and 0.0 <= run["val_acc"] <= 1.0
        assert f"{name} " in result.stdout
    for name in ("notebook", "plain"):  # train.py's preparation is the plain run's, warm
        assert figures[name]["prep_cold_s"] > 0 and figures[name]["prep_warm_s"] > 0
    speedups = {key for key in figures if key.endswith("_speedup")}
    assert speedups == {
        "lstmlab_vs_notebook_speedup",
        "plain_vs_notebook_speedup",
        "lstmlab_vs_plain_speedup",
    }
    assert all(figures[key] > 0 for key in speedups)
    assert figures["lightning_overhead_pct"] == pytest.approx(
        100 / figures["lstmlab_vs_plain_speedup"] - 100, abs=0.2
    )
    assert figures["hardware"] and figures["device"] == "cpu"


@pytest.mark.slow
@pytest.mark.parametrize("binary", [False, True])
def test_word2vec_script_trains_on_train_and_unsupervised_only_and_its_words_align(
    tmp_path, binary
):
    gensim = pytest.importorskip("gensim")
    data = write_reviews(tmp_path / "imdb", {"train": 200, "unsupervised": 200})
    pq.write_table(pa.table({"text": ["a testonly review"], "label": [0]}), data / "test.parquet")
    output = tmp_path / ("v.bin" if binary else "v.txt")
    args = ["--data", str(data), "--dim", "8", "--epochs", "1", "--min-count", "1"]
    args += ["--workers", "1", "--output", str(output), *(["--binary"] if binary else [])]
    result = run_script("scripts/train_word2vec.py", *args)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "400 reviews" in result.stdout and f"wrote {output}" in result.stdout
    trained = gensim.models.KeyedVectors.load_word2vec_format(str(output), binary=binary)
    assert "testonly" not in trained.key_to_index

    datamodule = IMDBDataModule(
        path=str(data), cache_dir=str(tmp_path / "cache"), hub_name=None, val_size=20
    )
    datamodule.setup("fit")
    vocab = datamodule.tokenizer.get_vocab()
    model = classifier_module(len(vocab), 2, embed_dim=8, embedding={"vectors": str(output)})
    coverage = model.load_vectors(vocab)
    assert coverage.found == coverage.words - 1  # every word but <unk>
    row = model.net.encoder.embedding.weight[vocab["great"]].detach().numpy()
    np.testing.assert_allclose(row, trained["great"], rtol=1e-6)


@pytest.mark.slow
def test_word2vec_script_can_keep_to_the_labelled_reviews(tmp_path):
    """`--splits train`: vectors for a recipe that uses no data beyond the labelled reviews."""
    gensim = pytest.importorskip("gensim")
    data = write_reviews(tmp_path / "imdb", {"train": 200, "test": 10})
    unlabelled = pa.table({"text": ["an unlabelledonly review"], "label": [-1]})
    pq.write_table(unlabelled, data / "unsupervised.parquet")
    output = tmp_path / "v.txt"
    args = ["--data", str(data), "--dim", "8", "--epochs", "1", "--min-count", "1"]
    result = run_script(
        "scripts/train_word2vec.py", *args, "--splits", "train", "--output", str(output)
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "200 reviews" in result.stdout
    trained = gensim.models.KeyedVectors.load_word2vec_format(str(output))
    assert "great" in trained.key_to_index and "unlabelledonly" not in trained.key_to_index


@pytest.mark.slow
def test_explain_figure_draws_attention_above_integrated_gradients(text_run, tmp_path):
    out = tmp_path / "explained.png"
    done = run_script(
        "scripts/explain_figure.py",
        text_run["results"]["best_checkpoint"],
        "a superb story",
        "--out",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("pos") and "Spearman(attention, |IG|) = " in done.stdout
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_prediction_benchmark_times_both_runtimes_on_the_same_texts(text_run):
    checkpoint = str(text_run["results"]["best_checkpoint"])
    command = ["scripts/benchmark_predict.py", "--checkpoint", checkpoint, "--texts", "30"]
    result = run_script(*command, "--data", str(text_run["data"]), "--batch-size", "8")
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["texts"] == 30 and figures["batch_size"] == 8
    assert set(figures["texts_per_s"]) == {"pytorch", "onnxruntime"}
    assert min(figures["texts_per_s"].values()) > 0 and figures["labels_differ"] == 0
    assert figures["max_probability_difference"] <= 1e-5


@pytest.mark.slow
def test_lstm_impl_benchmark_times_each_implementation():
    args = ["--steps", "6", "--batch-size", "4", "--repeats", "1", "--threads", "1"]
    result = run_script("scripts/benchmark_lstm_impl.py", *args)
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    for lengths in ("mixed", "unpadded"):
        assert figures[f"exact_{lengths}_s"] > 0 and figures[f"packed_{lengths}_s"] > 0
        assert figures[f"packed_over_exact_{lengths}"] > 0
    assert figures["threads"] == 1


@pytest.mark.parametrize(
    "script",
    ["load_test.py", "benchmark.py", "benchmark_data.py", "benchmark_predict.py"],
)
def test_imdb_scripts_default_to_the_readmes_data_folder_and_say_how_to_change_it(script):
    result = run_script(f"scripts/{script}", "--help")
    assert result.returncode == 0, result.stderr
    help_text = " ".join(result.stdout.split())  # argparse wraps lines
    assert "default: data/imdb" in help_text and "elsewhere: --" in help_text


def probe_script():
    """scripts/probe.py as a module (scripts/ is no package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("probe", ROOT / "scripts" / "probe.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["probe"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_probe_counts_a_file_changed_or_lost_but_not_a_log_that_grew():
    changed = probe_script().changed
    before = {"run/results.json": b"{}", "run/train.log": b"one\n", "run/last.ckpt": b"x"}
    grown = {**before, "run/train.log": b"one\ntwo\n", "run/new.txt": b"new"}
    assert changed(before, grown) == []
    rewritten = {"run/results.json": b"{ }", "run/train.log": b"two\n"}
    assert changed(before, rewritten) == ["run/last.ckpt", "run/results.json", "run/train.log"]


@pytest.mark.slow
def test_the_probe_grades_a_clear_refusal_good_and_exit_0_on_bad_input_bad(tmp_path):
    probe = probe_script()
    probe.use_base(tmp_path)
    seed = next(case for case in probe.cases(tmp_path) if case.name == "b_seed_abc")
    assert probe.try_case(seed, tmp_path).grade == "good"
    accepted = probe.Case("help_exits_0", "test", ["predict.py", "--help"], says="usage")
    outcome = probe.try_case(accepted, tmp_path)
    assert (outcome.grade, outcome.note) == ("bad", "exit 0 on bad input")

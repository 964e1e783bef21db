"""predict.py: labels, probabilities and attention from a checkpoint alone."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pyarrow.parquet as pq
import pytest
from conftest import ROOT, run_script

from lstmlab.serving.export import export
from lstmlab.serving.predict import Predictor, lines, main


def predict_here(capsys, *args: str) -> tuple[int, str, str]:
    """`python predict.py ARGS` through its main() in this process (a fresh process costs
    seconds of imports): the exit status, stdout and stderr."""
    try:
        status = main(list(args))
    except SystemExit as exit:  # argparse's refusals
        status = exit.code
    out, err = capsys.readouterr()
    return status, out, err


def outcome(process: subprocess.CompletedProcess) -> tuple[int, str, str]:
    return process.returncode, process.stdout, process.stderr


@pytest.fixture(scope="module")
def predictor(text_run) -> Predictor:
    return Predictor.from_checkpoint(text_run["results"]["best_checkpoint"])


def test_predictions_are_valid_distributions_with_attention_over_real_tokens(predictor):
    texts = ["the film was GREAT and the plot was wonderful", "boring", "a b c d e f g h"]
    for text, prediction in zip(texts, predictor(texts, batch_size=2)):
        assert sum(prediction.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
        assert prediction.label == max(prediction.probabilities, key=prediction.probabilities.get)
        assert len(prediction.attention) == prediction.num_tokens == len(text.split())
        assert sum(w for _, w in prediction.attention) == pytest.approx(1.0, abs=1e-4)
        shown = [token.removeprefix("⟨unk:").removesuffix("⟩") for token, _ in prediction.attention]
        assert shown == text.split()  # as written (unknown words marked)
    great, boring, _ = predictor(texts)
    assert (great.label, boring.label) == ("pos", "neg")
    assert max(great.attention, key=lambda t: t[1])[0] in ("GREAT", "wonderful")


def test_predictions_score_the_test_split_as_training_did(predictor, text_run):
    test = pq.read_table(text_run["data"] / "test.parquet").to_pydict()
    predictions = predictor(test["text"], batch_size=32)  # batched by length, returned in order
    correct = [p.label == ["neg", "pos"][y] for p, y in zip(predictions, test["label"])]
    assert sum(correct) / len(correct) == pytest.approx(text_run["results"]["metrics"]["test/acc"])
    # each review's probabilities: their cross-entropy is the run's test loss (the best
    # checkpoint's, on the test split); probabilities are rounded to 6 decimals
    true_class = [p.probabilities[["neg", "pos"][y]] for p, y in zip(predictions, test["label"])]
    loss = -sum(math.log(p) for p in true_class) / len(true_class)
    assert loss == pytest.approx(text_run["results"]["metrics"]["test/loss"], abs=1e-4)


def test_empty_unknown_and_overlong_texts_have_defined_results(predictor):
    empty, unknown, long = predictor(["", "zzzz qqqq", "great " * 1000])
    assert (empty.num_tokens, empty.attention, empty.truncated) == (0, [], False)
    assert sum(empty.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    assert (unknown.unknown, unknown.num_tokens) == (2, 2)
    assert (long.num_tokens, long.truncated) == (400, True)  # the run's data.max_len


@pytest.mark.slow
def test_predict_py_reads_arguments_files_and_stdin(text_run, tmp_path, capsys):
    checkpoint = text_run["results"]["best_checkpoint"]
    texts = "a superb story\nthe plot was awful\n\n"
    shown = run_script("predict.py", checkpoint, stdin=texts)  # a real pipe; the table
    assert shown.returncode == 0, shown.stderr
    assert "pos" in shown.stdout and "neg" in shown.stdout and "█" in shown.stdout
    assert "texts/s" in shown.stderr

    (tmp_path / "texts.txt").write_text(texts)
    from_file = predict_here(capsys, checkpoint, "--file", str(tmp_path / "texts.txt"), "--json")
    from_arguments = predict_here(capsys, checkpoint, *texts.split("\n")[:3], "--json")
    for status, stdout, stderr in (from_file, from_arguments):
        assert status == 0, stderr
        rows = [json.loads(line) for line in stdout.splitlines()]
        assert [row["label"] for row in rows[:2]] == ["pos", "neg"]
        assert rows[2]["num_tokens"] == 0  # the empty line is a text too
        assert rows[0]["attention"][1][0] == "superb"


def test_texts_are_one_per_line_whatever_else_they_hold():
    content = "first\rstill the first\u2028and still\r\nsecond\n\nfourth\n"
    assert lines(content) == ["first\rstill the first\u2028and still", "second", "", "fourth"]


@pytest.mark.slow
def test_predict_py_refuses_what_it_cannot_use(tiny_cfg, tmp_path, capsys):
    from lstmlab.runs.train import train

    status, _, stderr = predict_here(capsys, str(tmp_path / "none.ckpt"), "text")
    assert status == 2 and "No checkpoint at" in stderr
    train(tiny_cfg())
    capsys.readouterr()
    status, _, stderr = predict_here(capsys, str(tmp_path / "checkpoints" / "last.ckpt"), "text")
    assert status == 2 and "holds no tokenizer" in stderr


@pytest.mark.slow
def test_bytes_that_are_not_utf8_are_replaced_and_flagged_and_the_rest_is_predicted(
    text_run, tmp_path, capsys
):
    checkpoint = text_run["results"]["best_checkpoint"]
    (tmp_path / "texts.txt").write_bytes(b"a superb story\nthe plot was \xff awful\n")
    from_file = predict_here(capsys, checkpoint, "--json", "--file", str(tmp_path / "texts.txt"))
    env_argv = subprocess.run(  # an argument with a raw byte, as a shell passes it
        [
            sys.executable,
            str(ROOT / "predict.py"),
            checkpoint,
            "--json",
            "a superb story",
            b"the plot was \xff awful",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    for status, stdout, stderr in (from_file, outcome(env_argv)):
        assert status == 0, stderr
        rows = [json.loads(line) for line in stdout.splitlines()]
        assert [row["invalid_utf8"] for row in rows] == [False, True]
        assert rows[0]["label"] == "pos"  # the other texts are read as ever
        assert [token for token, _ in rows[1]["attention"]][3] == "⟨unk:\ufffd⟩"


def test_a_batch_size_below_one_is_refused_by_predict_py(text_run, capsys):
    checkpoint = text_run["results"]["best_checkpoint"]
    status, stdout, stderr = predict_here(capsys, checkpoint, "a", "--batch-size", "0")
    assert status == 2
    assert "--batch-size: 0: expected a positive integer" in stderr
    assert stdout == ""


def test_integrated_gradients_point_at_the_mood_word(text_run):
    """The text model's label is told by one mood word among filler: its attribution towards
    the predicted class is the largest, and the tokens are the text's own."""
    explaining = Predictor.from_checkpoint(text_run["results"]["best_checkpoint"], explain="ig")
    texts = ["the plot was a superb story of the film", "the movie was awful and it is a scene", ""]
    great, awful, empty = explaining(texts)
    for prediction, text, mood in ((great, texts[0], "superb"), (awful, texts[1], "awful")):
        tokens = [token for token, _ in prediction.attributions]
        assert tokens == text.split()
        assert max(prediction.attributions, key=lambda t: t[1])[0] == mood
        assert -1 <= prediction.attention_ig_spearman <= 1  # an attention model: both exist
    assert (empty.attributions, empty.attention_ig_spearman) == ([], None)
    plain = Predictor.from_checkpoint(text_run["results"]["best_checkpoint"])(texts[:1])[0]
    assert plain.attributions is None  # only when asked for
    assert plain.probabilities == great.probabilities


def test_predict_py_explains_on_request_and_refuses_for_an_export(text_run, tmp_path, capsys):
    checkpoint = text_run["results"]["best_checkpoint"]
    status, stdout, _ = predict_here(
        capsys, checkpoint, "a superb story", "--explain", "ig", "--json"
    )
    row = json.loads(stdout)
    assert status == 0 and [t for t, _ in row["attributions"]] == ["a", "superb", "story"]
    _, console, _ = predict_here(capsys, checkpoint, "a superb story", "--explain", "ig")
    assert "integrated gradient (Spearman with attention" in console
    folder = export(checkpoint, tmp_path / "onnx")
    status, _, stderr = predict_here(capsys, str(folder), "text", "--explain", "ig")
    assert status == 2 and "give the checkpoint it was exported from" in stderr


def test_an_explanation_above_the_tolerance_is_reported_with_its_error(text_run, capsys):
    """A path of one or two points leaves a few % of the LSTM's logit difference unexplained
    (its midpoint rule is coarse): above a 1 % tolerance the text is flagged, in the JSON row,
    on stderr and on the terminal, after the finer path was tried."""
    checkpoint = text_run["results"]["best_checkpoint"]
    coarse = ("a superb story", "--explain", "ig", "--ig-steps", "1", "--ig-max-steps", "2")
    strict = (*coarse, "--ig-tolerance", "0.01")
    status, stdout, stderr = predict_here(capsys, checkpoint, *strict, "--json")
    row = json.loads(stdout)
    assert status == 0 and row["attribution_error"] > 0.01
    assert row["attribution_steps"] in (1, 2)
    assert "completeness error" in stderr and "above the tolerance" in stderr
    _, console, _ = predict_here(capsys, checkpoint, *strict)
    assert "above the tolerance" in console
    _, _, quiet = predict_here(capsys, checkpoint, *coarse, "--ig-tolerance", "0.9", "--json")
    assert "above the tolerance" not in quiet


def test_unknown_words_show_as_unknown_in_explanations(text_run):
    explaining = Predictor.from_checkpoint(text_run["results"]["best_checkpoint"], explain="ig")
    (prediction,) = explaining(["a superb zzzz story"])
    tokens = [token for token, _ in prediction.attributions]
    assert tokens == ["a", "superb", "⟨unk:zzzz⟩", "story"]
    assert [token for token, _ in prediction.attention] == tokens
    assert prediction.attribution_error <= 0.05 and prediction.attribution_steps >= 50

"""export.py: ONNX Runtime gives PyTorch's logits for every pooling and direction, and the
export folder predicts like the checkpoint without PyTorch."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from conftest import POOLINGS, hashes, run_script, text_classifier

from lstmlab.serving.export import (
    TOLERANCE,
    ExportError,
    check_exportable,
    export,
    export_onnx,
    main,
)
from lstmlab.serving.onnx_predictor import OnnxPredictor
from lstmlab.serving.predict import Predictor
from lstmlab.serving.predict import main as predict_main

VOCAB, PAD = 40, 0


def padded_batch(lengths: list[int], steps: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randint(2, VOCAB, (len(lengths), steps), generator=generator)
    lengths_t = torch.tensor(lengths)
    tokens[torch.arange(steps) >= lengths_t.unsqueeze(1)] = PAD
    return tokens, lengths_t


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("pooling", POOLINGS)
def test_onnx_logits_equal_pytorch_for_every_pooling_and_direction(
    tmp_path, pooling, bidirectional
):
    torch.manual_seed(0)
    shape = {"embed_dim": 8, "hidden_size": 8, "num_layers": 2, "bidirectional": bidirectional}
    net = text_classifier(VOCAB, 3, PAD, pooling, init_state="learned", **shape)
    net.eval()
    outputs = export_onnx(net, tmp_path / "model.onnx", VOCAB, PAD)
    assert outputs == (["logits", "attention"] if pooling == "attn" else ["logits"])
    session = ort.InferenceSession(str(tmp_path / "model.onnx"))
    batches = [
        padded_batch([12, 0, 5, 1, 12], 12, seed=1),  # mixed lengths, padding, an empty row
        padded_batch([4, 4], 4, seed=2),  # no padding at all
        padded_batch([900, 3, 0], 900, seed=3),  # longer than the traced batch or any max_len
        padded_batch([0], 1, seed=4),  # a batch of one empty text
    ]
    for tokens, lengths in batches:
        with torch.no_grad():
            logits, weights = net(tokens, lengths)
        got = session.run(None, {"tokens": tokens.numpy(), "lengths": lengths.numpy()})
        np.testing.assert_allclose(got[0], logits.numpy(), rtol=0, atol=TOLERANCE)
        if weights is not None:
            np.testing.assert_allclose(got[1], weights.numpy(), rtol=0, atol=TOLERANCE)


def test_the_bce_head_exports_its_single_logit(tmp_path):
    net = text_classifier(VOCAB, 2, PAD, "max", embed_dim=8, hidden_size=8, head="bce").eval()
    export_onnx(net, tmp_path / "model.onnx", VOCAB, PAD)
    tokens, lengths = padded_batch([6, 0, 2], 6, seed=5)
    got = ort.InferenceSession(str(tmp_path / "model.onnx")).run(
        None, {"tokens": tokens.numpy(), "lengths": lengths.numpy()}
    )[0]
    with torch.no_grad():
        np.testing.assert_allclose(got, net(tokens, lengths)[0].numpy(), rtol=0, atol=TOLERANCE)
    assert got.shape == (3, 1)


def test_a_random_initial_state_is_refused():
    with pytest.raises(ExportError, match="init_state=random"):
        check_exportable(text_classifier(VOCAB, 2, PAD, init_state="random").eval(), VOCAB, PAD)
    check_exportable(text_classifier(VOCAB, 2, PAD, init_state="learned").eval(), VOCAB, PAD)


@pytest.fixture(scope="module")
def exported(text_run, tmp_path_factory):
    folder = tmp_path_factory.mktemp("export") / "model"
    return export(text_run["results"]["best_checkpoint"], folder)


def test_the_folder_holds_model_tokenizer_and_metadata(exported, text_run):
    names = {p.name for p in exported.iterdir()}
    assert names == {"model.onnx", "tokenizer.json", "metadata.json", "predict_onnx.py"}
    info = json.loads((exported / "metadata.json").read_text())
    assert info["class_names"] == ["neg", "pos"] and info["max_len"] == 400
    assert info["lowercase"] is True and info["encode_special_tokens"] is True
    metrics = text_run["results"]["metrics"]  # the run tested its best checkpoint
    assert info["metrics"]["test/acc"] == metrics["test/acc"]
    assert info["metrics"]["val/acc"] == metrics["val/acc_best"]  # when it was saved
    assert info["source_checkpoint"] == str(text_run["results"]["best_checkpoint"])
    assert info["checked_max_abs_logit_difference"] <= TOLERANCE


def test_the_export_predicts_like_the_checkpoint(exported, text_run):
    texts = ["", "zzzz qqqq", "great " * 1000, "the film was GREAT", "boring <pad> plot"]
    test = __import__("pyarrow.parquet").parquet.read_table(text_run["data"] / "test.parquet")
    texts += test.column("text").to_pylist()
    torch_predictions = Predictor.from_checkpoint(text_run["results"]["best_checkpoint"])(texts)
    onnx_predictions = OnnxPredictor.from_folder(exported)(texts, batch_size=7)
    for ours, theirs in zip(onnx_predictions, torch_predictions):
        assert (ours.label, ours.num_tokens, ours.truncated, ours.unknown) == (
            theirs.label,
            theirs.num_tokens,
            theirs.truncated,
            theirs.unknown,
        )
        for name, p in theirs.probabilities.items():
            assert ours.probabilities[name] == pytest.approx(p, abs=1e-5)
        assert [t for t, _ in ours.attention] == [t for t, _ in theirs.attention]
        np.testing.assert_allclose(
            [w for _, w in ours.attention], [w for _, w in theirs.attention], atol=1e-5
        )


def test_the_folders_script_runs_without_torch(exported):
    blocked = "import sys, runpy; sys.modules['torch'] = None; " + (
        "sys.argv = ['predict_onnx.py', '--json', 'a superb story', 'the plot was awful']; "
        "runpy.run_path('predict_onnx.py', run_name='__main__')"
    )
    shown = subprocess.run(
        [sys.executable, "-c", blocked], cwd=exported, capture_output=True, text=True, timeout=120
    )
    assert shown.returncode == 0, shown.stderr
    rows = [json.loads(line) for line in shown.stdout.splitlines()]
    assert [row["label"] for row in rows] == ["pos", "neg"]


def test_predict_py_reads_an_export_folder(exported, capsys):
    assert predict_main([str(exported), "a superb story", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["label"] == "pos"


def refused_by_export_py(capsys, *args: str) -> str:
    """stderr of `python export.py ARGS`, run through its main() here, which must exit 2."""
    with pytest.raises(SystemExit) as refused:
        main(list(args))
    assert refused.value.code == 2
    return capsys.readouterr().err


@pytest.mark.slow
def test_export_py_refuses_to_overwrite_and_unusable_checkpoints(
    exported, text_run, tmp_path, capsys
):
    checkpoint = str(text_run["results"]["best_checkpoint"])
    before = (exported / "model.onnx").read_bytes()
    assert "earlier export" in refused_by_export_py(capsys, checkpoint, "--out", str(exported))
    assert (exported / "model.onnx").read_bytes() == before  # nothing already written lost
    assert "No checkpoint at" in refused_by_export_py(capsys, str(tmp_path / "none.ckpt"))
    made = run_script("export.py", checkpoint, "--out", str(tmp_path / "new"))  # a real process
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "new" / "model.onnx").is_file()


def test_the_metadata_describes_the_exported_weights_not_the_runs_best(text_run, tmp_path):
    last = text_run["dir"] / "checkpoints" / "last.ckpt"
    info = json.loads((export(last, tmp_path / "last") / "metadata.json").read_text())
    assert info["metrics"] == {}  # last.ckpt's weights were never scored as such
    assert "unknown" in info["metrics_source"] and "evaluate.py" in info["metrics_source"]


@pytest.mark.slow
def test_force_replaces_an_earlier_export_only_never_a_run_or_its_checkpoints(
    text_run, tmp_path, capsys
):
    run = Path(shutil.copytree(text_run["dir"], tmp_path / "run"))
    checkpoint = str(next((run / "checkpoints").glob("epoch_*.ckpt")))
    before = hashes(run)
    for out in (run / "checkpoints", run):
        refused = refused_by_export_py(capsys, checkpoint, "--out", str(out), "--force")
        assert "not an export" in refused and "checkpoints" in refused
        assert hashes(run) == before
    earlier = export(checkpoint, tmp_path / "model")
    (earlier / "model.onnx").write_bytes(b"an older export")
    assert main([checkpoint, "--out", str(earlier), "--force"]) == 0
    assert (earlier / "model.onnx").read_bytes() != b"an older export"

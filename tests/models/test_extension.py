"""The extension points, used as a researcher uses them: a pooling, an encoder and a whole
network written in this file (not in src/), each chosen by one YAML in a config folder of its
own, go through train.py, export.py (checked with ONNX Runtime), serve.py (a real HTTP client)
and integrated gradients, with nothing else changed. The README's Extending recipes are these steps.

The pooling changes the width (first and last real outputs side by side: 2 × D), so the head
must be sized from the pooling, and it returns weights, so it must be found to be an attention
model (figures, `"attention": true`) by what it returns, not by its name.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import asdict
from pathlib import Path

import httpx
import numpy as np
import onnxruntime as ort
import pytest
import torch
from conftest import ROOT, compose_config, review_overrides, write_reviews
from omegaconf import OmegaConf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import Tensor, nn

from lstmlab.models.encoders.base import Encoded, Encoder, real_positions
from lstmlab.models.network import TextClassifier
from lstmlab.models.pooling import Pooling
from lstmlab.runs.checkpoints import load_model, read_checkpoint
from lstmlab.runs.train import train
from lstmlab.serving.export import TOLERANCE, export
from lstmlab.serving.onnx_predictor import MODEL, OnnxPredictor
from lstmlab.serving.predict import Predictor
from lstmlab.serving.predict import main as predict_main
from lstmlab.serving.server_process import running_server

# ----------------------------------------------------------------------- the researcher's file


class FirstLastPooling(Pooling):
    """The first and the last real outputs, concatenated: twice the encoder's width. Its
    weights say what it read: half on each of the two positions (all on a one-token text)."""

    def get_output_dim(self) -> int:
        return 2 * self.input_dim

    def forward(self, encoded: Encoded) -> tuple[Tensor, Tensor]:
        outputs, mask = encoded.outputs, encoded.mask  # [B, T, D], [B, T]
        last = mask.sum(dim=1) - 1  # [B]
        index = last.view(-1, 1, 1).expand(-1, 1, outputs.size(-1))  # [B, 1, D]
        pooled = torch.cat([outputs[:, 0], outputs.gather(1, index).squeeze(1)], dim=-1)
        positions = torch.arange(outputs.size(1), device=outputs.device)  # [T]
        read = (positions == 0).float() + (positions == last.unsqueeze(1)).float()  # [B, T]
        return pooled, read / 2


class PrefixMeanEncoder(Encoder):
    """Embedding, a linear map of each token, and at each position the mean of the mapped
    tokens so far (so the last real position holds the average of the whole text)."""

    def __init__(
        self, vocab_size: int, pad_id: int = 0, embed_dim: int = 16, output_dim: int = 8
    ) -> None:
        super().__init__(vocab_size, pad_id, embed_dim)
        self.proj = nn.Linear(embed_dim, output_dim)

    def get_output_dim(self) -> int:
        return self.proj.out_features

    def encode(self, embedded: Tensor, lengths: Tensor) -> Encoded:
        steps = torch.arange(1, embedded.size(1) + 1, device=embedded.device)  # [T]
        outputs = self.proj(embedded).cumsum(dim=1) / steps.view(1, -1, 1)  # [B, T, D]
        return Encoded(outputs, real_positions(lengths, embedded.size(1)), None)


class MeanBagNetwork(nn.Module):
    """A whole other network (no encoder or pooling): the mean of the text's token embeddings,
    then a linear layer. What the LightningModule, export and serving need of a network:
    `embedding`, `forward(tokens, lengths, push=None) -> (logits, weights or None)` and
    `get_output_dim()` (the number of logits)."""

    def __init__(self, vocab_size: int, num_classes: int, pad_id: int = 0, dim: int = 8) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, dim, padding_idx=pad_id)
        self.head = nn.Linear(dim, num_classes)

    def get_output_dim(self) -> int:
        return self.head.out_features

    def forward(
        self, tokens: Tensor, lengths: Tensor, push: Tensor | None = None
    ) -> tuple[Tensor, None]:
        embedded = self.embedding(tokens)  # [B, T, E]; padding rows are zero
        embedded = embedded if push is None else embedded + push
        real = real_positions(lengths, tokens.size(1)).unsqueeze(-1)  # [B, T, 1]
        mean = (embedded * real).sum(1) / lengths.clamp(min=1).unsqueeze(-1)
        return self.head(mean), None


# ---------------------------------------------------------------------- the researcher's YAMLs

OUTPUT_DIM = 8  # the encoder's width; the pooling doubles it


def target(cls: type) -> str:
    """The `_target_` of a class of this file, under the name this process imported it as."""
    return f"{cls.__module__}.{cls.__qualname__}"


def write_parts(conf: Path) -> Path:
    """conf/model/pooling/first_last.yaml, conf/model/encoder/prefix_mean.yaml and
    conf/model/mean_bag.yaml (a whole network), as a researcher writes them, in a config
    folder of their own (added to Hydra's search path)."""
    parts = {
        "pooling/first_last": {"_target_": target(FirstLastPooling), "_partial_": True},
        "encoder/prefix_mean": {
            "_target_": target(PrefixMeanEncoder),
            "_partial_": True,
            "embed_dim": 16,
            "output_dim": OUTPUT_DIM,
        },
        "mean_bag": {"_target_": target(MeanBagNetwork), "dim": 8},
    }
    for name, config in parts.items():
        path = conf / "model" / f"{name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(config, path)
    return conf


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A run of the toy encoder and pooling on `write_reviews` text: its folder (`dir`),
    `results` (results.json), `checkpoint` (the best) and `texts` (some test reviews)."""
    root = tmp_path_factory.mktemp("extension")
    data = write_reviews(root / "reviews", {"train": 400, "test": 100})
    overrides = [
        *review_overrides(data, root / "cache", val_size=100),
        f"hydra.searchpath=[file://{write_parts(root / 'conf')}]",
        "trainer=cpu",
        "+trainer.enable_model_summary=false",
    ]
    train(
        compose_config(
            [
                *overrides,
                "model/encoder=prefix_mean",
                "model/pooling=first_last",
                "trainer.max_epochs=4",
                "optimizer.lr=0.02",
                "callbacks.figures.num_texts=2",  # the attention figures
            ],
            root / "run",
        )
    )
    results = json.loads((root / "run" / "results.json").read_text())
    texts = __import__("pyarrow.parquet").parquet.read_table(data / "test.parquet")
    return {
        "dir": root / "run",
        "results": results,
        "checkpoint": Path(results["best_checkpoint"]),
        "texts": ["", "superb", *texts.column("text").to_pylist()[:20]],
        "overrides": overrides,  # the data, the parts' config folder, the CPU
    }


# ------------------------------------------------------------------------------------- the tests


def test_the_head_is_sized_from_the_pooling_not_the_encoder():
    encoder = functools.partial(PrefixMeanEncoder, embed_dim=4, output_dim=6)
    net = TextClassifier(30, 3, encoder, FirstLastPooling)
    assert net.head.in_features == 12
    tokens = torch.tensor([[5, 6, 7], [8, 0, 0]])
    logits, weights = net(tokens, torch.tensor([3, 1]))
    assert logits.shape == (2, 3)
    assert weights.tolist() == [[0.5, 0.0, 0.5], [1.0, 0.0, 0.0]]


def test_training_builds_learns_and_checkpoints_the_new_parts(run):
    model = load_model(read_checkpoint(run["checkpoint"]), run["checkpoint"])
    assert isinstance(model.net.encoder, PrefixMeanEncoder)
    assert isinstance(model.net.pooling, FirstLastPooling)
    assert model.net.head.in_features == 2 * OUTPUT_DIM
    assert run["results"]["metrics"]["test/acc"] >= 0.9  # the mood word is found


def test_a_pooling_that_returns_weights_gets_attention_figures(run):
    images: dict[str, int] = {}
    for path in run["dir"].glob("events.out.tfevents.*"):
        accumulator = EventAccumulator(str(path), size_guidance={"images": 0})
        accumulator.Reload()
        for tag in accumulator.Tags()["images"]:
            images[tag] = images.get(tag, 0) + len(accumulator.Images(tag))
    assert images.get("val/attention/0") == run["results"]["epochs"]


def test_the_export_gives_pytorchs_logits_and_weights_in_onnx_runtime(run, tmp_path):
    folder = export(run["checkpoint"], tmp_path / "export")
    net = load_model(read_checkpoint(run["checkpoint"])).net
    session = ort.InferenceSession(str(folder / MODEL), providers=["CPUExecutionProvider"])
    assert [output.name for output in session.get_outputs()] == ["logits", "attention"]
    tokens = torch.randint(1, net.embedding.num_embeddings, (3, 31))
    lengths = torch.tensor([31, 4, 1])
    tokens[torch.arange(31) >= lengths.unsqueeze(1)] = net.embedding.padding_idx
    with torch.no_grad():
        logits, weights = net(tokens, lengths)
    got = session.run(None, {"tokens": tokens.numpy(), "lengths": lengths.numpy()})
    np.testing.assert_allclose(got[0], logits.numpy(), rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(got[1], weights.numpy(), rtol=0, atol=TOLERANCE)
    exported = OnnxPredictor.from_folder(folder)(run["texts"])
    want = Predictor.from_checkpoint(run["checkpoint"])(run["texts"])
    assert [p.label for p in exported] == [p.label for p in want]


def test_integrated_gradients_explain_the_new_parts(run, capsys):
    text = "the plot was superb and the film was the story"
    assert predict_main([str(run["checkpoint"]), "--explain", "ig", "--json", text]) == 0
    row = json.loads(capsys.readouterr().out.splitlines()[0])
    tokens = [token for token, _ in row["attributions"]]
    assert tokens == text.split() and row["label"] == "pos"
    heaviest = max(row["attributions"], key=lambda pair: abs(pair[1]))
    assert heaviest[0] == "superb"  # what decided, though the pooling read other positions
    assert row["attention_ig_spearman"] is not None  # compared with the pooling's weights


def test_a_whole_other_network_trains_exports_and_is_explained(run, tmp_path):
    train(compose_config([*run["overrides"], "model=mean_bag", "trainer.max_epochs=1"], tmp_path))
    checkpoint = json.loads((tmp_path / "results.json").read_text())["best_checkpoint"]
    assert isinstance(load_model(read_checkpoint(checkpoint)).net, MeanBagNetwork)
    folder = export(checkpoint, tmp_path / "export")  # checked against PyTorch as it is written
    texts = run["texts"]
    exported = OnnxPredictor.from_folder(folder)(texts)
    explained = Predictor.from_checkpoint(checkpoint, explain="ig")(texts)
    assert [p.label for p in exported] == [p.label for p in explained]
    assert all(p.attention is None and len(p.attributions) == p.num_tokens for p in explained)


@pytest.mark.slow
def test_serve_py_serves_the_new_parts_as_an_attention_model(run):
    texts = run["texts"]
    here = Path(__file__).parent  # the server imports this file's classes (and its conftest)
    path = [str(here), str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", os.pathsep.join(path))
        with running_server(run["checkpoint"]) as url:
            info = httpx.get(f"{url}/metadata").json()
            response = httpx.post(f"{url}/predict", json={"texts": texts, "attention": True})
    assert info["attention"] is True
    assert response.status_code == 200, response.text
    want = [asdict(p) for p in Predictor.from_checkpoint(run["checkpoint"])(texts)]
    for got, expected in zip(response.json()["predictions"], want, strict=True):
        assert got["label"] == expected["label"]
        assert got["probabilities"] == pytest.approx(expected["probabilities"], abs=1e-5)
        read = [weight for _, weight in got["attention"]]
        if len(read) > 1:  # half on the first real token, half on the last
            assert read[0] == read[-1] == pytest.approx(0.5) and sum(read[1:-1]) == 0

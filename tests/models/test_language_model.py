"""Language-model pretraining: what it reads, that it cannot peek at the words it predicts, and
that its encoder goes into a classifier (and is refused where it would not fit)."""

from __future__ import annotations

import json
import os
import signal

import pytest
import torch
from conftest import compose_config, language_model, text_classifier, write_reviews
from hydra.utils import instantiate

from lstmlab.data.language_model import LanguageModelData
from lstmlab.data.text import TextDataModule
from lstmlab.models.language_model import LanguageModel
from lstmlab.models.lit_module import ClassifierModule
from lstmlab.models.pretrained import encoder_state, load_encoder
from lstmlab.runs.pretrain import pretrain
from lstmlab.runs.train import train

SMALL = {"embed_dim": 8, "hidden_size": 8, "bidirectional": True, "pooling": "max"}


def text_overrides(root, *extra: str) -> list[str]:
    """IMDB-shaped tiny parquet data with an unlabelled split, and a tiny model."""
    data = write_reviews(root / "reviews", {"train": 120, "test": 40, "unsupervised": 80})
    return [
        "data=imdb",
        f"data.path={data}",
        f"data.cache_dir={root}/cache",
        "data.hub_name=null",
        "data.val_size=20",
        "data.batch_size=16",
        "model=bilstm_max",
        "model.encoder.embed_dim=8",
        "model.encoder.hidden_size=8",
        "trainer=cpu",
        "+trainer.enable_model_summary=false",
        *extra,
    ]


def test_the_lm_reads_the_training_split_and_the_unlabelled_reviews_only(tmp_path):
    text: TextDataModule = instantiate(compose_config(text_overrides(tmp_path), tmp_path).data)
    data = LanguageModelData(text, unlabeled=True)
    data.prepare_data()
    data.setup("fit")
    assert len(data.train) == len(text.splits["train"]) + 80 == 180
    assert (data.train.labels == -1).sum() == 80  # the unlabelled reviews keep no label
    alone = LanguageModelData(text, unlabeled=False)
    alone.setup("fit")
    assert len(alone.train) == 100


@pytest.mark.parametrize("direction", [0, 1])
def test_no_direction_sees_the_token_it_predicts(direction):
    torch.manual_seed(0)
    lm = language_model(30, SMALL).eval()
    tokens = torch.randint(2, 30, (1, 12))
    batch = {"tokens": tokens, "lengths": torch.tensor([12])}
    x = lm.encoder.embedding(tokens).detach().requires_grad_(True)
    position = 5  # forward: predicts token 6 from tokens 0..5; backward: token 5 from 6..11
    lm.log_likelihoods(x, batch)[direction][position].backward()
    seen = x.grad[0].abs().sum(-1) > 0
    if direction == 0:
        assert seen[: position + 1].all() and not seen[position + 1 :].any()
    else:
        assert seen[position + 1 :].all() and not seen[: position + 1].any()


def test_a_stacked_bidirectional_lm_is_refused_since_layer_two_would_see_the_answer():
    with pytest.raises(ValueError, match="num_layers=1"):
        language_model(30, {**SMALL, "num_layers": 2})


@pytest.mark.parametrize("switch", ["adversarial_eps", "vat_eps", "entropy_weight"])
def test_classifier_training_terms_are_refused_for_pretraining_rather_than_ignored(
    tmp_path, switch
):
    """Pretraining has no objective group: Hydra refuses the key before any work."""
    with pytest.raises(Exception, match="objective"):
        compose_config(
            text_overrides(tmp_path, f"objective.{switch}=1.0"), tmp_path / "run", name="pretrain"
        )
    assert not (tmp_path / "run" / "encoder.pt").exists()


def test_pretraining_learns_and_its_encoder_starts_a_classifier(tmp_path, monkeypatch):
    run = tmp_path / "pretrain"
    overrides = text_overrides(tmp_path, "trainer.max_epochs=3", "optimizer.lr=0.01")
    cfg = compose_config(overrides, run, name="pretrain")
    pretrain(cfg)
    results = json.loads((run / "results.json").read_text())
    vocab = len(
        json.loads(next((tmp_path / "cache").glob("*/tokenizer.json")).read_text())["model"][
            "vocab"
        ]
    )
    # uniform guessing scores the vocabulary size; the filler words are random, so ~13 is best
    assert results["metrics"]["val/perplexity"] < 0.8 * vocab
    saved = torch.load(run / "encoder.pt", weights_only=True)

    classifier = text_classifier(vocab, 2, 0, **SMALL)
    load_encoder(classifier.encoder, run / "encoder.pt", SMALL, saved["tokenizer"])
    for name, weight in saved["encoder"].items():
        assert torch.equal(classifier.encoder.state_dict()[name], weight), name

    finetune = text_overrides(
        tmp_path, "experiment=imdb_lm_finetune", f"init.encoder={run}/encoder.pt"
    )
    started_from = {}
    load = ClassifierModule.load_encoder

    def recording(self, tokenizer):  # the fine-tuning model's weights once the run loaded them
        load(self, tokenizer)
        started_from.update({k: v.clone() for k, v in self.net.encoder.state_dict().items()})

    monkeypatch.setattr(ClassifierModule, "load_encoder", recording)
    train(compose_config([*finetune, "trainer=fast_dev_run"], tmp_path / "finetune"))
    for name, weight in saved["encoder"].items():
        assert torch.equal(started_from[name], weight), name


def test_an_encoder_of_another_shape_or_vocabulary_or_no_file_is_refused(tmp_path):
    lm = language_model(30, SMALL, tokenizer="vocabulary A")
    torch.save(
        encoder_state(lm.encoder, lm.hparams.encoder, "vocabulary A"), tmp_path / "encoder.pt"
    )
    net = text_classifier(30, 2, 0, **{**SMALL, "hidden_size": 16}).encoder
    bigger = {**lm.hparams.encoder, "hidden_size": 16}
    with pytest.raises(ValueError, match=r"model\.encoder\.hidden_size=8"):
        load_encoder(net, tmp_path / "encoder.pt", bigger, "vocabulary A")
    with pytest.raises(ValueError, match="another tokenizer"):
        load_encoder(net, tmp_path / "encoder.pt", SMALL, "vocabulary B")
    with pytest.raises(FileNotFoundError, match=r"pretrain\.py"):
        load_encoder(net, tmp_path / "missing.pt", SMALL, "vocabulary A")


def test_vectors_and_an_encoder_together_are_refused_since_one_would_overwrite_the_other(
    tmp_path,
):
    overrides = text_overrides(tmp_path, "init.vectors=v.txt", "init.encoder=encoder.pt")
    with pytest.raises(ValueError, match=r"init\.vectors=null"):
        train(compose_config([*overrides, "trainer=fast_dev_run"], tmp_path / "run"))


def test_pretraining_stopped_by_sigterm_mid_epoch_continues_as_an_uninterrupted_run(
    tmp_path, monkeypatch
):
    """pretrain.py has the classifier's safeguards: a SIGTERM checkpoint of the very step
    and per-batch seeding, so continuing from it ends with the uninterrupted run's metrics."""
    overrides = text_overrides(tmp_path, "trainer.max_epochs=2", "lm.dropout=0.5")
    pretrain(compose_config(overrides, tmp_path / "once", name="pretrain"))
    step = LanguageModel.training_step

    def terminated_at_step_3(self, batch, batch_idx):
        if self.global_step == 3:
            os.kill(os.getpid(), signal.SIGTERM)  # Lightning stops after this batch
        return step(self, batch, batch_idx)

    with monkeypatch.context() as patch:
        patch.setattr(LanguageModel, "training_step", terminated_at_step_3)
        with pytest.raises(SystemExit) as stopped:
            pretrain(compose_config(overrides, tmp_path / "run", name="pretrain"))
    assert stopped.value.code == 143
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    state = torch.load(last, weights_only=True)
    assert state["global_step"] == 4 and state["epoch"] == 0  # mid-epoch, the very step
    pretrain(compose_config([*overrides, f"ckpt_path={last}"], tmp_path / "run", name="pretrain"))
    results = [
        json.loads((tmp_path / run / "results.json").read_text())["metrics"]
        for run in ("once", "run")
    ]
    assert results[0] == results[1]

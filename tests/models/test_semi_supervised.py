"""Virtual adversarial training and entropy minimisation (models/semi_supervised.py): the push,
the KL it raises, either binary head, and the terms in a training step."""

from __future__ import annotations

import pytest
import torch
from conftest import classifier_module
from torch import nn

from lstmlab.models.adversarial import adversarial_push
from lstmlab.models.lit_module import ClassifierModule
from lstmlab.models.semi_supervised import (
    SemiSupervisedTerms,
    kl_per_text,
    log_probabilities,
    real_tokens,
    virtual_adversarial_kl,
)


def padded_batch() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    lengths = torch.tensor([6, 2, 4, 0])  # the last: an empty text
    tokens = torch.randint(2, 500, (4, 6))
    tokens[~real_tokens(tokens, lengths)] = 0
    return {"tokens": tokens, "lengths": lengths, "labels": torch.tensor([0, 1, 1, 0])}


def still_module(head: str = "ce") -> ClassifierModule:
    """A tiny BiLSTM without dropout, so a push alone changes its predictions."""
    return classifier_module(
        vocab_size=500, num_classes=2, embed_dim=8, hidden_size=8, pooling="max", head=head
    ).eval()


def vat_kl(model: ClassifierModule, eps: float, seed: int = 1) -> torch.Tensor:
    batch = padded_batch()
    clean = log_probabilities(model(batch["tokens"], batch["lengths"])[0], model.binary_head)
    torch.manual_seed(seed)
    return virtual_adversarial_kl(model.net, batch, clean.detach(), model.binary_head, eps, 0.1)


def test_a_random_direction_is_pushed_with_norm_eps_per_text_and_never_on_padding():
    batch = padded_batch()
    mask = real_tokens(batch["tokens"], batch["lengths"])
    push = adversarial_push(torch.randn(4, 6, 8), 0.5, mask)
    norms = push.flatten(1).norm(dim=1)
    torch.testing.assert_close(norms[:3], torch.full((3,), 0.5))
    assert torch.all(push[~mask] == 0) and norms[3] == 0  # the empty text: no push at all


def test_the_vat_push_has_norm_eps_per_text_and_spares_padding(monkeypatch):
    pushes = []
    model = still_module()
    forward = model.net.forward
    monkeypatch.setattr(
        model.net, "forward", lambda t, n, push=None: (pushes.append(push), forward(t, n, push))[1]
    )
    vat_kl(model, 2.0)
    mask = real_tokens(padded_batch()["tokens"], padded_batch()["lengths"])
    final = pushes[-1]  # the power step's push first, then the virtual adversarial one
    torch.testing.assert_close(final.flatten(1).norm(dim=1)[:3], torch.full((3,), 2.0))
    assert torch.all(final[~mask] == 0) and torch.all(pushes[-2][~mask] == 0)


class Constant(nn.Module):
    """Predicts the same for every text, whatever its embeddings."""

    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(500, 8)
        self.logits = nn.Parameter(torch.tensor([0.3, -0.2]))

    def forward(self, tokens, lengths, push=None):
        return self.logits.expand(len(tokens), 2), None


def test_the_vat_loss_is_zero_for_a_constant_model():
    batch = padded_batch()
    clean = log_probabilities(Constant()(batch["tokens"], batch["lengths"])[0], False)
    kl = virtual_adversarial_kl(Constant(), batch, clean.detach(), False, 5.0, 0.1)
    assert torch.all(kl == 0)


@pytest.mark.parametrize("head", ["ce", "bce"])
def test_the_vat_loss_grows_with_eps_and_beats_a_random_push_of_the_same_norm(head):
    model = still_module(head)
    sizes = [vat_kl(model, eps).mean() for eps in (0.5, 2.0, 8.0)]
    assert 0 < sizes[0] < sizes[1] < sizes[2]

    batch = padded_batch()
    clean = log_probabilities(model(batch["tokens"], batch["lengths"])[0], model.binary_head)
    mask = real_tokens(batch["tokens"], batch["lengths"])
    random_kls = []
    for seed in range(20):
        torch.manual_seed(100 + seed)
        push = adversarial_push(torch.randn(4, 6, 8), 2.0, mask)
        pushed = model(batch["tokens"], batch["lengths"], push)[0]
        random_kls.append(kl_per_text(clean, log_probabilities(pushed, model.binary_head)).mean())
    assert sizes[1] > max(random_kls)


def test_the_two_heads_give_the_same_probabilities_as_the_module():
    for head in ("ce", "bce"):
        model = still_module(head)
        batch = padded_batch()
        logits = model(batch["tokens"], batch["lengths"])[0]
        torch.testing.assert_close(
            log_probabilities(logits, model.binary_head).exp(), model.probabilities(logits)
        )


def test_a_training_step_adds_the_weighted_terms_and_logs_each():
    torch.manual_seed(0)
    model = classifier_module(
        vocab_size=500,
        num_classes=2,
        embed_dim=8,
        hidden_size=8,
        pooling="max",
        embed_dropout=0.0,
        dropout=0.0,
        adversarial_eps=1.0,
        vat_eps=2.0,
        vat_weight=3.0,
        entropy_weight=0.5,
    )
    logged = {}
    model.log = lambda name, value, **kwargs: logged.__setitem__(name, value)
    batch = {**padded_batch(), "unlabelled": padded_batch()}
    torch.manual_seed(7)
    total = model.training_step(batch, 0)
    terms = {k: logged[f"train/{k}"] for k in ("adversarial_loss", "vat_loss", "entropy_loss")}
    assert all(value > 0 for value in terms.values())
    expected = logged["train/loss"] + terms["adversarial_loss"] + 3.0 * terms["vat_loss"]
    torch.testing.assert_close(total, expected + 0.5 * terms["entropy_loss"])


def test_unlabelled_batches_that_no_term_reads_are_refused():
    model = still_module()
    model.log = lambda *args, **kwargs: None
    with pytest.raises(ValueError, match=r"no loss term reads them: set model\.vat_eps"):
        model.training_step({**padded_batch(), "unlabelled": padded_batch()}, 0)


@pytest.mark.parametrize(
    "key, value", [("vat_eps", -1), ("vat_weight", -1), ("entropy_weight", -1), ("vat_xi", 0)]
)
def test_negative_weights_and_sizes_are_refused(key, value):
    with pytest.raises(ValueError, match=f"model.{key}={value}: expected"):
        SemiSupervisedTerms(**{key: value})

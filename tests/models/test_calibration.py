"""models/calibration.py: ECE, reliability bins and temperature scaling on scores with a known
answer: labels drawn from softmax(z), and logits given as z * k (k times too confident)."""

from __future__ import annotations

import pytest
import torch

from lstmlab.models.calibration import (
    BINS,
    class_logits,
    fit_temperature,
    reliability,
    scores_at,
)


def scores(sharpen: float, n: int = 20_000, classes: int = 3, seed: int = 0):
    """Labels drawn from softmax(z), and the logits z * sharpen."""
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn(n, classes, generator=generator) * 2
    labels = torch.multinomial(z.softmax(-1), 1, generator=generator).squeeze(1)
    return z * sharpen, labels


@pytest.mark.parametrize("sharpen", [1.0, 3.0, 50.0])  # 50: float32 probabilities round to 0/1
def test_the_fitted_temperature_undoes_a_known_over_confidence(sharpen):
    logits, labels = scores(sharpen)
    assert fit_temperature(logits, labels) == pytest.approx(sharpen, rel=0.05)


def test_scaling_lowers_nll_and_ece_and_never_changes_a_prediction():
    logits, labels = scores(sharpen=4.0)
    temperature = fit_temperature(logits, labels)
    before, after = scores_at(logits, labels, 1.0), scores_at(logits, labels, temperature)
    assert after["nll"] < before["nll"]
    assert before["ece"] > 0.1 and after["ece"] < 0.02
    assert torch.equal((logits / temperature).argmax(-1), logits.argmax(-1))


def test_the_bce_head_logit_becomes_two_class_logits_with_the_same_probabilities():
    logit = torch.randn(50, 1)
    p = torch.sigmoid(logit)
    assert class_logits(logit, binary_head=True).softmax(-1) == pytest.approx(
        torch.cat([1 - p, p], -1), abs=1e-6
    )
    logits = torch.randn(50, 3)
    assert class_logits(logits, binary_head=False) is logits


def test_reliability_bins_hold_every_example_and_their_accuracy():
    probabilities = torch.tensor([[0.97, 0.03], [0.95, 0.05], [0.3, 0.7], [0.6, 0.4]])
    labels = torch.tensor([0, 1, 1, 1])
    confidence, accuracy, counts = reliability(probabilities, labels)
    assert counts.sum() == 4 and len(counts) == BINS
    top = int(0.95 * BINS)  # both 0.97 and 0.95 fall in the top bin
    assert counts[top] == 2 and accuracy[top] == 0.5
    assert confidence[top] == pytest.approx(0.96)
    assert accuracy[int(0.7 * BINS)] == 1 and accuracy[int(0.6 * BINS)] == 0

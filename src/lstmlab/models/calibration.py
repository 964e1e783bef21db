"""Are the probabilities right as probabilities? Expected calibration error, reliability bins
and temperature scaling (Guo et al., 2017).

A classifier can rank well and still be over-confident: of the reviews it calls positive with
probability 0.99, perhaps only 90 % are. Temperature scaling divides every logit by one number
T fitted on held-out data (the validation split, never test): T > 1 softens over-confident
probabilities, T < 1 sharpens timid ones, and the predicted class never changes. It is fitted
on logits, not probabilities: a confident model's float32 probabilities round to exactly 0 and
1, which no temperature can spread apart again.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics.functional.classification import multiclass_calibration_error

BINS = 15  # confidence bins of ECE and the reliability diagram (Guo et al.'s choice)


def class_logits(logits: Tensor, binary_head: bool) -> Tensor:
    """[B, C] logits whose softmax is the class probabilities: the BCE head's one logit z
    becomes [0, z] (softmax([0, z]) = [1 - sigmoid(z), sigmoid(z)])."""
    return torch.cat([torch.zeros_like(logits), logits], -1) if binary_head else logits


def expected_calibration_error(probabilities: Tensor, labels: Tensor) -> Tensor:
    """ECE: the mean |accuracy - confidence| over confidence bins, weighted by their size."""
    return multiclass_calibration_error(
        probabilities.float(), labels, probabilities.size(-1), n_bins=BINS, norm="l1"
    )


def fit_temperature(logits: Tensor, labels: Tensor) -> float:
    """The T > 0 that minimises the negative log-likelihood of `softmax(logits / T)`
    (optimised over log T, so T stays positive)."""
    logits, labels = logits.detach().float(), labels.detach()
    log_t = torch.zeros((), requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(log_t.detach().exp())


def scores_at(logits: Tensor, labels: Tensor, temperature: float) -> dict[str, float]:
    """Negative log-likelihood and ECE of `softmax(logits / temperature)`."""
    scaled = logits.float() / temperature
    return {
        "nll": float(F.cross_entropy(scaled, labels)),
        "ece": float(expected_calibration_error(scaled.softmax(-1), labels)),
    }


def reliability(probabilities: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Per confidence bin: mean confidence, accuracy and count (empty bins: count 0)."""
    confidence, predicted = probabilities.float().max(-1)
    correct = (predicted == labels).float()
    bins = (confidence * BINS).long().clamp(max=BINS - 1)
    counts = torch.bincount(bins, minlength=BINS).float()
    total = counts.clamp_min(1)
    mean_confidence = torch.bincount(bins, confidence, minlength=BINS) / total
    accuracy = torch.bincount(bins, correct, minlength=BINS) / total
    return mean_confidence, accuracy, counts

"""Classification metrics: the running scores each stage logs, and what an evaluation stage
(val, test) keeps for figures and reports, a confusion matrix and every score."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torchmetrics import MetricCollection
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassConfusionMatrix,
    MulticlassF1Score,
    MulticlassPrecision,
    MulticlassRecall,
)


def stage_metrics(num_classes: int, stage: str) -> MetricCollection:
    """`<stage>/acc` (micro) and macro-averaged `<stage>/f1`, `precision`, `recall`."""
    metrics = MetricCollection(
        {
            "acc": MulticlassAccuracy(num_classes, average="micro"),
            "f1": MulticlassF1Score(num_classes, average="macro"),
            "precision": MulticlassPrecision(num_classes, average="macro"),
            "recall": MulticlassRecall(num_classes, average="macro"),
        }
    )
    return metrics.clone(prefix=f"{stage}/")


@dataclass(frozen=True)
class Evaluation:
    """One val / test epoch: the confusion matrix [C, C] (rows: true class, columns:
    predicted; summed over processes), and this process's probabilities [N, C] and labels [N]
    (for the PR curves)."""

    confusion: Tensor
    probabilities: Tensor
    labels: Tensor


class EvaluationCollector(nn.Module):
    """Collects one evaluation stage's predictions batch by batch; `compute` gives the
    `Evaluation` of the epoch and starts the next one afresh."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.confusion = MulticlassConfusionMatrix(num_classes)
        self._scores: list[tuple[Tensor, Tensor]] = []

    def update(self, probabilities: Tensor, labels: Tensor) -> None:
        self.confusion.update(probabilities.argmax(-1), labels)
        self._scores.append((probabilities.detach().cpu(), labels.cpu()))

    def compute(self) -> Evaluation:
        scores = self._scores
        evaluation = Evaluation(
            confusion=self.confusion.compute().cpu(),
            probabilities=torch.cat([p for p, _ in scores]) if scores else torch.empty(0),
            labels=torch.cat([y for _, y in scores]) if scores else torch.empty(0),
        )
        self.confusion.reset()
        scores.clear()
        return evaluation


PER_CLASS_SCORES = ("precision", "recall", "f1")  # the scores `per_class` gives


def per_class(matrix: Tensor) -> dict[str, Tensor]:
    """Precision, recall and F1 of every class from a confusion matrix (rows: true class);
    0 where a class was never predicted or never present, as torchmetrics does."""
    matrix = matrix.float()
    hits = matrix.diag()
    precision = hits / matrix.sum(0).clamp(min=1)
    recall = hits / matrix.sum(1).clamp(min=1)
    f1 = 2 * precision * recall / (precision + recall).clamp(min=1e-12)
    return dict(zip(PER_CLASS_SCORES, (precision, recall, f1)))

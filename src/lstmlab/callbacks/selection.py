"""Which epoch is the best: validation accuracy, ties broken by the lower validation loss."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch


class SelectionScore(L.Callback):
    """Puts `name` (`val/selection`) beside the validation metrics, for `ModelCheckpoint`,
    which ranks epochs by one number: `accuracy` first, and among epochs of equal accuracy the
    lower `loss`. On a small validation split many epochs tie on accuracy (the first to reach
    1.0 was kept while the loss fell for five more); the loss is the better-calibrated of them.
    See `selection_score` for why the one number orders them exactly so."""

    def __init__(
        self, accuracy: str = "val/acc", loss: str = "val/loss", name: str = "val/selection"
    ) -> None:
        self.accuracy, self.loss, self.name = accuracy, loss, name
        self._examples = 0

    @property
    def logged_metrics(self) -> tuple[str, ...]:
        """The name it adds, which other callbacks may monitor."""
        return (self.name,)

    def on_validation_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._examples = 0

    def on_validation_batch_end(
        self,
        trainer: L.Trainer,
        module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        self._examples += len(batch["labels"])

    def on_validation_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        metrics = (
            trainer.callback_metrics
        )  # before the checkpoint callbacks read it (they run last)
        if trainer.sanity_checking or self.accuracy not in metrics or self.loss not in metrics:
            return
        score = selection_score(
            float(metrics[self.accuracy]), float(metrics[self.loss]), self._examples
        )
        metrics[self.name] = torch.tensor(score)


def selection_score(accuracy: float, loss: float, examples: int) -> float:
    """`accuracy` minus a loss term smaller than one accuracy step: accuracy on `examples`
    texts moves in steps of 1/examples, and loss/(1+loss) < 1 grows with the loss, so a higher
    accuracy always ranks higher and equal accuracies rank by the lower loss."""
    return accuracy - loss / (1 + loss) / max(examples, 1)

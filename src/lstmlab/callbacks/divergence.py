"""A run whose loss has exploded is stopped and said to have diverged, not reported as a
normal run with absurd metrics."""

from __future__ import annotations

import math

import lightning as L


class StopOnDivergence(L.Callback):
    """Stops training when the validation loss (`monitor`) is not finite or above `factor`
    times the cross-entropy of a uniform guess over the classes (ln C), where every model
    starts: a model that learns stays near or below it, one that overfits rises a few times
    over it, and only a diverged one (Adam at lr=1e6: 4.4e6 on two classes) goes a hundred
    times higher. The checkpoints of earlier epochs are kept; the run ends with the error."""

    def __init__(self, monitor: str = "val/loss", factor: float = 100.0) -> None:
        self.monitor = monitor
        self.factor = factor

    def on_validation_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        loss = trainer.callback_metrics.get(self.monitor)
        classes = module.hparams.get("num_classes")
        if trainer.sanity_checking or loss is None or not classes:
            return
        limit = self.factor * math.log(max(classes, 2))
        if math.isfinite(float(loss)) and float(loss) <= limit:
            return
        raise FloatingPointError(
            f"{self.monitor} reached {float(loss):.4g} at epoch {trainer.current_epoch + 1}, "
            f"above {self.factor:g} x ln({classes}) = {limit:.4g} (a uniform guess): training "
            "diverged. The checkpoints of earlier epochs are kept. Try a lower optimizer.lr "
            "or trainer.gradient_clip_val=1.0."
        )

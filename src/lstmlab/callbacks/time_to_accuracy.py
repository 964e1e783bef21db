"""Time to accuracy: training seconds until the validation accuracy first reaches a target,
what a researcher waits for (seconds per epoch alone hide that a faster recipe may need more
epochs). Validation is left out of the time (`TrainingClock`), so validating often, to time
the crossing closely, costs wall time but does not change the figure."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import lightning as L

from lstmlab.callbacks.timing import TrainingClock, TrainingTimeCallback, synchronize


class AccuracyRace:
    """The bookkeeping: every validation check as (training seconds, step, accuracy), and the
    first check that reaches `target` (later ones never move it)."""

    def __init__(self, target: float, max_train_s: float | None = None) -> None:
        if not 0.0 < target <= 1.0:
            raise ValueError(
                f"time_to_accuracy target={target}: expected an accuracy in (0, 1], e.g. 0.855 "
                "for 85.5 %"
            )
        self.target, self.max_train_s = target, max_train_s
        self.checks: list[tuple[float, int, float]] = []
        self.reached: tuple[float, int, float] | None = None

    def record(self, train_s: float, step: int, accuracy: float) -> None:
        self.checks.append((train_s, step, accuracy))
        if self.reached is None and accuracy >= self.target:
            self.reached = (train_s, step, accuracy)

    @property
    def over(self) -> bool:
        """Reached, or out of training time."""
        last_s = self.checks[-1][0] if self.checks else 0.0
        return self.reached is not None or (
            self.max_train_s is not None and last_s >= self.max_train_s
        )

    def summary(self) -> dict[str, Any]:
        """`time_to_target_s` and `steps_to_target` are None when the target was not reached
        (then `train_s` says for how long it was not)."""
        reached = self.reached or (None, None, None)
        return {
            "target_acc": self.target,
            "time_to_target_s": None if reached[0] is None else round(reached[0], 3),
            "steps_to_target": reached[1],
            "best_acc": max((acc for *_, acc in self.checks), default=None),
            "train_s": round(self.checks[-1][0], 3) if self.checks else 0.0,
            "max_train_s": self.max_train_s,
            "val_checks": [[round(s, 3), step, round(acc, 4)] for s, step, acc in self.checks],
        }


class TimeToAccuracy(TrainingTimeCallback):
    """Times training until `monitor` first reaches `target` at a validation check, and stops
    the run there when `stop` is set, or once `max_train_s` training seconds have passed.
    Validate often (`trainer.val_check_interval`) to time the crossing closely; the time is
    kept in results.json (`timing.time_to_accuracy`). Not carried across a resume."""

    def __init__(
        self,
        target: float = 0.855,
        monitor: str = "val/acc",
        stop: bool = True,
        max_train_s: float | None = None,
        now: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.race = AccuracyRace(target, max_train_s)
        self.monitor, self.stop, self._now = monitor, stop, now
        self._clock = TrainingClock(now=now)

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._clock = TrainingClock(sync=lambda: synchronize(module.device), now=self._now)
        self._clock.start()

    def on_validation_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.sanity_checking or self.monitor not in trainer.callback_metrics:
            return
        accuracy = float(trainer.callback_metrics[self.monitor])
        self.race.record(self._clock.seconds, trainer.global_step, accuracy)
        if self.race.over and (self.stop or self.race.reached is None):
            trainer.should_stop = True

    def summary(self) -> dict[str, Any]:
        return self.race.summary()

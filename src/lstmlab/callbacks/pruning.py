"""Pruning for Optuna trials that train in a process of their own (sweep.py's workers start
each trial as `train.py`): the run reports its monitored metric to its trial in the study's
storage after every validation, and stops when the study's pruner says the trial is hopeless.

The run then ends as a finished one would (its checkpoints and results.json written, with
`status: pruned`), so the worker tells the study the trial was pruned, and a person reading the
run folder or `scripts/compare.py` sees why it stopped early.
"""

from __future__ import annotations

import lightning as L
import optuna
from lightning.pytorch.utilities import rank_zero_info

from lstmlab.io.study_storage import open_storage


class OptunaPruning(L.Callback):
    """Reports `monitor` to trial number `trial` of the study `study_name` in `storage` each
    epoch; `pruned_at` is the epoch the pruner stopped the run at (None: it ran to the end).
    With `trial=None` (a run that is no trial) it does nothing."""

    def __init__(
        self,
        storage: str,
        study_name: str,
        trial: int | None,
        pruner: optuna.pruners.BasePruner,
        monitor: str,
    ) -> None:
        self.storage, self.study_name, self.number = storage, study_name, trial
        self.pruner, self.monitor = pruner, monitor
        self.pruned_at: int | None = None
        self._trial: optuna.Trial | None = None

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.number is None or not trainer.is_global_zero:
            return
        study = optuna.load_study(
            study_name=self.study_name, storage=open_storage(self.storage), pruner=self.pruner
        )
        frozen = study.get_trials(deepcopy=False)[self.number]
        if frozen.state.is_finished():  # a finished trial's run trained on with resume=
            rank_zero_info(f"Trial {self.number} has finished: this run reports nothing to it.")
            return
        self._trial = optuna.Trial(study, frozen._trial_id)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or self.number is None:
            return
        prune = False
        if self._trial is not None:
            value = trainer.callback_metrics.get(self.monitor)
            if value is None:
                raise KeyError(
                    f"callbacks.optuna_pruning.monitor={self.monitor} was not logged: monitor "
                    f"a metric the run logs, such as {', '.join(trainer.callback_metrics)}."
                )
            self._trial.report(float(value), step=trainer.current_epoch)
            prune = self._trial.should_prune()
        if trainer.strategy.broadcast(prune):  # every rank stops together
            self.pruned_at = trainer.current_epoch
            trainer.should_stop = True
            rank_zero_info(
                f"Trial {self.number} pruned after epoch {self.pruned_at}: its {self.monitor} "
                f"is not promising next to the study's other trials ({type(self.pruner).__name__})."
            )

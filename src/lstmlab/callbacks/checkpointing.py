"""Checkpoints to continue from: one written when a cluster stops the run (SIGTERM), SLURM
asks it to requeue (SIGUSR1) or the user presses Ctrl-C, and checkpoint state that follows its
run folder when it is moved."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import lightning as L
import torch
from lightning.fabric.plugins.environments import SLURMEnvironment
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from lightning.pytorch.utilities.exceptions import SIGTERMException

LOGGED_METRICS = "logged_metrics"  # the checkpoint's key for them (LastCheckpoint)
REQUEUE = "SLURM's requeue signal (SIGUSR1)"
EXIT_CODES = {"SIGTERM": 143, "Ctrl-C (SIGINT)": 130, REQUEUE: 138}  # 128 + signal number


class CheckpointOnSigterm(L.Callback):
    """On SIGTERM (a scheduler's pre-emption or time-limit notice), Lightning stops after the
    current batch; this callback first writes `checkpoints/last.ckpt`, so the run continues
    with `resume=<run folder>`. The first Ctrl-C during training is turned into a SIGTERM, so
    it stops the same way instead of dropping the epoch's work mid-batch; a second Ctrl-C stops
    at once. SIGKILL cannot be caught: then the last `last.ckpt` written (at an epoch's end, or
    every N steps) is where to continue from. Stopped in validation, the checkpoint holds the
    epoch's training and a validation still to run; stopped in testing, none is written (the
    fit's `last.ckpt` stays).

    In a SLURM job (Lightning's `SLURMEnvironment`), SLURM's requeue signal stops the run the
    same way, then requeues the job with `scontrol requeue`, as Lightning's auto-requeue does;
    the job, started again with the same command, continues the run in its folder
    (`resume.continue_in_place`). Lightning's own handler would save a checkpoint from inside
    the signal handler, in the middle of a step, and train on until SLURM ends the job."""

    def __init__(self) -> None:
        self.stopped_by = "SIGTERM"
        self._ctrl_c: Any = None  # the SIGINT handler to restore, while ours is installed

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if threading.current_thread() is threading.main_thread():  # signals reach only it
            self._ctrl_c = signal.signal(signal.SIGINT, self._stop_after_this_batch)
            if SLURMEnvironment.detect():  # Lightning restores its handler after fitting
                signal.signal(signal.SIGUSR1, self._requeue_after_this_batch)

    def _stop_after_this_batch(self, signum: int, frame: FrameType | None) -> None:
        self.stopped_by = "Ctrl-C (SIGINT)"
        self._restore_ctrl_c()  # a second Ctrl-C interrupts at once
        os.kill(os.getpid(), signal.SIGTERM)  # Lightning's handler: stop after this batch

    def _requeue_after_this_batch(self, signum: int, frame: FrameType | None) -> None:
        self.stopped_by = REQUEUE
        os.kill(os.getpid(), signal.SIGTERM)

    def _restore_ctrl_c(self) -> None:
        if self._ctrl_c is not None:
            signal.signal(signal.SIGINT, self._ctrl_c)
            self._ctrl_c = None

    def on_train_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._restore_ctrl_c()

    def on_exception(
        self, trainer: L.Trainer, module: L.LightningModule, error: BaseException
    ) -> None:
        self._restore_ctrl_c()
        if isinstance(error, SIGTERMException) and trainer.state.fn == TrainerFn.FITTING:
            if trainer.validating and not trainer.sanity_checking:
                validation_not_started(trainer)
            trainer.save_checkpoint(last_checkpoint_path(trainer))
            if self.stopped_by == REQUEUE and trainer.is_global_zero:
                requeue_slurm_job()


def requeue_slurm_job() -> None:
    """`scontrol requeue` of this SLURM job (an array job's own task), as Lightning's
    auto-requeue runs it."""
    array = os.environ.get("SLURM_ARRAY_JOB_ID")
    job = f"{array}_{os.environ['SLURM_ARRAY_TASK_ID']}" if array else os.environ["SLURM_JOB_ID"]
    try:
        done = subprocess.run(["scontrol", "requeue", job], capture_output=True, text=True)
    except FileNotFoundError as error:
        done = subprocess.CompletedProcess(error.filename, 127, "", str(error))
    if done.returncode == 0:
        rank_zero_info(f"Requeued SLURM job {job}: started again, it continues this run.")
    else:
        rank_zero_warn(
            f"`scontrol requeue {job}` failed ({done.stderr.strip() or done.returncode}): "
            "continue the run with the resume= command below."
        )


def validation_not_started(trainer: L.Trainer) -> None:
    """Rewinds the running validation's progress to "stopped before its first batch", so a
    checkpoint saved now holds the epoch's training done and its validation still to run.
    Saved as it stands (some batches done), Lightning would skip the rest of the validation
    on resume: the epoch is never validated, and early stopping finds no `val/*` metric. The
    metrics of the batches already seen are not in the checkpoint, so the whole validation
    runs again; this is the state of a checkpoint written in a validation step, which
    Lightning continues by validating."""
    progress = trainer.fit_loop.epoch_loop.val_loop.batch_progress
    before = progress.total.completed - progress.current.completed  # earlier in this epoch
    for tracker, done in ((progress.total, before), (progress.current, 0)):
        tracker.ready = tracker.started = done + 1
        tracker.processed = tracker.completed = done


class RunCheckpoint(ModelCheckpoint):
    """`ModelCheckpoint` whose saved state follows the run folder: a copied or moved run,
    resumed, keeps (and tests) its own best checkpoint, not the one at the path it was first
    written to (Lightning restores that path as it was, even from another folder). A new run
    started from another run's checkpoint (`ckpt_path=`) holds no copy of that run's files, so
    its state is left to Lightning, which then keeps only the other run's best path."""

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        saved = state_dict.get("dirpath")
        if saved and self.dirpath and Path(saved) != Path(self.dirpath):
            best = state_dict.get("best_model_path") or ""
            if best and (Path(self.dirpath) / Path(best).name).is_file():  # the run's own copy
                state_dict = {k: _moved(v, saved, self.dirpath) for k, v in state_dict.items()}
        super().load_state_dict(state_dict)


class LastCheckpoint(RunCheckpoint):
    """`RunCheckpoint` that keeps its epoch-end saves when `every_n_train_steps` adds mid-epoch
    ones. Lightning's treats the two as exclusive (it refuses `every_n_epochs` next to
    `every_n_train_steps`) and, given the steps, silently stops saving at epochs' ends."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._every_n_epochs = 1  # the attribute Lightning's epoch-end hooks read
        self._logged: dict[str, float] = {}  # metrics restored from the checkpoint resumed

    def on_save_checkpoint(
        self, trainer: L.Trainer, module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        """The metrics logged so far travel with the checkpoint, so a run resumed with no
        training left (it was stopped in testing) still reports the validation it ended with."""
        logged = trainer.callback_metrics.items()
        checkpoint[LOGGED_METRICS] = {name: float(value) for name, value in logged}

    def on_load_checkpoint(
        self, trainer: L.Trainer, module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        """Kept when fitting goes on, not when testing the best (an earlier) checkpoint."""
        if trainer.state.fn == TrainerFn.FITTING:
            self._logged = checkpoint.get(LOGGED_METRICS, {})

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        """Restored here: Lightning clears the metrics after loading the checkpoint."""
        super().on_train_start(trainer, module)
        logged = self._logged.items()
        trainer.callback_metrics.update({name: torch.tensor(value) for name, value in logged})


class ResumableEarlyStopping(EarlyStopping):
    """`EarlyStopping` whose decision outlives a resume. Lightning restores the callback's
    state but not the trainer's `should_stop`, so a run that stopped early and was interrupted
    before its results (in testing) would train on when continued; this one stops it again at
    once. To train an early-stopped run on, resume it without early stopping."""

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if self.stopped_epoch > 0:  # Lightning's own mark of a stop (0: never stopped)
            trainer.should_stop = True


def _moved(value: Any, old: str, new: str) -> Any:
    """`value` (a path, or a dict keyed by paths) with the folder `old` replaced by `new`."""
    if isinstance(value, dict):
        return {_moved(key, old, new): item for key, item in value.items()}
    if isinstance(value, str) and value == old:
        return new
    if isinstance(value, str) and value and Path(value).parent == Path(old):
        return str(Path(new) / Path(value).name)
    return value


def stop_signal(trainer: L.Trainer) -> tuple[str, int]:
    """What stopped the run (`SIGTERM` or `Ctrl-C (SIGINT)`) and the exit code for it."""
    callback = next((c for c in trainer.callbacks if isinstance(c, CheckpointOnSigterm)), None)
    name = callback.stopped_by if callback else "SIGTERM"
    return name, EXIT_CODES[name]


def last_checkpoint_path(trainer: L.Trainer) -> Path:
    """The run's `checkpoints/last.ckpt`, where `ModelCheckpoint` keeps the latest state."""
    folder = getattr(trainer.checkpoint_callback, "dirpath", None)
    return Path(folder or Path(trainer.default_root_dir) / "checkpoints") / "last.ckpt"

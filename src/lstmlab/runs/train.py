"""One training run, top to bottom: seed, data, model, callbacks, loggers, fit, test, report."""

from __future__ import annotations

import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

import hydra
import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from lightning.pytorch.utilities import rank_zero_info
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf

from lstmlab.callbacks.checkpointing import last_checkpoint_path, stop_signal
from lstmlab.io.checkpoint_io import AtomicCheckpointIO
from lstmlab.reporting.console import print_config_tree, print_summary
from lstmlab.reporting.hparams import hparam_key, hyperparameters, log_hparams, metric_columns
from lstmlab.reporting.run_log import run_logged
from lstmlab.reporting.trackers import browse_commands, log_to_trackers
from lstmlab.runs import resolvers, run_folder
from lstmlab.runs.checkpoints import read_checkpoint
from lstmlab.runs.config_checks import check_config, check_spelling
from lstmlab.runs.config_types import CHECKED_GROUPS, check_types
from lstmlab.runs.instantiation import build_loggers, checkpoint_step, instantiate_named
from lstmlab.runs.model_setup import build_datamodule, build_model
from lstmlab.runs.monitors import check_monitors
from lstmlab.runs.multirun import own_ddp_ranks
from lstmlab.runs.refusals import Refusal, checking_input, said_in_full, without_traceback
from lstmlab.runs.results import confusion_matrix, final_metrics, pruned, save_results
from lstmlab.runs.resume import NothingToTrain, ResumeError, continue_in_place, expand_resume


def train(cfg: DictConfig) -> float | None:
    """Fit, then test the best checkpoint; returns `cfg.optimized_metric` for sweepers."""
    started, name = time.perf_counter(), tensorboard_name(cfg)
    with checking_input():  # a refusal is the first thing printed, without a traceback
        # e.g. data.batch_size=abc or optimizer.lr=abc, before any work
        check_types(cfg, *CHECKED_GROUPS)
        check_config(cfg, "train")  # e.g. +modle=bilstm, seed=abc, optimizer.lr=-1, max_epochs=0
        L.seed_everything(cfg.seed, workers=True)
        resumed_at = checkpoint_step(cfg)  # a missing, truncated or foreign ckpt_path: now
        trained = read_checkpoint(cfg.ckpt_path) if resumed_at is not None else None
        datamodule = build_datamodule(cfg, trained)
        model, coverage = build_model(cfg, datamodule, trained)
        callbacks = instantiate_named(cfg.get("callbacks"))
        check_monitors(cfg, model, callbacks)  # e.g. early_stopping.monitor=val/acc_typo
    print_config_tree(cfg)
    loggers = build_loggers(cfg.get("logger"), resumed_at)
    trainer: L.Trainer = instantiate(
        cfg.trainer,
        callbacks=list(callbacks.values()),
        logger=loggers,
        plugins=[AtomicCheckpointIO()],
    )
    fit(trainer, model, datamodule, cfg)
    metrics = final_metrics(trainer)
    best_ckpt = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else None
    if cfg.get("test") and not pruned(trainer):  # a pruned trial is not worth testing
        test(trainer, model, datamodule, best_ckpt, cfg)
        metrics.update(final_metrics(trainer))

    choices = HydraConfig.get().runtime.choices if HydraConfig.initialized() else {}
    params = {**hyperparameters(cfg, choices), **coverage}
    columns = metric_columns(cfg.get("optimized_metric"))
    config = OmegaConf.to_yaml(cfg, resolve=True)
    try:
        log_hparams(trainer.loggers, params, columns, name, [*differing_keys(), *coverage], config)
        save_results(
            cfg,
            trainer,
            model,
            started,
            metrics,
            best_ckpt,
            test_confusion_matrix=confusion_matrix(model, "test"),
        )
    except OSError as error:  # a full disk after testing: what was trained is kept
        raise Refusal(not_reported(error, trainer, cfg)) from error
    browse = browse_commands(trainer.loggers, comparison_dir(cfg))
    print_summary(metrics, trainer.default_root_dir, best_ckpt, browse)
    files = [Path(cfg.paths.output_dir) / name for name in ("results.json", "train.log")]
    log_to_trackers(trainer.loggers, params, best_ckpt, files, config)
    return metrics.get(cfg.get("optimized_metric"))


def fit(trainer: L.Trainer, model: L.LightningModule, datamodule: Any, cfg: DictConfig) -> None:
    """`trainer.fit`, from `cfg.ckpt_path` if set; a full disk or a stop signal ends the run
    with what was kept and the `resume=` command that continues it."""
    try:
        with said_in_full(FloatingPointError):  # a NaN loss, a diverged run: its message says all
            trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    except OSError as error:  # a full disk or a lost folder while writing checkpoints or logs
        raise OSError(
            error.errno,
            f"{error.strerror or error} ({error.filename or 'writing the run'}) at step "
            f"{trainer.global_step}. Checkpoints are written whole or not at all, so those in "
            f"{last_checkpoint_path(trainer).parent} are intact: free space (or fix the "
            f"folder), then continue with: {resume_command(cfg)}",
        ) from error
    except SIGTERMException:  # SIGTERM, or Ctrl-C (callbacks/checkpointing.py)
        exit_after_sigterm(trainer, resume_command(cfg))
    exit_if_signalled(trainer, cfg)


def test(
    trainer: L.Trainer,
    model: L.LightningModule,
    datamodule: Any,
    best_ckpt: str | None,
    cfg: DictConfig,
) -> None:
    """`trainer.test` on the best checkpoint (the final weights if none was saved); a stop
    signal ends the run with the `resume=` command, which tests it and writes its results."""
    if not best_ckpt:
        rank_zero_info("No checkpoint was saved: testing the final weights instead.")
    try:
        trainer.test(model, datamodule=datamodule, ckpt_path=best_ckpt or None, verbose=False)
    except SIGTERMException:
        exit_after_sigterm(trainer, resume_command(cfg))
    exit_if_signalled(trainer, cfg)


def exit_if_signalled(trainer: L.Trainer, cfg: DictConfig) -> None:
    """A signal in a stage's last batch ends the stage normally (Lightning checks for one only
    before the next batch), yet the scheduler that sent it must not see success."""
    if trainer.received_sigterm:
        exit_after_sigterm(trainer, resume_command(cfg))


def resume_command(cfg: DictConfig) -> str:
    """The command that continues this run in its folder (after a signal or a full disk)."""
    return f"python train.py resume={cfg.paths.output_dir}"


def not_reported(error: OSError, trainer: L.Trainer, cfg: DictConfig) -> str:
    """What was not written after testing, that the checkpoints are whole (written whole or
    not at all, io/checkpoint_io.py), and the command that writes the results once there is
    space (`resume=` of a run without results.json tests it and writes them)."""
    where = f" ({error.filename})" if error.filename else ""
    return (
        f"Error: {error.strerror or error}{where} after testing: the results (results.json, "
        f"the HPARAMS row) were not written, but the checkpoints in "
        f"{last_checkpoint_path(trainer).parent} are intact. Free space (or fix the folder), "
        f"then write the results with: {resume_command(cfg)}"
    )


def exit_after_sigterm(trainer: L.Trainer, continue_with: str) -> NoReturn:
    """Says where the run stopped (SIGTERM or Ctrl-C) and how to continue it, and exits with
    the shell's code for that signal (train.py and pretrain.py)."""
    signal_name, exit_code = stop_signal(trainer)
    last = last_checkpoint_path(trainer)
    where = (
        f"while testing; {last} keeps the training's final state"
        if trainer.testing
        else f"at step {trainer.global_step}; checkpoint written to {last}"
    )
    rank_zero_info(
        f"Stopped by {signal_name} {where}. Continue the run in place with: {continue_with}"
    )
    raise SystemExit(exit_code) from None


def tensorboard_name(cfg: DictConfig) -> str:
    """The run's name in the HPARAMS table: what tells it apart (a sweep job's swept values,
    e.g. `pooling=max,seed=1`), then its start time, so that runs of other sweeps with the same
    values get rows of their own."""
    when = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    if not HydraConfig.initialized():  # train() called with a composed config, as tests do
        return f"{Path(cfg.paths.output_dir).name} · {when}"
    return f"{resolvers.label(HydraConfig.get())} · {when}"


def differing_keys() -> list[str]:
    """The keys that tell this run apart (a sweep job's swept keys, a single run's overrides);
    none for a config composed without Hydra's command line (as tests do)."""
    if not HydraConfig.initialized():
        return []
    return [hparam_key(key) for key in resolvers.distinguishing_keys(HydraConfig.get())]


def comparison_dir(cfg: DictConfig) -> str:
    """Where to point TensorBoard: a sweep's folder (its runs named by their swept values), or
    all of the log folder."""
    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        return HydraConfig.get().sweep.dir
    return cfg.paths.log_dir


@hydra.main(version_base="1.3", config_path=resolvers.CONFIG_DIR, config_name="train")
def _main(cfg: DictConfig) -> float | None:
    # a sweep's job keeps its DDP ranks to itself; one writer per run folder (run_folder.py)
    # run_logged inside writing: a run refused for a busy folder leaves that folder's log alone
    with (
        own_ddp_ranks(),
        run_folder.writing(cfg.paths.output_dir),
        run_logged(),
        without_traceback(),
    ):
        try:
            continue_in_place(cfg)  # a sweep's job re-run into its folder, a requeued SLURM job
        except NothingToTrain as finished:
            rank_zero_info(str(finished))
            return None
        return train(cfg)


def main() -> None:
    """`python train.py ...` / `lstmlab-train ...`; `resume=<run folder>` is expanded first."""
    given = sys.argv[1:]
    try:
        sys.argv[1:] = expand_resume(given)  # see runs/resume.py
        check_spelling(sys.argv[1:])  # model.pooling=max: the old spelling, refused with the new
    except (ResumeError, ValueError) as error:
        sys.exit(f"Error: {error}")
    except NothingToTrain as finished:
        print(finished)
        return
    resolvers.register()
    resuming = sys.argv[1:] != given  # only resume= writes into a run's folder again
    run_folder.run_in_own_folder(_main, sys.argv[1:], resuming)  # checked before Hydra writes

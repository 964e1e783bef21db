"""One training run, top to bottom: seed, data, model, callbacks, loggers, fit, test, report."""

from __future__ import annotations

import sys
import time
from datetime import datetime
from pathlib import Path
from typing import NoReturn

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
from lstmlab.io.lock import FolderLocked
from lstmlab.reporting.console import print_config_tree, print_summary
from lstmlab.reporting.hparams import hyperparameters, log_hparams
from lstmlab.reporting.run_log import run_logged
from lstmlab.reporting.trackers import log_to_trackers
from lstmlab.runs import resolvers, run_folder
from lstmlab.runs.checkpoints import align_labels, check_classes, check_shapes, read_checkpoint
from lstmlab.runs.config_checks import check_config
from lstmlab.runs.config_types import check_types
from lstmlab.runs.instantiation import build_loggers, checkpoint_step, instantiate_each
from lstmlab.runs.multirun import own_ddp_ranks
from lstmlab.runs.refusals import without_traceback
from lstmlab.runs.results import confusion_matrix, final_metrics, save_results
from lstmlab.runs.resume import NothingToTrain, ResumeError, expand_resume, run_folder_given


def exit_after_sigterm(trainer: L.Trainer, continue_with: str) -> NoReturn:
    """Says where the run stopped (SIGTERM or Ctrl-C) and how to continue it, and exits with
    the shell's code for that signal."""
    signal_name, exit_code = stop_signal(trainer)
    rank_zero_info(
        f"Stopped by {signal_name} at step {trainer.global_step}; checkpoint written to "
        f"{last_checkpoint_path(trainer)}. Continue the run in place with: {continue_with}"
    )
    raise SystemExit(exit_code) from None


def train(cfg: DictConfig) -> float | None:
    """Fit, then test the best checkpoint; returns `cfg.optimized_metric` for sweepers."""
    started, name = time.perf_counter(), tensorboard_name(cfg)
    print_config_tree(cfg)
    # e.g. data.batch_size=abc or optimizer.lr=abc, before any work
    check_types(cfg, "data", "model", "optimizer", "scheduler.scheduler", "trainer")
    check_config(cfg, "train")  # e.g. +modle=bilstm, seed=abc, optimizer.lr=-1, max_epochs=0
    L.seed_everything(cfg.seed, workers=True)
    resumed_at = checkpoint_step(cfg)  # a missing, truncated or foreign ckpt_path: an error now
    trained = read_checkpoint(cfg.ckpt_path) if resumed_at is not None else None
    classes = trained["hyper_parameters"].get("class_names") if trained else None
    datamodule: L.LightningDataModule = instantiate(align_labels(cfg.data, classes))
    datamodule.prepare_data()
    datamodule.setup("fit")  # the vocabulary size and class count are known from here on
    model = build_model(cfg, datamodule)
    if trained is not None:  # its classes and shapes must be this run's
        check_classes(classes, getattr(datamodule, "class_names", None), cfg.ckpt_path)
        check_shapes(trained, model, cfg.ckpt_path)
    coverage = {} if cfg.get("ckpt_path") else start_from_pretrained(cfg, model, datamodule)
    callbacks = instantiate_each(cfg.get("callbacks"))
    loggers = build_loggers(cfg.get("logger"), resumed_at)
    trainer: L.Trainer = instantiate(
        cfg.trainer, callbacks=callbacks, logger=loggers, plugins=[AtomicCheckpointIO()]
    )
    try:
        trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    except OSError as error:  # a full disk or a lost folder while writing checkpoints or logs
        raise OSError(
            error.errno,
            f"{error.strerror or error} ({error.filename or 'writing the run'}) at step "
            f"{trainer.global_step}. Checkpoints are written whole or not at all, so those in "
            f"{last_checkpoint_path(trainer).parent} are intact: free space (or fix the "
            f"folder), then continue with: python train.py resume={cfg.paths.output_dir}",
        ) from error
    except SIGTERMException:  # SIGTERM, or Ctrl-C (callbacks/checkpointing.py)
        exit_after_sigterm(trainer, f"python train.py resume={cfg.paths.output_dir}")
    metrics = final_metrics(trainer)
    best_ckpt = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else None
    if cfg.get("test"):
        if not best_ckpt:
            rank_zero_info("No checkpoint was saved: testing the final weights instead.")
        trainer.test(model, datamodule=datamodule, ckpt_path=best_ckpt or None, verbose=False)
        metrics.update(final_metrics(trainer))

    params = {**hyperparameters(cfg), **coverage}
    log_hparams(
        trainer.loggers, params, metrics, name, trainer.global_step, cfg.get("optimized_metric")
    )
    log_to_trackers(trainer.loggers, params, best_ckpt)
    save_results(
        cfg,
        trainer,
        model,
        started,
        metrics,
        best_ckpt,
        test_confusion_matrix=confusion_matrix(model, "test"),
    )
    print_summary(metrics, trainer.default_root_dir, best_ckpt, comparison_dir(cfg))
    return metrics.get(cfg.get("optimized_metric"))


def tensorboard_name(cfg: DictConfig) -> str:
    """The run's name in the HPARAMS table: what tells it apart (a sweep job's swept values,
    e.g. `pooling=max,seed=1`), then its start time, so that runs of other sweeps with the same
    values get rows of their own."""
    when = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    if not HydraConfig.initialized():  # train() called with a composed config, as tests do
        return f"{Path(cfg.paths.output_dir).name} · {when}"
    return f"{resolvers.label(HydraConfig.get())} · {when}"


def comparison_dir(cfg: DictConfig) -> str:
    """Where to point TensorBoard: a sweep's folder (its runs named by their swept values), or
    all of the log folder."""
    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        return HydraConfig.get().sweep.dir
    return cfg.paths.log_dir


def build_model(cfg: DictConfig, datamodule: L.LightningDataModule) -> L.LightningModule:
    """`cfg.model`, sized by the data, with the optimiser and scheduler configs to complete."""
    return instantiate(
        cfg.model,
        vocab_size=datamodule.vocab_size,
        num_classes=datamodule.num_classes,
        pad_id=datamodule.pad_id,
        class_names=getattr(datamodule, "class_names", None),
        loss_weights=getattr(datamodule, "loss_weights", None),
        data=OmegaConf.to_container(cfg.data, resolve=True),
        optimizer=OmegaConf.to_container(cfg.optimizer, resolve=True),
        scheduler=OmegaConf.to_container(cfg.scheduler, resolve=True) or None,
        _recursive_=False,  # optimizer/scheduler stay plain configs, completed by the module
        _convert_="all",
    )


def start_from_pretrained(
    cfg: DictConfig, model: L.LightningModule, datamodule: L.LightningDataModule
) -> dict[str, float]:
    """Starts a new run from pretrained weights where configured: word vectors in the embedding
    (`model.embedding.vectors`) or a pretrained encoder in the embedding and LSTM
    (`model.pretrained_encoder`). Returns the vectors' coverage for the HPARAMS tab. Not for a
    run from a checkpoint: its trained weights stay."""
    vectors = OmegaConf.select(cfg, "model.embedding.vectors")
    encoder = OmegaConf.select(cfg, "model.pretrained_encoder")
    if vectors is None and encoder is None:
        return {}
    if vectors is not None and encoder is not None:
        raise ValueError(
            "model.embedding.vectors and model.pretrained_encoder both set the embedding, and "
            "the encoder's would replace the vectors. Set model.embedding.vectors=null (an "
            "encoder pretrained from vectors holds them already, trained further)."
        )
    tokenizer = getattr(datamodule, "tokenizer", None)
    if tokenizer is None:
        key = "embedding.vectors" if vectors is not None else "pretrained_encoder"
        raise ValueError(
            f"model.{key} needs a vocabulary of words, but {type(datamodule).__name__} has no "
            "tokenizer (the synthetic task's tokens are ids). Use data=imdb, "
            f"data=text_files or data=topics, or set model.{key}=null."
        )
    if encoder is not None:
        model.load_encoder(tokenizer.to_str())
        return {}
    coverage = model.load_vectors(tokenizer.get_vocab())
    rank_zero_info(str(coverage))
    return {"model.embedding.coverage": round(coverage.fraction, 4)}


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
        return train(cfg)


def main() -> None:
    """`python train.py ...` / `lstmlab-train ...`; `resume=<run folder>` is expanded first."""
    try:
        sys.argv[1:] = expand_resume(sys.argv[1:])  # see runs/resume.py
    except ResumeError as error:
        sys.exit(f"Error: {error}")
    except NothingToTrain as finished:
        print(finished)
        return
    resolvers.register()
    try:
        with run_folder.claimed(run_folder_given(sys.argv[1:])):  # before Hydra writes there
            _main()
    except FolderLocked as error:
        sys.exit(f"Error: {error}")

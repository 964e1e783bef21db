"""One training run, top to bottom: seed, data, model, callbacks, loggers, fit, test, report."""

from __future__ import annotations

import sys
import time

import hydra
import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.utilities import rank_zero_info
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf

from lstmlab.callbacks.checkpointing import last_checkpoint_path
from lstmlab.io.checkpoint_io import AtomicCheckpointIO
from lstmlab.reporting.console import print_config_tree, print_summary
from lstmlab.reporting.hparams import hyperparameters, log_hparams_with_metrics
from lstmlab.reporting.run_log import run_logged
from lstmlab.reporting.trackers import log_to_trackers
from lstmlab.runs import resolvers
from lstmlab.runs.config_types import check_types
from lstmlab.runs.instantiation import build_loggers, checkpoint_step, instantiate_each
from lstmlab.runs.multirun import own_ddp_ranks
from lstmlab.runs.refusals import without_traceback
from lstmlab.runs.results import confusion_matrix, final_metrics, save_results
from lstmlab.runs.resume import ResumeError, expand_resume

SIGTERM_EXIT = 143  # 128 + SIGTERM, the shell's convention for "terminated"


def train(cfg: DictConfig) -> float | None:
    """Fit, then test the best checkpoint; returns `cfg.optimized_metric` for sweepers."""
    started = time.perf_counter()
    print_config_tree(cfg)
    L.seed_everything(cfg.seed, workers=True)

    # e.g. data.batch_size=abc or optimizer.lr=abc, before any work
    check_types(cfg, "data", "model", "optimizer", "scheduler.scheduler", "trainer")
    resumed_at = checkpoint_step(cfg)  # a missing, truncated or foreign ckpt_path: an error now
    datamodule: L.LightningDataModule = instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")  # the vocabulary size and class count are known from here on
    model = build_model(cfg, datamodule)
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
    except SIGTERMException:
        rank_zero_info(
            f"Stopped by SIGTERM at step {trainer.global_step}; checkpoint written to "
            f"{last_checkpoint_path(trainer)}. Continue the run in place with: "
            f"python train.py resume={cfg.paths.output_dir}"
        )
        raise SystemExit(SIGTERM_EXIT) from None
    metrics = final_metrics(trainer)
    best_ckpt = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else None
    if cfg.get("test"):
        if not best_ckpt:
            rank_zero_info("No checkpoint was saved: testing the final weights instead.")
        trainer.test(model, datamodule=datamodule, ckpt_path=best_ckpt or None, verbose=False)
        metrics.update(final_metrics(trainer))

    params = {**hyperparameters(cfg), **coverage}
    log_hparams_with_metrics(trainer.loggers, params, metrics)
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
    print_summary(metrics, trainer.default_root_dir, best_ckpt, cfg.paths.log_dir)
    return metrics.get(cfg.get("optimized_metric"))


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
    with run_logged(), own_ddp_ranks(), without_traceback():  # a sweep's job keeps its DDP ranks
        return train(cfg)


def main() -> None:
    """`python train.py ...` / `lstmlab-train ...`; `resume=<run folder>` is expanded first."""
    try:
        sys.argv[1:] = expand_resume(sys.argv[1:])  # see runs/resume.py
    except ResumeError as error:
        sys.exit(f"Error: {error}")
    resolvers.register()
    _main()

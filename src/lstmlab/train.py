"""One training run, top to bottom: seed, data, model, callbacks, loggers, fit, test, report."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from lightning.pytorch.utilities import rank_zero_info, rank_zero_only
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf, read_write

from lstmlab.checkpoints import last_checkpoint_path, read_checkpoint
from lstmlab.config_types import check_types
from lstmlab.console import print_config_tree, print_summary
from lstmlab.hparams import hyperparameters, log_hparams_with_metrics
from lstmlab.timing import EpochTimer

SIGTERM_EXIT = 143  # 128 + SIGTERM, the shell's convention for "terminated"
REPORTED_STAGES = ("val/", "test/")  # final metrics shown in the summary and the HPARAMS tab


def train(cfg: DictConfig) -> float | None:
    """Fit, then test the best checkpoint; returns `cfg.optimized_metric` for sweepers."""
    started = time.perf_counter()
    print_config_tree(cfg)
    L.seed_everything(cfg.seed, workers=True)

    check_types(cfg, "data", "model", "trainer")  # e.g. data.batch_size=abc, before any work
    resumed_at = checkpoint_step(cfg)  # a missing, truncated or foreign ckpt_path: an error now
    datamodule: L.LightningDataModule = instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")  # the vocabulary size and class count are known from here on
    model = build_model(cfg, datamodule)
    coverage = {} if cfg.get("ckpt_path") else start_from_pretrained(cfg, model, datamodule)
    callbacks = instantiate_each(cfg.get("callbacks"))
    loggers = build_loggers(cfg.get("logger"), resumed_at)
    trainer: L.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers)
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
        trainer.test(model, datamodule=datamodule, ckpt_path=best_ckpt or None)
        metrics.update(final_metrics(trainer))

    params = {**hyperparameters(cfg), **coverage}
    log_hparams_with_metrics(trainer.loggers, params, metrics)
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


DDP_LAUNCH_ENV = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")


@contextmanager
def own_ddp_ranks() -> Iterator[None]:
    """Lets each job of a Hydra multirun train with DDP as a single run would.

    Lightning starts the other ranks by re-running the command line with
    `hydra.run.dir=<hydra.run.dir>`: in a multirun that would launch the whole sweep again, into
    other folders, so the job makes the command line its own (its overrides, its folder). The
    launcher also leaves LOCAL_RANK and friends in the environment and the process group open,
    which would make the next job in this process wait for ranks nobody starts: both are undone
    when the job ends.
    """
    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        yield
        return
    hydra, argv = HydraConfig.get(), sys.argv
    environment = {key: os.environ.get(key) for key in DDP_LAUNCH_ENV}
    sys.argv = [argv[0], *hydra.overrides.task]
    with read_write(hydra):
        hydra.run.dir = hydra.runtime.output_dir
    try:
        yield
    finally:
        sys.argv = argv
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        for key, value in environment.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def instantiate_each(group: DictConfig | None) -> list:
    """The objects of a group like `callbacks` or `logger`: one per entry with a `_target_`."""
    return [instantiate(node) for node in entries(group)]


def entries(group: DictConfig | None) -> list[DictConfig]:
    """The entries of a group that name a class to build (`null` ones are switched off)."""
    return [node for node in (group or {}).values() if node and "_target_" in node]


def checkpoint_step(cfg: DictConfig) -> int | None:
    """The global step of `cfg.ckpt_path`, the checkpoint a run continues from (None: a new
    run). Reading it first turns a missing, truncated or foreign file into a clear error
    before any work."""
    if not cfg.get("ckpt_path"):
        return None
    return int(read_checkpoint(cfg.ckpt_path).get("global_step", 0))


def build_loggers(group: DictConfig | None, resumed_at: int | None) -> list:
    """The `logger` group's loggers. A run continued from a checkpoint at step `resumed_at`
    logs the steps after it again, so TensorBoard hides what the interrupted run had logged
    from that step on (`purge_step`); after a SIGKILL, up to an epoch of points would
    otherwise show twice."""
    loggers = []
    for node in entries(group):
        tensorboard = node._target_.endswith("TensorBoardLogger")
        continued = tensorboard and resumed_at is not None
        loggers.append(instantiate(node, **({"purge_step": resumed_at} if continued else {})))
    return loggers


@rank_zero_only
def save_results(
    cfg: DictConfig,
    trainer: L.Trainer,
    model: L.LightningModule,
    started: float,
    metrics: dict[str, float],
    best_checkpoint: str | None,
    **extra: object,
) -> None:
    """The run's outcome as `<run>/results.json` (final metrics, epochs, wall time since
    `started`, best checkpoint, epoch timing, and `extra`), for scripts that compare runs
    without reading event files."""
    path = Path(cfg.paths.output_dir) / "results.json"
    results = {
        "metrics": metrics,
        "epochs": trainer.current_epoch,
        "wall_time_s": round(time.perf_counter() - started, 1),
        "best_checkpoint": best_checkpoint or None,
        **extra,
        "timing": timing(trainer, model),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")


def confusion_matrix(model: L.LightningModule, stage: str) -> list[list[int]] | None:
    """Rows: true class, columns: predicted class (None if the stage did not run)."""
    result = getattr(model, "evaluation", {}).get(stage)
    return result["confusion"].tolist() if result else None


def timing(trainer: L.Trainer, model: L.LightningModule) -> dict | None:
    """Seconds and samples/s of every training epoch and peak memory (callback `epoch_timer`)."""
    timer = next((c for c in trainer.callbacks if isinstance(c, EpochTimer)), None)
    return timer.summary(model.device) if timer else None


def final_metrics(trainer: L.Trainer) -> dict[str, float]:
    """The epoch-level validation and test metrics the trainer holds now."""
    return {
        name: float(value)
        for name, value in trainer.callback_metrics.items()
        if name.startswith(REPORTED_STAGES)
    }

"""One language-model pretraining run: data, the classifier's encoder as an LM, fit, and the
best epoch's encoder written to `<run>/encoder.pt` for `init.encoder`."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import hydra
import lightning as L
import torch
from hydra.utils import instantiate
from lightning.pytorch.utilities import rank_zero_info
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf

from lstmlab.callbacks.checkpointing import last_checkpoint_path
from lstmlab.data.language_model import LanguageModelData
from lstmlab.data.text import TextDataModule
from lstmlab.io.atomic import atomic_open
from lstmlab.io.checkpoint_io import AtomicCheckpointIO
from lstmlab.models.language_model import LanguageModel
from lstmlab.models.pretrained import encoder_state, load_vectors, prepare_embedding
from lstmlab.reporting.console import print_config_tree, print_summary
from lstmlab.reporting.run_log import run_logged
from lstmlab.runs import resolvers, run_folder
from lstmlab.runs.checkpoints import read_checkpoint
from lstmlab.runs.config_checks import check_config, check_spelling
from lstmlab.runs.config_types import CHECKED_GROUPS, check_types
from lstmlab.runs.instantiation import build_loggers, checkpoint_step, instantiate_each
from lstmlab.runs.refusals import without_traceback
from lstmlab.runs.results import final_metrics, save_results
from lstmlab.runs.train import exit_after_sigterm

ENCODER_FILE = "encoder.pt"


def pretrain(cfg: DictConfig) -> float | None:
    """Fits the LM and saves its encoder; returns the best validation loss."""
    started = time.perf_counter()
    print_config_tree(cfg)
    check_types(cfg, *CHECKED_GROUPS)
    check_config(cfg, "pretrain")  # e.g. +lm_dropout=0.2, seed=abc, trainer.max_epochs=0
    L.seed_everything(cfg.seed, workers=True)
    resumed_at = checkpoint_step(cfg)
    text = instantiate(cfg.data)
    if not isinstance(text, TextDataModule):
        raise ValueError(
            f"data={cfg.data._target_.rsplit('.', 1)[-1]} has no text to pretrain on: use "
            "data=imdb, data=text_files or data=topics."
        )
    data = LanguageModelData(text, unlabeled=cfg.lm.unlabeled)
    data.prepare_data()
    data.setup("fit")
    model = build_language_model(cfg, text)
    callbacks = instantiate_each(cfg.get("callbacks"))
    loggers = build_loggers(cfg.get("logger"), resumed_at)
    trainer: L.Trainer = instantiate(
        cfg.trainer, callbacks=callbacks, logger=loggers, plugins=[AtomicCheckpointIO()]
    )
    try:
        trainer.fit(model, datamodule=data, ckpt_path=cfg.get("ckpt_path"))
    except SIGTERMException:
        last = last_checkpoint_path(trainer)
        exit_after_sigterm(trainer, f"python pretrain.py <the same overrides> ckpt_path={last}")

    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    if best:  # the encoder of the epoch with the lowest validation loss
        model.load_state_dict(read_checkpoint(best)["state_dict"])
    encoder = Path(cfg.paths.output_dir) / ENCODER_FILE
    if trainer.is_global_zero:
        with atomic_open(encoder) as file:  # whole or not at all: the classifier reads it
            torch.save(
                encoder_state(model.encoder, model.hparams.encoder, model.hparams.tokenizer), file
            )
    metrics = final_metrics(trainer)
    save_results(cfg, trainer, model, started, metrics, best, encoder=str(encoder))
    print_summary(metrics, trainer.default_root_dir, best, cfg.paths.log_dir)
    print(f"Encoder for the classifier: init.encoder={encoder}")
    return metrics.get("val/loss")


def build_language_model(cfg: DictConfig, text: TextDataModule) -> LanguageModel:
    """The LM over the encoder that `model.encoder` describes, sized by the data, its
    embedding started from `init.vectors` if set."""
    encoder = OmegaConf.to_container(cfg.model.encoder, resolve=True)
    model = LanguageModel(
        text.vocab_size,
        encoder,
        pad_id=text.pad_id,
        cutoffs=tuple(cfg.lm.cutoffs),
        dropout=cfg.lm.dropout,
        tokenizer=text.tokenizer.to_str(),
        optimizer=OmegaConf.to_container(cfg.optimizer, resolve=True),
        scheduler=OmegaConf.to_container(cfg.scheduler, resolve=True) or None,
    )
    init = OmegaConf.to_container(cfg.init, resolve=True) if "init" in cfg else None
    if (init or {}).get("encoder"):
        raise ValueError(
            "init.encoder starts a classifier from a pretrained encoder; pretraining starts "
            "from init.vectors or from scratch. Set init.encoder=null here."
        )
    options = prepare_embedding(model.encoder.embedding, init)
    vocab = text.tokenizer.get_vocab()  # an LM may start from word vectors too
    coverage = load_vectors(model.encoder.embedding, options, vocab, text.pad_id)
    if coverage is not None:
        rank_zero_info(str(coverage))
    return model


@hydra.main(version_base="1.3", config_path=resolvers.CONFIG_DIR, config_name="pretrain")
def _main(cfg: DictConfig) -> float | None:
    # one writer per run folder, and a refused pretraining leaves no folder (run_folder.py)
    with run_folder.writing(cfg.paths.output_dir), run_logged(), without_traceback():
        return pretrain(cfg)


def main() -> None:
    """`python pretrain.py ...` / `lstmlab-pretrain ...`."""
    try:
        check_spelling(sys.argv[1:])  # model.hidden_size=256: the old spelling
    except ValueError as error:
        sys.exit(f"Error: {error}")
    resolvers.register()
    _main()

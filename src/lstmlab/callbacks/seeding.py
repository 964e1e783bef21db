"""The seeding that makes a continued run draw what an uninterrupted one would, even from
mid-epoch."""

from __future__ import annotations

import lightning as L
import torch

from lstmlab.data.batching import mixed_seed


class EpochSeed(L.Callback):
    """Seeds torch's global random stream (dropout, random initial states) before every training
    batch from (seed, epoch, batch). A batch's masks then depend on where it is, not on what
    ran before it, so a run continued from any checkpoint, end-of-epoch or mid-epoch (SIGTERM,
    `every_n_train_steps`), draws what an uninterrupted run draws; `ResumableLoader` does the
    same for the batches. Re-seeding is cheap (docs/speed.md), and unlike restoring a
    saved RNG state it covers CUDA's generators too and holds for checkpoints from any hook."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def on_train_batch_start(
        self, trainer: L.Trainer, module: L.LightningModule, batch: object, batch_idx: int
    ) -> None:
        torch.manual_seed(mixed_seed(self.seed, trainer.current_epoch, batch_idx))

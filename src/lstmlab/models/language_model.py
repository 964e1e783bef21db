"""Language-model pretraining of a classifier's encoder (Dai & Le, 2015; Howard & Ruder, 2018).

The LM trains the very `RecurrentEncoder` a classifier run builds from the same
`model.encoder` config:
its forward direction predicts every next token, its backward direction every previous one,
each through an adaptive softmax (most of a 25,000-word softmax's cost lies in rare words).
`pretrained.encoder_state` then holds exactly the weights a classifier loads with
`pretrained.load_encoder` (`init.encoder=<encoder.pt>`).

Its training text comes from `lstmlab.data.language_model.LanguageModelData`.
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from torch import Tensor, nn

from lstmlab.models.encoders.recurrent import RecurrentEncoder, move_encoder_keys
from lstmlab.models.optimization import configure_optimizers


class LanguageModel(L.LightningModule):
    """Next- and previous-token prediction with a classifier's encoder.

    Args:
        vocab_size, pad_id: from the datamodule.
        encoder: the classifier's encoder config (`model.encoder`: plain data with
            `_target_`, `_partial_: true`), a recurrent one.
        cutoffs: adaptive-softmax cluster boundaries (word ids are frequency ranked); those at
            or beyond the vocabulary's end are dropped.
        dropout: dropout on the LSTM outputs, before the softmax.
        tokenizer: the data's tokenizer (JSON), saved with the encoder, so a classifier with
            another vocabulary is refused instead of reading wrong rows.
        optimizer, scheduler: as `ClassifierModule`'s.
    """

    def __init__(
        self,
        vocab_size: int,
        encoder: dict[str, Any],
        pad_id: int = 0,
        cutoffs: tuple[int, ...] = (2_000, 10_000),
        dropout: float = 0.1,
        tokenizer: str | None = None,
        optimizer: dict[str, Any] | None = None,
        scheduler: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.encoder = instantiate(encoder, _convert_="all")(vocab_size=vocab_size, pad_id=pad_id)
        if not isinstance(self.encoder, RecurrentEncoder):
            raise ValueError(
                f"Language-model pretraining trains a recurrent encoder; "
                f"{type(self.encoder).__name__} is not one. Pretrain with model/encoder=lstm "
                "or model/encoder=gru."
            )
        if self.encoder.num_directions == 2 and self.encoder.num_layers > 1:
            raise ValueError(
                "Language-model pretraining of a stacked bidirectional encoder would let layer 2 "
                "read the words it must predict (layer 1's backward outputs have seen them). "
                "Pretrain with model.encoder.num_layers=1, or model.encoder.bidirectional=false."
            )
        self.dropout = nn.Dropout(dropout)
        # a vocabulary below the first cutoff gets one tail cluster of one word: a plain softmax
        clusters = [c for c in cutoffs if c < vocab_size - 1] or [vocab_size - 1]
        self.decoders = nn.ModuleList(
            nn.AdaptiveLogSoftmaxWithLoss(self.encoder.hidden_size, vocab_size, clusters, 4.0)
            for _ in range(self.encoder.num_directions)
        )
        self.register_load_state_dict_pre_hook(_upgrade_old_keys)

    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        """Mean negative log-likelihood of each next token (forward direction) and each previous
        token (backward direction), over the real tokens of the batch."""
        x = self.encoder.embed(batch["tokens"])
        return -torch.stack([ll.mean() for ll in self.log_likelihoods(x, batch)]).mean()

    def log_likelihoods(self, x: Tensor, batch: dict[str, Tensor]) -> list[Tensor]:
        """Per direction, log p(token t+1 | tokens <= t) (forward) or log p(token t-1 |
        tokens >= t) (backward) of every real pair of positions, flattened row by row.

        x: the embedded tokens [B, T, E]; tokens only give the targets."""
        tokens, lengths = batch["tokens"], batch["lengths"].clamp(min=1)
        outputs = self.encoder.encode(x, lengths).outputs  # [B, T, dirs*H]
        outputs = self.dropout(outputs).split(self.encoder.hidden_size, dim=-1)
        steps = torch.arange(tokens.size(1), device=tokens.device)
        pairs = (steps < lengths.unsqueeze(1))[:, 1:]  # [B, T-1]: positions t, t+1 both real
        inputs = [(outputs[0][:, :-1], tokens[:, 1:])]  # forward output at t predicts t+1
        if self.encoder.num_directions == 2:  # backward output at t has read t..end: predicts t-1
            inputs.append((outputs[1][:, 1:], tokens[:, :-1]))
        return [
            decoder(states[pairs], targets[pairs]).output
            for decoder, (states, targets) in zip(self.decoders, inputs)
        ]

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        loss = self.loss(batch)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"lm/loss became {loss.item()} at step {self.global_step}: try a lower "
                "optimizer.lr or trainer.gradient_clip_val=0.25."
            )
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["lengths"]))
        return loss

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self.log("val/loss", self.loss(batch), batch_size=len(batch["lengths"]), sync_dist=True)

    def on_validation_epoch_end(self) -> None:
        loss = self.trainer.callback_metrics.get("val/loss")
        if loss is not None:
            self.log("val/perplexity", math.exp(min(float(loss), 50.0)), prog_bar=True)

    def configure_optimizers(self) -> Any:
        return configure_optimizers(self, self.parameters())


def _upgrade_old_keys(module: nn.Module, state_dict: dict[str, Any], prefix: str, *_: Any) -> None:
    """LM checkpoints written before the LM owned an encoder hold a whole classifier
    under `net.`: its encoder moves to `encoder.`, its untrained pooling and head are dropped."""
    move_encoder_keys(state_dict, prefix + "net.", prefix + "encoder.")
    for key in [k for k in state_dict if k.startswith(prefix + "net.")]:
        del state_dict[key]

"""Language-model pretraining of a classifier's encoder (Dai & Le, 2015; Howard & Ruder, 2018).

The LM trains the very `LSTMClassifier` a classifier run builds from the same `model.*` keys,
but reads only its encoder (embedding + LSTM layers): the forward direction predicts every
next token, the backward direction every previous one, each through an adaptive softmax (most
of a 25,000-word softmax's cost lies in rare words). `encoder_state` then holds exactly the
weights a classifier loads with `load_encoder` (`model.pretrained_encoder=<encoder.pt>`).

Its training text comes from `lstmlab.data.language_model.LanguageModelData`.
"""

from __future__ import annotations

import inspect
import math
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor, nn

from lstmlab.models.network import LSTMClassifier
from lstmlab.models.optimization import configure_optimizers

ENCODER_PREFIXES = ("embedding.", "lstm.", "h0", "c0")  # LSTMClassifier's encoder weights
UNTRAINED = ("net.pooling", "net.head")  # the classifier's parts the LM does not use
SHAPE_KEYS = ("embed_dim", "hidden_size", "num_layers", "bidirectional", "init_state")


class LSTMLanguageModel(L.LightningModule):
    """Next- and previous-token prediction with a classifier's encoder.

    Args:
        vocab_size, pad_id: from the datamodule.
        network: the classifier's `model.*` keys (its shapes are the encoder's).
        cutoffs: adaptive-softmax cluster boundaries (word ids are frequency ranked); those at
            or beyond the vocabulary's end are dropped.
        dropout: dropout on the LSTM outputs, before the softmax.
        tokenizer: the data's tokenizer (JSON), saved with the encoder, so a classifier with
            another vocabulary is refused instead of reading wrong rows.
        optimizer, scheduler: as `LSTMLitModule`'s.
    """

    def __init__(
        self,
        vocab_size: int,
        network: dict[str, Any],
        pad_id: int = 0,
        cutoffs: tuple[int, ...] = (2_000, 10_000),
        dropout: float = 0.1,
        tokenizer: str | None = None,
        optimizer: dict[str, Any] | None = None,
        scheduler: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        if network.get("bidirectional") and network.get("num_layers", 1) > 1:
            raise ValueError(
                "Language-model pretraining of a stacked bidirectional LSTM would let layer 2 "
                "read the words it must predict (layer 1's backward outputs have seen them). "
                "Pretrain with model.num_layers=1, or model.bidirectional=false."
            )
        self.net = LSTMClassifier(vocab_size, 2, pad_id, **network)  # its head is not trained
        self.dropout = nn.Dropout(dropout)
        # a vocabulary below the first cutoff gets one tail cluster of one word: a plain softmax
        clusters = [c for c in cutoffs if c < vocab_size - 1] or [vocab_size - 1]
        self.decoders = nn.ModuleList(
            nn.AdaptiveLogSoftmaxWithLoss(self.net.hidden_size, vocab_size, clusters, 4.0)
            for _ in range(self.net.num_directions)
        )

    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        """Mean negative log-likelihood of each next token (forward direction) and each previous
        token (backward direction), over the real tokens of the batch."""
        x = self.net.embed_dropout(self.net.embedding(batch["tokens"]))
        return -torch.stack([ll.mean() for ll in self.log_likelihoods(x, batch)]).mean()

    def log_likelihoods(self, x: Tensor, batch: dict[str, Tensor]) -> list[Tensor]:
        """Per direction, log p(token t+1 | tokens <= t) (forward) or log p(token t-1 |
        tokens >= t) (backward) of every real pair of positions, flattened row by row.

        x: the embedded tokens [B, T, E]; tokens only give the targets."""
        tokens, lengths = batch["tokens"], batch["lengths"].clamp(min=1)
        outputs, _ = self.net.encode(x, lengths)  # [B, T, dirs*H]
        outputs = self.dropout(outputs).split(self.net.hidden_size, dim=-1)
        steps = torch.arange(tokens.size(1), device=tokens.device)
        pairs = (steps < lengths.unsqueeze(1))[:, 1:]  # [B, T-1]: positions t, t+1 both real
        inputs = [(outputs[0][:, :-1], tokens[:, 1:])]  # forward output at t predicts t+1
        if self.net.num_directions == 2:  # backward output at t has read t..end: predicts t-1
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
        trained = (p for name, p in self.named_parameters() if not name.startswith(UNTRAINED))
        return configure_optimizers(self, trained)


def encoder_state(model: LSTMLanguageModel) -> dict[str, Any]:
    """What `load_encoder` needs: the encoder's weights, its shapes and the tokenizer."""
    weights = model.net.state_dict()
    return {
        "encoder": {k: v.cpu() for k, v in weights.items() if k.startswith(ENCODER_PREFIXES)},
        "network": encoder_shapes(model.hparams.network),
        "tokenizer": model.hparams.tokenizer,
    }


def encoder_shapes(network: dict[str, Any]) -> dict[str, Any]:
    """The `model.*` keys that decide the encoder's weight shapes, defaults filled in."""
    built = inspect.signature(LSTMClassifier).parameters
    return {k: network.get(k, built[k].default) for k in SHAPE_KEYS}


def load_encoder(
    net: LSTMClassifier, path: str | Path, network: dict[str, Any], tokenizer: str | None
) -> None:
    """Copies a pretrained encoder (`pretrain.py`'s encoder.pt) into `net`, after checking that
    it was trained with the same vocabulary and shapes; the pooling and head stay as built."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"model.pretrained_encoder={path}: no such file. Give the encoder.pt that "
            "`python pretrain.py` wrote in its run folder."
        )
    saved = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(saved, dict) or "encoder" not in saved:
        raise ValueError(f"{path} is not an encoder written by pretrain.py (no 'encoder' key).")
    if saved["tokenizer"] != tokenizer:
        raise ValueError(
            f"{path} was pretrained with another tokenizer / vocabulary than this run's data, so "
            "its embedding rows would mean other words. Use the data.* settings of the "
            "pretraining run (its .hydra/config.yaml)."
        )
    shapes = encoder_shapes(network)
    differ = {k: v for k, v in saved["network"].items() if v != shapes[k]}
    if differ:
        fixes = " ".join(f"model.{k}={v}" for k, v in differ.items())
        raise ValueError(
            f"{path} holds an encoder of another shape ({', '.join(differ)} differ). Build the "
            f"classifier like the pretraining run: {fixes}"
        )
    net.load_state_dict(saved["encoder"], strict=False)
    rank_zero_info(f"Encoder weights ({len(saved['encoder'])} tensors) loaded from {path}")

"""The one LightningModule for every LSTM variant: loss, metrics per stage, optimisation.

The network itself is `network.LSTMClassifier`; every `model.*` config key other than the
optimiser, the scheduler and the pretrained starts (`embedding`, `pretrained_encoder`) is passed
straight to it.
"""

from __future__ import annotations

from typing import Any, ClassVar

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics import MaxMetric, MetricCollection
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassConfusionMatrix,
    MulticlassF1Score,
    MulticlassPrecision,
    MulticlassRecall,
)

from lstmlab.models.calibration import expected_calibration_error
from lstmlab.models.language_model import load_encoder
from lstmlab.models.network import LSTMClassifier
from lstmlab.models.optimization import configure_optimizers
from lstmlab.models.vectors import Coverage, load_into

Batch = dict[str, Tensor]  # tokens [B, T], lengths [B], labels [B]

EMBEDDING_KEYS = {"vectors": None, "freeze": False}  # model.embedding.* and their defaults


class LSTMLitModule(L.LightningModule):
    """Trains and evaluates an `LSTMClassifier`.

    Args:
        vocab_size, num_classes, pad_id: from the datamodule.
        class_names: the labels' names (e.g. neg, pos), for predictions, figures and the
            per-class metrics.
        loss_weights: loss weight per class (the datamodule's `loss_weights`: inverse class
            frequencies with `data.class_weights=true`), or None for an unweighted loss.
        data: the data settings the model was trained on (the resolved `data` config), kept
            in the checkpoint so evaluate.py can rebuild the same splits from it alone.
        optimizer: a Hydra config with `_partial_: true` (e.g. conf/optimizer/adam.yaml),
            completed with the parameters in `configure_optimizers`. Kept as plain data so the
            checkpoint stays loadable with `weights_only` and the HPARAMS tab can show it.
        scheduler: None, or `{scheduler: <partial config>, interval: ..., monitor: ...}`
            (e.g. conf/scheduler/cosine.yaml); the other keys go to Lightning's scheduler dict.
            A `total_steps: null` in the partial config means the whole run (as the trainer
            estimates it), e.g. conf/scheduler/warmup_cosine.yaml.
        embedding: `{vectors: <file> | None, freeze: bool}`. The file is read by
            `load_vectors`, which train.py calls when a run starts from scratch (never here:
            a checkpoint holds the weights, so loading one needs no vectors file). `freeze`
            keeps the embedding as it starts, and needs vectors.
        pretrained_encoder: an encoder.pt from `pretrain.py`, copied into the embedding and
            LSTM by `load_encoder` when a run starts from scratch (as the vectors are).
        adversarial_eps: adversarial training (Miyato et al., 2017) when > 0: each training
            batch is fitted once more with every review's embeddings pushed this far (L2 norm
            over the review) in the direction that raises its loss fastest. The model learns
            to be smooth around each training review. It costs a second forward and backward
            pass per step.
        **network: the remaining `model.*` keys, see `LSTMClassifier`.
    """

    kwargs_class: ClassVar[type] = LSTMClassifier  # takes **network (config_types checks them)

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        pad_id: int = 0,
        class_names: list[str] | None = None,
        loss_weights: list[float] | None = None,
        data: dict[str, Any] | None = None,
        optimizer: dict[str, Any] | None = None,
        scheduler: dict[str, Any] | None = None,
        embedding: dict[str, Any] | None = None,
        pretrained_encoder: str | None = None,
        adversarial_eps: float = 0.0,
        **network: Any,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(logger=False)  # trackers get train.py's flat hyperparameters
        self.net = LSTMClassifier(vocab_size, num_classes, pad_id, **network)
        self.embedding_options = embedding_options(embedding)
        if adversarial_eps < 0:
            raise ValueError(f"model.adversarial_eps={adversarial_eps}: expected >= 0 (0: off)")
        self.net.embedding.weight.requires_grad_(not self.embedding_options["freeze"])
        self.binary_head = network.get("head", "ce") == "bce"
        weights = torch.tensor(loss_weights, dtype=torch.float) if loss_weights else None
        self.register_buffer("loss_weights", weights, persistent=False)

        metrics = MetricCollection(
            {
                "acc": MulticlassAccuracy(num_classes, average="micro"),
                "f1": MulticlassF1Score(num_classes, average="macro"),
                "precision": MulticlassPrecision(num_classes, average="macro"),
                "recall": MulticlassRecall(num_classes, average="macro"),
            }
        )
        self.train_metrics = metrics.clone(prefix="train/")
        self.val_metrics = metrics.clone(prefix="val/")
        self.test_metrics = metrics.clone(prefix="test/")
        # Evaluation stages also keep a confusion matrix and every score (for the PR curve):
        # `self.evaluation[stage]` after each val / test epoch, read by figures and evaluate.py.
        self.confusion = torch.nn.ModuleDict(
            {stage: MulticlassConfusionMatrix(num_classes) for stage in ("val", "test")}
        )
        self._scores: dict[str, list[tuple[Tensor, Tensor]]] = {"val": [], "test": []}
        self.evaluation: dict[str, dict[str, Tensor]] = {}
        # logits are divided by it: 1.0 until evaluate.py calibrate=true fits one on the
        # validation split; load_model sets it from the checkpoint's "calibration"
        self.temperature = 1.0
        self.val_acc_best = MaxMetric()
        self.val_acc_best.persistent(True)  # saved in checkpoints, so a resumed run keeps it

    def forward(
        self, tokens: Tensor, lengths: Tensor, push: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None]:
        return self.net(tokens, lengths, push)

    def loss(self, logits: Tensor, labels: Tensor) -> Tensor:
        w = self.loss_weights
        if self.binary_head:  # weight of the positive class relative to the negative one
            pos_weight = None if w is None else w[1] / w[0]
            return F.binary_cross_entropy_with_logits(
                logits.squeeze(-1), labels.float(), pos_weight=pos_weight
            )
        return F.cross_entropy(logits, labels, weight=w)

    @property
    def class_names(self) -> list[str]:
        return self.hparams.class_names or [str(i) for i in range(self.hparams.num_classes)]

    def probabilities(self, logits: Tensor) -> Tensor:
        """Class probabilities [B, C] for either head (the BCE logit becomes [1 - p, p]), at
        the model's temperature."""
        logits = logits / self.temperature
        if self.binary_head:
            p = torch.sigmoid(logits)  # [B, 1]
            return torch.cat([1 - p, p], dim=-1)
        return logits.softmax(dim=-1)

    def _step(
        self,
        batch: Batch,
        metrics: MetricCollection,
        stage: str | None = None,
        push: Tensor | None = None,
    ) -> Tensor:
        logits, _ = self(batch["tokens"], batch["lengths"], push)
        probabilities = self.probabilities(logits)
        metrics.update(probabilities.argmax(-1), batch["labels"])
        if stage:  # an evaluation stage
            self.confusion[stage].update(probabilities.argmax(-1), batch["labels"])
            self._scores[stage].append((probabilities.detach().cpu(), batch["labels"].cpu()))
        return self.loss(logits, batch["labels"])

    def _end_evaluation(self, stage: str) -> None:
        """Confusion matrix (rows: true class, columns: predicted; summed over processes),
        per-class precision / recall / F1 from it (`<stage>_per_class/f1/<class>`, ...: a
        TensorBoard group of their own; the test ones, single values, go to results.json
        only), this process's scores, and their expected calibration error (`<stage>/ece`),
        for the stage that just ended."""
        scores = self._scores[stage]
        matrix = self.confusion[stage].compute()
        for name, values in per_class(matrix).items():
            for class_name, value in zip(self.class_names, values):
                self.log(f"{stage}_per_class/{name}/{class_name}", value, logger=stage != "test")
        self.evaluation[stage] = {
            "confusion": matrix.cpu(),
            "probabilities": torch.cat([p for p, _ in scores]) if scores else torch.empty(0),
            "labels": torch.cat([y for _, y in scores]) if scores else torch.empty(0),
        }
        if scores:  # this process's examples (under DDP, a shard's)
            result = self.evaluation[stage]
            ece = expected_calibration_error(result["probabilities"], result["labels"])
            self.log(f"{stage}/ece", ece)
        self.confusion[stage].reset()
        scores.clear()

    def _log_stage(self, stage: str, loss: Tensor, metrics: MetricCollection, batch: Batch) -> None:
        size = batch["labels"].numel()
        self.log(
            f"{stage}/loss", loss, on_epoch=True, prog_bar=True, batch_size=size, sync_dist=True
        )
        self.log_dict(metrics, on_step=False, on_epoch=True, batch_size=size)

    def _log_global_step(self, on_step: bool = False) -> None:
        """Puts what is logged with it at the optimiser steps taken once it is known (a
        training batch's values at the step its update makes, an epoch's at `global_step`): the
        one x-axis of every scalar, image and PR curve. (Lightning would put epoch-end values
        one step earlier, and add an `epoch` scalar that counts on during testing.)"""
        step = self.global_step + 1 if on_step else self.global_step
        self.log("step", float(step), on_step=on_step, on_epoch=not on_step)

    def on_train_epoch_start(self) -> None:
        lr = self.trainer.optimizers[0].param_groups[0]["lr"]
        self.log("train/lr", lr, on_step=False, on_epoch=True)  # as the epoch starts

    def on_train_epoch_end(self) -> None:
        self._log_global_step()

    def on_train_start(self) -> None:
        # The sanity check fed validation metrics a couple of batches: discard them. The best
        # accuracy survives a resume (global_step > 0), since its state is in the checkpoint.
        self.val_metrics.reset()
        if self.trainer.global_step == 0:
            self.val_acc_best.reset()

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        # adversarial training: a zero push whose gradient is the loss's on the embeddings
        probe = self._zero_push(batch) if self.hparams.adversarial_eps else None
        loss = self._step(batch, self.train_metrics, push=probe)
        if not torch.isfinite(loss):  # stop before the optimiser spreads it into the weights
            raise FloatingPointError(
                f"train/loss became {loss.item()} at step {self.global_step} (epoch "
                f"{self.current_epoch}, batch {batch_idx}): training diverged. Checkpoints "
                "written so far are kept (checkpoints/last.ckpt is the last good state). Try "
                "a lower optimizer.lr, trainer.gradient_clip_val=1.0, or trainer.precision=32-true."
            )
        self._log_stage("train", loss, self.train_metrics, batch)
        self._log_global_step(on_step=True)
        if probe is None:
            return loss
        adversarial = self.adversarial_loss(batch, loss, probe)
        self.log("train/adversarial_loss", adversarial, on_epoch=True, batch_size=len(probe))
        return loss + adversarial

    def _zero_push(self, batch: Batch) -> Tensor:
        """Zeros shaped and typed as the batch's embeddings (bf16 too, under `bf16-true`)."""
        weight, tokens = self.net.embedding.weight, batch["tokens"]
        return weight.new_zeros((*tokens.shape, weight.size(1))).requires_grad_()

    def adversarial_loss(self, batch: Batch, loss: Tensor, probe: Tensor) -> Tensor:
        """The loss of `batch` with its embeddings pushed `adversarial_eps` along the gradient
        of `loss` (computed with the zero push `probe`): to first order, the push of that size
        that raises the loss most. The push is a constant; the gradient of this loss reaches
        the weights (and the embedding) through the model."""
        (gradient,) = torch.autograd.grad(loss, probe, retain_graph=True)
        push = adversarial_push(gradient, self.hparams.adversarial_eps)
        logits, _ = self(batch["tokens"], batch["lengths"], push)
        return self.loss(logits, batch["labels"])

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        loss = self._step(batch, self.val_metrics, "val")
        self._log_stage("val", loss, self.val_metrics, batch)

    def on_validation_epoch_end(self) -> None:
        self.val_acc_best(self.val_metrics.compute()["val/acc"])
        self.log("val/acc_best", self.val_acc_best.compute(), prog_bar=True, sync_dist=True)
        self._end_evaluation("val")
        self._log_global_step()

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        loss = self._step(batch, self.test_metrics, "test")
        self._log_stage("test", loss, self.test_metrics, batch)

    def on_test_epoch_end(self) -> None:
        self._end_evaluation("test")
        self._log_global_step()

    def load_encoder(self, tokenizer: str | None) -> None:
        """Starts the embedding and LSTM from `model.pretrained_encoder`, if set; `tokenizer`
        (the data's, as JSON) must be the one the encoder was pretrained with."""
        if self.hparams.pretrained_encoder:
            load_encoder(self.net, self.hparams.pretrained_encoder, self.hparams, tokenizer)

    def load_vectors(self, vocab: dict[str, int]) -> Coverage | None:
        """Starts the embedding from `model.embedding.vectors` (None when it is not set):
        `vocab` maps each token to its id, e.g. the datamodule's `tokenizer.get_vocab()`."""
        path = self.embedding_options["vectors"]
        if path is None:
            return None
        return load_into(self.net.embedding, vocab, str(path), self.hparams.pad_id)

    def configure_optimizers(self) -> Any:
        return configure_optimizers(self, self.parameters())


def adversarial_push(gradient: Tensor, eps: float) -> Tensor:
    """`gradient` [B, T, E] scaled to an L2 norm of `eps` per review (a review with a zero
    gradient gets no push). Padding positions have a zero gradient, so they get no push."""
    norms = gradient.flatten(1).norm(dim=1).clamp_min(1e-12)  # [B]
    return eps * gradient / norms[:, None, None]


def embedding_options(embedding: dict[str, Any] | None) -> dict[str, Any]:
    """`model.embedding` with its defaults filled in; unknown keys and a frozen embedding
    without vectors (random vectors that never learn) are refused."""
    options = {**EMBEDDING_KEYS, **(embedding or {})}
    unknown = set(options) - set(EMBEDDING_KEYS)
    if unknown:
        raise ValueError(
            f"model.embedding has unknown keys {sorted(unknown)}: expected "
            f"{', '.join(EMBEDDING_KEYS)} (conf/model/lstm.yaml)"
        )
    if not isinstance(options["freeze"], bool):
        raise TypeError(f"model.embedding.freeze={options['freeze']!r}: expected true or false")
    if options["freeze"] and options["vectors"] is None:
        raise ValueError(
            "model.embedding.freeze=true keeps the embedding as it starts, but "
            "model.embedding.vectors is null, so it would stay random. Set "
            "model.embedding.vectors=<file>, or model.embedding.freeze=false."
        )
    return options


def per_class(matrix: Tensor) -> dict[str, Tensor]:
    """Precision, recall and F1 of every class from a confusion matrix (rows: true class);
    0 where a class was never predicted or never present, as torchmetrics does."""
    matrix = matrix.float()
    hits = matrix.diag()
    precision = hits / matrix.sum(0).clamp(min=1)
    recall = hits / matrix.sum(1).clamp(min=1)
    f1 = 2 * precision * recall / (precision + recall).clamp(min=1e-12)
    return {"precision": precision, "recall": recall, "f1": f1}

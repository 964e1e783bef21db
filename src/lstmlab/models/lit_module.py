"""The one LightningModule for every classifier: loss, metrics per stage, optimisation,
training objectives (adversarial, VAT, entropy) and starting weights (vectors, encoder.pt).

It receives its network (`network.TextClassifier` or any module with its interface), built
from the `model` config sized by the data; the optimiser, scheduler, objectives and starting
weights come from their own config groups.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from torch import Tensor, nn
from torchmetrics import MaxMetric, MetricCollection

from lstmlab.models.adversarial import pushed_loss, zero_probe
from lstmlab.models.calibration import expected_calibration_error
from lstmlab.models.metrics import (
    PER_CLASS_SCORES,
    Evaluation,
    EvaluationCollector,
    per_class,
    stage_metrics,
)
from lstmlab.models.optimization import configure_optimizers
from lstmlab.models.pretrained import load_encoder, load_vectors, prepare_embedding
from lstmlab.models.semi_supervised import SemiSupervisedTerms
from lstmlab.models.vectors import Coverage

Batch = dict[str, Tensor]  # tokens [B, T], lengths [B], labels [B]
ADVERSARIAL_LOSS = "adversarial_loss"  # train/adversarial_loss


class ClassifierModule(L.LightningModule):
    """Trains and evaluates a text classifier network.

    Args:
        net: the network, or its config (plain data with `_target_`, sized by the data, as
            `runs/model_setup.py` completes conf/model/): a config is built here and kept in
            the checkpoint, which is how a checkpoint rebuilds its model.
        num_classes: from the datamodule.
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
        init: the starting weights (conf/init/): `{vectors: <file> | None, freeze: bool,
            encoder: <encoder.pt> | None}`. Files are read by `load_vectors` / `load_encoder`,
            which train.py calls when a run starts from scratch (never here: a checkpoint holds
            the weights, so loading one needs neither file). `freeze` keeps the embedding as
            it starts, and needs vectors.
        adversarial_eps: adversarial training (`adversarial.py`) when > 0: each training
            batch is fitted once more with every review's embeddings pushed this far (L2 norm
            over the review) in the direction that raises its loss fastest.
        vat_eps, vat_xi, vat_weight, entropy_weight: virtual adversarial training and entropy
            minimisation on labelled and unlabelled texts, see `semi_supervised.py`.
        (the last five are conf/objective/'s keys)
    """

    def __init__(
        self,
        net: nn.Module | Mapping[str, Any],
        num_classes: int,
        class_names: list[str] | None = None,
        loss_weights: list[float] | None = None,
        data: dict[str, Any] | None = None,
        optimizer: dict[str, Any] | None = None,
        scheduler: dict[str, Any] | None = None,
        init: dict[str, Any] | None = None,
        adversarial_eps: float = 0.0,
        vat_eps: float = 0.0,
        vat_xi: float = 0.1,
        vat_weight: float = 1.0,
        entropy_weight: float = 0.0,
    ) -> None:  # pragma: no mutate block (save_hyperparameters reads this frame)
        super().__init__()
        built = isinstance(net, nn.Module)
        # a built network is no plain data: such a module cannot rebuild from its checkpoint
        self.save_hyperparameters(logger=False, ignore=["net"] if built else None)
        self.net = net if built else instantiate(net, _convert_="all")
        self.init_options = prepare_embedding(self.net.embedding, init)
        if adversarial_eps < 0:
            raise ValueError(f"objective.adversarial_eps={adversarial_eps}: expected >= 0 (0: off)")
        self.semi_supervised = SemiSupervisedTerms(vat_eps, vat_xi, vat_weight, entropy_weight)
        self.binary_head = self.net.get_output_dim() == 1
        weights = torch.tensor(loss_weights, dtype=torch.float) if loss_weights else None
        self.register_buffer("loss_weights", weights, persistent=False)

        self.train_metrics = stage_metrics(num_classes, "train")
        self.val_metrics = stage_metrics(num_classes, "val")
        self.test_metrics = stage_metrics(num_classes, "test")
        # evaluation stages also keep a confusion matrix and every score: `last_evaluation`
        self.collectors = torch.nn.ModuleDict(
            {stage: EvaluationCollector(num_classes) for stage in ("val", "test")}
        )
        self._evaluations: dict[str, Evaluation] = {}
        # logits are divided by it: 1.0 until evaluate.py calibrate=true fits one on the
        # validation split; load_model sets it from the checkpoint's "calibration"
        self.temperature = 1.0
        self.val_acc_best = MaxMetric()
        self.val_acc_best.persistent(True)  # saved in checkpoints, so a resumed run keeps it

    @property
    def pad_id(self) -> int:
        """The padding token's id: the embedding's padding row."""
        return int(self.net.embedding.padding_idx)

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
    ) -> tuple[Tensor, Tensor]:
        """The loss of `batch` and its logits."""
        logits, _ = self(batch["tokens"], batch["lengths"], push)
        probabilities = self.probabilities(logits)
        metrics.update(probabilities.argmax(-1), batch["labels"])
        if stage:  # an evaluation stage
            self.collectors[stage].update(probabilities, batch["labels"])
        return self.loss(logits, batch["labels"]), logits

    def logged_metrics(self, stages: tuple[str, ...] = ("train", "val", "test")) -> set[str]:
        """The names this module logs in `stages`, as Lightning's `callback_metrics` holds them
        (what a callback may monitor); built from the same collections and terms as the logging
        itself, so a new metric or term is named here with no change."""
        metrics = {"train": self.train_metrics, "val": self.val_metrics, "test": self.test_metrics}
        names = {"step"}
        for stage in stages:
            names |= {f"{stage}/loss", *metrics[stage].keys()}
            if stage != "train":
                names.add(f"{stage}/ece")
                names |= {
                    f"{stage}_per_class/{score}/{class_name}"
                    for score in PER_CLASS_SCORES
                    for class_name in self.class_names
                }
        if "train" in stages:  # logged per step and per epoch: Lightning adds _step, _epoch
            terms = self.semi_supervised.names
            terms += [ADVERSARIAL_LOSS] if self.hparams.adversarial_eps else []
            per_step = ["train/loss", *(f"train/{term}" for term in terms)]
            names |= {"train/lr", *per_step}
            names |= {f"{name}_{when}" for name in per_step for when in ("step", "epoch")}
        if "val" in stages:
            names.add("val/acc_best")
        return names

    def last_evaluation(self, stage: str) -> Evaluation | None:
        """The confusion matrix and scores of the latest `stage` epoch (`val` or `test`), for
        figures and reports; None before one has ended."""
        return self._evaluations.get(stage)

    def _end_evaluation(self, stage: str) -> None:
        """Keeps the `Evaluation` of the stage that just ended and logs per-class precision,
        recall and F1 from its confusion matrix (`<stage>_per_class/f1/<class>`, ...: a
        TensorBoard group of their own; the test ones, single values, go to results.json
        only) and the expected calibration error of this process's scores (`<stage>/ece`)."""
        evaluation = self.collectors[stage].compute()
        for name, values in per_class(evaluation.confusion).items():
            for class_name, value in zip(self.class_names, values):
                self.log(f"{stage}_per_class/{name}/{class_name}", value, logger=stage != "test")
        if len(evaluation.labels):  # this process's examples (under DDP, a shard's)
            ece = expected_calibration_error(evaluation.probabilities, evaluation.labels)
            self.log(f"{stage}/ece", ece)
        self._evaluations[stage] = evaluation

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
        probe = (
            zero_probe(self.net.embedding, batch["tokens"])
            if self.hparams.adversarial_eps
            else None
        )
        loss, logits = self._step(batch, self.train_metrics, push=probe)
        self._check_finite("train/loss", loss, batch_idx)
        self._log_stage("train", loss, self.train_metrics, batch)
        self._log_global_step(on_step=True)
        terms = self.semi_supervised.terms(self.net, self.binary_head, batch, logits)
        if probe is not None:
            terms[ADVERSARIAL_LOSS] = self.adversarial_loss(batch, loss, probe)
        for name, term in terms.items():  # train/adversarial_loss, train/vat_loss, ...
            self._check_finite(f"train/{name}", term, batch_idx)
            self.log(f"train/{name}", term, on_epoch=True, batch_size=len(batch["labels"]))
        return loss + self.semi_supervised.weighted(terms)

    def _check_finite(self, name: str, loss: Tensor, batch_idx: int) -> None:
        """Stops a diverged run before the optimiser spreads the NaN/inf into the weights."""
        if not torch.isfinite(loss):
            saved = [c.best_model_path for c in self.trainer.checkpoint_callbacks]
            kept = ", ".join(sorted({Path(p).name for p in saved if p and Path(p).is_file()}))
            raise FloatingPointError(
                f"{name} became {loss.item()} at step {self.global_step} (epoch "
                f"{self.current_epoch}, batch {batch_idx}): training diverged. "
                + (
                    f"The checkpoints so far are kept ({kept}). "
                    if kept
                    else "There is no checkpoint yet. "
                )
                + "Try a lower optimizer.lr, trainer.gradient_clip_val=1.0, or "
                "trainer.precision=32-true."
            )

    def adversarial_loss(self, batch: Batch, loss: Tensor, probe: Tensor) -> Tensor:
        """The loss of `batch` with its embeddings pushed `adversarial_eps` uphill from `loss`
        (computed with the zero push `probe`), see `adversarial.pushed_loss`."""

        def loss_of(push: Tensor) -> Tensor:
            return self.loss(self(batch["tokens"], batch["lengths"], push)[0], batch["labels"])

        return pushed_loss(loss_of, loss, probe, self.hparams.adversarial_eps)

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        loss, _ = self._step(batch, self.val_metrics, "val")
        self._log_stage("val", loss, self.val_metrics, batch)

    def on_validation_epoch_end(self) -> None:
        self.val_acc_best(self.val_metrics.compute()["val/acc"])
        self.log("val/acc_best", self.val_acc_best.compute(), prog_bar=True, sync_dist=True)
        self._end_evaluation("val")
        self._log_global_step()

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        loss, _ = self._step(batch, self.test_metrics, "test")
        self._log_stage("test", loss, self.test_metrics, batch)

    def on_test_epoch_end(self) -> None:
        self._end_evaluation("test")
        self._log_global_step()

    def load_encoder(self, tokenizer: str | None) -> None:
        """Starts the encoder from `init.encoder`, if set; `tokenizer` (the data's, as JSON)
        must be the one the encoder was pretrained with."""
        path = self.init_options["encoder"]
        if path:
            config = (self.hparams.get("net") or {}).get("encoder")
            load_encoder(self.net.encoder, path, config, tokenizer)

    def load_vectors(self, vocab: dict[str, int]) -> Coverage | None:
        """Starts the embedding from `init.vectors` (None when it is not set): `vocab` maps
        each token to its id, e.g. the datamodule's `tokenizer.get_vocab()`."""
        return load_vectors(self.net.embedding, self.init_options, vocab, self.pad_id)

    def configure_optimizers(self) -> Any:
        return configure_optimizers(self, self.parameters())

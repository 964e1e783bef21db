"""Figures in TensorBoard: what an attention model reads, and where a classifier goes wrong.

`TensorBoardFigures` (conf/callbacks/figures.yaml) draws, on the IMAGES and PR CURVES tabs:
- after each validation epoch of an attention model, a heat-map of the attention weights over
  the same few validation texts, so one can watch the model learn where to look;
- after testing (and after `evaluate.py split=val`), the confusion matrix and one
  precision-recall curve per class.
"""

from __future__ import annotations

from collections.abc import Sequence

import lightning as L
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.trainer.states import TrainerFn
from matplotlib.figure import Figure
from torch import Tensor
from torchmetrics.classification import MulticlassConfusionMatrix

from lstmlab.data.batching import PadCollator


class TensorBoardFigures(L.Callback):
    """Args:
    num_texts: validation texts whose attention weights are drawn each epoch.
    max_tokens: texts at most this long are preferred, so every token gets a readable label
        (longer ones are drawn in full but labelled only where the weights are largest).
    """

    def __init__(self, num_texts: int = 4, max_tokens: int = 60) -> None:
        self.num_texts = num_texts
        self.max_tokens = max_tokens
        self._examples: list[tuple[Tensor, Tensor]] | None = None

    def on_validation_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        if module.hparams.get("pooling") == "attn" and self.num_texts > 0:
            self._log_attention(trainer, module)
        if trainer.state.fn == TrainerFn.VALIDATING:  # evaluate.py split=val
            self._log_evaluation(trainer, module, "val")

    def on_test_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._log_evaluation(trainer, module, "test")

    def _log_attention(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        writer = _tensorboard(trainer)
        if writer is None:
            return
        if self._examples is None:
            self._examples = self._pick_examples(trainer.val_dataloaders.dataset)
        batch = PadCollator(module.hparams.pad_id)(self._examples)
        was_training = module.training
        module.eval()
        with torch.inference_mode():
            logits, weights = module(
                batch["tokens"].to(module.device), batch["lengths"].to(module.device)
            )
            probabilities = module.probabilities(logits).cpu()
        module.train(was_training)
        names = module.class_names
        rows = []
        for i, (ids, label) in enumerate(self._examples):
            predicted = int(probabilities[i].argmax())
            confidence = probabilities[i, predicted]
            title = f"true {names[int(label)]}, predicted {names[predicted]} ({confidence:.2f})"
            rows.append(
                (_token_names(trainer.datamodule, ids), weights[i, : len(ids)].cpu(), title)
            )
        writer.add_figure("val/attention", attention_figure(rows), trainer.global_step)

    def _pick_examples(self, dataset: Sequence) -> list[tuple[Tensor, Tensor]]:
        """The first `num_texts` validation texts no longer than `max_tokens` (fixed across
        epochs: the validation split never changes), or the first texts if too few are short."""
        short = []
        for index in range(len(dataset)):
            ids, label = dataset[index]
            if 0 < len(ids) <= self.max_tokens:
                short.append((ids, label))
            if len(short) == self.num_texts:
                return short
        return short or [dataset[i] for i in range(min(self.num_texts, len(dataset)))]

    def _log_evaluation(self, trainer: L.Trainer, module: L.LightningModule, stage: str) -> None:
        writer = _tensorboard(trainer)
        result = module.last_evaluation(stage)
        if writer is None or result is None:
            return
        step = trainer.global_step
        names = module.class_names
        writer.add_figure(
            f"{stage}/confusion_matrix", confusion_figure(result.confusion, names), step
        )
        for c, name in enumerate(names):
            writer.add_pr_curve(
                f"{stage}/pr_curve/{name}",
                result.labels == c,
                result.probabilities[:, c],
                step,
            )


def attention_figure(rows: list[tuple[list[str], Tensor, str]], label_limit: int = 60) -> Figure:
    """One heat-map strip per text: its tokens left to right, coloured by attention weight."""
    longest = max((len(tokens) for tokens, _, _ in rows), default=1)
    figure = Figure(figsize=(max(6.0, 0.2 * min(longest, label_limit) + 2), 1.6 * len(rows)))
    axes = figure.subplots(len(rows), 1, squeeze=False)[:, 0]
    for ax, (tokens, weights, title) in zip(axes, rows):
        ax.imshow(weights[None, :].numpy(), aspect="auto", cmap="Reds", vmin=0)
        shown = range(len(tokens))
        if len(tokens) > label_limit:  # label the most attended tokens only
            shown = sorted(weights.topk(label_limit).indices.tolist())
        ax.set_xticks(list(shown), [tokens[i] for i in shown], rotation=90, fontsize=7)
        ax.set_yticks([])
        ax.set_title(title, fontsize=8, loc="left")
    figure.tight_layout()
    return figure


def confusion_figure(matrix: Tensor, class_names: list[str]) -> Figure:
    """Counts per (true, predicted) class, drawn by torchmetrics."""
    figure = Figure(figsize=(1.2 * len(class_names) + 2, 1.2 * len(class_names) + 1.5))
    ax = figure.add_subplot()
    MulticlassConfusionMatrix(len(class_names)).plot(val=matrix, ax=ax, labels=class_names)
    figure.tight_layout()
    return figure


def _token_names(datamodule: L.LightningDataModule | None, ids: Tensor) -> list[str]:
    tokenizer = getattr(datamodule, "tokenizer", None)
    if tokenizer is None:  # e.g. the synthetic task: its tokens are bare ids
        return [str(i) for i in ids.tolist()]
    return [tokenizer.id_to_token(i) or "?" for i in ids.tolist()]


def _tensorboard(trainer: L.Trainer):  # -> SummaryWriter | None
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            return logger.experiment
    return None

"""Figures in TensorBoard: what an attention model reads, and where a classifier goes wrong.

`TensorBoardFigures` (conf/callbacks/figures.yaml) draws, on the IMAGES and PR CURVES tabs:
- after each validation epoch, heat-maps over the same few validation texts: the attention
  weights (attention models), so one can watch the model learn where to look, and the
  integrated gradients of every token (any pooling; models/attribution.py), what decided;
- after testing (and after `evaluate.py split=val`), the confusion matrix, one
  precision-recall curve per class and the reliability diagram (is a 0.9 confidence right
  90 % of the time?).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence

import lightning as L
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities import rank_zero_warn
from matplotlib.figure import Figure
from torch import Tensor
from torchmetrics.classification import MulticlassConfusionMatrix

from lstmlab.data.batching import PadCollator
from lstmlab.models.attribution import integrated_gradients
from lstmlab.models.calibration import BINS, expected_calibration_error, reliability


class TensorBoardFigures(L.Callback):
    """Args:
    num_texts: validation texts whose attention weights and attributions are drawn each epoch.
    max_tokens: texts at most this long are preferred, so every token gets a readable label
        (longer ones are drawn in full but labelled only where the weights are largest).

    attributions: integrated gradients of the same texts (needs Captum, the `explain` extra;
        skipped with a warning without it).
    """

    def __init__(self, num_texts: int = 4, max_tokens: int = 60, attributions: bool = True) -> None:
        self.num_texts = num_texts
        self.max_tokens = max_tokens
        self.attributions = attributions and _captum_installed()
        self._examples: list[tuple[Tensor, Tensor]] | None = None

    def on_validation_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        if self.num_texts > 0:  # attention figures for a network that returns weights
            self._log_texts(trainer, module)
        if trainer.state.fn == TrainerFn.VALIDATING:  # evaluate.py split=val
            self._log_evaluation(trainer, module, "val")

    def on_test_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._log_evaluation(trainer, module, "test")

    def _log_texts(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        """The chosen validation texts' attention weights and integrated gradients."""
        writer = _tensorboard(trainer)
        if writer is None:
            return
        if self._examples is None:
            self._examples = self._pick_examples(trainer.val_dataloaders.dataset)
        batch = PadCollator(module.pad_id)(self._examples)
        tokens, lengths = batch["tokens"].to(module.device), batch["lengths"].to(module.device)
        was_training = module.training
        module.eval()
        with torch.inference_mode():
            logits, weights = module(tokens, lengths)
            probabilities = module.probabilities(logits).cpu()
        module.train(was_training)
        predicted = probabilities.argmax(-1)
        names = module.class_names
        texts = [_token_names(trainer.datamodule, ids) for ids, _ in self._examples]
        titles = [
            f"true {names[int(label)]}, predicted {names[int(p)]} ({probabilities[i, p]:.2f})"
            for i, ((_, label), p) in enumerate(zip(self._examples, predicted))
        ]
        sizes = [len(ids) for ids, _ in self._examples]
        if weights is not None:
            rows = [
                (t, weights[i, :n].cpu(), title)
                for i, (t, n, title) in enumerate(zip(texts, sizes, titles))
            ]
            writer.add_figure("val/attention", attention_figure(rows), trainer.global_step)
        if self.attributions:
            ig, _ = integrated_gradients(
                module.net, tokens, lengths, predicted.to(module.device), module.pad_id
            )
            rows = [
                (t, ig[i, :n].cpu(), title)
                for i, (t, n, title) in enumerate(zip(texts, sizes, titles))
            ]
            figure = attention_figure(rows, signed=True)
            writer.add_figure("val/integrated_gradients", figure, trainer.global_step)

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
        writer.add_figure(
            f"{stage}/reliability",
            reliability_figure(result.probabilities, result.labels),
            step,
        )
        for c, name in enumerate(names):
            writer.add_pr_curve(
                f"{stage}/pr_curve/{name}",
                result.labels == c,
                result.probabilities[:, c],
                step,
            )


def attention_figure(
    rows: list[tuple[list[str], Tensor, str]],
    label_limit: int = 60,
    signed: bool | list[bool] = False,
) -> Figure:
    """One heat-map strip per text: its tokens left to right, coloured by weight (attention:
    white to red; `signed` attributions: blue below zero, red above, white at zero). `signed`
    may be given per row, e.g. attention above integrated gradients for one text."""
    longest = max((len(tokens) for tokens, _, _ in rows), default=1)
    figure = Figure(figsize=(max(6.0, 0.2 * min(longest, label_limit) + 2), 1.6 * len(rows)))
    axes = figure.subplots(len(rows), 1, squeeze=False)[:, 0]
    per_row = signed if isinstance(signed, list) else [signed] * len(rows)
    for ax, (tokens, weights, title), row_signed in zip(axes, rows, per_row):
        limit = float(weights.abs().max()) or 1.0
        colours = (
            {"cmap": "RdBu_r", "vmin": -limit, "vmax": limit} if row_signed else {"cmap": "Reds"}
        )
        ax.imshow(weights[None, :].numpy(), aspect="auto", **({"vmin": 0} | colours))
        shown = range(len(tokens))
        if len(tokens) > label_limit:  # label the heaviest tokens only
            shown = sorted(weights.abs().topk(label_limit).indices.tolist())
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


def reliability_figure(probabilities: Tensor, labels: Tensor) -> Figure:
    """Accuracy against confidence per bin (a calibrated model lies on the diagonal), with
    how many examples each bin holds."""
    confidence, accuracy, counts = reliability(probabilities, labels)
    ece = float(expected_calibration_error(probabilities, labels))
    centres = (torch.arange(BINS) + 0.5) / BINS
    filled = counts > 0
    figure = Figure(figsize=(4.5, 4.5))
    ax = figure.add_subplot()
    ax.plot([0, 1], [0, 1], "--", color="grey", linewidth=1, label="calibrated")
    ax.bar(
        centres[filled],
        accuracy[filled],
        width=1 / BINS,
        edgecolor="black",
        alpha=0.7,
        label="accuracy",
    )
    ax.plot(
        confidence[filled],
        accuracy[filled],
        "o",
        color="black",
        markersize=3,
        label="mean confidence",
    )
    for x, y, n in zip(centres[filled], accuracy[filled], counts[filled]):
        ax.annotate(str(int(n)), (float(x), float(y)), ha="center", va="bottom", fontsize=6)
    ax.set(
        xlim=(0, 1),
        ylim=(0, 1.05),
        xlabel="confidence",
        ylabel="accuracy",
        title=f"reliability (ECE {ece:.3f}, {int(counts.sum())} examples)",
    )
    ax.legend(loc="upper left", fontsize=7)
    figure.tight_layout()
    return figure


def _token_names(datamodule: L.LightningDataModule | None, ids: Tensor) -> list[str]:
    tokenizer = getattr(datamodule, "tokenizer", None)
    if tokenizer is None:  # e.g. the synthetic task: its tokens are bare ids
        return [str(i) for i in ids.tolist()]
    return [tokenizer.id_to_token(i) or "?" for i in ids.tolist()]


def _captum_installed() -> bool:
    if importlib.util.find_spec("captum") is not None:
        return True
    rank_zero_warn(
        "callbacks.figures.attributions=true needs Captum for integrated gradients: "
        "pip install -e '.[explain]' (or set it to false). Drawing attention only."
    )
    return False


def _tensorboard(trainer: L.Trainer):  # -> SummaryWriter | None
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            return logger.experiment
    return None

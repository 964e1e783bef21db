"""Figures for every tracker: what an attention model reads, and where a classifier goes wrong.

`TensorBoardFigures` (conf/callbacks/figures.yaml) draws, on TensorBoard's IMAGES and PR CURVES
tabs, and as images under `figures/` in MLflow's and W&B's runs (PR curves as one figure):
- after each validation epoch, heat-maps over the same few validation texts: the attention
  weights (attention models), so one can watch the model learn where to look, and the
  integrated gradients of every token (any pooling; models/attribution.py), what decided,
  each text titled with their completeness error (a warning where it exceeds `ig_tolerance`);
- after testing (and after `evaluate.py split=val`), the confusion matrix, one
  precision-recall curve per class and the reliability diagram (is a 0.9 confidence right
  90 % of the time?).
"""

from __future__ import annotations

import importlib.util
import io
from collections.abc import Sequence

import lightning as L
import torch
from lightning.pytorch.loggers import MLFlowLogger, TensorBoardLogger, WandbLogger
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities import rank_zero_warn
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from torch import Tensor
from torchmetrics.classification import MulticlassConfusionMatrix
from torchmetrics.functional.classification import multiclass_precision_recall_curve

from lstmlab.data.batching import PadCollator
from lstmlab.models.attribution import TOLERANCE, explain
from lstmlab.models.calibration import BINS, expected_calibration_error, reliability

FIGURE_LOGGERS = (TensorBoardLogger, MLFlowLogger, WandbLogger)  # the trackers that take figures
# A heat-map's layout, in inches at DPI: TensorBoard's image card shows an image of
# TOKENS_PER_LINE cells × (a title, 6 lines and a colour bar) at about its own size.
DPI = 100
TOKENS_PER_LINE = 5
CELL_WIDTH = 0.72  # wide enough for a word of 9 letters at FONT_SIZE
LINE_HEIGHT = 0.24
TITLE_HEIGHT = 0.3
BAR_HEIGHT = 0.6  # a colour bar with its ticks and label
FONT_SIZE = 9  # points: 12.5 px at DPI


class TensorBoardFigures(L.Callback):
    """Args:
    num_texts: validation texts whose attention weights and attributions are drawn each epoch.
    max_tokens: texts at most this long are preferred, so a heat-map stays a few lines high
        and legible in TensorBoard's card (longer ones are drawn in full, on more lines).

    attributions: integrated gradients of the same texts (Captum, the `explain` extra): None
        draws them where Captum is installed, so the base install runs silently; True asks
        for them (a warning without Captum); False never.
    ig_tolerance: largest completeness error (share of the logit difference) before more
        steps are tried, then a warning.
    """

    def __init__(
        self,
        num_texts: int = 4,
        max_tokens: int = 30,
        attributions: bool | None = None,
        ig_tolerance: float = TOLERANCE,
    ) -> None:
        self.num_texts = num_texts
        self.max_tokens = max_tokens
        self.attributions = attributions is not False and _captum_installed(warn=bool(attributions))
        self.ig_tolerance = ig_tolerance
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
        if not any(isinstance(logger, FIGURE_LOGGERS) for logger in trainer.loggers):
            return  # e.g. logger=csv: no tracker would show them
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
            for i, (text, n, title) in enumerate(zip(texts, sizes, titles)):
                figure = attention_figure([(text, weights[i, :n].cpu(), title)])
                log_figure(trainer, f"val/attention/{i}", figure)
        if self.attributions:
            explained = explain(
                module.net,
                tokens,
                lengths,
                predicted.to(module.device),
                module.pad_id,
                tolerance=self.ig_tolerance,
            )
            errors = explained.error.cpu()
            for i, (text, n, title) in enumerate(zip(texts, sizes, titles)):
                ig = explained.attributions[i, :n].cpu()
                row = (text, ig, f"{title}; IG error {errors[i]:.1%}")
                figure = attention_figure([row], signed=True)
                log_figure(trainer, f"val/integrated_gradients/{i}", figure)
            if explained.above(self.ig_tolerance):
                rank_zero_warn(
                    f"Integrated gradients of {len(explained.above(self.ig_tolerance))} of "
                    f"{len(texts)} drawn texts leave more than {self.ig_tolerance:.0%} of the "
                    f"logit difference unexplained (largest {float(errors.max()):.0%}, at "
                    f"{int(explained.steps.max())} steps): read their heat-maps with care."
                )

    def _pick_examples(self, dataset: Sequence) -> list[tuple[Tensor, Tensor]]:
        """The first `num_texts` validation texts no longer than `max_tokens`, topped up with
        the shortest others where too few are (a long text's heat-map is shrunk in
        TensorBoard's card); fixed across epochs: the validation split never changes."""
        sizes = [len(dataset[i][0]) for i in range(len(dataset))]
        drawable = [i for i, n in enumerate(sizes) if n > 0]
        short = [i for i in drawable if sizes[i] <= self.max_tokens]
        longer = sorted(set(drawable) - set(short), key=sizes.__getitem__)
        return [dataset[i] for i in [*short, *longer][: self.num_texts]]

    def _log_evaluation(self, trainer: L.Trainer, module: L.LightningModule, stage: str) -> None:
        result = module.last_evaluation(stage)
        if result is None:
            return
        names = module.class_names
        log_figure(trainer, f"{stage}/confusion_matrix", confusion_figure(result.confusion, names))
        reliability = reliability_figure(result.probabilities, result.labels)
        log_figure(trainer, f"{stage}/reliability", reliability)
        writer = _tensorboard(trainer)
        for c, name in enumerate(names):
            if writer is not None:  # TensorBoard's own PR CURVES tab
                labels, scores = result.labels == c, result.probabilities[:, c]
                writer.add_pr_curve(f"{stage}/pr_curve/{name}", labels, scores, trainer.global_step)
        if any(not isinstance(logger, TensorBoardLogger) for logger in trainer.loggers):
            pr = pr_figure(result.probabilities, result.labels, names)
            log_figure(trainer, f"{stage}/pr_curves", pr, tensorboard=False)


def log_figure(trainer: L.Trainer, tag: str, figure: Figure, tensorboard: bool = True) -> None:
    """`figure` at the trainer's step to each tracker: TensorBoard's IMAGES tab (`tag`), an
    MLflow artifact `figures/<tag>_step<N>.png`, a W&B image under `tag`."""
    step = trainer.global_step
    for logger in trainer.loggers:
        if isinstance(logger, MLFlowLogger):
            path = f"figures/{tag}_step{step:06d}.png"
            logger.experiment.log_figure(logger.run_id, figure, path)
        elif isinstance(logger, WandbLogger):
            logger.log_image(tag, [_image(figure)], step=step)
    tensorboard_writer = _tensorboard(trainer) if tensorboard else None
    if tensorboard_writer is not None:
        tensorboard_writer.add_figure(tag, figure, step)  # last: it closes the figure


def _image(figure: Figure):  # -> PIL.Image.Image
    """The figure as a picture, as TensorBoard renders it (for trackers that take pictures)."""
    from PIL import Image

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    buffer.seek(0)
    return Image.open(buffer)


def pr_figure(probabilities: Tensor, labels: Tensor, class_names: list[str]) -> Figure:
    """Precision against recall per class (one against the rest), in one figure: for trackers
    without TensorBoard's PR CURVES tab."""
    precision, recall, _ = multiclass_precision_recall_curve(
        probabilities, labels, num_classes=len(class_names)
    )
    figure = Figure(figsize=(4.5, 4.5))
    ax = figure.add_subplot()
    for name, p, r in zip(class_names, precision, recall):
        ax.plot(r.numpy(), p.numpy(), label=name)
    ax.set(xlim=(0, 1), ylim=(0, 1.05), xlabel="recall", ylabel="precision", title="PR curves")
    ax.legend(loc="lower left", fontsize=7)
    figure.tight_layout()
    return figure


def attention_figure(
    rows: list[tuple[list[str], Tensor, str]],
    signed: bool | list[bool] = False,
    per_line: int = TOKENS_PER_LINE,
) -> Figure:
    """Each text as a grid of its tokens, `per_line` to a line, each on its weight's colour
    (attention: white to red; `signed` attributions: blue below zero, red above, white at
    zero). One colour scale per kind in the figure, with its colour bar: strips can be
    compared. `signed` may be given per row, e.g. attention above integrated gradients for
    one text.

    Sized for TensorBoard's image card, which scales every image into about 303 × 215 px: one
    text of 30 tokens, 5 a line, is shown at 84 % or more of its own size, its words at 10 px
    or more."""
    kinds = signed if isinstance(signed, list) else [signed] * len(rows)
    bars = sorted(set(kinds))
    lines = [max(1, -(-len(tokens) // per_line)) for tokens, _, _ in rows]
    height = sum(LINE_HEIGHT * n + TITLE_HEIGHT for n in lines) + BAR_HEIGHT * len(bars)
    figure = Figure(figsize=(CELL_WIDTH * per_line, height), dpi=DPI)
    # each colour bar's strip half a line high; constrained layout adds titles and labels
    grid = figure.add_gridspec(len(rows) + len(bars), 1, height_ratios=[*lines, *[0.5] * len(bars)])
    scales = {
        kind: _colour_scale([w for (_, w, _), k in zip(rows, kinds) if k == kind], kind)
        for kind in bars
    }
    images = {}
    for place, ((tokens, weights, title), kind, n) in enumerate(zip(rows, kinds, lines)):
        ax = figure.add_subplot(grid[place])
        cells = torch.full((n * per_line,), float("nan"))
        cells[: len(tokens)] = weights.float()
        image = ax.imshow(cells.view(n, per_line).numpy(), aspect="auto", **scales[kind])
        for i, token in enumerate(tokens):
            shade = abs(float(weights[i])) / (scales[kind]["vmax"] or 1.0)
            ax.text(
                i % per_line,
                i // per_line,
                _short(token),
                ha="center",
                va="center",
                fontsize=FONT_SIZE,
                color="white" if shade > 0.6 else "black",
            )
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(title, fontsize=FONT_SIZE, loc="left", wrap=True)
        images[kind] = image
    for place, kind in enumerate(bars, start=len(rows)):
        bar = figure.colorbar(
            images[kind],
            cax=figure.add_subplot(grid[place]),
            orientation="horizontal",
        )
        bar.ax.tick_params(labelsize=FONT_SIZE - 1)
        bar.locator = MaxNLocator(5)
        bar.set_label(
            "integrated gradient (towards the predicted class)" if kind else "attention weight",
            fontsize=FONT_SIZE - 1,
        )
    figure.set_layout_engine("constrained", h_pad=0.02, w_pad=0.02)
    return figure


def _colour_scale(weights: list[Tensor], signed: bool) -> dict:
    """One colour scale for every strip of a kind: the largest |weight| among them."""
    limit = max((float(w.abs().max()) for w in weights if w.numel()), default=0.0) or 1.0
    if signed:
        return {"cmap": "RdBu_r", "vmin": -limit, "vmax": limit}
    return {"cmap": "Reds", "vmin": 0.0, "vmax": limit}


def _short(token: str, width: int = 9) -> str:
    """A token cut to fit its cell (`width` characters), so neighbours never overlap."""
    return token if len(token) <= width else token[: width - 1] + "…"


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


def _captum_installed(warn: bool) -> bool:
    if importlib.util.find_spec("captum") is not None:
        return True
    if warn:
        rank_zero_warn(
            "callbacks.figures.attributions=true needs Captum for integrated gradients: "
            "pip install -e '.[explain]' (or set it to null or false). Drawing attention only."
        )
    return False


def _tensorboard(trainer: L.Trainer):  # -> SummaryWriter | None
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            return logger.experiment
    return None

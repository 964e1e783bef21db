"""Classify new text with nothing but a checkpoint: `python predict.py CKPT "text" ...`.

The tokenizer and the training run's `max_len` travel inside every checkpoint, so a text is
read exactly as training read it. Defined behaviour at the edges:
- an empty text (or one of only markup) has no tokens; like an empty review in training, the
  network reads it as a single padding token, so it gets a prediction, flagged `num_tokens: 0`;
- words outside the vocabulary are read as <unk> and counted in `unknown`; a text of only
  those still gets a prediction (the model's reading of "nothing known");
- a text longer than `max_len` tokens is cut to its first `max_len`, as in training, and
  flagged `truncated`; attention weights cover the tokens read;
- bytes that are not UTF-8 (in an argument, a file or stdin) are read as U+FFFD, the
  replacement character, and the text is flagged `invalid_utf8`; the other texts are unaffected.
`--explain ig` adds integrated gradients (models/attribution.py) per token, for every pooling,
and for attention models the rank correlation of attention with their magnitude.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import rich
import torch
from rich.markup import escape
from scipy import stats

from lstmlab.data.tokenization import TextEncoder
from lstmlab.models.attribution import integrated_gradients
from lstmlab.models.lit_module import ClassifierModule
from lstmlab.runs.checkpoints import (
    CheckpointError,
    load_model,
    read_checkpoint,
    require_text_state,
)
from lstmlab.runs.onnx_predictor import (
    MODEL,
    OnnxPredictor,
    Prediction,
    in_length_order,
    make_prediction,
    token_weights,
)

BAR_WIDTH = 30
EXPLANATIONS = ("ig",)  # --explain: integrated gradients


class Predictor:
    """A checkpoint's model and tokenizer, batched: `Predictor.from_checkpoint(p)(texts)`."""

    def __init__(
        self, model: ClassifierModule, encoder: TextEncoder, explain: str | None = None
    ) -> None:
        self.model = model.eval()
        self.encoder = encoder
        self.explain = explain
        unk = getattr(encoder.tokenizer.model, "unk_token", None)
        self.unk_id = encoder.tokenizer.token_to_id(unk) if unk else None

    @classmethod
    def from_checkpoint(cls, path: str | Path, explain: str | None = None) -> Predictor:
        checkpoint = read_checkpoint(path)
        state = require_text_state(checkpoint, path)
        return cls(load_model(checkpoint, path), TextEncoder.from_state(state), explain)

    @torch.inference_mode()
    def __call__(self, texts: list[str], batch_size: int = 256) -> list[Prediction]:
        """Predictions in the order of `texts`; batches hold texts of similar length."""
        encodings = self.encoder.tokenizer.encode_batch(texts, add_special_tokens=False)
        return in_length_order(texts, encodings, self._batch, batch_size)

    def _batch(self, encodings: list, texts: list[str], indices: list[int]) -> list[Prediction]:
        batch = self.encoder.batch_of_ids([e.ids for e in encodings])
        logits, weights = self.model(batch["tokens"], batch["lengths"])
        probabilities = self.model.probabilities(logits)
        names = self.model.class_names
        predictions = [
            make_prediction(
                names,
                probabilities[row].tolist(),
                encoding,
                texts[index],
                int(batch["lengths"][row]),
                None if weights is None else weights[row].tolist(),
                self.unk_id,
                self.model.temperature,
            )
            for row, (encoding, index) in enumerate(zip(encodings, indices))
        ]
        if self.explain:
            self._explain(predictions, batch, probabilities.argmax(-1), encodings, texts, indices)
        return predictions

    def _explain(
        self,
        predictions: list[Prediction],
        batch: dict[str, torch.Tensor],
        predicted: torch.Tensor,
        encodings: list,
        texts: list[str],
        indices: list[int],
    ) -> None:
        """Adds each token's integrated gradient towards the predicted class."""
        ig, _ = integrated_gradients(
            self.model.net, batch["tokens"], batch["lengths"], predicted, self.encoder.pad_id
        )
        for row, prediction in enumerate(predictions):
            values = ig[row, : prediction.num_tokens].tolist()
            prediction.attributions = token_weights(
                encodings[row], texts[indices[row]], prediction.num_tokens, values
            )
            if prediction.attention and len(values) > 1:
                attention = [weight for _, weight in prediction.attention]
                rho = stats.spearmanr(attention, [abs(v) for v in values]).statistic
                prediction.attention_ig_spearman = None if rho != rho else round(float(rho), 4)


def load_predictor(path: Path, explain: str | None = None) -> Predictor | OnnxPredictor:
    """A checkpoint's `Predictor`, or for an export folder (model.onnx) its `OnnxPredictor`."""
    if path.is_dir() and (path / MODEL).is_file():
        if explain:
            raise ValueError(
                f"--explain {explain} needs the model's gradients, which an ONNX export does "
                "not hold: give the checkpoint it was exported from (metadata.json names it)."
            )
        return OnnxPredictor.from_folder(path)
    return Predictor.from_checkpoint(path, explain)


def render(index: int, prediction: Prediction, top: int, invalid_utf8: bool = False) -> None:
    """One prediction for people: label, probabilities, and attention as bars."""
    probabilities = ", ".join(f"{n} {p:.3f}" for n, p in prediction.probabilities.items())
    notes = [f"{prediction.num_tokens} tokens"]
    if invalid_utf8:
        notes.append("bytes that are not UTF-8 read as \ufffd")
    if prediction.truncated:
        notes.append("truncated to max_len")
    if prediction.unknown:
        notes.append(f"{prediction.unknown} unknown")
    if prediction.temperature != 1.0:
        notes.append(f"calibrated, temperature {prediction.temperature:.2f}")
    rich.print(f"[bold][{index}] {prediction.label}[/bold]  ({probabilities})  {', '.join(notes)}")
    if prediction.attention:
        render_weights("attention weight", prediction.attention, top)
    if prediction.attributions:
        rho = prediction.attention_ig_spearman
        agreement = "" if rho is None else f" (Spearman with attention: {rho:+.2f})"
        render_weights(f"integrated gradient{agreement}", prediction.attributions, top)


def render_weights(what: str, weights: list[tuple[str, float]], top: int) -> None:
    """Tokens with bars as long as |weight|: red where the weight is positive (towards the
    predicted class), blue where negative; in text order, or the `top` heaviest first."""
    shown = list(enumerate(weights))
    if len(shown) > top:  # the heaviest tokens, heaviest first
        shown = sorted(shown, key=lambda item: -abs(item[1][1]))[:top]
    rich.print(
        f"    {what}, {'top ' + str(top) + ' of ' if len(weights) > top else ''}"
        f"{len(weights)} tokens:"
    )
    heaviest = max(abs(weight) for _, (_, weight) in shown) or 1.0
    for _, (token, weight) in shown:
        bar = "█" * round(BAR_WIDTH * abs(weight) / heaviest)
        colour = "red" if weight >= 0 else "blue"
        rich.print(f"    {escape(token):>16} [{colour}]{bar:<{BAR_WIDTH}}[/{colour}] {weight:+.3f}")


def read_texts(texts: list[str], file: Path | None) -> list[str]:
    """Texts from the arguments, else from `file` (one per line; `-` is stdin), else stdin.
    Bytes that are not UTF-8 stay as Python's surrogate escapes (as in arguments): see
    `repaired`."""
    if texts:
        return texts
    if file is not None and str(file) != "-":
        content = file.read_bytes()
    else:
        content = sys.stdin.buffer.read()
    return lines(content.decode("utf-8", errors="surrogateescape"))


def repaired(text: str) -> tuple[str, bool]:
    """`text` with its undecodable bytes (surrogate escapes, which the tokenizer refuses)
    replaced by U+FFFD, and whether it had any."""
    try:
        text.encode("utf-8")
        return text, False
    except UnicodeEncodeError:
        raw = text.encode("utf-8", errors="surrogateescape")  # the bytes as they came
        return raw.decode("utf-8", errors="replace"), True


def lines(content: str) -> list[str]:
    """One text per line, split at newlines only: reviews may hold carriage returns and other
    characters `str.splitlines` would also split at. A Windows line end is dropped."""
    parts = [line.removesuffix("\r") for line in content.split("\n")]
    return parts[:-1] if parts and parts[-1] == "" else parts


def positive_int(value: str) -> int:
    """argparse's type for `--batch-size`: 0 or less would fail inside the batching."""
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value}: expected a positive integer (e.g. 64)")
    return number


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Classify texts with a trained checkpoint (nothing else is needed).",
        epilog='e.g. python predict.py logs/runs/<run>/checkpoints/last.ckpt "A wonderful film."',
    )
    parser.add_argument(
        "checkpoint", type=Path, help="a run's checkpoints/*.ckpt, or an export.py folder (ONNX)"
    )
    parser.add_argument("texts", nargs="*", help="texts to classify (default: --file or stdin)")
    parser.add_argument("--file", type=Path, help="a UTF-8 file with one text per line (- : stdin)")
    parser.add_argument("--json", action="store_true", help="one JSON object per text")
    parser.add_argument("--top", type=int, default=15, help="tokens shown per text and weighting")
    parser.add_argument(
        "--explain", choices=EXPLANATIONS, help="ig: integrated gradients per token (any pooling)"
    )
    parser.add_argument(
        "--batch-size", type=positive_int, default=256, help="texts per forward pass"
    )
    args = parser.parse_intermixed_args(argv)  # texts may come after options too
    try:
        predictor = load_predictor(args.checkpoint, args.explain)
        read = [repaired(text) for text in read_texts(args.texts, args.file)]
    except (CheckpointError, OSError, ValueError) as err:
        parser.exit(2, f"error: {err}\n")
    started = time.perf_counter()
    texts = [text for text, _ in read]
    predictions = predictor(texts, args.batch_size)
    seconds = time.perf_counter() - started
    for index, (prediction, (_, replaced)) in enumerate(zip(predictions, read)):
        if args.json:
            row = {"index": index, **asdict(prediction), "invalid_utf8": replaced}
            print(json.dumps(row, ensure_ascii=False))
        else:
            render(index, prediction, args.top, replaced)
    rate = len(texts) / seconds if seconds > 0 else float("inf")
    print(f"{len(texts)} texts in {seconds:.2f} s ({rate:.0f} texts/s)", file=sys.stderr)
    return 0


def cli() -> None:
    """The installed command: `main`'s status as the exit code."""
    sys.exit(main())

"""Classify texts with an exported model and no PyTorch: onnxruntime, tokenizers and numpy only.

This file is also copied into every export folder as `predict_onnx.py`, so the folder works on
a machine without lstmlab or torch:

    python predict_onnx.py "A wonderful film." "Dull."      # from inside the export folder
    python predict_onnx.py --json < reviews.txt

It therefore imports nothing from lstmlab. `Prediction` and `make_prediction` live here, and
the PyTorch `Predictor` (serving/predict.py) uses them too, so both runtimes report alike.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

MODEL, TOKENIZER, METADATA = "model.onnx", "tokenizer.json", "metadata.json"


@dataclass
class Prediction:
    label: str
    probabilities: dict[str, float]
    num_tokens: int  # tokens the model read (after cutting to max_len)
    truncated: bool  # the text had more than max_len tokens
    unknown: int  # tokens outside the vocabulary, read as <unk>
    attention: list[tuple[str, float]] | None  # (token as written, weight); attention models
    temperature: float = 1.0  # logits were divided by it (evaluate.py calibrate=true); 1: not
    attributions: list[tuple[str, float]] | None = None  # integrated gradients (--explain ig)
    attention_ig_spearman: float | None = None  # rank correlation of attention and |IG|
    # |sum of attributions - logit difference| / |logit difference|: what IG leaves unexplained
    attribution_error: float | None = None
    attribution_steps: int | None = None  # the integral's points that gave the attributions


def make_prediction(
    names: Sequence[str],
    probabilities: Sequence[float],
    encoding: Any,
    text: str,
    kept: int,
    weights: Sequence[float] | None,
    unk_id: int | None,
    temperature: float = 1.0,
) -> Prediction:
    """One text's `Prediction` from its class probabilities, its `tokenizers.Encoding`, the
    number of tokens the model read and its attention weights (None: no attention)."""
    attention = None if weights is None else token_weights(encoding, text, kept, weights, unk_id)
    return Prediction(
        label=names[int(np.argmax(probabilities))],
        probabilities={n: round(float(p), 6) for n, p in zip(names, probabilities)},
        num_tokens=kept,
        truncated=kept < len(encoding.ids),
        unknown=sum(i == unk_id for i in encoding.ids[:kept]),
        attention=attention,
        temperature=temperature,
    )


def token_weights(
    encoding: Any, text: str, kept: int, weights: Sequence[float], unk_id: int | None = None
) -> list[tuple[str, float]]:
    """(token as written in `text`, weight) for the first `kept` tokens; a word the model read
    as unknown shows as `⟨unk:word⟩`, as the weight is the unknown token's, not the word's."""
    spans = [
        f"⟨unk:{text[a:b]}⟩" if i == unk_id else text[a:b]
        for i, (a, b) in zip(encoding.ids[:kept], encoding.offsets[:kept])
    ]
    return [(span, round(float(w), 6)) for span, w in zip(spans, weights[:kept])]


def probabilities_of(logits: np.ndarray, binary_head: bool) -> np.ndarray:
    """Class probabilities [B, C]; the BCE head's one logit becomes [1 - p, p]."""
    if binary_head:
        p = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))  # [B, 1]
        return np.concatenate([1 - p, p], axis=-1)
    shifted = np.exp(logits.astype(np.float64) - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def in_length_order(
    texts: list[str], encodings: list, batch: Any, batch_size: int
) -> list[Prediction]:
    """`batch(encodings, texts, indices)` over batches of texts of similar length (little
    padding), the predictions returned in the order of `texts`. Shared by both runtimes."""
    order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
    results: list[Prediction | None] = [None] * len(texts)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        for i, prediction in zip(chunk, batch([encodings[i] for i in chunk], texts, chunk)):
            results[i] = prediction
    return results


class OnnxPredictor:
    """An export folder's model and tokenizer: `OnnxPredictor.from_folder(d)(texts)`."""

    def __init__(self, session: Any, tokenizer: Any, metadata: dict[str, Any]) -> None:
        self.session, self.tokenizer, self.metadata = session, tokenizer, metadata
        self.names: list[str] = metadata["class_names"]
        self.max_len: int | None = metadata["max_len"]
        self.pad_id: int = metadata["pad_id"]
        self.temperature: float = metadata.get("temperature", 1.0)  # older exports: none
        unk = metadata.get("unk_token")
        self.unk_id = tokenizer.token_to_id(unk) if unk else None

    @classmethod
    def from_folder(cls, folder: str | Path, threads: int | None = None) -> OnnxPredictor:
        """Reads `model.onnx`, `tokenizer.json` and `metadata.json` from an export folder;
        `threads` caps onnxruntime's intra-op threads (None: its default)."""
        import onnxruntime as ort
        from tokenizers import Tokenizer

        folder = Path(folder)
        missing = [n for n in (MODEL, TOKENIZER, METADATA) if not (folder / n).is_file()]
        if missing:
            raise FileNotFoundError(
                f"{folder} is not an export folder: it lacks {', '.join(missing)}. Make one "
                "with `python export.py <checkpoint> --out <folder>`."
            )
        metadata = json.loads((folder / METADATA).read_text(encoding="utf-8"))
        tokenizer = Tokenizer.from_file(str(folder / TOKENIZER))
        # not kept in tokenizer.json: whether "<pad>" typed in a text is text (it is, here)
        tokenizer.encode_special_tokens = metadata.get("encode_special_tokens", False)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        session = ort.InferenceSession(
            str(folder / MODEL), options, providers=["CPUExecutionProvider"]
        )
        return cls(session, tokenizer, metadata)

    def __call__(self, texts: list[str], batch_size: int = 256) -> list[Prediction]:
        """Predictions in the order of `texts`; batches hold texts of similar length."""
        encodings = self.tokenizer.encode_batch(texts, add_special_tokens=False)
        return in_length_order(texts, encodings, self._batch, batch_size)

    def _batch(self, encodings: list, texts: list[str], indices: list[int]) -> list[Prediction]:
        ids = [e.ids[: self.max_len] for e in encodings]
        lengths = np.array([len(i) for i in ids], dtype=np.int64)
        tokens = np.full((len(ids), max(1, lengths.max())), self.pad_id, dtype=np.int64)
        for row, row_ids in enumerate(ids):  # right padding, as PadCollator pads
            tokens[row, : len(row_ids)] = row_ids
        outputs = self.session.run(None, {"tokens": tokens, "lengths": lengths})
        weights = outputs[1] if len(outputs) > 1 else None
        logits = outputs[0] / self.temperature
        probabilities = probabilities_of(logits, self.metadata["head"] == "bce")
        return [
            make_prediction(
                self.names,
                probabilities[row],
                encoding,
                texts[index],
                int(lengths[row]),
                None if weights is None else weights[row],
                self.unk_id,
                self.temperature,
            )
            for row, (encoding, index) in enumerate(zip(encodings, indices))
        ]


def main(argv: list[str] | None = None) -> int:
    """The export folder's own command: texts from the arguments or stdin, one JSON line each."""
    parser = argparse.ArgumentParser(description="Classify texts with this export folder.")
    parser.add_argument("texts", nargs="*", help="texts (default: one per line from stdin)")
    parser.add_argument("--folder", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--json", action="store_true", help="one JSON object per text")
    args = parser.parse_args(argv)
    try:
        predictor = OnnxPredictor.from_folder(args.folder)
    except (OSError, ValueError) as err:
        parser.exit(2, f"error: {err}\n")
    texts = args.texts or [line.removesuffix("\r") for line in sys.stdin.read().split("\n")]
    if not args.texts and texts and texts[-1] == "":
        texts.pop()
    for index, prediction in enumerate(predictor(texts)):
        if args.json:
            print(json.dumps({"index": index, **asdict(prediction)}, ensure_ascii=False))
        else:
            shown = ", ".join(f"{n} {p:.3f}" for n, p in prediction.probabilities.items())
            print(f"[{index}] {prediction.label}  ({shown})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

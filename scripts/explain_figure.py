"""One text read by a trained model: its attention weights above its integrated gradients.

    python scripts/explain_figure.py <checkpoint> "A wonderful film." --out figure.png

Prints the prediction and the Spearman rank correlation of attention with |IG| (attention
models; other poolings get the IG strip only). Needs the `explain` extra (Captum).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from lstmlab.callbacks.figures import attention_figure
from lstmlab.io import atomic
from lstmlab.serving.predict import Predictor

LINE = 10  # tokens a line: a page is wider than TensorBoard's card


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path, help="a run's checkpoints/*.ckpt")
    parser.add_argument("text", help="the text to explain")
    parser.add_argument("--out", type=Path, required=True, help="where to write the PNG")
    args = parser.parse_args(argv)
    prediction = Predictor.from_checkpoint(args.checkpoint, explain="ig")([args.text])[0]
    tokens = [token for token, _ in prediction.attributions]
    confidence = prediction.probabilities[prediction.label]
    rows, signed = [], []
    if prediction.attention:
        weights = torch.tensor([w for _, w in prediction.attention])
        rows.append(
            (tokens, weights, f"attention (predicted {prediction.label}, {confidence:.2f})")
        )
        signed.append(False)
    ig = torch.tensor([w for _, w in prediction.attributions])
    rho = prediction.attention_ig_spearman
    agreement = "" if rho is None else f"; Spearman with attention {rho:+.2f}"
    rows.append((tokens, ig, f"integrated gradients towards {prediction.label}{agreement}"))
    signed.append(True)
    with atomic.atomic_open(args.out) as file:
        figure = attention_figure(rows, signed=signed, per_line=LINE)
        figure.savefig(file, format="png", dpi=110)
    print(
        f"{prediction.label} ({confidence:.3f}); Spearman(attention, |IG|) = {rho}; -> {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

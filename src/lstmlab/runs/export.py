"""Export a checkpoint to a self-contained ONNX folder: `python export.py CKPT [--out DIR]`.

The folder holds everything needed to classify text without lstmlab or PyTorch:
    model.onnx      inputs tokens [batch, time] int64 (right-padded) and lengths [batch] int64;
                    outputs logits [batch, classes] (BCE head: [batch, 1]) and, for attention
                    models, attention [batch, time]; batch and time are dynamic
    tokenizer.json  the run's tokenizer (its normalizer holds the lower-casing and cleaning)
    metadata.json   label names, max_len, pad id, head, the source checkpoint, its run's
                    validation and test metrics, the command that made the folder
    predict_onnx.py a small command using onnxruntime + tokenizers (runs/onnx_predictor.py)

The graph is traced (`torch.onnx.export(dynamo=False)`) with a padded example batch, so the
encoder records its general within-length reversal (a gather), which is exact for padded and
unpadded batches alike. Every export is checked before it is kept: ONNX Runtime must give
PyTorch's logits within `TOLERANCE` on a batch of mixed lengths with an empty row, else
nothing is written.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import shutil
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from lstmlab import __version__
from lstmlab.data.tokenization import from_json
from lstmlab.io import atomic
from lstmlab.runs import onnx_predictor
from lstmlab.runs.checkpoints import (
    CheckpointError,
    load_model,
    read_checkpoint,
    require_text_state,
)
from lstmlab.runs.onnx_predictor import METADATA, MODEL, TOKENIZER

OPSET = 17
TOLERANCE = 1e-5  # largest |logit difference| accepted between PyTorch and ONNX Runtime
DYNAMIC_AXES = {
    "tokens": {0: "batch", 1: "time"},
    "lengths": {0: "batch"},
    "logits": {0: "batch"},
    "attention": {0: "batch", 1: "time"},
}


class ExportError(ValueError):
    """A checkpoint that cannot be exported faithfully, or an export that would overwrite."""


class Exported(nn.Module):
    """The network with the graph's signature: (tokens, lengths) -> logits[, attention]."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        logits, weights = self.net(tokens, lengths)
        return logits if weights is None else (logits, weights)


def check_exportable(net: nn.Module, vocab_size: int, pad_id: int) -> None:
    """Refuse what ONNX would reproduce wrongly: a network that gives other outputs for the
    same input in evaluation (`model.encoder.init_state=random` draws fresh noise at every
    call), so that no fixed graph gives PyTorch's outputs."""
    tokens, lengths = example_batch(vocab_size, pad_id)
    with torch.no_grad():
        first, second = net(tokens, lengths)[0], net(tokens, lengths)[0]
    if not torch.equal(first, second):
        raise ExportError(
            "This model gives other outputs at every prediction of the same text (e.g. "
            "model.encoder.init_state=random draws a new initial state), so an ONNX graph "
            "cannot reproduce them. Export a model trained with init_state=zeros or learned."
        )


def example_batch(vocab_size: int, pad_id: int, steps: int = 7) -> tuple[Tensor, Tensor]:
    """A right-padded batch with a full row, a shorter row and an empty row: tracing it
    records the general within-length reversal (an unpadded batch would record a flip)."""
    generator = torch.Generator().manual_seed(0)
    lengths = torch.tensor([steps, steps - 3, 0])
    tokens = torch.randint(0, vocab_size, (3, steps), generator=generator)
    tokens[torch.arange(steps) >= lengths.unsqueeze(1)] = pad_id
    return tokens, lengths


def export_onnx(net: nn.Module, path: Path, vocab_size: int, pad_id: int) -> list[str]:
    """Writes `net` as ONNX to `path`; returns the output names."""
    wrapped = Exported(net).eval()
    tokens, lengths = example_batch(vocab_size, pad_id)
    with torch.no_grad():
        attention = net(tokens, lengths)[1] is not None
    outputs = ["logits", "attention"] if attention else ["logits"]
    with warnings.catch_warnings():  # the tracer's note on the flip/gather branch: see above
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapped,
            (tokens, lengths),
            str(path),
            input_names=["tokens", "lengths"],
            output_names=outputs,
            dynamic_axes={
                k: v for k, v in DYNAMIC_AXES.items() if k in ["tokens", "lengths", *outputs]
            },
            opset_version=OPSET,
            dynamo=False,
        )
    return outputs


def largest_difference(net: nn.Module, path: Path, vocab_size: int, pad_id: int) -> float:
    """Max |logit difference| between PyTorch and ONNX Runtime on a batch unlike the traced
    one (other size, longer, an empty row)."""
    import onnxruntime as ort

    tokens, lengths = example_batch(vocab_size, pad_id, steps=23)
    tokens, lengths = torch.cat([tokens, tokens[:2]]), torch.cat([lengths, torch.tensor([1, 9])])
    with torch.no_grad():
        expected = net(tokens, lengths)[0].numpy()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(["logits"], {"tokens": tokens.numpy(), "lengths": lengths.numpy()})[0]
    return float(np.abs(expected - got).max())


def run_metrics(checkpoint: Path) -> dict[str, float]:
    """The run's validation and test metrics from its results.json (<run>/checkpoints/x.ckpt),
    or {} when the checkpoint is not inside a run folder that has one."""
    results = checkpoint.resolve().parent.parent / "results.json"
    if not results.is_file():
        return {}
    metrics = json.loads(results.read_text()).get("metrics", {})
    return {k: v for k, v in metrics.items() if k.startswith(("val/", "test/"))}


def metadata(checkpoint: Path, model: Any, state: dict[str, Any], tokenizer_json: str) -> dict:
    """What a user of the folder needs besides the graph: how to read text, what labels mean."""
    hparams = model.hparams
    tokenizer = json.loads(tokenizer_json)
    normalizer = tokenizer.get("normalizer") or {}
    steps = normalizer.get("normalizers", [normalizer])
    return {
        "class_names": list(model.class_names),
        "head": "bce" if model.binary_head else "ce",
        "temperature": model.temperature,  # evaluate.py calibrate=true; 1.0: not calibrated
        "max_len": state.get("max_len"),
        "pad_id": state["pad_id"],
        "unk_token": (tokenizer.get("model") or {}).get("unk_token"),
        "lowercase": any(s.get("type") == "Lowercase" or s.get("lowercase") for s in steps),
        "normalizer": normalizer or None,
        "encode_special_tokens": from_json(tokenizer_json).encode_special_tokens,
        "model": hparams.get("net"),
        "source_checkpoint": str(checkpoint.resolve()),
        "source_sha256": hashlib.sha256(checkpoint.read_bytes()).hexdigest(),
        "metrics": run_metrics(checkpoint),
        "command": shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "lstmlab_version": __version__,
        "onnx_opset": OPSET,
    }


def export(checkpoint: str | Path, out: str | Path | None = None, force: bool = False) -> Path:
    """Exports `checkpoint` to `out` (default: <run>/export) and returns the folder. The folder
    is assembled elsewhere and moved into place only once it has passed the check."""
    checkpoint = Path(checkpoint)
    contents = read_checkpoint(checkpoint)
    state = require_text_state(contents, checkpoint)
    out = Path(out) if out else checkpoint.resolve().parent.parent / "export"
    if out.exists() and any(out.iterdir()) and not force:
        raise ExportError(f"{out} exists and is not empty; choose another --out or pass --force.")
    model = load_model(contents, checkpoint)
    vocab_size, pad_id = model.net.embedding.num_embeddings, state["pad_id"]
    check_exportable(model.net, vocab_size, pad_id)
    with atomic.atomic_folder(out, replace=True) as folder:  # whole, or the old one stays
        export_onnx(model.net, folder / MODEL, vocab_size, pad_id)
        difference = largest_difference(model.net, folder / MODEL, vocab_size, pad_id)
        if not difference <= TOLERANCE:
            raise ExportError(
                f"ONNX Runtime's logits differ from PyTorch's by {difference:.2e} (> "
                f"{TOLERANCE}); nothing was written. Please report this with the checkpoint."
            )
        (folder / TOKENIZER).write_text(state["tokenizer"], encoding="utf-8")
        info = metadata(checkpoint, model, state, state["tokenizer"])
        info["checked_max_abs_logit_difference"] = difference
        (folder / METADATA).write_text(json.dumps(info, indent=2, default=str) + "\n")
        shutil.copyfile(onnx_predictor.__file__, folder / "predict_onnx.py")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Export a checkpoint to a folder that runs with onnxruntime alone.",
        epilog="e.g. python export.py logs/runs/<run>/checkpoints/last.ckpt --out model_onnx",
    )
    parser.add_argument("checkpoint", type=Path, help="a run's checkpoints/*.ckpt")
    parser.add_argument("--out", type=Path, help="the folder to write (default: <run>/export)")
    parser.add_argument("--force", action="store_true", help="replace a non-empty --out")
    args = parser.parse_args(argv)
    try:
        folder = export(args.checkpoint, args.out, args.force)
    except (CheckpointError, ExportError, OSError) as err:
        parser.exit(2, f"error: {err}\n")
    print(f"exported to {folder}")
    return 0


def cli() -> None:
    """The installed command: `main`'s status as the exit code."""
    sys.exit(main())

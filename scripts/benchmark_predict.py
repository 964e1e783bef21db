"""Texts/s of prediction in PyTorch (`Predictor`, a checkpoint) and in ONNX Runtime
(`OnnxPredictor`, its export) on IMDB test reviews, same texts, batch size and threads.

    python scripts/benchmark_predict.py                      # the default IMDB model, 1 step
    python scripts/benchmark_predict.py --checkpoint logs/runs/<run>/checkpoints/last.ckpt
    python scripts/benchmark_predict.py --texts 0            # all 25,000 test reviews

Without --checkpoint it trains the default model (conf/train.yaml: data=imdb, BiLSTM +
attention, IMDB's vocabulary) for one step with `train.py`: speed does not depend on the
weights, and a trained model takes about half an hour on a 2-core CPU. It exports the
checkpoint (export.py), warms each runtime up, then times each over the same reviews; the
labels must agree (and the largest probability difference is reported). The last line of
output is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT / "data" / "imdb"  # where the README puts IMDB


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, help="default: train one step (see above)")
    parser.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help="IMDB parquet folder (default: data/imdb; elsewhere: --data ../shared/data/imdb)",
    )
    parser.add_argument("--texts", type=int, default=2000, help="test reviews timed (0: all)")
    parser.add_argument("--batch-size", type=int, default=256, help="texts per forward pass")
    parser.add_argument("--threads", type=int, help="both runtimes (default: torch's count)")
    return parser.parse_args()


def one_step_checkpoint(data: Path, log_dir: Path) -> Path:
    """The default IMDB model after one training step (validation and test: one batch)."""
    overrides = [
        f"data.path={data}",
        "data.hub_name=null",
        "+trainer.limit_train_batches=1",
        "trainer.max_epochs=1",
        "+trainer.limit_val_batches=1",
        "+trainer.limit_test_batches=1",
        f"paths.log_dir={log_dir}",
    ]
    subprocess.run([sys.executable, str(ROOT / "train.py"), *overrides], check=True, cwd=ROOT)
    (results,) = log_dir.glob("runs/*/results.json")
    return Path(json.loads(results.read_text())["best_checkpoint"])


def timed(predict, texts: list[str], batch_size: int) -> tuple[list, float]:
    predict(texts[:batch_size], batch_size)  # warm-up: first-call allocations, not counted
    started = time.perf_counter()
    predictions = predict(texts, batch_size)
    return predictions, time.perf_counter() - started


def main() -> int:
    args = parse_args()
    import pyarrow.parquet as pq
    import torch

    from lstmlab.serving.export import export
    from lstmlab.serving.onnx_predictor import OnnxPredictor
    from lstmlab.serving.predict import Predictor

    threads = args.threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    texts = pq.read_table(args.data / "test.parquet", columns=["text"]).column("text")
    texts = texts.to_pylist()[: args.texts or None]
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = args.checkpoint or one_step_checkpoint(args.data, Path(tmp) / "logs")
        folder = export(checkpoint, Path(tmp) / "export")
        runtimes = {
            "pytorch": Predictor.from_checkpoint(checkpoint),
            "onnxruntime": OnnxPredictor.from_folder(folder, threads=threads),
        }
        results, seconds = {}, {}
        for name, predictor in runtimes.items():
            results[name], seconds[name] = timed(predictor, texts, args.batch_size)
            rate = len(texts) / seconds[name]
            print(f"{name:>12}: {len(texts)} texts in {seconds[name]:.2f} s ({rate:.0f} texts/s)")
    pairs = list(zip(results["pytorch"], results["onnxruntime"]))
    disagree = sum(a.label != b.label for a, b in pairs)
    difference = max(
        abs(a.probabilities[n] - b.probabilities[n]) for a, b in pairs for n in a.probabilities
    )
    print(f"labels that differ: {disagree}; largest probability difference {difference:.1e}")
    summary = {
        "checkpoint": str(args.checkpoint or "default IMDB model, one training step"),
        "texts": len(texts),
        "batch_size": args.batch_size,
        "threads": threads,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "texts_per_s": {n: round(len(texts) / s, 1) for n, s in seconds.items()},
        "onnx_speedup": round(seconds["pytorch"] / seconds["onnxruntime"], 2),
        "labels_differ": disagree,
        "max_probability_difference": difference,
    }
    print(json.dumps(summary))
    return 1 if disagree else 0


if __name__ == "__main__":
    sys.exit(main())

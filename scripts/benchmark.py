"""Training speed side by side, on one machine and one data split:

- notebook: the source notebooks' pipeline as a plain PyTorch loop (regex word tokens encoded
  inside `__getitem__`, every review padded or cut to 256 tokens, `nn.LSTM` over the padding);
- plain:    lstmlab's data pipeline and network in a plain PyTorch loop, no Lightning;
- lstmlab:  `python train.py` with the same settings (its `epoch_timer` callback times it),
so lstmlab / notebook is what a user gains and lstmlab / plain is Lightning's overhead.

    python scripts/benchmark.py                         # IMDB, CPU, 1 epoch each
    python scripts/benchmark.py --device cuda --epochs 3
    python scripts/benchmark.py --device cuda --epochs 3 --only lstmlab --deterministic  # its cost
    python scripts/benchmark.py --path tiny/ --val-size 100   # any parquet folder like IMDB's

All three train a BiLSTM with additive attention (embed 128, hidden 128, batch 64, Adam 1e-3,
reviews cut to 256 tokens) on IMDB's training split less `--val-size` held-out reviews (20,000
by default) and report the held-out accuracy after the last epoch. Each runs in a process of its
own, so peak memory is its own. Seconds per epoch count the training batches only (data loading
included, validation not), and are the mean over the epochs after the first when there are
several (the first pays one-off warm-up). Data preparation is timed cold (fresh cache) and warm
(the cache reused). The last line of output is one JSON object with every figure; speed-ups are
the keys ending in `_speedup`; each pipeline's `deterministic` and `fused_optimizer` say what
its torch really ran under (the notebook pipeline ignores `--fused-adam` and `--deterministic`).
The three pipelines themselves: `benchmark_pipelines.py`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmark_pipelines import ROOT, lstmlab, notebook, plain

DEFAULT_PATH = ROOT.parent / "shared" / "data" / "imdb"
PIPELINES = ("notebook", "plain", "lstmlab")
PRECISIONS = ("32-true", "bf16-mixed")  # the notebooks always train in 32-bit


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--path", type=Path, default=DEFAULT_PATH, help="IMDB parquet folder")
    parser.add_argument("--device", default="cpu", help="cpu | cuda")
    parser.add_argument("--epochs", type=int, default=1, help="training epochs per pipeline")
    parser.add_argument("--val-size", type=int, default=5_000, help="held-out reviews")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-len", type=int, default=256, help="tokens kept per review")
    parser.add_argument(
        "--precision", choices=PRECISIONS, default="32-true", help="lstmlab's trainer.precision"
    )
    parser.add_argument("--fused-adam", action="store_true", help="lstmlab's optimizer.fused=true")
    parser.add_argument(
        "--deterministic",
        action="store_true",
        help="lstmlab's trainer.deterministic=true (run with and without it for its cost)",
    )
    parser.add_argument("--only", nargs="+", choices=PIPELINES, default=list(PIPELINES))
    parser.add_argument("--child", choices=PIPELINES, help=argparse.SUPPRESS)
    parser.add_argument("--cache-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--run-dir", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# ---------------------------------------------------------------------- the report


def mean_epoch_s(figures: dict) -> float:
    """Seconds per epoch: the mean over the epochs after the first, if there are several."""
    epochs = figures["train_epoch_s"]
    later = epochs[1:] or epochs
    return sum(later) / len(later)


def run_child(name: str, args: argparse.Namespace, cache_dir: Path, run_dir: Path) -> dict:
    """One pipeline in a fresh Python process; its figures come back as its last output line."""
    command = [
        sys.executable,
        __file__,
        "--child",
        name,
        "--path",
        str(args.path),
        "--device",
        args.device,
        "--epochs",
        str(args.epochs),
        "--val-size",
        str(args.val_size),
        "--batch-size",
        str(args.batch_size),
        "--max-len",
        str(args.max_len),
        "--precision",
        args.precision,
        *(["--fused-adam"] if args.fused_adam else []),
        *(["--deterministic"] if args.deterministic else []),
        "--cache-dir",
        str(cache_dir),
        "--run-dir",
        str(run_dir),
    ]
    print(f"{name}: training {args.epochs} epoch(s) on {args.device} ...", flush=True)
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{name} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def hardware(device: str) -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    cpu_model = Path("/proc/cpuinfo")
    if cpu_model.exists():
        names = re.findall(r"model name\s*:\s*(.+)", cpu_model.read_text())
        cpu = names[0] if names else cpu
    threads = torch.get_num_threads()
    text = f"{cpu}, {os.cpu_count()} CPUs, torch {torch.__version__}, {threads} threads"
    if device.startswith("cuda"):
        text += f", {torch.cuda.get_device_name(device)}"
    return text


def report(args: argparse.Namespace, runs: dict[str, dict]) -> dict:
    """Prints one line per pipeline and the ratios; returns every figure."""
    figures: dict = {
        "device": args.device,
        "hardware": hardware(args.device),
        "precision": args.precision,
        "fused_adam": args.fused_adam,
        "deterministic": args.deterministic,
        "epochs": args.epochs,
    }
    for name, run in runs.items():
        run["epoch_s"] = round(mean_epoch_s(run), 3)
        run["samples_per_s"] = round(run["train_samples_per_s"][-1], 1)
        figures[name] = run
        print(
            f"{name:9s} {run['epoch_s']:8.2f} s/epoch  {run['samples_per_s']:8.1f} samples/s  "
            f"peak {run['peak_rss_mb']:7.0f} MB RSS"
            + (f", {run['peak_gpu_mb']:.0f} MB GPU" if "peak_gpu_mb" in run else "")
            + f"  val acc {run['val_acc']:.4f}"
            + (
                f"  prep cold {run['prep_cold_s']:.2f} s, warm {run['prep_warm_s']:.3f} s"
                if "prep_cold_s" in run
                else ""
            )
        )
    ratios = {
        "lstmlab_vs_notebook_speedup": ("notebook", "lstmlab"),
        "plain_vs_notebook_speedup": ("notebook", "plain"),
        "lstmlab_vs_plain_speedup": ("plain", "lstmlab"),  # below 1: Lightning's overhead
    }
    for key, (slow, fast) in ratios.items():
        if slow in runs and fast in runs:
            figures[key] = round(runs[slow]["epoch_s"] / runs[fast]["epoch_s"], 3)
            print(f"{key}: {figures[key]:.2f}x")
    if "lstmlab_vs_plain_speedup" in figures:
        overhead = round(100 / figures["lstmlab_vs_plain_speedup"] - 100, 1)
        figures["lightning_overhead_pct"] = overhead
        print(f"Lightning's overhead over the plain loop: {overhead:+.1f} %")
    return figures


def main() -> None:
    args = parse_args()
    if args.child:
        figures = {"notebook": notebook, "plain": plain, "lstmlab": lstmlab}[args.child](args)
        print(json.dumps(figures))
        return
    if not (args.path / "train.parquet").exists():
        raise SystemExit(f"--path {args.path}: no train.parquet there; point it at IMDB's data.")
    with tempfile.TemporaryDirectory(prefix="lstmlab-bench-") as tmp:
        cache_dir, run_dir = Path(tmp) / "cache", Path(tmp) / "run"
        # plain first: it builds the cache cold, which train.py then finds warm
        order = [name for name in ("plain", "notebook", "lstmlab") if name in args.only]
        runs = {name: run_child(name, args, cache_dir, run_dir) for name in order}
    figures = report(args, runs)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

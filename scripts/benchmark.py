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

Time to accuracy (`--target-acc 0.855`, docs/speed.md): the notebook pipeline trains until its
validation accuracy first reaches the target, and so does lstmlab with its best settings for
the device (`fast`: `train.py experiment=imdb_fast` on the device's trainer preset, plus one
run per further `--fast` set of overrides), each validating `--checks-per-epoch` times an
epoch on the held-out reviews; the time is training seconds with validation left out.
`--whole-reviews N` trains N batches of 64 of the longest reviews, uncut, for peak memory:

    python scripts/benchmark.py --only notebook lstmlab --precision bf16-mixed --fused-adam \
        --target-acc 0.855 --max-epochs 4 --checks-per-epoch 4 --whole-reviews 3
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

from benchmark_memory import whole_reviews
from benchmark_pipelines import ROOT, fast, lstmlab, notebook, plain

DEFAULT_PATH = ROOT / "data" / "imdb"  # where the README puts IMDB
PIPELINES = ("notebook", "plain", "lstmlab")
CHILDREN = {
    "notebook": notebook,
    "plain": plain,
    "lstmlab": lstmlab,
    "fast": fast,
    "whole_reviews": whole_reviews,
}
PRECISIONS = ("32-true", "bf16-mixed")  # the notebooks always train in 32-bit


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--path",
        type=Path,
        default=DEFAULT_PATH,
        help="IMDB parquet folder (default: data/imdb; elsewhere: --path ../shared/data/imdb)",
    )
    parser.add_argument("--device", default="cpu", help="cpu | cuda")
    parser.add_argument("--epochs", type=int, default=1, help="training epochs per pipeline")
    parser.add_argument("--val-size", type=int, default=5_000, help="held-out reviews")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-len", type=int, default=256, help="tokens kept per review")
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="lstmlab's trainer.precision (default: the device's trainer preset's)",
    )
    parser.add_argument("--fused-adam", action="store_true", help="lstmlab's optimizer.fused=true")
    parser.add_argument(
        "--deterministic",
        action="store_true",
        help="lstmlab's trainer.deterministic=true (run with and without it for its cost)",
    )
    parser.add_argument("--only", nargs="+", choices=PIPELINES, default=list(PIPELINES))
    parser.add_argument(
        "--target-acc",
        type=float,
        help="time to this validation accuracy (e.g. 0.855): the notebook pipeline trains "
        "until it, and so does lstmlab with its best settings (experiment=imdb_fast)",
    )
    parser.add_argument(
        "--fast",
        nargs="+",
        default=[""],
        metavar="OVERRIDES",
        help="with --target-acc: one lstmlab run per quoted set of extra train.py overrides "
        "on experiment=imdb_fast, e.g. '' 'data.batch_size=256 optimizer.lr=4e-3'",
    )
    parser.add_argument(
        "--max-epochs", type=int, default=10, help="with --target-acc: give up after these epochs"
    )
    parser.add_argument(
        "--max-train-s", type=float, help="with --target-acc: give up after these training seconds"
    )
    parser.add_argument(
        "--checks-per-epoch", type=int, default=8, help="with --target-acc: validations an epoch"
    )
    parser.add_argument(
        "--whole-reviews",
        type=int,
        default=0,
        metavar="STEPS",
        help="also train STEPS batches of 64 of the longest reviews, uncut: peak memory",
    )
    parser.add_argument("--child", choices=list(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--variant", default="", help=argparse.SUPPRESS)
    parser.add_argument("--cache-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--run-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.argv = [a for a in (sys.argv[1:] if argv is None else argv)]  # what children get
    return args


# ---------------------------------------------------------------------- the report


def mean_epoch_s(figures: dict) -> float | None:
    """Seconds per epoch: the mean over the epochs after the first, if there are several
    (None for a run that reached its target within its first epoch)."""
    epochs = figures["train_epoch_s"]
    later = epochs[1:] or epochs
    return round(sum(later) / len(later), 3) if later else None


def run_child(
    name: str, args: argparse.Namespace, cache_dir: Path, run_dir: Path, variant: str = ""
) -> dict:
    """One pipeline in a fresh Python process, given this run's own arguments; its figures
    come back as its last output line."""
    command = [sys.executable, __file__, *args.argv, "--child", name, f"--variant={variant}"]
    command += ["--cache-dir", str(cache_dir), "--run-dir", str(run_dir)]
    print(f"{name} {variant}: training on {args.device} ...".replace("  ", " "), flush=True)
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{name} failed:\n{result.stderr[-3000:]}")
    line = result.stdout.strip().splitlines()[-1]
    print(f"  {line}", flush=True)  # kept in the log, should a long run be stopped later
    figures = json.loads(line)
    return {**figures, "variant": variant} if name == "fast" else figures


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
        figures[name] = run
        if name == "whole_reviews":
            print(
                f"whole reviews: {run['steps']} steps of {run['batch_size']} reviews up to "
                f"{run['max_tokens']} tokens in {run['precision']}: peak "
                f"{run['peak_rss_mb']:.0f} MB RSS" + gpu_memory(run)
            )
            continue
        run["epoch_s"] = mean_epoch_s(run)
        speed = run["train_samples_per_s"][-1] if run["train_samples_per_s"] else None
        run["samples_per_s"] = speed
        print(
            f"{name:9s} "
            + (f"{run['epoch_s']:8.2f} s/epoch  {speed:8.1f} samples/s  " if speed else " " * 37)
            + f"peak {run['peak_rss_mb']:7.0f} MB RSS"
            + gpu_memory(run)
            + f"  val acc {run['val_acc']:.4f}"
            + (
                f"  prep cold {run['prep_cold_s']:.2f} s, warm {run['prep_warm_s']:.3f} s"
                if "prep_cold_s" in run
                else ""
            )
            + (f"  [{run['variant']}]" if run.get("variant") else "")
        )
        if "time_to_accuracy" in run:
            print(f"{'':9s} {time_to_accuracy_line(run['time_to_accuracy'])}")
    ratios = {
        "lstmlab_vs_notebook_speedup": ("notebook", "lstmlab"),
        "plain_vs_notebook_speedup": ("notebook", "plain"),
        "lstmlab_vs_plain_speedup": ("plain", "lstmlab"),  # below 1: Lightning's overhead
    }
    for key, (slow, quick) in ratios.items():
        if runs.get(slow, {}).get("epoch_s") and runs.get(quick, {}).get("epoch_s"):
            figures[key] = round(runs[slow]["epoch_s"] / runs[quick]["epoch_s"], 3)
            print(f"{key}: {figures[key]:.2f}x")
    for name in (n for n in runs if n.startswith("fast") and "notebook" in runs):
        figures.update(time_to_accuracy_speedup(name, runs["notebook"], runs[name]))
    if "lstmlab_vs_plain_speedup" in figures:
        overhead = round(100 / figures["lstmlab_vs_plain_speedup"] - 100, 1)
        figures["lightning_overhead_pct"] = overhead
        print(f"Lightning's overhead over the plain loop: {overhead:+.1f} %")
    return figures


def gpu_memory(run: dict) -> str:
    return f", {run['peak_gpu_mb']:.0f} MB GPU" if "peak_gpu_mb" in run else ""


def time_to_accuracy_line(race: dict) -> str:
    target = f"{100 * race['target_acc']:.1f} %"
    if race["time_to_target_s"] is None:
        return (
            f"time to {target}: not reached within {race['train_s']:.1f} training s "
            f"(best {race['best_acc']})"
        )
    return (
        f"time to {target}: {race['time_to_target_s']:.1f} s of training "
        f"({race['steps_to_target']} steps; validation not counted)"
    )


def time_to_accuracy_speedup(name: str, notebook: dict, fast: dict) -> dict[str, float]:
    """notebook / lstmlab in training seconds to the target; where only lstmlab reached it,
    a lower bound (`..._at_least`, from the seconds the notebook trained without reaching it)."""
    slow, quick = notebook["time_to_accuracy"], fast["time_to_accuracy"]
    if quick["time_to_target_s"] is None:
        print(f"{name}: did not reach the target, so no time-to-accuracy ratio")
        return {}
    key = f"{name}_vs_notebook_time_to_accuracy_speedup"
    if slow["time_to_target_s"] is None:
        ratio = round(slow["train_s"] / quick["time_to_target_s"], 3)
        print(f"{key}: at least {ratio:.2f}x (the notebook pipeline did not reach it)")
        return {f"{key}_at_least": ratio}
    ratio = round(slow["time_to_target_s"] / quick["time_to_target_s"], 3)
    print(f"{key}: {ratio:.2f}x")
    return {key: ratio}


def main() -> None:
    args = parse_args()
    if args.child:
        print(json.dumps(CHILDREN[args.child](args)))
        return
    if not (args.path / "train.parquet").exists():
        raise SystemExit(f"--path {args.path}: no train.parquet there; point it at IMDB's data.")
    with tempfile.TemporaryDirectory(prefix="lstmlab-bench-") as tmp:
        cache_dir, run_dir = Path(tmp) / "cache", Path(tmp) / "run"
        # plain first: it builds the cache cold, which train.py then finds warm
        order = [name for name in ("plain", "notebook", "lstmlab") if name in args.only]
        runs = {name: run_child(name, args, cache_dir, run_dir / name) for name in order}
        for index, variant in enumerate(args.fast if args.target_acc is not None else []):
            name = "fast" if index == 0 else f"fast_{index + 1}"
            runs[name] = run_child("fast", args, cache_dir, run_dir / name, variant)
        if args.whole_reviews:
            runs["whole_reviews"] = run_child("whole_reviews", args, cache_dir, run_dir)
    figures = report(args, runs)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

"""Train every model preset through train.py and report test accuracy and macro-F1.

    python scripts/benchmark_accuracy.py                               # IMDB, every preset
    python scripts/benchmark_accuracy.py --only bilstm_attn -- trainer.max_epochs=3
    python scripts/benchmark_accuracy.py -- data=synthetic             # the synthetic task

Everything after `--` is passed to each run as Hydra overrides. Models are selected on the
validation split (best val/acc checkpoint); the test split is only evaluated, once per run.
Prints a table, then one JSON line with every figure, last, for other tools to read.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]

# Every pooling variant, unidirectional `last` included (the notebooks' failure case).
VARIANTS: dict[str, list[str]] = {
    # read at the final step: with the recipe these need (conf/experiment/imdb_last_step.yaml)
    "lstm_last": ["model=lstm", "model/pooling=last", "experiment=imdb_last_step"],  # = hn
    "bilstm": ["model=bilstm", "experiment=imdb_last_step"],  # pooling=last
    "bilstm_hn": ["model=bilstm", "model/pooling=hn", "experiment=imdb_last_step"],
    "bilstm_mean": ["model=bilstm_mean"],
    "bilstm_max": ["model=bilstm_max"],
    "bilstm_attn": ["model=bilstm_attn"],
}


def run_variant(name: str, overrides: list[str], out_dir: Path) -> dict:
    """One `python train.py` run; its results.json plus the command and exit status."""
    run_dir = out_dir / name
    command = [sys.executable, "train.py", *VARIANTS[name], *overrides, f"hydra.run.dir={run_dir}"]
    started = time.perf_counter()
    process = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    row = {
        "variant": name,
        "command": " ".join(["python", *command[1:-1]]),
        "returncode": process.returncode,
        "wall_time_s": round(time.perf_counter() - started, 1),
    }
    results_file = run_dir / "results.json"
    if process.returncode != 0 or not results_file.exists():
        row["error"] = process.stderr.strip().splitlines()[-1:] or ["no output"]
        return row
    results = json.loads(results_file.read_text())
    metrics = results["metrics"]
    row.update(
        test_acc=metrics.get("test/acc"),
        test_f1=metrics.get("test/f1"),
        val_acc_best=metrics.get("val/acc_best"),
        epochs=results["epochs"],
        run_dir=str(run_dir),
    )
    return row


def print_table(rows: list[dict]) -> None:
    print(
        f"{'variant':<14}{'test acc':>10}{'test F1':>10}{'val best':>10}{'epochs':>8}{'wall s':>9}"
    )
    for row in rows:
        if "error" in row:
            print(f"{row['variant']:<14} FAILED (exit {row['returncode']}): {row['error'][0]}")
            continue
        print(
            f"{row['variant']:<14}{row['test_acc']:>10.4f}{row['test_f1']:>10.4f}"
            f"{row['val_acc_best']:>10.4f}{row['epochs']:>8}{row['wall_time_s']:>9.1f}"
        )


def hardware() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=list(VARIANTS), help="variants to run")
    parser.add_argument("--out", type=Path, default=ROOT / "logs" / "benchmarks" / "accuracy")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every run (after --)")
    args = parser.parse_args()

    out_dir = args.out / time.strftime("%Y-%m-%d_%H-%M-%S")
    rows = []
    for name in args.only or list(VARIANTS):
        rows.append(run_variant(name, args.overrides, out_dir))
        print(f"finished {name} in {rows[-1]['wall_time_s']} s", flush=True)
    print_table(rows)
    figures = {"hardware": hardware(), "overrides": args.overrides, "runs": rows}
    print(json.dumps(figures))
    return 0 if all("error" not in row for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

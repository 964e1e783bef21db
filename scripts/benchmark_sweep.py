"""What pruning saves: the same Optuna study run twice by `sweep.py`, with the median pruner and
without one, where half the configurations cannot learn (a learning rate of 1e-7).

    python scripts/benchmark_sweep.py                  # 6 trials of 4 epochs, synthetic data
    python scripts/benchmark_sweep.py --trials 12 --epochs 8 --logs logs/benchmark_sweep

The space is the learning rate alone, {1e-7, 3e-3}, drawn by a seeded random sampler, so both
studies get the same configurations in the same order. The two studies run at once, each
worker and its runs on one thread (a core each on a 2-core machine). Training time is the sum
of the trials' own wall times (results.json: data, fit and validation; process start-up left
out); the study time is the whole worker command's. `--logs` keeps the studies (SQLite, run
folders) for optuna-dashboard and compare.py. The last line of output is one JSON object with every
figure (docs/speed.md records a run).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPACE = (
    "+search.params={optimizer.lr:"
    "{_target_:optuna.distributions.CategoricalDistribution,choices:[1e-07,0.003]}}"
)
PRUNERS = {"median": "search/pruner=median", "none": "search/pruner=none"}


def worker(pruner: str, args: argparse.Namespace, logs: Path) -> list[str]:
    """The command of the study's one worker."""
    return [
        sys.executable,
        str(ROOT / "sweep.py"),
        "hparams_search=optuna",
        "data=synthetic",
        f"data.num_samples={args.samples}",
        "model.encoder.embed_dim=32",
        "model.encoder.hidden_size=32",
        "trainer=cpu",
        f"trainer.max_epochs={args.epochs}",
        "~callbacks.early_stopping",  # every trial that is not pruned runs all its epochs
        "callbacks.figures.num_texts=0",
        "test=false",
        "~search.params",
        SPACE,
        "search/sampler=random",
        "search.sampler.seed=0",
        PRUNERS[pruner],
        *(["search.pruner.n_startup_trials=2"] if pruner == "median" else []),
        f"search.n_trials={args.trials}",
        f"search.study_name={pruner}",
        f"paths.log_dir={logs}",
    ]


def figures(pruner: str, logs: Path, study_s: float) -> dict:
    """A study's figures from its trials' results.json."""
    trials = []
    for results in sorted((logs / "studies" / pruner).glob("trial-*/results.json")):
        saved = json.loads(results.read_text())
        overrides = (results.parent / ".hydra" / "overrides.yaml").read_text()
        trials.append(
            {
                "lr": "1e-07" if "optimizer.lr=1e-07" in overrides else "0.003",
                "status": saved["status"],
                "epochs": saved["epochs"],
                "wall_time_s": saved["wall_time_s"],
                "val_acc_best": saved["metrics"].get("val/acc_best"),
            }
        )
    return {
        "pruner": pruner,
        "study_s": round(study_s, 1),  # the worker's command, start to end
        "training_s": round(sum(t["wall_time_s"] for t in trials), 1),
        "epochs": sum(t["epochs"] for t in trials),
        "pruned": sum(t["status"] == "pruned" for t in trials),
        "best_val_acc": max(t["val_acc_best"] for t in trials),
        "trials": trials,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--samples", type=int, default=768, help="synthetic training texts")
    parser.add_argument("--logs", type=Path, help="keep the studies here (default: deleted)")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory() as work:
        logs = args.logs or Path(work)
        started = time.perf_counter()
        workers = {
            p: subprocess.Popen(
                worker(p, args, logs / p),
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            for p in PRUNERS
        }
        studies = []
        for pruner, process in workers.items():
            _, stderr = process.communicate()
            if process.returncode != 0:
                sys.exit(f"the {pruner} study failed:\n{stderr[-3000:]}")
            studies.append(figures(pruner, logs / pruner, time.perf_counter() - started))
    print(f"{args.trials} trials of up to {args.epochs} epochs, lr in {{1e-7, 3e-3}}")
    header = ("pruner", "pruned", "epochs", "training s", "study s")
    print(f"{header[0]:8} {header[1]:>6} {header[2]:>6} {header[3]:>11} {header[4]:>8} best acc")
    for s in studies:
        print(
            f"{s['pruner']:8} {s['pruned']:>6} {s['epochs']:>6} {s['training_s']:>11} "
            f"{s['study_s']:>8} {s['best_val_acc']:.4f}"
        )
    saved = 1 - studies[0]["training_s"] / studies[1]["training_s"]
    print(f"pruning saved {100 * saved:.0f} % of the training time")
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    machine = {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine()}
    settings = {key: str(value) for key, value in vars(args).items()}
    print(json.dumps({"commit": commit, "machine": machine, "args": settings, "studies": studies}))


if __name__ == "__main__":
    main()

"""The GPU check, run by `scripts/gpu_check.sh` (which first installs the carried wheels):
the tests marked `gpu` on CUDA, the seconds per step of each `model.encoder.impl` (what `auto`
picks from), then the speed benchmark (seconds per epoch, time to 85.5 %, peak memory, whole
reviews at batch 64), each step under a time limit so that the whole fits one short lease
(about 6 minutes on an H100/H200); prints ONE JSON line with every figure, last.
`--dry-run`: the same steps on the CPU with tiny sizes (`LSTMLAB_TEST_DEVICE=cpu`), as the
test suite runs it.

    bash scripts/gpu_check.sh                              # on a GPU machine, IMDB in data/imdb
    bash scripts/gpu_check.sh --dry-run --data tiny/       # anywhere, on a tiny IMDB-like folder
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The benchmark's arguments: on the GPU, sized to leave the lease time to run it again;
# in the dry run, tiny (seconds on a CPU).
BENCHMARK = {
    "gpu": [
        "--device=cuda",
        "--only",
        "notebook",
        "lstmlab",
        "--epochs=2",
        "--fused-adam",
        "--target-acc=0.855",
        "--max-epochs=6",
        "--max-train-s=45",  # the notebooks reach 85.7 % in 18.6 s on an H100
        "--checks-per-epoch=8",
        "--whole-reviews=3",
        "--fast",
        "",
        "trainer.precision=bf16-mixed",
        "data.batch_size=256 optimizer.lr=4e-3",
    ],
    "dry": [
        "--device=cpu",
        "--only",
        "notebook",
        "--val-size=60",
        "--target-acc=0.5",
        "--max-epochs=2",
        "--checks-per-epoch=2",
        "--whole-reviews=1",
    ],
}
LSTM_IMPL = {
    "gpu": ["--device=cuda"],
    "dry": ["--steps=6", "--batch-size=4", "--repeats=1", "--threads=1"],
}
LIMIT_S = {
    "gpu": {"tests": 150, "lstm_impl": 45, "benchmark": 210},
    "dry": {"tests": 300, "lstm_impl": 120, "benchmark": 300},
}


def run_tests(mode: str, data: Path, scratch: Path) -> dict:
    """pytest -m gpu on the device; outcomes per test, and the end-to-end run's figures."""
    env = {**os.environ, "LSTMLAB_TEST_DEVICE": "cpu" if mode == "dry" else "cuda"}
    if mode == "gpu":
        env["LSTMLAB_TEST_IMDB"] = str(data)
    junit, basetemp = scratch / "junit.xml", scratch / "pytest"
    command = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider"]
    command += [f"--junitxml={junit}", f"--basetemp={basetemp}", *gpu_test_files()]
    figures = run(command, env, LIMIT_S[mode]["tests"])
    if junit.exists():
        figures["tests"] = outcomes(junit)
    e2e = next(basetemp.glob("**/e2e_run/results.json"), None) if basetemp.exists() else None
    if e2e:
        results = json.loads(e2e.read_text())
        figures["end_to_end"] = {"metrics": results["metrics"], "timing": results["timing"]}
    return figures


def gpu_test_files() -> list[str]:
    """The test modules with tests marked `gpu`: only these are collected, so that modules
    needing packages the GPU machine lacks (and that no gpu test needs) are not imported."""
    modules = sorted((ROOT / "tests").rglob("test_*.py"))
    return [str(path) for path in modules if "mark.gpu" in path.read_text()]


def outcomes(junit: Path) -> dict[str, str]:
    """test name -> passed | failed: <message> | skipped: <reason>, from pytest's JUnit XML."""
    found = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = f"{case.get('classname', '').split('.')[-1]}::{case.get('name')}"
        problem = next((c for c in case if c.tag in ("failure", "error", "skipped")), None)
        found[name] = (
            "passed"
            if problem is None
            else f"{'skipped' if problem.tag == 'skipped' else 'failed'}: "
            + (problem.get("message") or "")[:300]
        )
    return found


def run_script(mode: str, step: str, script: str, arguments: list[str]) -> dict:
    """A benchmark script that prints its figures as its last line."""
    command = [sys.executable, str(ROOT / "scripts" / script), *arguments]
    figures = run(command, dict(os.environ), LIMIT_S[mode][step])
    with contextlib.suppress(KeyError, json.JSONDecodeError):  # no figures: see "error"
        figures["figures"] = json.loads(figures.pop("last_line"))
    return figures


def run(command: list[str], env: dict, limit_s: int) -> dict:
    """One step in its own process, under `limit_s`: exit status, seconds, its last line,
    and the end of its error output when it failed."""
    started = time.perf_counter()
    try:
        done = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=limit_s
        )
    except subprocess.TimeoutExpired as stopped:
        out = stopped.stdout or ""
        tail = (out.decode(errors="replace") if isinstance(out, bytes) else out)[-1500:]
        return {"ok": False, "error": f"over its {limit_s} s limit", "stdout_tail": tail}
    lines = done.stdout.strip().splitlines()
    figures = {"ok": done.returncode == 0, "seconds": round(time.perf_counter() - started, 1)}
    figures["last_line"] = lines[-1] if lines else ""
    if done.returncode != 0:
        figures["error"] = (done.stderr or done.stdout)[-1500:]
    return figures


def environment(mode: str) -> dict:
    import torch

    return {
        "mode": mode,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "commit": commit(),
    }


def commit() -> str | None:
    """The checkout's commit, where git and the repository travelled with it."""
    try:
        command = ["git", "rev-parse", "--short", "HEAD"]
        return subprocess.run(command, cwd=ROOT, capture_output=True, text=True).stdout.strip()
    except OSError:  # no git on the machine
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="the CPU, tiny sizes")
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "imdb", help="IMDB parquet")
    args = parser.parse_args()
    mode = "dry" if args.dry_run else "gpu"
    if not (args.data / "train.parquet").exists():
        sys.exit(f"--data {args.data}: no train.parquet there (copy IMDB's train/test parquet)")
    started = time.perf_counter()
    figures = {"environment": environment(mode)}
    with tempfile.TemporaryDirectory(prefix="lstmlab-gpu-check-") as scratch:
        figures["gpu_tests"] = run_tests(mode, args.data.resolve(), Path(scratch))
        figures["gpu_tests"].pop("last_line", None)
    figures["lstm_impl"] = run_script(mode, "lstm_impl", "benchmark_lstm_impl.py", LSTM_IMPL[mode])
    benchmark = [f"--path={args.data.resolve()}", *BENCHMARK[mode]]
    figures["benchmark"] = run_script(mode, "benchmark", "benchmark.py", benchmark)
    figures["seconds"] = round(time.perf_counter() - started, 1)
    figures["ok"] = all(figures[step]["ok"] for step in ("gpu_tests", "lstm_impl", "benchmark"))
    print(json.dumps(figures))
    return 0 if figures["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

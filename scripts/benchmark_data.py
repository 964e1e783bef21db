"""How long IMDB preparation takes: cold (tokenise, build the vocabulary, encode train +
validation + test into a fresh cache) and warm (a new datamodule reading that cache).

    python scripts/benchmark_data.py                      # IMDB in data/imdb/
    python scripts/benchmark_data.py --path data/imdb --tokenizer wordpiece --max-size 16000

Each figure is `prepare_data()` + `setup("fit")` of a new `IMDBDataModule`, timed in this
process after the imports (which are reported apart). Cold runs use a fresh temporary cache
folder each time; the best and the median of `--repeat` runs are reported. The last line of
output is one JSON object with every figure, for scripts and CI logs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

DEFAULT_PATH = Path(__file__).resolve().parents[1] / "data" / "imdb"  # the README's place


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--path",
        type=Path,
        default=DEFAULT_PATH,
        help="IMDB data, as data.path takes it (default: data/imdb; elsewhere: "
        "--path ../shared/data/imdb)",
    )
    parser.add_argument("--tokenizer", default="word", help="word | wordpiece | bpe")
    parser.add_argument("--max-size", type=int, default=25_000, help="vocabulary cap")
    parser.add_argument("--min-freq", type=int, default=2, help="minimum token count")
    parser.add_argument("--repeat", type=int, default=3, help="cold and warm runs each")
    return parser.parse_args()


def timed_start(args: argparse.Namespace, cache_dir: Path) -> tuple[float, object]:
    """Seconds for prepare_data + setup of a new datamodule, and the datamodule."""
    from lstmlab.data.imdb import IMDBDataModule

    dm = IMDBDataModule(
        path=str(args.path),
        cache_dir=str(cache_dir),
        hub_name=None,
        tokenizer=args.tokenizer,
        max_size=args.max_size,
        min_freq=args.min_freq,
    )
    start = time.perf_counter()
    dm.prepare_data()
    dm.setup("fit")
    return time.perf_counter() - start, dm


def main() -> None:
    args = parse_args()
    if not args.path.exists():
        raise SystemExit(f"--path {args.path} does not exist: point it at the IMDB data.")
    start = time.perf_counter()
    import datasets
    import torch

    import lstmlab.data.imdb  # noqa: F401  (torch, lightning, datasets, tokenizers)

    import_s = time.perf_counter() - start
    datasets.disable_progress_bars()
    cold, warm, build = [], [], []
    with tempfile.TemporaryDirectory(prefix="imdb-bench-") as tmp:
        for run in range(args.repeat):
            seconds, dm = timed_start(args, Path(tmp) / f"cold{run}")
            cold.append(seconds)
            meta = next((Path(tmp) / f"cold{run}").glob("*/meta.json"))
            build.append(json.loads(meta.read_text())["build"])
            print(f"cold {run + 1}: {seconds:.2f} s  ({_parts(build[-1])})")
        for run in range(args.repeat):
            seconds, dm = timed_start(args, Path(tmp) / "cold0")
            warm.append(seconds)
            print(f"warm {run + 1}: {seconds:.3f} s")
    sizes = {name: len(split) for name, split in dm.splits.items()}
    tokens = sum(int(split.sequences.lengths.sum()) for split in dm.splits.values())
    figures = {
        "cold_s": round(statistics.median(cold), 3),
        "cold_best_s": round(min(cold), 3),
        "warm_s": round(statistics.median(warm), 3),
        "warm_best_s": round(min(warm), 3),
        "import_s": round(import_s, 3),
        "cold_parts_s": {k: round(statistics.median(b[k] for b in build), 3) for k in build[0]},
        "reviews": sizes,
        "tokens_after_max_len": tokens,
        "vocab_size": dm.vocab_size,
        "tokenizer": args.tokenizer,
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "repeat": args.repeat,
    }
    print(
        f"\n{sum(sizes.values())} reviews, vocabulary {dm.vocab_size}: cold {figures['cold_s']} s "
        f"(best {figures['cold_best_s']}), warm {figures['warm_s']} s "
        f"(best {figures['warm_best_s']}); imports {figures['import_s']} s"
    )
    print(json.dumps(figures))


def _parts(build: dict[str, float]) -> str:
    return ", ".join(f"{name[:-2]} {seconds:.2f} s" for name, seconds in build.items())


if __name__ == "__main__":
    main()

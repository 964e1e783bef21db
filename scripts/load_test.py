"""A bounded load test of serve.py on this machine: requests/s and p50/p99 latency at 1, 8
and 32 concurrent clients.

    python scripts/load_test.py model_onnx                   # starts serve.py on a free port
    python scripts/load_test.py logs/runs/<run>/checkpoints/last.ckpt --requests 500
    python scripts/load_test.py --url http://127.0.0.1:8000  # a server already running

Loopback only (127.0.0.1 / localhost): this measures the server, not a network, and cannot be
pointed at anyone else's. Each level sends a fixed number of requests (`--requests`), each
holding `--texts` IMDB test reviews, over `--clients` keep-alive connections, then stops; every
answer must be 200 with one prediction per text (others are counted as errors). The last line
of output is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from contextlib import nullcontext
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pyarrow.parquet as pq

from lstmlab.serving.server_process import running_server

DEFAULT_DATA = Path(__file__).resolve().parents[1] / "data" / "imdb" / "test.parquet"  # README
LOOPBACK = ("127.0.0.1", "localhost")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", nargs="?", help="checkpoint or export folder to serve")
    parser.add_argument("--url", help="a running server on 127.0.0.1 instead of a source")
    parser.add_argument("--requests", type=int, default=500, help="requests per level")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32], help="levels")
    parser.add_argument("--texts", type=int, default=1, help="reviews per request")
    parser.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help="parquet with `text` (default: data/imdb/test.parquet, where the README puts IMDB; "
        "elsewhere: --data ../shared/data/imdb/test.parquet)",
    )
    parser.add_argument("--max-batch-size", default="32", help="serve.py's, when it starts one")
    parser.add_argument("--batch-timeout", default="0.01", help="serve.py's, when it starts one")
    args = parser.parse_args()
    if (args.source is None) == (args.url is None):
        parser.error("give a checkpoint or export folder, or --url of a running server")
    if args.url and urlparse(args.url).hostname not in LOOPBACK:
        parser.error(f"--url {args.url}: only loopback servers (127.0.0.1, localhost)")
    if args.requests < 1 or args.texts < 1 or min(args.clients) < 1:
        parser.error("--requests, --texts and --clients must be at least 1")
    return args


def reviews(path: Path, count: int) -> list[str]:
    """`count` texts from the parquet file (short made-up reviews if it is missing)."""
    if path.is_file():
        texts = pq.read_table(path, columns=["text"]).column("text").to_pylist()
    else:
        print(f"{path} not found: sending made-up reviews", file=sys.stderr)
        texts = ["A wonderful film with a dull second half."]
    return [texts[i % len(texts)] for i in range(count)]


def level(url: str, clients: int, bodies: list[dict]) -> dict:
    """Sends every body once over `clients` connections; latencies and errors."""
    latencies: list[float] = []
    errors = 0
    lock, queue = threading.Lock(), iter(bodies)

    def client() -> None:
        nonlocal errors
        with httpx.Client(base_url=url, timeout=120) as http:
            while True:
                with lock:
                    body = next(queue, None)
                if body is None:
                    return
                started = time.perf_counter()
                response = http.post("/predict", json=body)
                took = time.perf_counter() - started
                ok = response.status_code == 200 and len(response.json()["predictions"]) == len(
                    body["texts"]
                )
                with lock:
                    latencies.append(took)
                    errors += not ok

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "clients": clients,
        "requests": len(bodies),
        "errors": errors,
        "seconds": round(seconds, 3),
        "requests_per_s": round(len(bodies) / seconds, 2),
        "p50_ms": round(1000 * statistics.median(latencies), 2),
        "p99_ms": round(1000 * cuts[98], 2),
    }


def main() -> int:
    args = parse_args()
    texts = reviews(args.data, args.requests * args.texts)
    bodies = [{"texts": texts[i * args.texts : (i + 1) * args.texts]} for i in range(args.requests)]
    options = ["--max-batch-size", args.max_batch_size, "--batch-timeout", args.batch_timeout]
    options += ["--log-level", "warning"]
    server = nullcontext(args.url) if args.url else running_server(args.source, *options)
    with server as url:
        info = httpx.get(f"{url}/metadata", timeout=30).json()
        level(url, 1, bodies[: min(5, len(bodies))])  # warm-up, not counted
        results = []
        for clients in args.clients:
            results.append(level(url, clients, bodies))
            row = results[-1]
            print(
                f"{clients:>3} clients: {row['requests_per_s']:8.1f} requests/s, p50 "
                f"{row['p50_ms']:7.1f} ms, p99 {row['p99_ms']:7.1f} ms, {row['errors']} errors"
            )
    summary = {
        "source": info["source"],
        "runtime": info["runtime"],
        "batching": info["batching"],
        "texts_per_request": args.texts,
        "levels": results,
    }
    print(json.dumps(summary))
    return 1 if any(row["errors"] for row in results) else 0


if __name__ == "__main__":
    sys.exit(main())

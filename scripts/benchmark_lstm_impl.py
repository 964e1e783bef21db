"""Seconds per training step (forward + backward) of each `model.encoder.impl`, on one device.

The notebooks' model (BiLSTM + attention, embed 128, hidden 128) on a batch of random tokens,
once with mixed lengths (uniform up to `--steps`, one row full) and once unpadded; the median
of `--repeats` steps after a warm-up step. Prints one JSON line. docs/speed.md has figures.

    python scripts/benchmark_lstm_impl.py --threads 1            # CPU
    python scripts/benchmark_lstm_impl.py --device cuda          # a GPU
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from functools import partial

import torch
import torch.nn.functional as F

from lstmlab.models.encoders.recurrent import RecurrentEncoder
from lstmlab.models.network import TextClassifier
from lstmlab.models.pooling import AttentionPooling

VOCAB = 25_000


def batch(size: int, steps: int, mixed: bool, device: str) -> tuple[torch.Tensor, ...]:
    """Right-padded random tokens [size, steps], their lengths and labels."""
    generator = torch.Generator().manual_seed(0)
    lengths = torch.full((size,), steps)
    if mixed:
        lengths = torch.randint(1, steps + 1, (size,), generator=generator)
        lengths[0] = steps
    tokens = torch.randint(1, VOCAB, (size, steps), generator=generator)
    tokens[torch.arange(steps) >= lengths.unsqueeze(1)] = 0
    labels = torch.randint(0, 2, (size,), generator=generator)
    return tokens.to(device), lengths.to(device), labels.to(device)


def seconds_per_step(impl: str, data: tuple[torch.Tensor, ...], args: argparse.Namespace) -> float:
    torch.manual_seed(0)
    encoder = partial(RecurrentEncoder, bidirectional=True, impl=impl)
    net = TextClassifier(VOCAB, 2, encoder, AttentionPooling)
    net = net.to(args.device).train()
    tokens, lengths, labels = data
    times = []
    for _ in range(args.repeats + 1):  # the first is a warm-up
        start = time.perf_counter()
        F.cross_entropy(net(tokens, lengths)[0], labels).backward()
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
        net.zero_grad()
    return statistics.median(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=230, help="time steps of the longest row")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    result = {"device": args.device, "threads": torch.get_num_threads()}
    for lengths in ("mixed", "unpadded"):
        data = batch(args.batch_size, args.steps, lengths == "mixed", args.device)
        for impl in ("exact", "packed"):
            result[f"{impl}_{lengths}_s"] = round(seconds_per_step(impl, data, args), 4)
        result[f"packed_over_exact_{lengths}"] = round(
            result[f"packed_{lengths}_s"] / result[f"exact_{lengths}_s"], 3
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()

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
the keys ending in `_speedup`.
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
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PATH = ROOT.parent / "shared" / "data" / "imdb"
PIPELINES = ("notebook", "plain", "lstmlab")
PRECISIONS = ("32-true", "bf16-mixed")  # the notebooks always train in 32-bit
SPLIT_SEED = 1234  # conf/data/imdb.yaml's data.seed: every pipeline trains on the same reviews


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


# ---------------------------------------------------------------------- shared by the loops


def timed_epochs(model, batches, device, epochs: int, step) -> dict:
    """Trains for `epochs` passes over `batches(epoch)` with `step(batch)` (which returns the
    batch's size) and times each pass, stopping the clock once the device has finished."""
    from lstmlab.callbacks.timing import synchronize

    model.train()
    epoch_s, samples_per_s = [], []
    for epoch in range(epochs):
        synchronize(device)
        start, samples = time.perf_counter(), 0
        for batch in batches(epoch):
            samples += step(batch)
        synchronize(device)
        epoch_s.append(time.perf_counter() - start)
        samples_per_s.append(samples / epoch_s[-1])
    return {
        "train_epoch_s": [round(s, 3) for s in epoch_s],
        "train_samples_per_s": [round(s, 1) for s in samples_per_s],
    }


def optimizer_step(optimizer, loss) -> None:
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


# ---------------------------------------------------------------------- the notebooks' pipeline


def notebook(args: argparse.Namespace) -> dict:
    """The source notebooks' pipeline, as they wrote it (re-implemented for a fair clock)."""
    import numpy as np
    import pyarrow.parquet as pq
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, Dataset

    from lstmlab.callbacks.timing import peak_memory_mb
    from lstmlab.data.cache import stratified_split

    start = time.perf_counter()
    table = pq.read_table(args.path / "train.parquet").to_pydict()
    train_idx, val_idx = stratified_split(np.array(table["label"]), args.val_size, SPLIT_SEED)
    words = lambda text: re.findall(r"\w+", text.lower())  # noqa: E731
    counts = Counter(w for i in train_idx for w in words(table["text"][i]))
    vocab = {w: i + 2 for i, (w, _) in enumerate(counts.most_common(25_000 - 2))}  # 0 pad, 1 unk
    prep_s = time.perf_counter() - start

    class Reviews(Dataset):
        def __init__(self, rows):
            self.rows = rows

        def __len__(self):
            return len(self.rows)

        def __getitem__(self, i):
            row = self.rows[i]
            ids = [vocab.get(w, 1) for w in words(table["text"][row])][: args.max_len]
            ids += [0] * (args.max_len - len(ids))
            return torch.tensor(ids), torch.tensor(table["label"][row])

    class BiLSTMAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(len(vocab) + 2, 128, padding_idx=0)
            self.lstm = nn.LSTM(128, 128, batch_first=True, bidirectional=True)
            self.attn = nn.Sequential(nn.Linear(256, 256), nn.Tanh(), nn.Linear(256, 1))
            self.head = nn.Linear(256, 2)

        def forward(self, tokens):
            out, _ = self.lstm(self.embedding(tokens))
            scores = self.attn(out).squeeze(-1).masked_fill(tokens == 0, -1e4)
            return self.head((scores.softmax(-1).unsqueeze(-1) * out).sum(1))

    device = torch.device(args.device)
    model = BiLSTMAttention().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(Reviews(train_idx), batch_size=args.batch_size, shuffle=True)

    def step(batch):
        tokens, labels = (t.to(device) for t in batch)
        optimizer_step(optimizer, nn.functional.cross_entropy(model(tokens), labels))
        return len(labels)

    figures = timed_epochs(model, lambda epoch: loader, device, args.epochs, step)
    model.eval()
    with torch.no_grad():
        hits = sum(
            int((model(t.to(device)).argmax(-1) == y.to(device)).sum())
            for t, y in DataLoader(Reviews(val_idx), batch_size=256)
        )
    return {
        **figures,
        "val_acc": round(hits / len(val_idx), 4),
        "prep_cold_s": round(prep_s, 3),
        "prep_warm_s": round(prep_s, 3),  # nothing is cached: every run starts cold
        **peak_memory_mb(device),
    }


# ---------------------------------------------------------------------- lstmlab


def overrides(args: argparse.Namespace) -> list[str]:
    """train.py overrides giving the notebooks' settings on lstmlab."""
    return [
        "data=imdb",
        f"data.path={args.path}",
        f"data.cache_dir={args.cache_dir}",
        "data.hub_name=null",
        f"data.val_size={args.val_size}",
        f"data.max_len={args.max_len}",
        f"data.batch_size={args.batch_size}",
        "model=bilstm_attn",
        "model.embed_dropout=0",  # no dropout, as the notebooks (docs/speed.md)
        "model.dropout=0",
        "optimizer=adam",
        "optimizer.lr=1e-3",
        f"optimizer.fused={'true' if args.fused_adam else 'null'}",
        f"trainer.max_epochs={args.epochs}",
        f"trainer.precision={args.precision}",
        f"trainer.deterministic={str(args.deterministic).lower()}",
        f"trainer.accelerator={'gpu' if args.device.startswith('cuda') else 'cpu'}",
        "~callbacks.early_stopping",
        "test=false",
    ]


def plain(args: argparse.Namespace) -> dict:
    """lstmlab's datamodule and network, composed from the same config as train.py's run, in
    a plain loop; also times data preparation, cold into a fresh cache, then warm."""
    import torch
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    from lstmlab.callbacks.timing import peak_memory_mb
    from lstmlab.runs import resolvers
    from lstmlab.runs.train import build_model

    resolvers.register(root=ROOT)
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=overrides(args))
    prep = {}
    for kind in ("cold", "warm"):
        start = time.perf_counter()
        datamodule = build_datamodule(cfg.data)
        prep[f"prep_{kind}_s"] = round(time.perf_counter() - start, 3)

    torch.manual_seed(cfg.seed)
    if args.deterministic:  # what Lightning's trainer.deterministic=true sets
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = ":4096:8"
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    device = torch.device(args.device)
    model = build_model(cfg, datamodule).net.to(device)  # the network train.py builds
    optimizer = instantiate(cfg.optimizer)(model.parameters())  # train.py's Adam
    to_device = lambda batch: {k: v.to(device) for k, v in batch.items()}  # noqa: E731

    bf16 = args.precision == "bf16-mixed"  # as Lightning's bf16-mixed: autocast the forward

    def step(batch):
        batch = to_device(batch)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits, _ = model(batch["tokens"], batch["lengths"])
        optimizer_step(optimizer, torch.nn.functional.cross_entropy(logits, batch["labels"]))
        return len(batch["labels"])

    loader = datamodule.train_dataloader()

    def batches(epoch: int):
        loader.batch_sampler.sampler.set_epoch(epoch)  # a new order per epoch, as Lightning does
        return loader

    figures = timed_epochs(model, batches, device, args.epochs, step)
    model.eval()
    hits = total = 0
    with torch.no_grad():
        for batch in map(to_device, datamodule.val_dataloader()):
            logits, _ = model(batch["tokens"], batch["lengths"])
            hits += int((logits.argmax(-1) == batch["labels"]).sum())
            total += len(batch["labels"])
    return {**figures, "val_acc": round(hits / total, 4), **prep, **peak_memory_mb(device)}


def build_datamodule(data_cfg):
    """A new datamodule, prepared and set up as train.py does."""
    import datasets
    from hydra.utils import instantiate

    datasets.disable_progress_bars()
    datamodule = instantiate(data_cfg)
    datamodule.prepare_data()
    datamodule.setup("fit")
    return datamodule


def lstmlab(args: argparse.Namespace) -> dict:
    """`python train.py` in its own process; its results.json holds the epoch timer's figures."""
    command = [
        sys.executable,
        str(ROOT / "train.py"),
        *overrides(args),
        f"hydra.run.dir={args.run_dir}",
        "callbacks.progress_bar=null",  # a progress bar per batch is not what is being timed
    ]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"train.py failed:\n{result.stderr[-3000:]}")
    results = json.loads((args.run_dir / "results.json").read_text())
    return {**results["timing"], "val_acc": round(results["metrics"]["val/acc"], 4)}


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

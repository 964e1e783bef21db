"""The three training pipelines `benchmark.py` times, each run in a process of its own
(`python scripts/benchmark.py --child NAME`): the source notebooks' pipeline, lstmlab's data
and network in a plain loop, and `python train.py`. Each returns its figures as a dict.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from benchmark_loop import accuracy_race, last_accuracy, optimizer_step, timed_epochs

ROOT = Path(__file__).resolve().parents[1]
SPLIT_SEED = 1234  # conf/data/imdb.yaml's data.seed: every pipeline trains on the same reviews


# ---------------------------------------------------------------------- the notebooks' pipeline


def notebook(args: argparse.Namespace) -> dict:
    """The source notebooks' pipeline, as they wrote it (re-implemented for a fair clock)."""
    import numpy as np
    import pyarrow.parquet as pq
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, Dataset

    from lstmlab.callbacks.timing import peak_memory_mb, speed_settings
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

    def accuracy() -> float:
        with torch.no_grad():
            hits = sum(
                int((model(t.to(device)).argmax(-1) == y.to(device)).sum())
                for t, y in DataLoader(Reviews(val_idx), batch_size=256)
            )
        return hits / len(val_idx)

    race = accuracy_race(args, len(loader))
    figures = timed_epochs(
        model, lambda epoch: loader, device, step=step, accuracy=accuracy, **race
    )
    model.eval()
    return {
        **figures,
        "val_acc": round(last_accuracy(race) or accuracy(), 4),
        "prep_cold_s": round(prep_s, 3),
        "prep_warm_s": round(prep_s, 3),  # nothing is cached: every run starts cold
        **speed_settings([optimizer]),  # the notebooks' own: --fused-adam/--deterministic unused
        **peak_memory_mb(device),
    }


# ---------------------------------------------------------------------- lstmlab


def data_overrides(args: argparse.Namespace) -> list[str]:
    """train.py overrides reading the notebooks' reviews, cut as theirs, on the device's
    trainer preset (its precision unless --precision is given)."""
    return [
        "data=imdb",
        f"data.path={args.path}",
        f"data.cache_dir={args.cache_dir}",
        "data.hub_name=null",
        f"data.val_size={args.val_size}",
        f"data.max_len={args.max_len}",
        "model=bilstm_attn",
        f"trainer={'gpu' if args.device.startswith('cuda') else 'cpu'}",
        *([f"trainer.precision={args.precision}"] if args.precision else []),
        "~callbacks.early_stopping",
        "callbacks.figures=null",  # drawn at each validation: not what is being timed
        "test=false",
    ]


def overrides(args: argparse.Namespace) -> list[str]:
    """train.py overrides giving the notebooks' settings on lstmlab."""
    return [
        *data_overrides(args),
        f"data.batch_size={args.batch_size}",
        "model.encoder.embed_dropout=0",  # no dropout, as the notebooks (docs/speed.md)
        "model.dropout=0",
        "optimizer=adam",
        "optimizer.lr=1e-3",
        f"optimizer.fused={'true' if args.fused_adam else 'null'}",
        f"trainer.max_epochs={args.epochs}",
        f"trainer.deterministic={str(args.deterministic).lower()}",
    ]


def fast_overrides(args: argparse.Namespace, variant: str) -> list[str]:
    """lstmlab's best settings for the device (experiment=imdb_fast on the device's trainer
    preset) plus `variant`'s overrides, trained until `--target-acc` (callback
    time_to_accuracy), validating `--checks-per-epoch` times an epoch."""
    return [
        *data_overrides(args),
        "experiment=imdb_fast",
        *variant.split(),
        f"trainer.max_epochs={args.max_epochs}",
        "trainer.min_epochs=0",  # stop within the first epoch once the target is reached
        f"+trainer.val_check_interval={1 / args.checks_per_epoch}",
        "callbacks=[default,time_to_accuracy]",
        f"callbacks.time_to_accuracy.target={args.target_acc}",
        f"callbacks.time_to_accuracy.max_train_s={args.max_train_s or 'null'}",
    ]


def plain(args: argparse.Namespace) -> dict:
    """lstmlab's datamodule and network, composed from the same config as train.py's run, in
    a plain loop; also times data preparation, cold into a fresh cache, then warm."""
    import torch
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    from lstmlab.callbacks.timing import peak_memory_mb, speed_settings
    from lstmlab.runs import resolvers
    from lstmlab.runs.model_setup import new_model

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
    model = new_model(cfg, datamodule).net.to(device)  # the network train.py builds
    optimizer = instantiate(cfg.optimizer)(model.parameters())  # train.py's Adam
    to_device = lambda batch: {k: v.to(device) for k, v in batch.items()}  # noqa: E731

    bf16 = cfg.trainer.precision == "bf16-mixed"  # as Lightning's bf16-mixed: autocast the forward

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
    settings = speed_settings([optimizer])
    return {
        **figures,
        "val_acc": round(hits / total, 4),
        **prep,
        **settings,
        **peak_memory_mb(device),
    }


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
    """`python train.py` at the notebooks' settings."""
    return train_py(args, overrides(args))


def fast(args: argparse.Namespace) -> dict:
    """`python train.py` with lstmlab's best settings, until `--target-acc`."""
    return train_py(args, fast_overrides(args, args.variant))


def train_py(args: argparse.Namespace, overrides: list[str]) -> dict:
    """`python train.py` in its own process; its results.json holds the timing callbacks'
    figures."""
    command = [
        sys.executable,
        str(ROOT / "train.py"),
        *overrides,
        f"hydra.run.dir={args.run_dir}",
        "callbacks.progress_bar=null",  # a progress bar per batch is not what is being timed
    ]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"train.py failed:\n{result.stderr[-3000:]}")
    results = json.loads((args.run_dir / "results.json").read_text())
    return {
        **results["timing"],
        "val_acc": round(results["metrics"]["val/acc"], 4),
        "overrides": overrides,
    }

"""Whole reviews fit in memory: `python scripts/benchmark.py --whole-reviews 3` trains a few
steps at batch 64 on IMDB's longest training reviews, uncut (`data.max_len=null`, up to about
2,500 tokens), with lstmlab's best settings for the device (experiment=imdb_fast on the
device's trainer preset), in a process of its own, and reports its peak memory. The longest
reviews make the largest batches, so whatever else trains, these fit too."""

from __future__ import annotations

import argparse

from benchmark_pipelines import ROOT, build_datamodule, data_overrides, optimizer_step


def whole_reviews(args: argparse.Namespace) -> dict:
    """`--whole-reviews` steps on the longest reviews; peak RSS and GPU memory."""
    import torch
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    from lstmlab.callbacks.timing import peak_memory_mb
    from lstmlab.data.batching import PadCollator
    from lstmlab.runs import resolvers
    from lstmlab.runs.model_setup import new_model

    resolvers.register(root=ROOT)
    overrides = [*data_overrides(args), "experiment=imdb_fast", "data.max_len=null"]
    overrides.append("data.batch_size=64")
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    datamodule = build_datamodule(cfg.data)
    train = datamodule.splits["train"]
    longest = train.sequences.lengths.argsort(descending=True).tolist()
    collate = PadCollator(datamodule.pad_id)
    batches = [
        collate([train[i] for i in longest[start : start + 64]])
        for start in range(0, 64 * args.whole_reviews, 64)
    ]
    device = torch.device(args.device)
    model = new_model(cfg, datamodule).net.to(device)
    optimizer = instantiate(cfg.optimizer)(model.parameters())
    bf16 = cfg.trainer.precision == "bf16-mixed"
    model.train()
    for batch in batches:
        batch = {k: v.to(device) for k, v in batch.items()}
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits, _ = model(batch["tokens"], batch["lengths"])
        optimizer_step(optimizer, torch.nn.functional.cross_entropy(logits, batch["labels"]))
    return {
        "steps": len(batches),
        "batch_size": 64,
        "max_tokens": int(batches[0]["tokens"].shape[1]),
        "precision": cfg.trainer.precision,
        **peak_memory_mb(device),
    }

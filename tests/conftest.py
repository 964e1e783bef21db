"""Shared fixtures: the project's real configs, composed with tiny sizes so runs take seconds."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from lstmlab import resolvers

ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = ROOT / "conf"

# Small enough for a CPU test, big enough to learn the synthetic task.
TINY = [
    "data=synthetic",
    "data.num_samples=256",
    "data.val_samples=64",
    "data.test_samples=64",
    "data.min_len=5",
    "data.max_len=30",
    "data.batch_size=32",
    "model.embed_dim=16",
    "model.hidden_size=16",
    "trainer=cpu",
    "trainer.max_epochs=1",
    "+trainer.enable_model_summary=false",
]

resolvers.register()


def compose_config(overrides: list[str], output_dir: Path) -> DictConfig:
    """conf/train.yaml with `overrides`, writing into `output_dir` instead of logs/."""
    paths = [f"paths.output_dir={output_dir}", f"paths.log_dir={output_dir}"]
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose("train", overrides=[*overrides, *paths])


@pytest.fixture
def tiny_cfg(tmp_path: Path) -> Callable[..., DictConfig]:
    """`tiny_cfg("model=lstm", ...)`: a tiny CPU config, writing under tmp_path."""
    return lambda *overrides: compose_config([*TINY, *overrides], tmp_path)


def _run_train_py(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HYDRA_FULL_ERROR": "0", "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [sys.executable, str(ROOT / "train.py"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture
def train_py() -> Callable[..., subprocess.CompletedProcess]:
    """`train_py(ARGS...)`: `python train.py ARGS` in a fresh process, as a user runs it."""
    return _run_train_py

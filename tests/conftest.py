"""Shared fixtures: the project's real configs, composed with tiny sizes so runs take seconds."""

from __future__ import annotations

import hashlib
import http.server
import inspect
import json
import os
import random
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

# One thread per test process (workers and the processes tests start): with `pytest -n 2` on two
# cores, two workers' OpenMP pools spin against each other and the suite runs several times slower.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import datasets  # after OMP_NUM_THREADS, which torch reads when it starts
import huggingface_hub
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from lstmlab.models.encoders.recurrent import RecurrentEncoder
from lstmlab.models.language_model import LanguageModel
from lstmlab.models.legacy import target, upgrade_classifier
from lstmlab.models.lit_module import ClassifierModule
from lstmlab.models.network import TextClassifier
from lstmlab.runs import resolvers
from lstmlab.runs.config_checks import group_options
from lstmlab.runs.train import train

ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = ROOT / "conf"

# The per-epoch heat-maps are most of a tiny run's time: TINY_RUN leaves them out, and
# tests/callbacks/test_figures.py turns them back on (the test stage's figures stay on).
NO_EPOCH_FIGURES = "callbacks.figures.num_texts=0"

# Small enough for a CPU test, big enough to learn the synthetic task.
TINY_RUN = [
    "model.encoder.embed_dim=16",
    "model.encoder.hidden_size=16",
    "trainer=cpu",
    "trainer.max_epochs=1",
    "+trainer.enable_model_summary=false",
    NO_EPOCH_FIGURES,
]
TINY = [
    "data=synthetic",
    "data.num_samples=256",
    "data.val_samples=64",
    "data.test_samples=64",
    "data.min_len=5",
    "data.max_len=30",
    "data.batch_size=32",
    *TINY_RUN,
]

# TINY_RUN's model.encoder.* suit the recurrent encoder; the others' tiny sizes, by their module
TINY_ENCODERS = {
    "bag_of_ngrams": ["model.encoder.embed_dim=16", "model.encoder.buckets=256"],
    "cnn": ["model.encoder.embed_dim=16", "model.encoder.num_filters=8"],
}


def tiny_with(*choices: str) -> list[str]:
    """TINY with model choices (`model=cnn`, `model/encoder=gru`), its encoder at a tiny size."""
    recurrent = [o for o in TINY if o.startswith("model.encoder.")]
    rest = [o for o in TINY if o not in recurrent]
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        encoder = compose("train", overrides=list(choices)).model.encoder._target_
    module = encoder.split(".")[-2]  # lstmlab.models.encoders.<module>.<Class>
    return [*rest, *choices, *TINY_ENCODERS.get(module, recurrent)]


resolvers.register(root=None)  # tests set paths.* themselves

# every option of the parts' config groups: a new YAML file there is tested with the others
POOLINGS = group_options("model/pooling")
ENCODERS = group_options("model/encoder")


def part_config(group: str, option: str) -> DictConfig:
    """conf/model/<group>/<option>.yaml with the options it starts from (`defaults`)."""
    own = OmegaConf.load(CONF_DIR / "model" / group / f"{option}.yaml")
    bases = [part_config(group, str(base)) for base in own.pop("defaults", [])]
    return OmegaConf.merge(*bases, own)


def pooling_part(name: str, **settings) -> Callable:
    """The pooling of conf/model/pooling/<name>.yaml, to be completed with the input width."""
    return instantiate(OmegaConf.merge(part_config("pooling", name), settings))


def encoder_part(name: str, **settings) -> Callable:
    """The encoder of conf/model/encoder/<name>.yaml (with `settings`), to be completed with
    the vocabulary size and pad id."""
    return instantiate(OmegaConf.merge(part_config("encoder", name), settings))


def text_classifier(
    vocab: int,
    classes: int,
    pad_id: int = 0,
    pooling: str = "attn",
    dropout: float = 0.0,
    head: str = "ce",
    attn_dim: int | None = None,
    encoder: Callable | None = None,
    **encoder_settings,
) -> TextClassifier:
    """A classifier of `RecurrentEncoder(**encoder_settings)` (its own defaults: a one-layer
    BiLSTM, no dropout) or of `encoder`, and the `pooling` option."""
    settings = {"attn_dim": attn_dim} if attn_dim else {}
    encoder = encoder or (lambda **sizes: RecurrentEncoder(**sizes, **encoder_settings))
    return TextClassifier(
        vocab, classes, encoder, pooling_part(pooling, **settings), pad_id, dropout, head
    )


def ragged_batch(vocab: int = 50, pad: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded tokens [4, 7] with lengths 7, 3, 1, 5 (one row fills the batch)."""
    torch.manual_seed(1)
    lengths = torch.tensor([7, 3, 1, 5])
    tokens = torch.randint(1, vocab, (4, 7))
    tokens[torch.arange(7) >= lengths.unsqueeze(1)] = pad
    return tokens, lengths


@pytest.fixture
def gpu_test_device() -> torch.device:
    """The device of the tests marked `gpu`: $LSTMLAB_TEST_DEVICE (`cpu` for a dry run of them),
    else CUDA; without either they are skipped."""
    name = os.environ.get("LSTMLAB_TEST_DEVICE") or ("cuda" if torch.cuda.is_available() else "")
    if not name:
        pytest.skip("no CUDA device (LSTMLAB_TEST_DEVICE=cpu runs the gpu tests on the CPU)")
    return torch.device(name)


@pytest.fixture(autouse=True, scope="session")
def hub_offline() -> Iterator[None]:
    """No test reaches for the network: the Hugging Face Hub is offline (HF_HUB_OFFLINE=1) in
    this process and in every process a test starts. Tests of what happens online use
    `fake_hub` instead."""
    patch = pytest.MonkeyPatch()
    patch.setenv("HF_HUB_OFFLINE", "1")
    patch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    patch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    yield
    patch.undo()


class FakeHub(http.server.ThreadingHTTPServer):
    """A Hub endpoint on loopback that answers every request with `status` and records it."""

    def __init__(self) -> None:
        self.status, self.error_code, self.requests = 503, None, []
        super().__init__(("127.0.0.1", 0), FakeHubHandler)
        self.url = f"http://127.0.0.1:{self.server_port}"


class FakeHubHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.server.requests.append(f"{self.command} {self.path}")
        self.send_response(self.server.status)
        if self.server.error_code:  # how the Hub says "no such repository"
            self.send_header("X-Error-Code", self.server.error_code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_HEAD = do_GET

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    """The Hub online, at a `FakeHub` (503 to everything unless told otherwise), for this
    process (HfApi's endpoint) and for processes a test starts (HF_ENDPOINT)."""
    server = FakeHub()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", server.url)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    yield server
    server.shutdown()
    server.server_close()


def compose_config(
    overrides: list[str], output_dir: Path, name: str = "train", with_hydra: bool = False
) -> DictConfig:
    """conf/<name>.yaml with `overrides`, writing into `output_dir` instead of logs/;
    `with_hydra`: with Hydra's own `hydra` node (launcher, sweeper, run folder)."""
    paths = [f"paths.output_dir={output_dir}", f"paths.log_dir={output_dir}"]
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose(name, overrides=[*overrides, *paths], return_hydra_config=with_hydra)


def hashes(folder: Path) -> dict[str, str]:
    """Every file under `folder` with the SHA-256 of its content."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.rglob("*")
        if p.is_file()
    }


@pytest.fixture
def tiny_cfg(tmp_path: Path) -> Callable[..., DictConfig]:
    """`tiny_cfg("model=lstm", ...)`: a tiny CPU config, writing under tmp_path."""
    return lambda *overrides: compose_config([*TINY, *overrides], tmp_path)


def run_script(script: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """`python <script> ARGS` from the project root in a fresh process, as a user runs it."""
    env = {**os.environ, "HYDRA_FULL_ERROR": "0", "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [sys.executable, str(ROOT / script), *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture
def train_py() -> Callable[..., subprocess.CompletedProcess]:
    """`train_py(ARGS...)`: `python train.py ARGS` in a fresh process."""
    return lambda *args: run_script("train.py", *args)


# ----------------------------------------------------------------------------- a trained text model

FILLER = ["the", "a", "film", "movie", "plot", "scene", "story", "was", "is", "and", "of", "it"]
MOODS = {0: ["awful", "boring", "terrible"], 1: ["great", "wonderful", "superb"]}


def write_reviews(folder: Path, sizes: dict[str, int], seed: int = 0) -> Path:
    """Parquet splits of short reviews whose label is told by one mood word among filler."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split, size in sizes.items():
        labels = [i % 2 for i in range(size)]
        texts = []
        for label in labels:
            words = rng.choices(FILLER, k=rng.randint(4, 20))
            words.insert(rng.randrange(len(words) + 1), rng.choice(MOODS[label]))
            texts.append(" ".join(words))
        pq.write_table(pa.table({"text": texts, "label": labels}), folder / f"{split}.parquet")
    return folder


def review_overrides(data: Path, cache_dir: Path, val_size: int = 20) -> list[str]:
    """`data=imdb` reading `write_reviews` parquet from `data`, never the Hub."""
    return [
        "data=imdb",
        f"data.path={data}",
        f"data.cache_dir={cache_dir}",
        "data.hub_name=null",
        f"data.val_size={val_size}",
        "data.batch_size=16",
    ]


def write_vectors(path: Path, vectors: dict[str, list[float]], header: bool = True) -> Path:
    """A word2vec text file (GloVe's layout with `header=False`)."""
    dim = len(next(iter(vectors.values())))
    lines = [f"{len(vectors)} {dim}"] if header else []
    lines += [" ".join([word, *map(str, values)]) for word, values in vectors.items()]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def mood_vectors(path: Path, dim: int) -> Path:
    """`write_vectors` for the mood words of `write_reviews` (and one word it never uses)."""
    words = [*MOODS[0], *MOODS[1], "unseen"]
    return write_vectors(path, {w: [float(i + 1)] * dim for i, w in enumerate(words)})


@pytest.fixture(scope="session")
def text_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A BiLSTM + attention trained for a few epochs on `write_reviews` text, once per session:
    its run folder (`dir`), `results` (results.json) and `data` (the parquet folder)."""
    root = tmp_path_factory.mktemp("text_run")
    data = write_reviews(root / "reviews", {"train": 400, "test": 100})
    overrides = [
        *review_overrides(data, root / "cache", val_size=100),
        "model=bilstm_attn",
        "model.encoder.embed_dim=16",
        "model.encoder.hidden_size=16",
        "trainer=cpu",
        "optimizer.lr=0.01",
        "trainer.max_epochs=4",
        "+trainer.enable_model_summary=false",
    ]
    run_dir = root / "run"
    train(compose_config(overrides, run_dir))
    results = json.loads((run_dir / "results.json").read_text())
    return {"dir": run_dir, "results": results, "data": data}


def crash_at_step(monkeypatch: pytest.MonkeyPatch, step: int) -> None:
    """Training raises `RuntimeError("killed")` when it reaches global step `step`: stands in
    for SIGKILL (no checkpoint is written then)."""
    from lstmlab.models.lit_module import ClassifierModule

    training_step = ClassifierModule.training_step

    def killed(self, batch, batch_idx):
        if self.global_step == step:
            raise RuntimeError("killed")
        return training_step(self, batch, batch_idx)

    monkeypatch.setattr(ClassifierModule, "training_step", killed)


def record_loaded_vectors(monkeypatch: pytest.MonkeyPatch) -> list:
    """The `Coverage` of every `load_vectors` call from now on, in a list."""
    from lstmlab.models.lit_module import ClassifierModule

    loaded: list = []
    load_vectors = ClassifierModule.load_vectors
    monkeypatch.setattr(
        ClassifierModule,
        "load_vectors",
        lambda self, vocab: loaded.append(load_vectors(self, vocab)) or loaded[-1],
    )
    return loaded


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests first (a stable sort, so each file's order stays): with `-n 2` and
    `--dist worksteal` (pyproject.toml) the long ones start early and the last minute is short
    tests the two workers share, not one long training while the other worker idles."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def classifier_module(vocab_size: int, num_classes: int, **settings) -> ClassifierModule:
    """A `ClassifierModule` from flat settings (`embed_dim=8, pooling="max", adversarial_eps=1`,
    the classes' own defaults otherwise), read through the old-key table as old checkpoints are."""
    flat = {"vocab_size": vocab_size, "num_classes": num_classes, **settings}
    return ClassifierModule(**upgrade_classifier(flat))


def language_model(vocab_size: int, settings: dict, *args, **kwargs) -> LanguageModel:
    """A `LanguageModel` of `RecurrentEncoder(**settings)` (keys it does not take, such as a
    classifier's pooling, left out)."""
    taken = inspect.signature(RecurrentEncoder).parameters
    encoder = {"_target_": target(RecurrentEncoder), "_partial_": True}
    encoder.update({k: v for k, v in settings.items() if k in taken})
    return LanguageModel(vocab_size, encoder, *args, **kwargs)

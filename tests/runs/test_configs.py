"""Every option of every config group composes, instantiates, and (for models) trains."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import lightning as L
import pytest
import torch
from conftest import (
    CONF_DIR,
    NO_EPOCH_FIGURES,
    TINY,
    TINY_RUN,
    compose_config,
    mood_vectors,
    review_overrides,
    run_script,
    tiny_with,
    write_reviews,
)
from hydra.utils import instantiate
from omegaconf import OmegaConf

from lstmlab.models.legacy import target
from lstmlab.models.pooling import LastStepPooling, MaxPooling
from lstmlab.runs.instantiation import instantiate_each
from lstmlab.runs.model_setup import new_model
from lstmlab.runs.train import train


def options(group: str) -> list[str]:
    """A group's options as `group=<option>` takes them, nested folders included."""
    folder = CONF_DIR / group
    return sorted(
        path.relative_to(folder).with_suffix("").as_posix() for path in folder.rglob("*.yaml")
    )


# conf/model/<part>/ holds the options of the network's parts, picked with model/<part>=...
MODEL_PRESETS = [
    name for name in options("model") if name.split("/")[0] not in ("encoder", "pooling")
]


def test_every_group_the_recipe_names_has_options():
    for group in (
        "data",
        "model",
        "optimizer",
        "scheduler",
        "trainer",
        "callbacks",
        "logger",
        "paths",
        "hydra",
        "experiment",
        "hparams_search",
    ):
        assert options(group), f"conf/{group}/ is empty"


DATA_BASES = ("text",)  # conf/data/text.yaml: keys the text datasets share, not a dataset


@pytest.mark.parametrize("name", [o for o in options("data") if o not in DATA_BASES])
def test_data_options_build_datamodules(tmp_path, name):
    # the dataset's own defaults (TINY's sizes belong to the synthetic set); file-based options
    # check that their files exist, so they get one (read only at setup)
    (tmp_path / "texts.csv").touch()
    data = compose_config([f"data={name}"], tmp_path).data
    needed = ["train"] + (["test"] if data.get("split_column") is None else [])  # else all in train
    files = [f"data.{key}={tmp_path}/texts.csv" for key in needed if key in set(data)]  # ??? too
    hub = ["data.name=owner/dataset"] if name == "hub" else []  # read at setup, not here
    datamodule = instantiate(compose_config([f"data={name}", *files, *hub], tmp_path).data)
    assert isinstance(datamodule, L.LightningDataModule)


@pytest.mark.parametrize("group", ["model", "optimizer", "scheduler"])
def test_model_optimizer_and_scheduler_options_build_a_trainable_module(tmp_path, group):
    for name in MODEL_PRESETS if group == "model" else options(group):
        cfg = compose_config(tiny_with(f"{group}={name}"), tmp_path)
        datamodule = instantiate(cfg.data)
        model = new_model(cfg, datamodule)
        # what a scheduler over the whole run (`total_steps: null`) asks the trainer
        model.trainer = SimpleNamespace(estimated_stepping_batches=100)
        built = model.configure_optimizers()
        optimizer = built["optimizer"] if isinstance(built, dict) else built
        assert optimizer.param_groups[0]["params"], f"{group}={name}: optimiser has no parameters"
        if name != "none" and group == "scheduler":
            assert built["lr_scheduler"]["scheduler"] is not None


@pytest.mark.parametrize("name", options("trainer"))
def test_trainer_options_build_trainers(tiny_cfg, name):
    cfg = tiny_cfg(f"trainer={name}")
    if cfg.trainer.accelerator == "gpu" and not torch.cuda.is_available():
        pytest.skip(f"trainer={name} needs a GPU; this machine has none")
    assert isinstance(instantiate(cfg.trainer), L.Trainer)


# options that read another group's settings, composed with it (the pruning callback reports
# to the search's study; outside a trial, search.trial: null, it does nothing)
SETTING_FOR = {"callbacks=optuna_pruning": ["hparams_search=optuna"]}


@pytest.mark.parametrize("group", ["callbacks", pytest.param("logger", marks=pytest.mark.slow)])
def test_callback_and_logger_options_instantiate(tmp_path, group):
    tiny = [o for o in TINY if o != NO_EPOCH_FIGURES]  # some callback options have no figures
    for name in options(group):
        context = SETTING_FOR.get(f"{group}={name}", [])
        cfg = compose_config([*tiny, f"{group}={name}", *context], tmp_path)
        objects = instantiate_each(cfg.get(group))
        assert len(objects) == len([node for node in (cfg.get(group) or {}).values() if node])


def test_default_checkpoint_names_are_free_of_equals_signs(tiny_cfg):
    checkpoint = tiny_cfg().callbacks.model_checkpoint
    assert "=" not in checkpoint.filename and checkpoint.auto_insert_metric_name is False


@pytest.mark.parametrize("name", MODEL_PRESETS)
def test_every_model_preset_runs_fast_dev_run(tmp_path, name):
    train(compose_config([*tiny_with(f"model={name}"), "trainer=fast_dev_run"], tmp_path))
    assert_trained(tmp_path)


@pytest.mark.parametrize("name", options("model/encoder"))
def test_every_encoder_option_runs_fast_dev_run(tmp_path, name):
    overrides = [*tiny_with(f"model/encoder={name}", "model/pooling=max"), "trainer=fast_dev_run"]
    train(compose_config(overrides, tmp_path))
    assert_trained(tmp_path)


def assert_trained(run: Path) -> None:
    """The run wrote its results: finite validation and test losses."""
    metrics = json.loads((run / "results.json").read_text())["metrics"]
    assert math.isfinite(metrics["val/loss"]) and math.isfinite(metrics["test/loss"]), metrics


# presets that start from a file another run writes: their tests make one first
NEED_A_FILE = {"imdb_lm_finetune": "test_language_model.py"}


@pytest.mark.parametrize("name", sorted(set(options("experiment")) - set(NEED_A_FILE)))
def test_every_experiment_preset_runs_fast_dev_run(tmp_path, tiny_cfg, name):
    cfg = tiny_cfg(f"experiment={name}")
    vectors = OmegaConf.select(cfg, "init.vectors") is not None
    text_only = OmegaConf.select(cfg, "data.min_freq") is not None  # e.g. short_text's keys
    if not vectors and not text_only:
        # two classes, as on IMDB, since a preset may choose the single-logit BCE head
        train(tiny_cfg(f"experiment={name}", "trainer=fast_dev_run", "data.num_classes=2"))
        assert_trained(tmp_path)
        return
    # word vectors and text-only data keys need words: tiny reviews (and a tiny vectors file
    # in place of the preset's)
    data = write_reviews(tmp_path / "reviews", {"train": 80, "test": 20, "unsupervised": 20})
    overrides = [
        *review_overrides(data, tmp_path / "cache"),
        f"experiment={name}",
        *TINY_RUN,
        "trainer=fast_dev_run",
    ]
    if vectors:
        overrides.append(f"init.vectors={mood_vectors(tmp_path / 'vectors.txt', dim=16)}")
    train(compose_config(overrides, tmp_path / "run"))
    assert_trained(tmp_path / "run")


def test_the_six_variants_sweep_is_the_base_model_and_each_change_alone_and_all_together(tiny_cfg):
    grid = OmegaConf.load(CONF_DIR / "experiment" / "six_variants.yaml").hydra.sweeper.params
    swept = [name.strip() for name in grid.model.split(",")]
    keys = ("encoder.bidirectional", "dropout", "encoder.init_state", "pooling._target_")

    def settings(model: str) -> dict:
        cfg = tiny_cfg("experiment=six_variants", f"model={model}").model
        return {key: OmegaConf.select(cfg, key) for key in keys}

    def changes(model: str) -> dict:
        return {k: v for k, v in settings(model).items() if v != base[k]}

    base = settings("six_variants/base")
    assert base == {
        "encoder.bidirectional": False,
        "dropout": 0.0,
        "encoder.init_state": "random",
        "pooling._target_": target(LastStepPooling),
    }
    alone = {
        "six_variants/bidirectional": {"encoder.bidirectional": True},
        "six_variants/dropout": {"dropout": 0.5},
        "six_variants/zero_state": {"encoder.init_state": "zeros"},
        "six_variants/max_pooling": {"pooling._target_": target(MaxPooling)},
    }
    together = {key: value for change in alone.values() for key, value in change.items()}
    assert swept == ["six_variants/base", *alone, "six_variants/improved"]
    assert {model: changes(model) for model in alone} == alone
    assert changes("six_variants/improved") == together


@pytest.mark.slow
def test_a_data_config_kept_outside_the_project_is_found_with_config_dir(tmp_path):
    rows = [("a warm sunny day", "warm"), ("a cold icy night", "cold")] * 40
    (tmp_path / "texts.csv").write_text("text,feel\n" + "".join(f"{t},{f}\n" for t, f in rows))
    (tmp_path / "conf" / "data").mkdir(parents=True)
    (tmp_path / "conf" / "data" / "mine.yaml").write_text(
        "defaults:\n  - text_files\n"  # the project's conf/data/text_files.yaml
        f"train: {tmp_path}/texts.csv\ntest: {tmp_path}/texts.csv\nlabel_column: feel\n"
    )
    process = run_script(
        "train.py",
        "--config-dir",
        str(tmp_path / "conf"),
        "data=mine",
        "data.batch_size=16",
        f"paths.data_dir={tmp_path}/data",
        f"paths.log_dir={tmp_path}/logs",
        "hydra.run.dir=" + str(tmp_path / "run"),
        *TINY_RUN,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    classes = {"test_per_class/f1/cold", "test_per_class/f1/warm"}
    assert classes <= set(results["metrics"])  # its classes
    (meta,) = (tmp_path / "data" / "cache" / "text_files").glob("*/meta.json")
    assert json.loads(meta.read_text())["sizes"] == {"train": 72, "val": 8, "test": 80}

"""Run folder and TensorBoard names: lead with what tells a run apart, short, and free of
characters a Hydra override would misread."""

from pathlib import Path

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.types import RunMode
from omegaconf import OmegaConf

from lstmlab.runs.resolvers import MAX_NAME_CHARS, folder_label, job_folder, label, run_suffix

EXCLUDED = ["ckpt_path", "data.path"]


def hydra_node(task: list[str], sweep_dir: Path | None = None, params: dict | None = None):
    """The `hydra` node of a run (or, with `sweep_dir`, of a sweep's job) given `task`."""
    return OmegaConf.create(
        {
            "mode": RunMode.MULTIRUN if sweep_dir else RunMode.RUN,
            "overrides": {"task": task},
            "sweep": {"dir": str(sweep_dir)},
            "sweeper": {"params": params},
            "job": {"config": {"override_dirname": {"exclude_keys": EXCLUDED}}},
        }
    )


def a_sweep(tmp_path: Path, command_line: list[str]) -> Path:
    """A sweep folder with the record Hydra's basic sweeper writes before the first job."""
    OmegaConf.save({"hydra": {"overrides": {"task": command_line}}}, tmp_path / "multirun.yaml")
    return tmp_path


def test_no_overrides_give_no_suffix():
    root = OmegaConf.create({"hydra": hydra_node([])})
    assert run_suffix(_root_=root) == ""
    assert label(root.hydra) == "defaults"


def test_a_single_run_is_named_by_all_its_overrides_with_short_keys():
    hydra = hydra_node(["model=lstm", "model/pooling=max", "seed=1", "ckpt_path=/x/last.ckpt"])
    assert label(hydra) == "model=lstm,pooling=max,seed=1"
    assert folder_label(hydra) == "model-lstm+pooling-max+seed-1"


def test_a_sweep_job_is_named_by_the_swept_values_and_its_number(tmp_path):
    sweep = a_sweep(tmp_path, ["data=synthetic", "model/pooling=last,max", "seed=1,2"])
    hydra = hydra_node(["data=synthetic", "model/pooling=max", "seed=2"], sweep)
    assert label(hydra) == "pooling=max,seed=2"
    assert job_folder(3, _root_=OmegaConf.create({"hydra": hydra})) == "pooling-max+seed-2_3"


def test_keys_a_preset_or_optuna_searches_count_as_swept(tmp_path):
    hydra = hydra_node(
        ["trainer.max_epochs=2", "optimizer.lr=0.0003", "model.dropout=0.25"],
        sweep_dir=tmp_path,  # Optuna writes no multirun.yaml
        params={"optimizer.lr": "interval(1e-4, 3e-3)", "model.dropout": "interval(0, 0.5)"},
    )
    assert label(hydra) == "lr=0.0003,dropout=0.25"


def test_keys_that_end_alike_keep_enough_to_differ():
    hydra = hydra_node(["model.dropout=0.1", "data.dropout=0.2", "optimizer.lr=1"])
    assert label(hydra) == "model.dropout=0.1,data.dropout=0.2,lr=1"


def test_paths_keep_their_file_name():
    hydra = hydra_node(["data.train=/very/long/path/to/train.parquet", "model=six_variants/base"])
    assert label(hydra) == "train=train.parquet,model=base"
    assert folder_label(hydra) == "train-train.parquet+model-base"


def test_folder_names_have_no_characters_an_override_misreads():
    hydra = hydra_node(["trainer.devices=[0,1]", "data.name='a b=c'", "x.y={a:1}"])
    name = folder_label(hydra)
    assert name == "devices-0_1+name-a_b_c+y-a_1"
    parsed = OverridesParser.create().parse_override(f"ckpt_path=logs/{name}_0/last.ckpt")
    assert parsed.value() == f"logs/{name}_0/last.ckpt"  # pastes as one plain path


def test_long_names_are_cut_to_a_size_file_systems_take():
    hydra = hydra_node([f"data.setting_number_{i}=value_{i:03d}" for i in range(30)])
    assert len(folder_label(hydra)) == MAX_NAME_CHARS

"""Continuing an interrupted run: `python train.py resume=<run folder>`.

Hydra composes the config before any of our code runs, so the key is expanded on the command
line instead: into the run's own overrides (from its `.hydra/overrides.yaml`), its folder as
`hydra.run.dir` (checkpoints, `results.json` and TensorBoard events go on in the same place, so
TensorBoard shows one run), and `ckpt_path` at its `checkpoints/last.ckpt`. Overrides given
after `resume=` are applied last, e.g. `trainer.max_epochs=20` to train on for longer.

A run that finished (its `results.json` describes the state in `last.ckpt`) has nothing left
to train unless the overrides raise `trainer.max_epochs` or `trainer.max_steps`: then it is
left exactly as it is (a cluster that requeues finished jobs with `resume=` changes nothing).
The run folder is found from the path given, never from paths stored inside it, so a copied
or moved run continues in its new place.

`resume=<sweep folder>` continues a grid sweep: it runs the sweep's own overrides again into
its folder (`-m ... hydra.sweep.dir=<folder>`), which skips the finished jobs (grid_sweep.py).
A run started again in its own folder without `resume=` continues the same way
(`continue_in_place`): a sweep's job re-run into its sweep, a SLURM job requeued.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning.pytorch.utilities import rank_zero_info
from omegaconf import DictConfig, OmegaConf, open_dict

from lstmlab.runs.resolvers import CONFIG_DIR, slurm_job

KEY = "resume="
SWEEP_RECORD = "multirun.yaml"  # Hydra's record of a sweep, in the sweep's folder
GRID_SWEEPER = "hydra_plugins.lstmlab_sweeper.GridSweeper"  # conf/hydra/sweeper/grid.yaml
REPLACED = ("ckpt_path=", "hydra.run.dir=")  # set here, whatever the run was started with


class ResumeError(ValueError):
    """The folder given to `resume=` is not a run that can be continued."""


class NothingToTrain(Exception):
    """The run finished, and the overrides given do not ask for more training."""


def expand_resume(args: list[str]) -> list[str]:
    """Command-line arguments with `resume=<run folder>` replaced by what continues that run."""
    given = [arg for arg in args if arg.startswith(KEY)]
    if not given:
        return args
    run = Path(given[0].removeprefix(KEY)).expanduser().resolve()
    extra = [arg for arg in args if arg not in given and arg not in ("-m", "--multirun")]
    if len(given) == 1 and (run / SWEEP_RECORD).is_file():
        task = OmegaConf.load(run / SWEEP_RECORD).hydra.overrides.task
        return ["-m", *task, f"hydra.sweep.dir='{run}'", *extra]
    if len(given) > 1 or any(arg in ("-m", "--multirun") for arg in args):
        raise ResumeError(
            "resume= continues one run or one sweep: give one run or sweep folder, without -m."
        )
    saved, last = run / ".hydra" / "overrides.yaml", run / "checkpoints" / "last.ckpt"
    if not saved.is_file():
        raise ResumeError(
            f"resume={run}: no run there ({saved} is missing). Pass the folder of a run, "
            "e.g. resume=logs/runs/<run> or resume=logs/multiruns/<sweep>/<job>."
        )
    if not last.is_file():
        raise ResumeError(
            f"resume={run}: {last} is missing, so the run stopped before its first checkpoint. "
            "Start it again with its overrides (in .hydra/overrides.yaml)."
        )
    overrides = [o for o in yaml.safe_load(saved.read_text()) or [] if not o.startswith(REPLACED)]
    if finished(run, last):
        check_more_to_train(run, [*overrides, *extra])
    return [*overrides, f"hydra.run.dir='{run}'", f"ckpt_path='{last}'", *extra]


def continue_in_place(cfg: DictConfig) -> None:
    """Sets `cfg.ckpt_path` to the run folder's `last.ckpt` when the run was started again in
    its own folder, as `resume=` would, or raises `NothingToTrain` when the run there finished:
    a grid sweep's job re-run into its sweep (the sweeper checked that it is the same sweep,
    grid_sweep.py), or a SLURM job requeued (its folder is named after the job,
    `resolvers.run_stamp`)."""
    run = Path(cfg.paths.output_dir)
    last = run / "checkpoints" / "last.ckpt"
    if cfg.get("ckpt_path") or not last.is_file() or not started_again(run):
        return
    if finished(run, last):
        raise NothingToTrain(
            f"{run}: the run finished (its results are in {run / 'results.json'}), so there "
            "is nothing left to train and nothing was changed."
        )
    rank_zero_info(f"Continuing the run in {run} from {last}")
    with open_dict(cfg):
        cfg.ckpt_path = str(last)


def started_again(run: Path) -> bool:
    """True when the run's folder is its own from an earlier start of the same run."""
    if not HydraConfig.initialized():
        return False
    hydra = HydraConfig.get()
    if hydra.mode == RunMode.MULTIRUN:
        return OmegaConf.select(hydra, "sweeper._target_") == GRID_SWEEPER
    job = slurm_job()
    return job is not None and run.name.startswith(f"slurm-{job}")


def finished(run: Path, last: Path) -> bool:
    """True when the run's `results.json` was written from the state in `last.ckpt` (a run
    trained on after finishing, and stopped again, has a newer `last.ckpt`)."""
    results = run / "results.json"
    if not results.is_file():
        return False
    step = json.loads(results.read_text()).get("global_step")
    try:
        saved = torch.load(last, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # an unreadable last.ckpt: the run refuses it, saying why
        return False
    return step is None or step == saved.get("global_step")


def check_more_to_train(run: Path, overrides: list[str]) -> None:
    """A `NothingToTrain` unless the overrides raise the run's epoch or step limit."""
    before = yaml.safe_load((run / ".hydra" / "config.yaml").read_text())["trainer"]
    try:
        with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
            now = compose("train", [o for o in overrides if not o.startswith("hydra.")]).trainer
    except Exception:  # a bad override: Hydra reports it when the run starts
        return
    epochs, steps = now.get("max_epochs"), now.get("max_steps", -1)
    if _limit(epochs) > _limit(before.get("max_epochs")) or _limit(steps) > _limit(
        before.get("max_steps", -1)
    ):
        return
    raise NothingToTrain(
        f"resume={run}: the run finished (trainer.max_epochs={before.get('max_epochs')}; its "
        f"results are in {run / 'results.json'}), so there is nothing left to train and nothing "
        f"was changed. To train on, raise the limit: python train.py resume={run} "
        f"trainer.max_epochs={(before.get('max_epochs') or 0) + 10}"
    )


def _limit(value: int | None) -> float:
    """A Trainer limit as a number: None and -1 mean no limit."""
    return float("inf") if value is None or value < 0 else value


def run_folder_given(args: list[str]) -> Path | None:
    """The run folder named on the command line (`hydra.run.dir=`, as `resume=` sets it), or
    None when Hydra names a new one."""
    for arg in args:
        if arg.startswith("hydra.run.dir="):
            return Path(arg.removeprefix("hydra.run.dir=").strip("'\"")).resolve()
    return None

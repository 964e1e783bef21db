"""Continuing an interrupted run: `python train.py resume=<run folder>`.

Hydra composes the config before any of our code runs, so the key is expanded on the command
line instead: into the run's own overrides (from its `.hydra/overrides.yaml`), its folder as
`hydra.run.dir` (checkpoints, `results.json` and TensorBoard events go on in the same place, so
TensorBoard shows one run), and `ckpt_path` at its `checkpoints/last.ckpt`. Overrides given
after `resume=` are applied last, e.g. `trainer.max_epochs=20` to train on for longer. A run
started with `--config-dir` (its data config kept with the data) gets that folder again.

Resume continues the run it names, so the config it composes is compared with the run's own
(`.hydra/config.yaml`), key by key: only `MAY_CHANGE` may differ (how long it trains, where it
runs, what it reports), and each change is printed. Any other difference (data, model,
optimiser, schedule, seed; also a default in conf/ changed since the run started) is refused,
naming each key with both values: it would train another run in this one's folder.

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
import re
import shlex
from pathlib import Path
from typing import Any

import torch
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning.pytorch.utilities import rank_zero_info
from omegaconf import DictConfig, OmegaConf, open_dict

from lstmlab.runs.resolvers import CONFIG_DIR, slurm_job

KEY = "resume="
NOT_SET = "(not set)"  # a key one of the two configs lacks
SWEEP_RECORD = "multirun.yaml"  # Hydra's record of a sweep, in the sweep's folder
GRID_SWEEPER = "hydra_plugins.lstmlab_sweeper.GridSweeper"  # conf/hydra/sweeper/grid.yaml
REPLACED = ("ckpt_path=", "hydra.run.dir=")  # set here, whatever the run was started with
# Config keys (and the keys below them) that may differ from the run's own on resume: how long
# it trains, where it runs, what it reports. Early stopping's patience is not among them: the
# checkpoint restores it.
MAY_CHANGE = (
    "trainer.max_epochs",
    "trainer.max_steps",
    "trainer.max_time",
    "trainer.accelerator",
    "trainer.devices",
    "trainer.num_nodes",
    "trainer.strategy",
    "trainer.enable_progress_bar",
    "trainer.enable_model_summary",
    "trainer.log_every_n_steps",
    "data.num_workers",
    "data.pin_memory",
    "data.cache_dir",
    "data.local_dir",
    "callbacks.last_checkpoint.every_n_train_steps",
    "callbacks.figures",
    "callbacks.epoch_log",
    "callbacks.progress_bar",
    "logger",
    "paths",
    "ckpt_path",
    "test",
)


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
    config = config_options(run, extra)
    now = composed(config, [*overrides, *extra])
    if now is not None:  # else Hydra says what is wrong with an override when the run starts
        check_same_run(run, now)
        if finished(run, last):
            check_more_to_train(run, now.trainer)
    return [*config, *overrides, f"hydra.run.dir='{run}'", f"ckpt_path='{last}'", *extra]


def config_options(run: Path, args: list[str]) -> list[str]:
    """`--config-dir` and `--config-name` as the run was started with them (from its
    `.hydra/hydra.yaml`), unless `args` give their own."""
    hydra_yaml = run / ".hydra" / "hydra.yaml"
    given = {arg.split("=", 1)[0] for arg in args}
    if not hydra_yaml.is_file() or given & {"--config-dir", "-cd", "--config-name", "-cn"}:
        return []
    hydra = yaml.safe_load(hydra_yaml.read_text())["hydra"]
    sources = hydra.get("runtime", {}).get("config_sources", [])
    options = []
    for source in sources:
        if source.get("provider") == "command-line" and source.get("schema") == "file":
            if not Path(source["path"]).is_dir():
                raise ResumeError(
                    f"resume={run}: the run was started with --config-dir {source['path']}, "
                    "which is gone. Put it back, or give its new place: python train.py "
                    f"resume={run} --config-dir <folder>"
                )
            options.append(f"--config-dir={source['path']}")
    name = hydra.get("job", {}).get("config_name")
    return options + ([f"--config-name={name}"] if name and name != "train" else [])


def composed(config: list[str], overrides: list[str]) -> DictConfig | None:
    """The config Hydra will compose for the resumed run (from the config dir and name in
    `config`), without resolving it; None if Hydra refuses it."""
    options = dict(option.removeprefix("--").split("=", 1) for option in config)
    search = [f"file://{options['config-dir']}"] if "config-dir" in options else []
    try:
        with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
            return compose(
                options.get("config-name", "train"),
                [o for o in overrides if not o.startswith("hydra.")]
                + ([f"hydra.searchpath=[{','.join(search)}]"] if search else []),
            )
    except Exception:  # a bad override: Hydra reports it when the run starts
        return None


def check_same_run(run: Path, now: DictConfig) -> None:
    """A `ResumeError` naming every setting that differs from the run's own and may not
    change on resume; the changes that may are printed."""
    before = flat(OmegaConf.to_container(OmegaConf.load(run / ".hydra" / "config.yaml")))
    after = flat(OmegaConf.to_container(now))
    changed = [
        (key, before.get(key, NOT_SET), after.get(key, NOT_SET))
        for key in sorted(before.keys() | after.keys())
        if before.get(key, NOT_SET) != after.get(key, NOT_SET)
    ]
    refused = [change for change in changed if not may_change(change[0])]
    if refused:
        lines = "\n".join(
            f"  {key}: {shown(old)} in the run, {shown(new)} now" for key, old, new in refused
        )
        back = " ".join(shlex.quote(override(key, old)) for key, old, _ in refused)
        raise ResumeError(
            f"resume={run} continues that run, but these settings differ from its own "
            f"({run / '.hydra' / 'config.yaml'}):\n{lines}\nResume changes only how long it "
            "trains, where it runs and what it reports (trainer.max_epochs, trainer.devices, "
            "logger, ...). Drop those overrides, or start a new run with them (from this run's "
            f"weights: ckpt_path={run / 'checkpoints' / 'last.ckpt'}). If conf/ changed since "
            f"the run started, give the run's values: python train.py resume={run} {back}"
        )
    for key, old, new in changed:
        print(f"resume={run}: {key} {shown(old)} -> {shown(new)}")


def shown(value: Any) -> str:
    return value if value is NOT_SET else repr(value)


def may_change(key: str) -> bool:
    return any(key == allowed or key.startswith(f"{allowed}.") for allowed in MAY_CHANGE)


def flat(node: Any, prefix: str = "") -> dict[str, Any]:
    """A nested config as {"a.b.c": value}; lists are values."""
    if not isinstance(node, dict) or not node:
        return {prefix: node}
    children = {f"{prefix}.{key}" if prefix else str(key): child for key, child in node.items()}
    return {k: v for key, child in children.items() for k, v in flat(child, key).items()}


def override(key: str, value: Any) -> str:
    """The override that sets `key` to `value` (removes it where the run did not have it)."""
    if value is NOT_SET:
        return f"~{key}"
    if isinstance(value, str):
        return f"{key}={value}" if re.fullmatch(r"[\w./${}:-]+", value) else f"{key}='{value}'"
    return f"{key}={json.dumps(value)}"


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


def check_more_to_train(run: Path, now: DictConfig) -> None:
    """A `NothingToTrain` unless the trainer settings `now` raise the run's epoch or step
    limit."""
    before = yaml.safe_load((run / ".hydra" / "config.yaml").read_text())["trainer"]
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


def _limit(value: object) -> float:
    """A Trainer limit as a number: None and -1 mean no limit (and a value that is no number
    counts as a raised limit: the run refuses it, saying why)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        return float("inf")
    return value

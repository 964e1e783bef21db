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
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import yaml
from hydra import compose, initialize_config_dir

from lstmlab.runs.resolvers import CONFIG_DIR

KEY = "resume="
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
    if len(given) > 1 or any(arg in ("-m", "--multirun") for arg in args):
        raise ResumeError("resume= continues one run: give one run folder, without -m.")
    run = Path(given[0].removeprefix(KEY)).expanduser().resolve()
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
    extra = [arg for arg in args if arg not in given]
    if finished(run, last):
        check_more_to_train(run, [*overrides, *extra])
    return [*overrides, f"hydra.run.dir='{run}'", f"ckpt_path='{last}'", *extra]


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

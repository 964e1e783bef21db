"""Continuing an interrupted run: `python train.py resume=<run folder>`.

Hydra composes the config before any of our code runs, so the key is expanded on the command
line instead: into the run's own overrides (from its `.hydra/overrides.yaml`), its folder as
`hydra.run.dir` (checkpoints, `results.json` and TensorBoard events go on in the same place, so
TensorBoard shows one run), and `ckpt_path` at its `checkpoints/last.ckpt`. Overrides given
after `resume=` are applied last, e.g. `trainer.max_epochs=20` to train on for longer.
"""

from __future__ import annotations

from pathlib import Path

import yaml

KEY = "resume="
REPLACED = ("ckpt_path=", "hydra.run.dir=")  # set here, whatever the run was started with


class ResumeError(ValueError):
    """The folder given to `resume=` is not a run that can be continued."""


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
    return [*overrides, f"hydra.run.dir='{run}'", f"ckpt_path='{last}'", *extra]

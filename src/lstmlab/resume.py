"""Continuing an interrupted run: `python train.py resume=<run folder>`, and the seeding that
makes a continued run draw what an uninterrupted one would.

Hydra composes the config before any of our code runs, so the key is expanded on the command
line instead: into the run's own overrides (from its `.hydra/overrides.yaml`), its folder as
`hydra.run.dir` (checkpoints, `results.json` and TensorBoard events go on in the same place, so
TensorBoard shows one run), and `ckpt_path` at its `checkpoints/last.ckpt`. Overrides given
after `resume=` are applied last, e.g. `trainer.max_epochs=20` to train on for longer.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
import yaml

from lstmlab.data.batching import mixed_seed

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


class EpochSeed(L.Callback):
    """Seeds torch's global random stream (dropout, random initial states) at the first batch of
    every epoch from (seed, epoch). The training order already depends on (seed, epoch) only
    (`EpochShuffleSampler`), so a run continued from an end-of-epoch checkpoint trains exactly
    as an uninterrupted one: same batches, same dropout masks, same final metrics on CPU. (A
    checkpoint written mid-epoch, on SIGTERM, continues from its step, but the rest of that
    epoch draws other batches and masks.)"""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def on_train_batch_start(
        self, trainer: L.Trainer, module: L.LightningModule, batch: object, batch_idx: int
    ) -> None:
        if batch_idx == 0:
            torch.manual_seed(mixed_seed(self.seed, trainer.current_epoch))

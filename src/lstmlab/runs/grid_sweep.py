"""Re-running a grid sweep into its own folder continues it.

`python train.py -m <sweep> hydra.sweep.dir=<its folder>` (or `python train.py resume=<its
folder>`) skips the jobs whose `results.json` is complete, runs the others under their own job
numbers, so into their own folders, where a job that was interrupted continues from its
`checkpoints/last.ckpt` (`continue_in_place`, as `resume=` would), and runs the jobs that never
started. The folder's `multirun.yaml` records the sweep: a different one (other fixed
settings, other swept values) is refused before any job starts, since its jobs would take the
same numbers and folder names as the first sweep's and overwrite them; numbering past them
instead would mix two sweeps in one folder, whose `multirun.yaml` and `compare.py` table
describe one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from hydra.errors import CompactHydraException
from omegaconf import OmegaConf

from lstmlab.runs.resume import SWEEP_RECORD as RECORD
from lstmlab.runs.resume import finished


class SweepRefused(CompactHydraException):
    """The sweep folder holds another sweep, or runs that are no sweep's (Hydra prints the
    message alone and exits with status 1)."""


@dataclass
class Plan:
    """Which of a sweep's jobs (numbered from 0) to launch, and what to tell the user."""

    run: list[int]
    summary: str | None  # None: a new sweep


def plan(sweep_dir: Path, jobs: Sequence[Sequence[str]], record: list[str]) -> Plan:
    """The jobs of the sweep `jobs` (each a job's overrides, in Hydra's order) left to run in
    `sweep_dir`; `record` is the sweep's own overrides as `multirun.yaml` keeps them."""
    recorded = sweep_dir / RECORD
    if not recorded.is_file():
        if any(sweep_dir.glob("**/.hydra")):
            raise SweepRefused(
                f"hydra.sweep.dir={sweep_dir} holds runs but no sweep ({recorded} is missing), "
                "so a sweep there could overwrite them. Give a new folder for the sweep."
            )
        return Plan(list(range(len(jobs))), None)
    check_same_sweep(sweep_dir, record)
    folders = job_folders(sweep_dir)
    done = [n for n in range(len(jobs)) if n in folders and complete(folders[n])]
    resumed = [n for n in range(len(jobs)) if n in folders and n not in done]
    run = [n for n in range(len(jobs)) if n not in done]
    summary = (
        f"Continuing the sweep in {sweep_dir}: {len(done)} of {len(jobs)} jobs finished "
        f"(skipped), {len(resumed)} interrupted or failed (run again in their folders, from "
        f"their last.ckpt where they have one), {len(run) - len(resumed)} not started."
    )
    return Plan(run, summary)


def check_same_sweep(sweep_dir: Path, record: list[str]) -> None:
    """A `SweepRefused` unless the sweep's overrides are those `multirun.yaml` recorded."""
    before = list(OmegaConf.load(sweep_dir / RECORD).hydra.overrides.task)
    if before == record:
        return
    only_before = [o for o in before if o not in record] or ["(none)"]
    only_now = [o for o in record if o not in before] or ["(none)"]
    raise SweepRefused(
        f"hydra.sweep.dir={sweep_dir} holds another sweep (its overrides: {' '.join(before)}); "
        f"re-running a sweep into its folder continues it, so the overrides must be the same. "
        f"Only in that sweep: {' '.join(only_before)}; only in this one: {' '.join(only_now)}. "
        f"Continue that sweep with: python train.py resume={sweep_dir}, or give this one a new "
        "folder (leave hydra.sweep.dir out). Nothing was written."
    )


def job_folders(sweep_dir: Path) -> dict[int, Path]:
    """The sweep's job folders by job number (from the `hydra.yaml` Hydra writes in each)."""
    folders = {}
    for hydra_yaml in sweep_dir.glob("*/.hydra/hydra.yaml"):
        num = (yaml.safe_load(hydra_yaml.read_text()) or {}).get("hydra", {}).get("job", {})
        if isinstance(num.get("num"), int):
            folders[num["num"]] = hydra_yaml.parent.parent
    return folders


def complete(job: Path) -> bool:
    """True when the job finished: its `results.json` reads whole and describes the state in
    `last.ckpt` (where the job kept one)."""
    try:
        json.loads((job / "results.json").read_text())
    except (OSError, ValueError):
        return False
    last = job / "checkpoints" / "last.ckpt"
    return not last.is_file() or finished(job, last)


def contiguous(numbers: list[int], most: int | None) -> list[tuple[int, int]]:
    """`numbers` (ascending) as (first, count) runs of consecutive numbers of at most `most`,
    as a launcher numbers a batch from its first job."""
    runs: list[tuple[int, int]] = []
    for n in numbers:
        if runs and runs[-1][0] + runs[-1][1] == n and (most is None or runs[-1][1] < most):
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((n, 1))
    return runs

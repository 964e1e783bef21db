"""A run writes a folder of its own, with one writer, and a run refused before it wrote
anything leaves no trace.

A folder named on the command line (`hydra.run.dir=`) that holds another run's work
(checkpoints, results, events, an evaluation) is refused before Hydra writes there: a new run
would mix its files into that run's and replace its `.hydra/` recipe. Only `train.py
resume=<run>` writes into a run's folder again, to continue that very run.

Hydra creates the run folder and writes `.hydra/` and the job's log before any of our code
runs; a refusal (a value of the wrong type, a bad `ckpt_path`, unreadable data) comes after.
So a refused new run has its folder removed, a refused `resume=` gets its `.hydra/` files
back as they were (or its next `resume=` would repeat the refused overrides), and a refused job
of a multirun keeps its folder, where `compare.py` counts it as failed and its log says why.
A run that wrote anything of its own (checkpoints, events) is never touched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode

from lstmlab.io import atomic
from lstmlab.io.lock import LOCK_NAME, FolderLocked, one_writer

HYDRA_FOLDER = ".hydra"
_hydra_files_before: dict[Path, dict[str, str]] = {}  # folders named before Hydra wrote them


class FolderTaken(RuntimeError):
    """A new run was pointed at a folder that holds another run's work."""


def run_in_own_folder(
    hydra_main: Callable[[], object], args: list[str], resuming: bool = False
) -> None:
    """Runs an entry point's `@hydra.main` function with the folder its `args` name claimed
    first; a folder another process writes, or one holding another run's work (unless
    `resuming` that run), ends the program with the reason and nothing written."""
    try:
        with claimed(folder_given(args), resuming):
            hydra_main()
    except (FolderLocked, FolderTaken) as error:
        sys.exit(f"Error: {error}")


def folder_given(args: list[str]) -> Path | None:
    """The run folder named on the command line (`hydra.run.dir=`, as `resume=` sets it), or
    None when Hydra names a new one (a sweep names its jobs' folders itself)."""
    if any(arg in ("-m", "--multirun") for arg in args):
        return None
    for arg in reversed(args):  # Hydra applies the last
        key, _, value = arg.lstrip("+").partition("=")
        if key == "hydra.run.dir":
            return Path(value.strip("'\"")).expanduser().resolve()
    return None


@contextlib.contextmanager
def claimed(folder: Path | None, resuming: bool = False) -> Iterator[None]:
    """Holds the lock of `folder` (a folder named on the command line) before Hydra writes
    into it, refuses it if it holds another run's work (unless `resuming` that run), and
    remembers its `.hydra/` files, to put back if the run is refused."""
    if folder is None or not first_rank():
        yield
        return
    hydra = folder / HYDRA_FOLDER
    before = {f.name: f.read_text() for f in hydra.glob("*.yaml")} if folder.is_dir() else None
    with one_writer(folder):
        if not resuming:
            refuse_another_runs(folder)
        if before is not None:
            _hydra_files_before[folder] = before
        yield


def refuse_another_runs(folder: Path) -> None:
    """A `FolderTaken` if `folder` holds anything besides what Hydra writes for every run
    (a run that wrote nothing of its own can be started again in its folder)."""
    work = sorted(
        entry.name + ("/" if entry.is_dir() else "")
        for entry in folder.iterdir()
        if not _hydras(Path(entry.name))
    )
    if not work:
        return
    shown = ", ".join(work[:4]) + (", ..." if len(work) > 4 else "")
    resumable = (folder / "checkpoints" / "last.ckpt").is_file()
    continue_it = f" To continue that run: python train.py resume={folder}" if resumable else ""
    raise FolderTaken(
        f"hydra.run.dir={folder} holds another run's work ({shown}). A run writes a folder "
        "of its own, so nothing there is replaced: leave hydra.run.dir out (a new folder under "
        f"logs/) or name a new or empty folder.{continue_it}"
    )


@contextlib.contextmanager
def writing(folder: str | os.PathLike) -> Iterator[None]:
    """Holds the lock of the run's `folder` while the run writes to it (a no-op where
    `claimed` holds it already); undoes Hydra's writes if the run fails before writing
    anything of its own."""
    folder = Path(folder).resolve()
    if not first_rank():
        yield
        return
    with one_writer(folder):
        written = own_files(folder)
        try:
            yield
        except BaseException:
            if own_files(folder) == written:
                undo_hydra(folder)
            raise


def undo_hydra(folder: Path) -> None:
    """Leaves `folder` as it was before Hydra wrote to it (see the module's docstring)."""
    if folder not in _hydra_files_before:  # Hydra made it for this run
        if HydraConfig.get().mode != RunMode.MULTIRUN:
            shutil.rmtree(folder, ignore_errors=True)
        return
    before = _hydra_files_before[folder]
    for path in (folder / HYDRA_FOLDER).glob("*.yaml"):
        if path.name in before:
            atomic.write_text(path, before[path.name])
        else:
            path.unlink()


def own_files(folder: Path) -> dict[str, int]:
    """The run's files and their modification times, without those Hydra writes for every
    run (`.hydra/`, the job's log) and the lock."""
    return {
        str(path.relative_to(folder)): path.stat().st_mtime_ns
        for path in folder.rglob("*")
        if path.is_file() and not _hydras(path.relative_to(folder))
    }


def _hydras(relative: Path) -> bool:
    """Written by Hydra for every run (`.hydra/`, the job's log) or the lock."""
    top = relative.parts[0]
    return top in (HYDRA_FOLDER, LOCK_NAME) or (len(relative.parts) == 1 and top.endswith(".log"))


def first_rank() -> bool:
    """False in the extra processes of a DDP run, which write nothing of the run's own."""
    return os.environ.get("LOCAL_RANK", "0") == "0" and os.environ.get("NODE_RANK", "0") == "0"

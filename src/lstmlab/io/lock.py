"""One writer per folder: a lock file that says who holds it (pid and host).

Two processes writing one run folder (a `resume=` typed while the run still trains, a job
requeued while it still runs) interleave checkpoints and TensorBoard events. The lock is an
`fcntl.flock` on `<folder>/run.lock`, which the kernel releases when its process dies, so a lock
left by a killed process on this host is taken over (its pid is shown). The file also records
the pid and host: a lock written on another host cannot be checked from here (flock does not
reach across every network filesystem) and is respected, with how to remove it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

LOCK_NAME = "run.lock"
log = logging.getLogger(__name__)
_held: set[Path] = set()  # folders this process holds: taking one again is a no-op


class FolderLocked(RuntimeError):
    """Another process writes to the folder."""


def owner() -> dict[str, object]:
    """Who this process is, as written in a lock file."""
    return {"pid": os.getpid(), "host": socket.gethostname(), "command": " ".join(sys.argv)}


@contextlib.contextmanager
def one_writer(folder: str | os.PathLike) -> Iterator[None]:
    """Holds `<folder>/run.lock` for the block; a `FolderLocked` if another process holds it.
    Nested or repeated use in one process holds it once."""
    folder = Path(folder).resolve()
    if folder in _held:
        yield
        return
    fd = _acquire(folder / LOCK_NAME)
    _held.add(folder)
    try:
        yield
    finally:
        _held.discard(folder)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(folder / LOCK_NAME)  # while still locked: no one can take a removed file
        os.close(fd)


def _acquire(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd)
            os.close(fd)
            raise FolderLocked(_held_message(path, holder, alive=True)) from None
        if _same_file(fd, path):  # not a file its last holder removed meanwhile
            break
        os.close(fd)
    holder = _read(fd)  # the lock is free here: on this host, its holder has ended
    if holder and holder.get("host") != socket.gethostname():
        os.close(fd)
        raise FolderLocked(_held_message(path, holder, alive=False))
    if holder:
        log.warning(f"Took over {path}: process {holder.get('pid')}, which held it, has ended.")
    record = json.dumps({**owner(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}) + "\n"
    os.ftruncate(fd, 0)
    os.pwrite(fd, record.encode(), 0)
    os.fsync(fd)
    return fd


def _read(fd: int) -> dict:
    try:
        return json.loads(os.pread(fd, 65536, 0).decode() or "{}")
    except (ValueError, UnicodeDecodeError):
        return {}


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


def _held_message(path: Path, holder: dict, alive: bool) -> str:
    who = (
        f"process {holder.get('pid', '?')} on host {holder.get('host', '?')} "
        f"(since {holder.get('since', '?')}: {holder.get('command', '?')})"
    )
    if alive:
        return (
            f"{path.parent} is being written by {who}. One process writes a run folder at a "
            "time: wait for it to finish (or stop it), then run again."
        )
    return (
        f"{path.parent} is locked by {who}, which cannot be checked from this host. If that "
        f"process no longer runs, delete {path} and run again."
    )

"""Writing a file whole or not at all: a temporary file in the destination folder, flushed and
fsynced, then `os.replace`d onto the real name.

The temporary file must be in the destination folder: a rename is atomic only within one
filesystem, and across filesystems (the system temporary folder to a scratch or network disk)
`shutil.move` falls back to a copy, which a full disk cuts short under the real name. On any
failure the temporary file is removed and the previous file, if any, stays as it was.
Folders (the data cache, an export) are built the same way: beside their destination, then
renamed whole.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO

STAGING = ".tmp-"  # folders being built: .tmp-<name>-<random>-<pid>@<host>
HOST = socket.gethostname()


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", **options) -> Iterator[IO]:
    """A file object that becomes `path` only when the `with` block ends without an error."""
    with atomic_path(path) as tmp, open(tmp, mode, **options) as file:
        yield file


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary file name beside `path`, for writers that take a name (`datasets`,
    `tokenizers`): the file becomes `path` only when the `with` block ends without an error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.tmp"  # not created: some
    try:  # writers (datasets) would read an existing file as a finished one
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:  # Ctrl-C included: no temporary file is left behind
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_folder(path.parent)  # the rename itself survives a power cut


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike, replace: bool = False) -> Iterator[Path]:
    """A temporary folder beside `path` that becomes `path` in one rename when the `with`
    block ends without an error. With `replace`, an existing `path` gives way; without, a
    `path` another process published meanwhile is kept (and this one dropped). Folders left by
    a killed process (named after its pid) are removed first."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_abandoned(path)
    tmp = path.parent / f"{STAGING}{path.name}-{uuid.uuid4().hex[:8]}-{os.getpid()}@{HOST}"
    tmp.mkdir()
    try:
        yield tmp
        for file in (p for p in tmp.rglob("*") if p.is_file()):
            _fsync(file)
        _publish(tmp, path, replace)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def remove_abandoned(path: Path) -> None:
    """Removes the staging folders of `path` whose process, on this host, has ended."""
    for folder in path.parent.glob(f"{STAGING}{path.name}-*-*@*"):
        pid, host = folder.name.rsplit("-", 1)[1].split("@", 1)
        if host == HOST and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _publish(tmp: Path, path: Path, replace: bool) -> None:
    old = path.parent / f"{STAGING}{path.name}-old-{uuid.uuid4().hex[:8]}"
    if replace and path.exists():
        path.rename(old)
    try:
        tmp.rename(path)
    except OSError:
        if replace or not path.is_dir():
            raise
    finally:
        shutil.rmtree(old, ignore_errors=True)
    _fsync_folder(path.parent)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """`Path.write_bytes`, whole or not at all."""
    with atomic_open(path, "wb") as file:
        file.write(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    """`Path.write_text` (UTF-8), whole or not at all."""
    with atomic_open(path, "w", encoding="utf-8") as file:
        file.write(text)


def _fsync(path: str | os.PathLike) -> None:
    """Makes a file's content durable: an error (a full disk seen only now, on a network
    filesystem) fails the write."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_folder(folder: Path) -> None:
    """Makes the folder's new entry durable; some filesystems cannot open a folder: skipped."""
    with contextlib.suppress(OSError):
        _fsync(folder)

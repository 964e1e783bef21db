"""Writing a file whole or not at all: a temporary file in the destination folder, flushed and
fsynced, then `os.replace`d onto the real name.

The temporary file must be in the destination folder: a rename is atomic only within one
filesystem, and across filesystems (the system temporary folder to a scratch or network disk)
`shutil.move` falls back to a copy, which a full disk cuts short under the real name. On any
failure the temporary file is removed and the previous file, if any, stays as it was.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

FILE_MODE = 0o644  # what a plain open() gives under the usual umask (mkstemp gives 0o600)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", **options) -> Iterator[IO]:
    """A file object that becomes `path` only when the `with` block ends without an error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, mode, **options) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:  # Ctrl-C included: no temporary file is left behind
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_folder(path.parent)  # the rename itself survives a power cut


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """`Path.write_bytes`, whole or not at all."""
    with atomic_open(path, "wb") as file:
        file.write(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    """`Path.write_text` (UTF-8), whole or not at all."""
    with atomic_open(path, "w", encoding="utf-8") as file:
        file.write(text)


def _fsync_folder(folder: Path) -> None:
    """Makes the folder's new entry durable; some filesystems cannot open a folder: skipped."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)

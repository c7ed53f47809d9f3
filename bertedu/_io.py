"""One way to write a file so that a crash never leaves half of it (used by every writer in bertedu)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Callable


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system lets us open a directory
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary file in the same directory, then rename it over ``path``.

    ``os.replace`` is atomic on POSIX and Windows, so a reader sees the old file or the new one, never half
    of one, whenever the process dies. The temporary file is removed if ``write`` raises.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    _fsync_dir(path.parent)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """:func:`atomic_write` for a UTF-8 text file."""
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))

"""The project's edges: one way to write a file so that a crash never leaves half of it (used by every writer
in bertedu), and the argument parser of every command line (an error is one line naming the flag)."""

from __future__ import annotations

import argparse
import contextlib
import os
from pathlib import Path
from typing import Callable, NoReturn


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


# ----------------------------------------------------------------------------- resumable runs
LATEST = "latest.json"


def write_step_file(folder: str | os.PathLike[str], step: int, state: dict, keep: int) -> Path:
    """Save ``state`` as ``folder/step-XXXXXXX.pt`` atomically, then point ``folder/latest.json`` at it (last,
    so a crash mid-save leaves the previous checkpoint as the latest); keep the newest ``keep`` files."""
    import json

    import torch

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"step-{step:07d}.pt"
    atomic_write(folder / name, lambda tmp: torch.save(state, tmp))
    atomic_write_text(folder / LATEST, json.dumps({"step": step, "file": name}))
    for old in sorted(folder.glob("step-*.pt"))[:-max(1, keep)]:  # zero-padded names sort by step
        old.unlink()
    return folder / name


def latest_step_file(folder: str | os.PathLike[str]) -> Path | None:
    """The file ``folder/latest.json`` points at, or None when there is no checkpoint yet."""
    import json

    pointer = Path(folder) / LATEST
    if not pointer.is_file():
        return None
    path = pointer.parent / json.loads(pointer.read_text(encoding="utf-8"))["file"]
    if not path.is_file():
        raise FileNotFoundError(f"{pointer} points at {path.name}, which is missing; delete the pointer to "
                                f"start over or restore the file")
    return path


class DictConfig:
    """``to_dict`` / ``from_dict`` for a settings dataclass (unknown keys in a saved dict are ignored)."""

    def to_dict(self) -> dict:
        import dataclasses

        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, values: dict):  # noqa: ANN206
        import dataclasses

        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in values.items() if k in known})


class OneLineParser(argparse.ArgumentParser):
    """argparse, but an error is a single line naming the flag (no usage block):
    ``prog: error: argument --lr: ... (see --help)``."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")

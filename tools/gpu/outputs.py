"""What comes back from the device machine, and the record of the session.

The device tool returns at most 8 files from ``$OUT``, each at most 16 MiB, 64 MiB together, no deeper than two
folders (``$OUT/a/b/file`` comes back, ``$OUT/a/b/c/file`` does not), every file and folder named with letters,
digits, ``.``, ``_`` and ``-`` only (/work/.library/device/README.md, "Limits"). Anything else is silently left
behind, so :func:`check_return_limits` fails the session loudly instead.

    python tools/gpu/outputs.py OUT       # list OUT's files and sizes; exit 1 naming every broken limit
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

MAX_FILES = 8
MAX_FILE_BYTES = 16 * 2**20
MAX_TOTAL_BYTES = 64 * 2**20
MAX_FOLDERS_DOWN = 2
NAME = re.compile(r"^[A-Za-z0-9._-]+$")


def returned_files(root: str | os.PathLike[str]) -> list[tuple[str, int]]:
    """(path relative to ``root``, bytes) of every entry under ``root`` that is not a folder, sorted."""
    root = Path(root)
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + [d for d in dirnames if (Path(dirpath) / d).is_symlink()]:
            path = Path(dirpath) / name
            out.append((path.relative_to(root).as_posix(), path.lstat().st_size))
    return sorted(out)


def check_return_limits(root: str | os.PathLike[str]) -> list[str]:
    """Every way ``root`` breaks the device tool's return limits (an empty list: all of it comes back)."""
    root = Path(root)
    if not root.is_dir():
        return [f"{root} is not a folder"]
    problems = []
    files = returned_files(root)
    if len(files) > MAX_FILES:
        problems.append(f"{len(files)} files, more than {MAX_FILES}: {', '.join(f for f, _ in files)}")
    total = sum(size for _, size in files)
    if total > MAX_TOTAL_BYTES:
        problems.append(f"{total / 2**20:.1f} MiB in all, more than {MAX_TOTAL_BYTES // 2**20} MiB")
    for rel, size in files:
        path = root / rel
        parts = rel.split("/")
        if size > MAX_FILE_BYTES:
            problems.append(f"{rel}: {size / 2**20:.2f} MiB, more than {MAX_FILE_BYTES // 2**20} MiB")
        if len(parts) - 1 > MAX_FOLDERS_DOWN:
            problems.append(f"{rel}: {len(parts) - 1} folders down, at most {MAX_FOLDERS_DOWN} come back")
        if bad := [p for p in parts if not NAME.match(p)]:
            problems.append(f"{rel}: name {bad[0]!r} has characters other than letters, digits, '.', '_', '-'")
        if path.is_symlink() or not path.is_file():
            problems.append(f"{rel}: not a plain file (links and special files do not come back)")
    return problems


def update_record(path: str | os.PathLike[str], **items: Any) -> dict[str, Any]:
    """Merge ``items`` into the JSON object at ``path`` (created if missing), written via a temporary file."""
    path = Path(path)
    record = json.loads(path.read_text()) if path.is_file() else {}
    record.update(items)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=2, default=str) + "\n")
    os.replace(tmp, path)
    return record


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python tools/gpu/outputs.py OUT", file=sys.stderr)
        return 2
    files = returned_files(args[0])
    for rel, size in files:
        print(f"  {size / 2**20:9.3f} MiB  {rel}")
    print(f"  {sum(s for _, s in files) / 2**20:9.3f} MiB  in {len(files)} files "
          f"(limits: {MAX_FILES} files, {MAX_FILE_BYTES // 2**20} MiB each, {MAX_TOTAL_BYTES // 2**20} MiB in all)")
    problems = check_return_limits(args[0])
    for problem in problems:
        print(f"run_device: RETURN LIMIT BROKEN: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

"""Run HERE (not on the device) right before the device call: put what the session needs into ``.gpu/``.

The device machine gets the working tree (tracked files and untracked files git does not ignore) and the paths
named in ``carry``, 64 MiB in all; not ``../shared`` beside the checkout, and not the ignored ``.venv``. Its image
has Python 3.12 with torch+CUDA, transformers, safetensors, numpy and tqdm (/work/.library/device/KINDS.md), so
the only thing to carry is the pre-training corpus (~16 MB). This:

1. adds ``/.gpu/`` to ``.git/info/exclude`` (so the folder travels only when named in ``carry``);
2. copies the registered files of ``wikitext-2-raw``, ``gutenberg`` and ``speeches`` from ``$BERTEDU_DATA``
   into ``.gpu/data/`` (the shared data layout) and checks each file's sha256 against the registry;
3. writes ``.gpu/commit.json`` (HEAD and ``git status``: the device copy has no ``.git``);
4. adds up what will travel and fails if it is over 60 MiB.

    BERTEDU_DATA=/work/shared/data .venv/bin/python tools/gpu/prepare_carry.py
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CARRY = ROOT / ".gpu"
CORPORA = ("wikitext-2-raw", "gutenberg", "speeches")
LIMIT = 60 * 2**20  # the tool's limit is 64 MiB; keep a margin for files others add meanwhile


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout


def exclude_carry_folder() -> None:
    info = Path(git("rev-parse", "--git-path", "info/exclude").strip())
    info = info if info.is_absolute() else ROOT / info
    info.parent.mkdir(parents=True, exist_ok=True)
    lines = info.read_text().splitlines() if info.is_file() else []
    if "/.gpu/" not in lines:
        info.write_text("\n".join(lines + ["/.gpu/"]) + "\n")


def copy_corpora() -> int:
    from bertedu.datasets.download import dataset_path, sha256_file
    from bertedu.datasets.registry import dataset_info

    copied = 0
    for name in CORPORA:
        info, source = dataset_info(name), dataset_path(name, download=False)
        for f in info.files:
            dest = CARRY / "data" / info.folder / f.path
            if not dest.is_file() or sha256_file(dest) != f.sha256:
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source / f.path, dest)
            if sha256_file(dest) != f.sha256:
                raise SystemExit(f"prepare_carry: {dest} does not match its registered sha256")
            copied += dest.stat().st_size
    return copied


def travelling_bytes() -> int:
    """Tracked + untracked-not-ignored files (what the tool sends) plus ``.gpu``."""
    names = git("ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
    total = sum((ROOT / n).stat().st_size for n in names if n and (ROOT / n).is_file())
    return total + sum(p.stat().st_size for p in CARRY.rglob("*") if p.is_file())


def main() -> int:
    if not os.environ.get("BERTEDU_DATA"):
        os.environ["BERTEDU_DATA"] = str(ROOT.parent / "shared" / "data")
    sys.path.insert(0, str(ROOT))
    exclude_carry_folder()
    corpus = copy_corpora()
    status = [line for line in git("status", "--porcelain").splitlines() if line.strip()]
    (CARRY / "commit.json").write_text(json.dumps({"head": git("rev-parse", "HEAD").strip(), "status": status,
                                                   "prepared_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
                                                  indent=2) + "\n")
    total = travelling_bytes()
    print(f"prepare_carry: .gpu/data holds {corpus / 2**20:.1f} MiB of corpus; the call sends {total / 2**20:.1f} MiB "
          f"(limit 64 MiB); {len(status)} files differ from HEAD (recorded in .gpu/commit.json)")
    if total > LIMIT:
        print(f"prepare_carry: {total / 2**20:.1f} MiB is over {LIMIT // 2**20} MiB: ignore or remove large "
              f"untracked files first", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Keep every chapter's Colab setup cell in sync with ``_config.yml`` (the one place for repo URL and branch).

    python tools/sync_colab.py            # rewrite the first code cell of every book/*.ipynb
    python tools/sync_colab.py --check    # exit 1 (and name the chapters) if any is out of sync

The setup cell installs bertedu (with the book extras) from the repository and branch in ``_config.yml``
when the notebook runs in Google Colab, and does nothing anywhere else (local Jupyter, CI, nbval).
It clones the repository because chapters also read the project's ``data/`` folder (quizzes, toy texts).
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import yaml

from bertedu._io import OneLineParser

ROOT = Path(__file__).resolve().parent.parent
TAG = "colab-setup"

TEMPLATE = '''# Setup: in Google Colab, install bertedu and its book extras; anywhere else this cell does nothing.
# (Written by tools/sync_colab.py from _config.yml: change the repository there, not here.)
import sys

if "google.colab" in sys.modules:
    import os
    import subprocess

    repo_dir = "/content/bertedu"
    if not os.path.isdir(repo_dir):
        subprocess.run(["git", "clone", "--depth", "1", "--branch", "{branch}", "{url}", repo_dir], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", repo_dir + "[book]"], check=True)
    os.chdir(repo_dir + "/book")  # chapters read ../data (quizzes, toy texts), like a local checkout'''


def setup_cell_source(config_path: Path = ROOT / "_config.yml") -> str:
    """The setup cell's source for the repository URL and branch written in ``_config.yml``."""
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    repo = config.get("repository") or {}
    url, branch = repo.get("url"), repo.get("branch")
    if not url or not branch:
        raise ValueError(f"{config_path}: repository.url and repository.branch must both be set")
    return TEMPLATE.format(url=url.rstrip("/") + ".git", branch=branch)


def chapters(book_dir: Path = ROOT / "book") -> list[Path]:
    """Every chapter notebook of the book, in name order."""
    return sorted(p for p in book_dir.glob("[0-9][0-9]_*.ipynb"))


def sync(path: Path, source: str, check: bool) -> bool:
    """Make (or, with ``check``, test) the first code cell equal ``source``; True if it already was."""
    nb = nbformat.read(path, as_version=4)
    cell = next((c for c in nb.cells if c.cell_type == "code"), None)
    if cell is None:
        raise ValueError(f"{path.name}: no code cell; the first code cell must be the Colab setup cell")
    tags = cell.metadata.get("tags", [])
    in_sync = cell.source == source and TAG in tags
    if not in_sync and not check:
        cell.source = source
        cell.metadata["tags"] = tags + [TAG] if TAG not in tags else tags
        nbformat.write(nb, path)
    return in_sync


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(description="sync the Colab setup cell of every chapter with _config.yml")
    parser.add_argument("--check", action="store_true", help="only check; exit 1 if a chapter is out of sync")
    parser.add_argument("notebooks", nargs="*", type=Path, help="chapters to handle (default: book/NN_*.ipynb)")
    args = parser.parse_args(argv)
    source = setup_cell_source()
    stale = [p for p in (args.notebooks or chapters()) if not sync(p, source, args.check)]
    if args.check and stale:
        print("sync_colab: out of sync with _config.yml (run `python tools/sync_colab.py`): "
              + ", ".join(p.name for p in stale))
        return 1
    print(f"sync_colab: {'checked' if args.check else 'updated'} {len(args.notebooks or chapters())} chapter(s)"
          + (f", rewrote {len(stale)}" if stale and not args.check else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m bertedu.study``: write and check the study appendices (issue 12).

    python -m bertedu.study flashcards [--out data/study/flashcards.tsv]   # the Anki deck
    python -m bertedu.study glossary [--out book/glossary.md]              # the glossary page
    python -m bertedu.study pages [--execute] [--page flashcards ...]     # the appendix notebooks
    python -m bertedu.study check                                          # is anything stale? (exit 1)
    python -m bertedu.study all [--execute]                                # all three writers

A new knowledge card, quiz or bug entry makes ``check`` (and tests/test_study.py) fail until the writers
are rerun; ``pages --execute`` also runs the notebooks (about a minute on one busy core).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bertedu.study import flashcards as fc
from bertedu.study import glossary as gl
from bertedu.study import pages as pg
from bertedu._io import OneLineParser


def _parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m bertedu.study", description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=None, help="the checkout (default: this one)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("flashcards", help="write the Anki TSV of every knowledge-card row")
    p.add_argument("--out", type=Path, default=None, help="default: data/study/flashcards.tsv")
    p = sub.add_parser("glossary", help="validate data/study/glossary.json and write book/glossary.md")
    p.add_argument("--out", type=Path, default=None, help="default: book/glossary.md")
    p = sub.add_parser("pages", help="write book/flashcards.ipynb, book/quiz_bank.ipynb, book/bug_hunt.ipynb")
    p.add_argument("--execute", action="store_true", help="also run them (needed before committing)")
    p.add_argument("--page", action="append", choices=pg.PAGES, help="only this page (repeatable)")
    sub.add_parser("check", help="exit 1 if the TSV, the glossary page or a notebook is stale")
    p = sub.add_parser("all", help="flashcards + glossary + pages")
    p.add_argument("--execute", action="store_true", help="also run the notebooks")
    return parser


def stale(root: Path | None) -> list[str]:
    """Every generated file that differs from what the writers produce now, and glossary problems."""
    base = root or fc.REPO
    out = []
    tsv = base / "data" / "study" / "flashcards.tsv"
    if not tsv.is_file() or tsv.read_text(encoding="utf-8") != fc.to_anki_tsv(fc.flashcards(root)):
        out.append("data/study/flashcards.tsv (run: python -m bertedu.study flashcards)")
    glossary = gl.load_glossary(base / "data" / "study" / "glossary.json")
    page = base / "book" / "glossary.md"
    if not page.is_file() or page.read_text(encoding="utf-8") != gl.glossary_markdown(glossary, root):
        out.append("book/glossary.md (run: python -m bertedu.study glossary)")
    out += [f"{p} (run: python -m bertedu.study pages --execute)" for p in pg.stale_pages(root)]
    new, gone = gl.unexplained_usage(glossary, root)
    out += gl.card_term_problems(glossary, root) + gl.chapter_problems(glossary, root) + new
    out += [f"glossary known_exceptions: {g} no longer occurs (remove it)" for g in gone]
    return out


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    root = args.root
    if root is not None and not (root / "data" / "cards").is_dir():
        print(f"error: --root {root} has no data/cards folder (give the checkout's root)", file=sys.stderr)
        return 2
    if args.command in ("flashcards", "all"):
        out = getattr(args, "out", None) or (root or fc.REPO) / "data" / "study" / "flashcards.tsv"
        print(f"{out}: {fc.write_tsv(out, root)} flashcards")
    if args.command in ("glossary", "all"):
        try:
            n = gl.write_glossary_page(getattr(args, "out", None), root)
        except ValueError as error:
            print(f"error: data/study/glossary.json: {error}", file=sys.stderr)
            return 2
        print(f"book/glossary.md: {n} terms")
    if args.command in ("pages", "all"):
        for path in pg.write_pages(root, execute=args.execute, pages=tuple(getattr(args, "page", None) or pg.PAGES)):
            print(f"{path}: written{' and executed' if args.execute else ' (not executed: run with --execute)'}")
    if args.command == "check":
        problems = stale(root)
        for p in problems:
            print(f"stale: {p}")
        print("all study appendices are up to date" if not problems else f"{len(problems)} problem(s)")
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())

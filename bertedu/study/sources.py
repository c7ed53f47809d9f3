"""The chapters, their knowledge cards and their quizzes, in the order a reader meets them.

The chapters (``book/NN_slug.ipynb``) are read, never imported or run: each code cell is parsed with
:mod:`ast` and every call of ``knowledge_card(... "cards" / "<stem>.json", title=..., title_zh=...)`` and
``quiz("<bank>")`` is collected in reading order, so the appendices show the cards under the titles the
chapters give them.  A card or quiz file that no chapter shows yet (a chapter still being written) is
still collected: it goes to the chapter its ``NN_`` prefix names, after the ones the chapter shows.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parents[2]   # bertedu/study/sources.py -> the checkout
_NN = re.compile(r"^(\d\d)_")


@dataclass(frozen=True)
class CardSet:
    """One knowledge card: a JSON list of ``(term_en, term_zh, text_en, text_zh)`` rows."""

    stem: str                  # "07_next_sentence_half" (data/cards/<stem>.json)
    chapter: int               # 7
    title: str                 # as the chapter shows it
    title_zh: str
    rows: tuple[tuple[str, str, str, str], ...]
    shown: bool = True         # False: no chapter calls knowledge_card on this file (yet)


@dataclass(frozen=True)
class QuizBank:
    """One quiz bank of ``data/quizzes/`` (``name`` as ``quiz(name)`` takes it)."""

    name: str                  # "07_next_sentence_check1", "07_next_sentence", "checks/..."
    chapter: int
    check: bool                # a quick check inside the chapter (else the end-of-chapter quiz)
    shown: bool = True


@dataclass
class Chapter:
    """A chapter of the book and what it shows, in reading order."""

    number: int
    slug: str                  # "07_next_sentence" ("" when only data files name the chapter)
    title: str                 # "Next sentence prediction" (the notebook's H1 without its number)
    cards: list[CardSet] = field(default_factory=list)
    quizzes: list[QuizBank] = field(default_factory=list)


def chapter_number(stem: str) -> int | None:
    """``"07_next_sentence_half"`` -> 7; None for a name without an ``NN_`` prefix."""
    m = _NN.match(Path(stem).name)
    return int(m.group(1)) if m else None


def is_check_bank(name: str) -> bool:
    """Same rule as :func:`bertedu.notebook.quiz.is_check_bank` (a quick check, not the chapter quiz)."""
    return bool(re.search(r"_check\d*$", name)) or name.startswith("checks/")


def _cells(notebook: Path) -> Iterator[tuple[str, str]]:
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    for cell in nb.get("cells", []):
        source = cell.get("source", "")
        yield cell.get("cell_type", ""), "".join(source) if isinstance(source, list) else source


def _title(notebook: Path) -> str:
    for kind, text in _cells(notebook):
        if kind == "markdown":
            for line in text.splitlines():
                if line.startswith("# "):
                    return re.sub(r"^\d+\.\s*", "", line[2:].strip())
    return notebook.stem


def _calls(code: str) -> Iterator[ast.Call]:
    """Every call in a code cell (cells with IPython magics are skipped line by line)."""
    code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in code.splitlines())
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node


def _name(call: ast.Call) -> str | None:
    f = call.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None


def _strings(node: ast.AST) -> list[str]:
    return [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def shown_in(notebook: Path) -> tuple[list[tuple[str, str, str]], list[str]]:
    """What one chapter shows: ``[(card stem, title, title_zh)]`` and ``[quiz bank]``, in reading order."""
    cards, quizzes = [], []
    for kind, code in _cells(notebook):
        if kind != "code":
            continue
        for call in sorted(_calls(code), key=lambda c: (c.lineno, c.col_offset)):
            name = _name(call)
            if name == "knowledge_card" and call.args:
                files = [s for s in _strings(call.args[0]) if s.endswith(".json")]
                kw = {k.arg: k.value.value for k in call.keywords
                      if isinstance(k.value, ast.Constant) and isinstance(k.value.value, str)}
                if files:
                    cards.append((Path(files[-1]).stem, kw.get("title", "Knowledge card"),
                                  kw.get("title_zh", "知识卡片")))
            elif name == "quiz" and call.args and isinstance(call.args[0], ast.Constant):
                quizzes.append(str(call.args[0].value))
    return cards, quizzes


def _rows(path: Path) -> tuple[tuple[str, str, str, str], ...]:
    rows = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(rows, list) or not all(isinstance(r, list) and len(r) == 4 for r in rows):
        raise ValueError(f"{path}: a card is a JSON list of [term_en, term_zh, text_en, text_zh] rows")
    return tuple(tuple(r) for r in rows)


def quiz_files(root: Path | None = None) -> list[str]:
    """Every bank name of ``data/quizzes`` (``NN_x`` and ``checks/NN_x``), sorted."""
    folder = (root or REPO) / "data" / "quizzes"
    names = [p.stem for p in folder.glob("*.json")]
    names += [f"checks/{p.stem}" for p in (folder / "checks").glob("*.json")]
    return sorted(names)


def card_files(root: Path | None = None) -> list[str]:
    """Every card stem of ``data/cards``, sorted."""
    return sorted(p.stem for p in ((root or REPO) / "data" / "cards").glob("*.json"))


def chapters(root: Path | None = None) -> list[Chapter]:
    """Every chapter with its cards and quizzes, in book order (see the module docstring)."""
    root = root or REPO
    found: dict[int, Chapter] = {}
    seen_cards: set[str] = set()
    seen_quizzes: set[str] = set()
    for nb in sorted((root / "book").glob("[0-9][0-9]_*.ipynb")):
        ch = found.setdefault(int(nb.name[:2]), Chapter(int(nb.name[:2]), nb.stem, _title(nb)))
        cards, quizzes = shown_in(nb)
        for stem, title, title_zh in cards:
            path = root / "data" / "cards" / f"{stem}.json"
            if path.is_file() and stem not in seen_cards:
                ch.cards.append(CardSet(stem, ch.number, title, title_zh, _rows(path)))
                seen_cards.add(stem)
        for name in quizzes:
            folder = root / "data" / "quizzes"
            if name not in seen_quizzes and ((folder / f"{name}.json").is_file()
                                             or (folder / "checks" / f"{name}.json").is_file()):
                ch.quizzes.append(QuizBank(name, ch.number, is_check_bank(name)))
                seen_quizzes.add(name)
    for stem in card_files(root):                       # files no chapter shows yet
        n = chapter_number(stem)
        if stem in seen_cards or n is None:
            continue
        ch = found.setdefault(n, Chapter(n, "", f"Chapter {n}"))
        ch.cards.append(CardSet(stem, n, f"Chapter {n} — {stem}", f"第 {n} 章 — {stem}",
                                _rows(root / "data" / "cards" / f"{stem}.json"), shown=False))
    for name in quiz_files(root):
        n = chapter_number(name)
        if name in seen_quizzes or n is None:
            continue
        ch = found.setdefault(n, Chapter(n, "", f"Chapter {n}"))
        ch.quizzes.append(QuizBank(name, n, is_check_bank(name), shown=False))
    return [found[n] for n in sorted(found)]

"""Every knowledge-card row of the book as a flashcard, and an Anki-importable TSV of them.

One flashcard per key point: a card row ``(term_en, term_zh, text_en, text_zh)`` of ``data/cards/``.  A
halfway card often repeats rows of the chapter's final card; a row whose English term and text already
appear in the same chapter is not repeated (the chapter's last card wins, being the final wording).

The TSV follows Anki's plain-text import rules (Anki 2.1.55+, "Importing > Text Files > File Headers"):
UTF-8, one note per line, ``#key:value`` header lines first -- ``#separator:tab``, ``#html:true`` (fields
are HTML: the cards' ``<code>``/``<i>`` survive and a line break is ``<br>``), ``#deck:bertedu`` and
``#tags column:3``; then ``front<TAB>back<TAB>tags`` with space-separated tags.  Fields never contain a
tab or a newline, and a ``"`` is written ``&quot;`` so Anki's CSV reader never sees a quoted field.
Math is ``$...$`` in the cards (MathJax on the book's pages) and becomes ``\\(...\\)``, Anki's MathJax.

    python -m bertedu.study flashcards --out data/study/flashcards.tsv
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from bertedu._io import atomic_write_text
from bertedu.study.sources import REPO, chapters

DECK = "bertedu"
HEADER = ("#separator:tab", "#html:true", f"#deck:{DECK}", "#tags column:3")
_MATH = re.compile(r"(?<!\\)\$(.+?)(?<!\\)\$")


@dataclass(frozen=True)
class Flashcard:
    """One key point: its card row and where it comes from."""

    chapter: int
    stem: str          # the card file, "07_next_sentence"
    title: str         # the card's title in the chapter
    title_zh: str
    term_en: str
    term_zh: str
    text_en: str
    text_zh: str

    @property
    def tags(self) -> list[str]:
        """Anki tags: the deck, the chapter, the card file (hierarchical ``::`` tags)."""
        return [DECK, f"{DECK}::ch{self.chapter:02d}", f"{DECK}::{self.stem}"]


def flashcards(root: Path | None = None) -> list[Flashcard]:
    """Every key point of every chapter's cards, chapter by chapter (see the module docstring)."""
    out: list[Flashcard] = []
    for chapter in chapters(root):
        seen: set[tuple[str, str]] = set()
        mine: list[Flashcard] = []
        for card in reversed(chapter.cards):          # the final card first: its wording wins
            for term_en, term_zh, text_en, text_zh in card.rows:
                if (term_en, text_en) in seen:
                    continue
                seen.add((term_en, text_en))
                mine.append(Flashcard(chapter.number, card.stem, card.title, card.title_zh,
                                      term_en, term_zh, text_en, text_zh))
        order = {c.stem: i for i, c in enumerate(chapter.cards)}   # back to reading order
        out += sorted(mine, key=lambda f: order[f.stem])
    return out


def anki_math(text: str) -> str:
    """``$x$`` -> ``\\(x\\)`` (Anki's MathJax delimiters); a literal ``\\$`` stays."""
    return _MATH.sub(lambda m: f"\\({m.group(1)}\\)", text)


def _field(text: str) -> str:
    """One TSV field: no tab, no newline, no bare double quote (see the module docstring)."""
    text = re.sub(r"\s*\n\s*", "<br>", text.strip()).replace("\t", " ")
    return anki_math(text).replace('"', "&quot;")


def front(card: Flashcard) -> str:
    """The question side: the term in both languages and the card it belongs to (unique per card)."""
    zh = "" if card.term_zh == card.term_en else f" · {card.term_zh}"   # "WordPiece", "AdamW": once
    return _field(f"<b>{card.term_en}</b>{zh}<br><small>{card.title} · {card.title_zh}</small>")


def back(card: Flashcard) -> str:
    """The answer side: the English line, a rule, the Chinese line."""
    return _field(f"{card.text_en}<hr>{card.text_zh}")


def to_anki_tsv(cards: list[Flashcard]) -> str:
    """The whole file: Anki's header lines, then one ``front<TAB>back<TAB>tags`` line per card."""
    fronts = [front(c) for c in cards]
    dupes = sorted({f for f in fronts if fronts.count(f) > 1})
    if dupes:   # Anki matches notes on their first field: two equal fronts would merge
        raise ValueError(f"two flashcards share a front (Anki would merge them): {dupes[0]}")
    lines = list(HEADER)
    lines += ["\t".join((f, back(c), " ".join(c.tags))) for f, c in zip(fronts, cards)]
    return "\n".join(lines) + "\n"


def write_tsv(out: str | Path, root: Path | None = None) -> int:
    """Write the TSV of every flashcard to ``out`` (atomically); return the number of cards."""
    cards = flashcards(root)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, to_anki_tsv(cards))
    return len(cards)


DEFAULT_TSV = REPO / "data" / "study" / "flashcards.tsv"

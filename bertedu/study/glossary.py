"""The book's glossary, English <-> 中文 (``data/study/glossary.json``), and its consistency checks.

The JSON holds ``terms`` -- each ``{"en", "zh", "chapter", "def_en", "def_zh"}`` plus optional
``also_en`` / ``also_zh`` (other spellings the book uses: plurals, abbreviations, the table's code name),
``avoid_zh`` (renderings the book must not use, e.g. 令牌 for token; regular expressions, so 词片(?!段) spares
整词片段) and ``strict`` -- and ``headings``:
the knowledge-card headings that are topics rather than terms ("Why subwords"), each with its Chinese
heading and the terms it teaches.

What "a term of the cards" means, precisely: every row of every ``data/cards/*.json`` starts with a
heading ``(term_en, term_zh)``.  Each heading must be **either** a glossary term (its ``en`` or one of its
``also_en``, ignoring case) whose Chinese is the card's ``term_zh`` (its ``zh`` or one of its ``also_zh``),
**or** a key of ``headings`` with the same Chinese, naming terms that exist.  So a new card row fails the
check until the glossary has it, and a glossary entry cannot drift from the Chinese the cards use.

Usage (:func:`usage_problems`): in every English/Chinese pair of the cards and quizzes (heading, text,
question, option, feedback), a ``strict`` term whose English occurs must have its Chinese (``zh`` or an
``also_zh``) in the Chinese text; and no Chinese text may contain an ``avoid_zh`` rendering.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bertedu.study.sources import REPO, card_files, quiz_files

GLOSSARY = REPO / "data" / "study" / "glossary.json"
_KEYS = {"en", "zh", "chapter", "def_en", "def_zh", "also_en", "also_zh", "avoid_zh", "strict"}
_TAG = re.compile(r"<[^>]+>")
_CODE = re.compile(r"<code>.*?</code>", re.S)   # identifiers, not prose: word_embeddings, tokenization.py


def load_glossary(path: str | Path | None = None) -> dict[str, Any]:
    """Read and validate the glossary; raise ValueError naming the first bad entry."""
    path = Path(path) if path is not None else GLOSSARY
    data = json.loads(path.read_text(encoding="utf-8"))
    validate_glossary(data)
    return data


def validate_glossary(data: Any) -> None:
    """Shape checks: fields, types, unique English names, headings that name existing terms."""
    if not isinstance(data, dict) or not isinstance(data.get("terms"), list):
        raise ValueError("the glossary is an object with a 'terms' list (and a 'headings' object)")
    names: set[str] = set()
    for i, t in enumerate(data["terms"]):
        where = f"glossary term {i + 1} ({t.get('en') if isinstance(t, dict) else t!r})"
        if not isinstance(t, dict) or set(t) - _KEYS:
            raise ValueError(f"{where}: an object with keys {sorted(_KEYS)}")
        for key in ("en", "zh", "def_en", "def_zh"):
            if not isinstance(t.get(key), str) or not t[key].strip():
                raise ValueError(f"{where}: '{key}' must be a non-empty string")
        if isinstance(t.get("chapter"), bool) or not isinstance(t.get("chapter"), int) or t["chapter"] < 1:
            raise ValueError(f"{where}: 'chapter' must be the number of the chapter that introduces it")
        for key in ("also_en", "also_zh", "avoid_zh"):
            if not all(isinstance(x, str) and x for x in t.get(key, [])):
                raise ValueError(f"{where}: '{key}' must be a list of non-empty strings")
        for spelling in [t["en"], *t.get("also_en", [])]:
            if spelling.casefold() in names:
                raise ValueError(f"{where}: '{spelling}' is already a spelling of another term")
            names.add(spelling.casefold())
    for heading, h in data.get("headings", {}).items():
        if not isinstance(h, dict) or not isinstance(h.get("zh"), str) or not h.get("terms"):
            raise ValueError(f"glossary heading {heading!r}: an object with 'zh' and a non-empty 'terms' list")
        unknown = [x for x in h["terms"] if x.casefold() not in names]
        if unknown:
            raise ValueError(f"glossary heading {heading!r} names terms that are not in the glossary: {unknown}")


def term_index(glossary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every English spelling (casefolded) -> its term."""
    return {s.casefold(): t for t in glossary["terms"] for s in [t["en"], *t.get("also_en", [])]}


def chinese_forms(term: dict[str, Any]) -> list[str]:
    return [term["zh"], *term.get("also_zh", [])]


def card_headings(root: Path | None = None) -> Iterator[tuple[str, str, str]]:
    """``(card stem, term_en, term_zh)`` for every row of every card."""
    for stem in card_files(root):
        rows = json.loads(((root or REPO) / "data" / "cards" / f"{stem}.json").read_text(encoding="utf-8"))
        for row in rows:
            yield stem, row[0], row[1]


def card_term_problems(glossary: dict[str, Any], root: Path | None = None) -> list[str]:
    """Card headings the glossary does not cover (see the module docstring); empty when consistent."""
    index, headings = term_index(glossary), glossary.get("headings", {})
    problems, used = [], set()
    for stem, en, zh in card_headings(root):
        term = index.get(en.casefold())
        if term is not None:
            if zh.casefold() not in [z.casefold() for z in chinese_forms(term)]:
                problems.append(f"{stem}: card heading {en!r} is {zh!r} in Chinese, the glossary says "
                                f"{term['zh']!r} (also {term.get('also_zh', [])})")
        elif en in headings:
            used.add(en)
            if headings[en]["zh"] != zh:
                problems.append(f"{stem}: card heading {en!r} is {zh!r}, glossary headings say {headings[en]['zh']!r}")
        else:
            problems.append(f"{stem}: card heading {en!r} / {zh!r} is neither a glossary term nor in 'headings'")
    problems += [f"glossary heading {h!r} is not a heading of any card (remove it)" for h in headings if h not in used]
    return problems


def text_pairs(root: Path | None = None) -> Iterator[tuple[str, str, str]]:
    """``(where, english, chinese)`` for every bilingual text of the cards and quizzes, HTML tags removed."""
    root = root or REPO
    plain = lambda s: html.unescape(_TAG.sub("", _CODE.sub(" ", s)))  # noqa: E731
    for stem, en, zh in card_headings(root):
        yield f"card {stem}: heading {en!r}", plain(en), plain(zh)
    for stem in card_files(root):
        for row in json.loads((root / "data" / "cards" / f"{stem}.json").read_text(encoding="utf-8")):
            yield f"card {stem}: row {row[0]!r}", plain(row[2]), plain(row[3])
    for name in quiz_files(root):
        for i, q in enumerate(json.loads((root / "data" / "quizzes" / f"{name}.json").read_text(encoding="utf-8"))):
            where = f"quiz {name}: question {i + 1}"
            yield where, plain(q["en"]), plain(q["zh"])
            for j, a in enumerate(q["answers"]):
                yield f"{where}, option {j + 1}", plain(a["en"]), plain(a["zh"])
                yield f"{where}, option {j + 1} feedback", plain(a["feedback_en"]), plain(a["feedback_zh"])


def english_pattern(spelling: str) -> re.Pattern[str]:
    """A whole-word match of one English spelling: case-insensitive when it is lower case; with capitals
    (acronyms: "LM", "NSP", "span QA") exact, except that a sentence may capitalise its first letter."""
    if not any(c.isupper() for c in spelling):
        body, flags = re.escape(spelling), re.IGNORECASE
    else:
        first = spelling[0]
        body = (f"[{first.lower()}{first.upper()}]" if first.isalpha() else re.escape(first)) + re.escape(spelling[1:])
        flags = 0
    return re.compile(rf"(?<![\w.-]){body}(?![\w-]|\.\w|\()", flags)


def usage_problems(glossary: dict[str, Any], root: Path | None = None) -> list[tuple[str, str, str]]:
    """``(where, term_en, message)`` wherever the cards and quizzes use a strict term's English without its
    Chinese, or write an avoided rendering."""
    strict = [(t, [english_pattern(s) for s in [t["en"], *t.get("also_en", [])]])
              for t in glossary["terms"] if t.get("strict")]
    avoid = [(t, a) for t in glossary["terms"] for a in t.get("avoid_zh", [])]
    problems = []
    for where, en, zh in text_pairs(root):
        for term, patterns in strict:
            if any(p.search(en) for p in patterns) and not any(z.casefold() in zh.casefold()
                                                               for z in chinese_forms(term)):
                problems.append((where, term["en"], f"uses {term['en']!r} but its Chinese has no "
                                                    f"{term['zh']!r}: {zh[:80]}"))
        for term, bad in avoid:
            if re.search(bad, zh):
                problems.append((where, term["en"], f"writes {re.search(bad, zh).group()!r}; the book's "
                                                    f"word for {term['en']!r} is {term['zh']!r}"))
    return problems


def unexplained_usage(glossary: dict[str, Any], root: Path | None = None) -> tuple[list[str], list[str]]:
    """Usage problems not listed in the glossary's ``known_exceptions``, and exceptions that no longer occur.

    ``known_exceptions`` records inconsistencies in files the glossary does not own (reported to their
    owners) as ``{"where", "term", "note"}``; once a text is fixed its exception must go, so the list
    cannot hide a new problem or outlive an old one.
    """
    known = {(e["where"], e["term"]) for e in glossary.get("known_exceptions", [])}
    found = usage_problems(glossary, root)
    new = [f"{w}: {m}" for w, t, m in found if (w, t) not in known]
    gone = sorted(f"{w} ({t})" for w, t in known - {(w, t) for w, t, _ in found})
    return new, gone


def chapter_text(number: int, root: Path | None = None) -> str | None:
    """Chapter ``number``'s prose (markdown cells, backticks removed), cards and quizzes; None if absent."""
    root = root or REPO
    books = sorted((root / "book").glob(f"{number:02d}_*.ipynb"))
    if not books:
        return None
    nb = json.loads(books[0].read_text(encoding="utf-8"))
    parts = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
             for c in nb["cells"] if c["cell_type"] == "markdown"]
    for folder in ("cards", "quizzes"):
        parts += [p.read_text(encoding="utf-8") for p in sorted((root / "data" / folder).glob(f"{number:02d}_*.json"))]
    return "\n".join(parts).replace("`", "")


def chapter_problems(glossary: dict[str, Any], root: Path | None = None) -> list[str]:
    """Terms whose chapter does not exist or never uses the term (its English or an ``also_en``)."""
    problems, texts = [], {}
    for t in glossary["terms"]:
        n = t["chapter"]
        if n not in texts:
            texts[n] = chapter_text(n, root)
        if texts[n] is None:
            problems.append(f"{t['en']!r}: chapter {n} does not exist (book/{n:02d}_*.ipynb)")
        elif not any(english_pattern(s).search(texts[n]) for s in [t["en"], *t.get("also_en", [])]):
            problems.append(f"{t['en']!r}: chapter {n} never uses it (nor {t.get('also_en', [])})")
    return problems


# --------------------------------------------------------------------------------------------- the page
GLOSSARY_PAGE = REPO / "book" / "glossary.md"
_CODE_TERM = re.compile(r"^\[.*\]$|_|\.py$|^##")


def _sort_key(term: dict[str, Any]) -> tuple[str, str]:
    return re.sub(r"^[^0-9A-Za-z]+", "", term["en"]).casefold(), term["en"]


def _letter(term: dict[str, Any]) -> str:
    first = _sort_key(term)[0][:1].upper()
    return first if first.isalpha() else "0–9"


def _label(term: dict[str, Any], taken: set[str]) -> str:
    slug = re.sub(r"[^0-9a-z]+", "-", term["en"].casefold()).strip("-") or "term"
    label, n = f"glossary-{slug}", 2
    while label in taken:
        label, n = f"glossary-{slug}-{n}", n + 1
    taken.add(label)
    return label


def _shown(text: str) -> str:
    """A term as the page writes it: tokens, code names and ``##`` in backticks (``## x`` is no heading)."""
    return f"`{text}`" if _CODE_TERM.search(text) else text


def _chapter_link(n: int, root: Path | None) -> str:
    books = sorted(((root or REPO) / "book").glob(f"{n:02d}_*.ipynb"))
    return f"[ch. {n}]({books[0].name})" if books else f"ch. {n}"


def glossary_markdown(glossary: dict[str, Any], root: Path | None = None) -> str:
    """book/glossary.md: English -> 中文 by letter (a definition list per term), then 中文 -> English."""
    terms = sorted(glossary["terms"], key=_sort_key)
    out = ["<!-- Written by `python -m bertedu.study glossary` from data/study/glossary.json: edit that, "
           "then rerun. -->", "", "# Glossary · 术语表", "",
           f"The {len(terms)} terms of the book in English and 中文, each with a one-line definition in both "
           "languages and the chapter that introduces it. The Chinese is the Chinese of the chapters, their "
           "knowledge cards and quizzes: 词元 for a token, 子词 for a WordPiece piece, 片段 for segment A/B, "
           "掩码 for masking, 微调 for fine-tuning. `tests/test_study.py` checks that every heading of every "
           "knowledge card is here with the same Chinese, and that the quizzes use these words.", "",
           "本书的全部术语（英文与中文），每个都附有中英文一句话定义和首次介绍它的章节。中文译名与各章、"
           "知识卡片和测验保持一致。", ""]
    taken: set[str] = set()
    letter = None
    for t in terms:
        if _letter(t) != letter:
            letter = _letter(t)
            out += [f"## {letter}", ""]
        zh = "" if t["zh"] == t["en"] else f" · {_shown(t['zh'])}"
        also = [a for a in t.get("also_en", []) if not a.casefold().startswith(t["en"].casefold())
                and not t["en"].casefold().startswith(a.casefold())]     # plurals and stems are noise
        alias = f" (also: {', '.join(_shown(a) for a in also)})" if also else ""
        out += [f"({_label(t, taken)})=", f"**{_shown(t['en'])}**{zh} · {_chapter_link(t['chapter'], root)}{alias}",
                f": {t['def_en']}", "", f"  {t['def_zh']}", ""]
    out += ["## 中文 → English", "", "In the order the book introduces them · 按本书介绍的顺序。", "",
            "| 中文 | English | 章 |", "|---|---|---|"]
    for t in sorted(terms, key=lambda t: (t["chapter"], _sort_key(t))):
        out.append(f"| {_shown(t['zh'])} | {_shown(t['en'])} | {t['chapter']} |")
    return "\n".join(out) + "\n"


def write_glossary_page(out: str | Path | None = None, root: Path | None = None) -> int:
    """Validate the glossary, write its page (atomically), return the number of terms."""
    from bertedu._io import atomic_write_text

    glossary = load_glossary((root or REPO) / "data" / "study" / "glossary.json")
    atomic_write_text(Path(out) if out is not None else (root or REPO) / "book" / "glossary.md",
                      glossary_markdown(glossary, root))
    return len(glossary["terms"])

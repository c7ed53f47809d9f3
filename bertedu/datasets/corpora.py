"""Corpus readers: turn the shared text files into *documents* of sentences (BERT paper, Section 3.1).

"It is critical to use a document-level corpus rather than a shuffled sentence-level corpus ...
in order to extract long contiguous sequences" (Section 3.1).  Next sentence prediction needs to
know which sentences follow each other (IsNext) and which come from *another* document (NotNext),
so every reader here returns ``list[list[str]]``: documents, each a list of sentences in order.

The readers are pure and deterministic: the same files give the same documents, in the same order.
The ``parse_*`` functions take strings (for tests and for the reader's own experiments); the
``read_*`` / ``*_documents`` functions find the files through :func:`bertedu.datasets.download.data_file`.
The fine-tuning readers (GLUE and the other tasks) live in :mod:`bertedu.datasets.glue` and
:mod:`bertedu.datasets.tasks`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple, Sequence

from bertedu.datasets.download import data_file
from bertedu.datasets.registry import dataset_info

# ---------------------------------------------------------------------------------------------
# Sentences
# ---------------------------------------------------------------------------------------------

# Words that end with "." without ending a sentence (case matters: "No. 5" but "he said no.").
_ABBREVIATIONS = frozenset(
    "Mr Mrs Ms Dr Prof Sr Jr St Mt No Nos Gen Col Capt Lt Sgt Cmdr Adm Rev Gov Sen Rep Hon Pres "
    "Fig Vol vs cf e.g i.e viz approx Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct Nov Dec".split())
# Candidate boundary: ., ! or ? (maybe closed by quotes/brackets), whitespace, then a capital,
# a digit or an opening quote/bracket.
_BOUNDARY = re.compile(r"[.!?]+[\"'\u201d\u2019)\]]*\s+(?=[A-Z0-9\"'\u201c\u2018(\[])")
_INITIALS = re.compile(r"(?:[A-Za-z]\.)*[A-Za-z]")  # "H" (an initial), "U.S", "e.g", "p.m"


def _keeps_going(text: str, end: int) -> bool:
    """True if the "." at ``text[end]`` belongs to an abbreviation or an initial."""
    start = text.rfind(" ", 0, end) + 1
    word = text[start:end].lstrip("\"'(\u201c\u2018[")
    return word in _ABBREVIATIONS or _INITIALS.fullmatch(word) is not None


def split_sentences(text: str) -> list[str]:
    """Split ``text`` into sentences with a few transparent rules (no model, no data).

    A sentence ends at ``.``, ``!`` or ``?`` (plus any closing quotes/brackets) that is followed
    by whitespace and then a capital letter, a digit or an opening quote.  A ``.`` does not end a
    sentence after a known abbreviation ("Mr.", "Dr.", "No.", "e.g."), a single-letter initial
    ("H. americanus", "G. K. Chesterton") or a dotted acronym ("U.S.", "p.m.") -- so "in the U.S.
    The" stays one sentence: the rules prefer a long sentence to a wrong cut.  Decimals such as
    "3.5" never split (no space after the dot).  Whitespace runs (line breaks of wrapped text)
    become single spaces.

    >>> split_sentences("Mr. Smith paid $3.50 in the U.S. shop. He left! Did he?")
    ['Mr. Smith paid $3.50 in the U.S. shop.', 'He left!', 'Did he?']
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    text = " ".join(text.split())
    sentences, start = [], 0
    for match in _BOUNDARY.finditer(text):
        punct = match.group().rstrip()
        if punct.rstrip("\"'\u201d\u2019)]") == "." and _keeps_going(text, match.start()):
            continue
        sentences.append(text[start:match.start() + len(punct)])
        start = match.end()
    if text[start:]:
        sentences.append(text[start:])
    return sentences


def _documents(paragraph_groups: list[list[str]]) -> list[list[str]]:
    """Paragraph groups -> documents of sentences, dropping empty documents."""
    docs = [[s for p in group for s in split_sentences(p)] for group in paragraph_groups]
    return [d for d in docs if d]


def _decode(path: Path) -> str:
    """File text as UTF-8 (else ISO-8859-1), with CRLF/CR line ends made LF."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return text.replace("\r\n", "\n").replace("\r", "\n")


# ---------------------------------------------------------------------------------------------
# WikiText (Merity et al., 2016): the book's stand-in for BERT's English Wikipedia
# ---------------------------------------------------------------------------------------------

class Article(NamedTuple):
    """One Wikipedia article of WikiText: its title and its paragraphs (section headings removed)."""

    title: str
    paragraphs: list[str]


_WIKI_MARKERS = re.compile(r" @([-,.])@ ")  # "1 @,@ 000" -> "1,000", "M @-@ 82" -> "M-82"
_WIKITEXT_SPLITS = ("valid", "test")


def parse_wikitext(text: str) -> list[Article]:
    """Parse WikiText *raw* text: " = Title = " starts an article, " = = Section = = " lines
    (any depth) are dropped, every other non-blank line is a paragraph.  WikiText's tokenisation
    markers " @-@ ", " @,@ " and " @.@ " are undone; its spaces around punctuation are kept.
    """
    articles: list[Article] = []
    for line in text.splitlines():
        line = _WIKI_MARKERS.sub(r"\1", line).strip()
        if not line:
            continue
        if line.startswith("= = ") and line.endswith(" = ="):
            continue  # a section heading, not a paragraph
        if line.startswith("= ") and line.endswith(" =") and len(line) > 4:
            articles.append(Article(line[2:-2].strip(), []))
        elif articles:
            articles[-1].paragraphs.append(line)
        else:  # text before any title: keep it in an untitled article
            articles.append(Article("", [line]))
    return articles


def read_wikitext(split: str = "valid") -> list[Article]:
    """Articles of WikiText-2 raw ``split`` ("valid" or "test"; the train split is not shared)."""
    if split not in _WIKITEXT_SPLITS:
        raise ValueError(f"split={split!r}: choose one of {_WIKITEXT_SPLITS}")
    return parse_wikitext(_decode(data_file("wikitext-2-raw", f"wiki.{split}.raw")))


def wikitext_documents(split: str = "valid") -> list[list[str]]:
    """WikiText as NSP documents: one article = one document, its sentences in order."""
    return _documents([a.paragraphs for a in read_wikitext(split)])


# ---------------------------------------------------------------------------------------------
# Project Gutenberg selections (NLTK): the book's stand-in for BooksCorpus
# ---------------------------------------------------------------------------------------------

GUTENBERG_BOOKS: tuple[str, ...] = tuple(f.path[:-4] for f in dataset_info("gutenberg").files)
# A one-line paragraph that opens a new chapter-like unit: CHAPTER/Book/VOLUME/Act/Scene headings,
# "IV. The Duel" (roman numeral + title), Whitman's "}  Poem title", "[BOOK I. ...]", Bible "3:1 ..."
_CHAPTER = re.compile(r"(\[?(CHAPTER|Chapter|BOOK|Book|VOLUME|Volume|ACT|Act|Actus|SCENE|Scene|Scena"
                      r"|Scoena)\b|[IVXLC]+\.(\s|$)|\}|\d+:1\s)")
_VERSE = re.compile(r"^\d+:\d+\s+")


def _paragraph_kind(paragraph: str) -> str:
    """How a paragraph is used: "chapter" (a heading: starts a new unit, dropped), "title"
    (dropped), "text" (kept) or "chapter+text" (a Bible verse N:1: starts a unit and is kept)."""
    if _VERSE.match(paragraph):
        return "chapter+text" if _CHAPTER.match(paragraph) else "text"
    one_line = "\n" not in paragraph
    if one_line and (_CHAPTER.match(paragraph) or (paragraph.upper() == paragraph
                                                  and any(c.isalpha() for c in paragraph))):
        return "chapter"
    if one_line and len(paragraph) <= 60 and paragraph[-1] not in ".!?\"':;,)":
        return "title"  # e.g. "The First Book of Moses:  Called Genesis", "Walt Whitman"
    return "text"


def parse_gutenberg(text: str, *, paragraphs_per_document: int | None = None) -> list[list[str]]:
    """Split one Gutenberg book into documents of sentences.

    Whole books are poor NSP documents (15 documents => every NotNext partner comes from one of
    14 books), so a document is a *chapter*: a new one starts at each chapter-like heading
    (CHAPTER / Book / VOLUME / Act / Scene headings, "IV. Title", a line in capitals, a
    Whitman poem title, a new Bible chapter "N:1").  Headings and short title lines are dropped;
    Bible verse numbers are removed.  With ``paragraphs_per_document=n`` each chapter is further
    cut into runs of at most ``n`` paragraphs (paragraphs are blocks separated by blank lines).
    The first line "[Title by Author Year]" is dropped.
    """
    if paragraphs_per_document is not None and (
            not isinstance(paragraphs_per_document, int) or paragraphs_per_document < 1):
        raise ValueError(f"paragraphs_per_document={paragraphs_per_document!r}: use None (whole "
                         "chapters) or a positive int")
    text = text.replace("\r\n", "\n")
    if text.startswith("["):
        text = text.split("\n", 1)[1] if "\n" in text else ""
    chapters: list[list[str]] = [[]]
    for block in re.split(r"\n[ \t]*\n", text):
        paragraph = block.strip()
        if not paragraph:
            continue
        kind = _paragraph_kind(paragraph)
        if kind.startswith("chapter") and chapters[-1]:
            chapters.append([])
        if kind.endswith("text"):
            chapters[-1].append(_VERSE.sub("", paragraph))
    n = paragraphs_per_document
    groups = [c[i:i + n] for c in chapters for i in range(0, len(c), n)] if n else chapters
    return _documents(groups)


def gutenberg_documents(books: list[str] | None = None, *,
                        paragraphs_per_document: int | None = None) -> list[list[str]]:
    """Documents of the shared Gutenberg books (all 15 by default), book by book in name order.

    ``books`` names files of :data:`GUTENBERG_BOOKS`, with or without ".txt" ("carroll-alice").
    See :func:`parse_gutenberg` for what a document is.
    """
    names = list(GUTENBERG_BOOKS) if books is None else [b.removesuffix(".txt") for b in books]
    unknown = [b for b in names if b not in GUTENBERG_BOOKS]
    if isinstance(books, str) or unknown:
        raise ValueError(f"books={books!r}: give a list of names from {list(GUTENBERG_BOOKS)}")
    docs: list[list[str]] = []
    for name in names:
        text = _decode(data_file("gutenberg", f"{name}.txt"))
        docs += parse_gutenberg(text, paragraphs_per_document=paragraphs_per_document)
    return docs


# ---------------------------------------------------------------------------------------------
# US presidential speeches (NLTK inaugural + state_union)
# ---------------------------------------------------------------------------------------------

_DATE = re.compile(r"^(January|February|March|April|May|June|July|August|September|October"
                   r"|November|December) \d{1,2}, \d{4}$")
_COLLECTIONS = ("inaugural", "state_union", "all")


def parse_speech(text: str) -> list[str]:
    """One speech -> its sentences.  Each non-blank line is a paragraph; header lines (all in
    capitals, like "PRESIDENT HARRY S. TRUMAN'S ADDRESS ...", or a bare date) are dropped."""
    lines = [line.strip() for line in text.splitlines()]
    keep = [ln for ln in lines if ln and ln.upper() != ln and not _DATE.match(ln)]
    return [s for p in keep for s in split_sentences(p)]


def speech_documents(collection: str = "all") -> list[list[str]]:
    """One speech = one document: "inaugural" (1789-2009), "state_union" (1945-2006) or "all"."""
    if collection not in _COLLECTIONS:
        raise ValueError(f"collection={collection!r}: choose one of {_COLLECTIONS}")
    files = [f.path for f in dataset_info("speeches").files if f.path.endswith(".txt")
             and collection in ("all", f.path.split("/")[0])]
    docs = [parse_speech(_decode(data_file("speeches", path))) for path in files]
    return [d for d in docs if d]


# ---------------------------------------------------------------------------------------------
# Everything together
# ---------------------------------------------------------------------------------------------

_SOURCES = ("wikitext-valid", "wikitext-test", "gutenberg", "speeches")


def pretraining_documents(sources: tuple[str, ...] | list[str] = _SOURCES, *, holdout: int = 0,
                          part: str = "train", drop_books: Sequence[str] = ()) -> list[list[str]]:
    """Documents for MLM + NSP pre-training from the chosen ``sources`` (in the order given).

    Held-out split: to measure pre-training honestly we need text the model never trained on, and
    it must be held out by *whole document* -- a held-out sentence whose neighbours were trained
    on leaks its context (and its NSP pairs).  With ``holdout=k`` every k-th WikiText article
    (the k-th, 2k-th, ... of each split) is held out: ``part="train"`` returns every document
    except those, ``part="heldout"`` only those.  ``holdout=0`` holds nothing out. ``drop_books`` leaves
    Gutenberg books out (e.g. ``["bible-kjv"]``, whose 1,189 chapters would otherwise be about half of all
    documents, and so of all NotNext partners).
    """
    dropped = [b.removesuffix(".txt") for b in drop_books]
    if isinstance(drop_books, str) or any(b not in GUTENBERG_BOOKS for b in dropped):
        raise ValueError(f"drop_books={drop_books!r}: give a list of names from {list(GUTENBERG_BOOKS)}")
    if isinstance(sources, str) or any(s not in _SOURCES for s in sources):
        raise ValueError(f"sources={sources!r}: give a tuple of names from {_SOURCES}")
    if not isinstance(holdout, int) or holdout < 0:
        raise ValueError(f"holdout={holdout!r}: use 0 (none) or k >= 1 (every k-th article)")
    if part not in ("train", "heldout") or (part == "heldout" and holdout == 0):
        raise ValueError(f"part={part!r}: use 'train', or 'heldout' together with holdout >= 1")
    docs: list[list[str]] = []
    for source in sources:
        if source.startswith("wikitext-"):
            wiki = wikitext_documents(source.split("-", 1)[1])
            held = [holdout > 0 and (i + 1) % holdout == 0 for i in range(len(wiki))]
            docs += [d for d, h in zip(wiki, held) if h == (part == "heldout")]
        elif part == "train":
            docs += (gutenberg_documents([b for b in GUTENBERG_BOOKS if b not in dropped])
                     if source == "gutenberg" else speech_documents("all"))
    return docs

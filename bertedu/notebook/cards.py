"""Bilingual tabs, knowledge cards, hidden solutions and paper quotes for the chapters.

Bilingual content is shown in two tabs, "English" and "中文", made of plain HTML radio buttons and CSS
only, so the tabs work on the static book page, in Jupyter and in Colab without a running kernel.
"""

from __future__ import annotations

import html
import json
import os
import re
from typing import Iterable, Sequence

from bertedu.notebook.display import check_text, display_html, stable_id


_TABS_CSS = (
    "<style>"
    ".bertedu-tabs{margin:.6em 0}"
    ".bertedu-tabs>input{position:absolute;opacity:0;pointer-events:none}"
    ".bertedu-tabs>label{display:inline-block;padding:.25em .9em;margin:0 .2em 0 0;border:1px solid #bbb;"
    "border-bottom:none;border-radius:6px 6px 0 0;background:#eee;color:#333;cursor:pointer;font-size:.95em}"
    ".bertedu-tabs>input:checked+label{background:#fff;font-weight:bold}"
    ".bertedu-tabs>.bertedu-panel{display:none;border:1px solid #bbb;border-radius:0 6px 6px 6px;"
    "padding:.6em .8em;background:#fff;color:#222}"
    ".bertedu-tabs>input:nth-of-type(1):checked~.bertedu-panel-en,"
    ".bertedu-tabs>input:nth-of-type(2):checked~.bertedu-panel-zh{display:block}"
    ".bertedu-card{border-collapse:collapse;width:100%;font-size:.95em}"
    ".bertedu-card th,.bertedu-card td{border:1px solid #ccc;padding:.35em .6em;text-align:left;vertical-align:top}"
    ".bertedu-card th{background:#f3f0fa}"
    "</style>"
)


def tabs_html(en_html: str, zh_html: str, key: str) -> str:
    """Two static tabs, "English" and "中文", around two HTML fragments.

    The tabs are two radio buttons and CSS (no JavaScript, no kernel): they work on the built book's
    page, in Jupyter and in Colab.  ``key`` must be unique on the page (it names the radio group).
    """
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", key or ""):
        raise ValueError(f"key must start with a letter and use only letters, digits, '-' or '_', got {key!r}")
    return (
        f'{_TABS_CSS}<div class="bertedu-tabs" id="{key}">'
        f'<input type="radio" name="{key}" id="{key}-en" checked><label for="{key}-en">English</label>'
        f'<input type="radio" name="{key}" id="{key}-zh"><label for="{key}-zh">中文</label>'
        f'<div class="bertedu-panel bertedu-panel-en" lang="en">{en_html}</div>'
        f'<div class="bertedu-panel bertedu-panel-zh" lang="zh">{zh_html}</div>'
        f'</div>'
    )


def knowledge_card_html(rows: Sequence[Sequence[str]], title: str = "Knowledge card",
                        title_zh: str = "知识卡片") -> str:
    """A bilingual summary table: rows of ``(term_en, term_zh, text_en, text_zh)``, in EN / 中文 tabs.

    Text may contain inline HTML (``<code>``, ``<b>``); it is inserted as written.
    """
    if isinstance(rows, (str, bytes)) or not isinstance(rows, Iterable):
        raise TypeError("rows must be a list of (term_en, term_zh, text_en, text_zh) tuples")
    rows = [tuple(r) for r in rows]
    if not rows:
        raise ValueError("rows must contain at least one (term_en, term_zh, text_en, text_zh) row")
    for i, r in enumerate(rows):
        if len(r) != 4 or not all(isinstance(x, str) and x.strip() for x in r):
            raise ValueError(f"row {i + 1} must be 4 non-empty strings (term_en, term_zh, text_en, text_zh), got {r!r}")
    check_text(title, "title")
    check_text(title_zh, "title_zh")

    def table(head: str, pairs: list[tuple[str, str]], cols: tuple[str, str]) -> str:
        body = "".join(f"<tr><th>{t}</th><td>{x}</td></tr>" for t, x in pairs)
        return (f'<div class="bertedu-card-title"><b>{head}</b></div><table class="bertedu-card">'
                f"<thead><tr><th>{cols[0]}</th><th>{cols[1]}</th></tr></thead><tbody>{body}</tbody></table>")

    en = table(html.escape(title), [(r[0], r[2]) for r in rows], ("Idea", "In one breath"))
    zh = table(html.escape(title_zh), [(r[1], r[3]) for r in rows], ("概念", "一句话"))
    return tabs_html(en, zh, stable_id("card", title, rows))


def knowledge_card(rows: Sequence[Sequence[str]] | str | os.PathLike, title: str = "Knowledge card",
                   title_zh: str = "知识卡片") -> None:
    """Display a bilingual knowledge card.

    ``rows`` is a list of ``(term_en, term_zh, text_en, text_zh)`` or the path of a JSON file holding such
    a list (e.g. ``data/cards/01_why_bert.json``).
    """
    if isinstance(rows, (str, os.PathLike)):
        with open(rows, encoding="utf-8") as f:
            rows = json.load(f)
    display_html(knowledge_card_html(rows, title, title_zh))


def solution_html(content: str, language: str = "python", summary: str = "Show solution / 查看答案") -> str:
    """A collapsed ``<details>`` block holding a solution (code or HTML/markdown-ish text).

    ``<details>`` needs no JavaScript: it opens on click in Jupyter, Colab and the built book.  In a
    markdown cell you can write the same by hand::

        <details><summary>Show solution / 查看答案</summary>

        ```python
        ...
        ```
        </details>
    """
    check_text(content, "content")
    if language not in ("python", "text", "html"):
        raise ValueError(f"language must be 'python', 'text' or 'html', got {language!r}")
    body = content if language == "html" else f"<pre><code>{html.escape(content.strip())}</code></pre>"
    return (f'<details class="bertedu-solution"><summary style="cursor:pointer;font-weight:bold">'
            f"{html.escape(summary)}</summary>{body}</details>")


def solution(content: str, language: str = "python", summary: str = "Show solution / 查看答案") -> None:
    """Display a hidden solution that opens on click (see :func:`solution_html`)."""
    display_html(solution_html(content, language, summary))


def paper_quote_html(text: str, section: str) -> str:
    """A short, exact quote of the BERT paper (Devlin et al., 2018) with its section number."""
    check_text(text, "text")
    check_text(section, "section")
    # "3.1" -> "§3.1"; named parts ("Abstract", "Appendix A.2") stay words
    where = f"§{html.escape(section)}" if section[0].isdigit() else html.escape(section)
    return (f'<blockquote class="bertedu-quote" style="border-left:4px solid #6b4fbb;margin:.5em 0;'
            f'padding:.3em .9em;background:#f7f5fc;color:#222">“{html.escape(text)}”'
            f'<br><small>— Devlin et al. (2018), {where}</small></blockquote>')


def paper_quote(text: str, section: str) -> None:
    """Display a quote of the paper with its section number (see :func:`paper_quote_html`)."""
    display_html(paper_quote_html(text, section))

"""The appendix notebooks, written from the data so that they list every card, quiz and bug.

``book/flashcards.ipynb``, ``book/quiz_bank.ipynb`` and ``book/bug_hunt.ipynb`` are *generated*: their cells
come from :func:`bertedu.study.sources.chapters` and :data:`bertedu.study.bughunt.BUGS`, and
``tests/test_study.py`` fails when a committed page's cells differ from what this module writes now (a new
card file, quiz or bug entry), or when the files its outputs show changed since it was written (``SOURCES``:
one more question in an existing bank changes no cell).  Then: ``python -m bertedu.study pages --execute``.  The pages call the
book's own helpers (``knowledge_card``, ``quiz``, ``show_source``), as the chapters do.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from bertedu.study.sources import REPO, Chapter, chapters

PAGES = ("flashcards", "quiz_bank", "bug_hunt")
HIDE_SOLUTION = {"tags": ["solution"], "jupyter": {"source_hidden": True, "outputs_hidden": True}}


def _md(text: str) -> dict[str, Any]:
    return {"cell_type": "markdown", "metadata": {}, "source": text.strip("\n")}


def _code(text: str, *tags: str, metadata: dict | None = None) -> dict[str, Any]:
    meta = dict(metadata) if metadata else ({"tags": list(tags)} if tags else {})
    return {"cell_type": "code", "metadata": meta, "source": text.strip("\n"), "outputs": [],
            "execution_count": None}


def colab_setup(root: Path | None = None) -> dict[str, Any] | None:
    """The chapters' Colab setup cell (written by tools/sync_colab.py), copied from the first chapter."""
    for nb in sorted(((root or REPO) / "book").glob("[0-9][0-9]_*.ipynb")):
        for cell in json.loads(nb.read_text(encoding="utf-8"))["cells"]:
            if "colab-setup" in cell.get("metadata", {}).get("tags", []):
                return _code("".join(cell["source"]), "colab-setup", "remove-cell")
    return None


def _heading(ch: Chapter) -> str:
    link = f" ([chapter {ch.number}]({ch.slug}.ipynb))" if ch.slug else ""
    return f"## {ch.number}. {ch.title}{link}"


def flashcards_cells(root: Path | None = None) -> list[dict[str, Any]]:
    from bertedu.study.flashcards import flashcards

    chs = chapters(root)
    n_cards = sum(len(c.cards) for c in chs)
    cells = [_md(f"""
# Flashcards · 知识卡片

**In one line:** every knowledge card of the book on one page, chapter by chapter, in English and 中文
(switch with the tabs) — {n_cards} cards, {len(flashcards(root))} key points. Read a card's left column,
say the right column out loud, then check.

**Take them with you.** The same key points, one flashcard each, are in an Anki deck:
{{download}}`flashcards.tsv <../data/study/flashcards.tsv>` (UTF-8, tab-separated). In Anki choose
*File → Import* and pick the file: its header lines set the separator (tab), HTML fields, the deck
(`bertedu`) and the tags column (`bertedu::ch06`, `bertedu::06_masked_lm`), so there is nothing to
configure. The front of a card is the term in both languages, the back the English line over the Chinese;
math, such as $\\mathrm{{softmax}}(QK^\\top/\\sqrt{{d}})\\,V$, is typeset here and by Anki's MathJax.
The deck is written by `python -m bertedu.study flashcards` from `data/cards/`, and a test fails if the
committed file falls behind the cards.

每张知识卡片都在这里，按章排列（用标签切换中英文）。同样的要点也做成了可导入 Anki 的卡组
（`flashcards.tsv`）：在 Anki 中选择“文件 → 导入”即可，分隔符、HTML、卡组和标签都已在文件头中设定。
""")]
    setup = colab_setup(root)
    cells += [setup] if setup else []
    cells.append(_code("from bertedu.notebook import knowledge_card, project_data_dir", "remove-cell"))
    for ch in chs:
        if not ch.cards:
            continue
        cells.append(_md(_heading(ch)))
        for card in ch.cards:
            cells.append(_code(f'knowledge_card(project_data_dir() / "cards" / "{card.stem}.json",\n'
                               f'               title={card.title!r},\n'
                               f'               title_zh={card.title_zh!r})', "remove-input"))
    return cells


def _bank_label(name: str, index: int) -> str:
    if re.search(r"_check\d*$", name) or name.startswith("checks/"):
        return f"**Quick check {index}** · 小测 {index}"
    return "**End-of-chapter quiz** · 章末测验"


def quiz_bank_cells(root: Path | None = None) -> list[dict[str, Any]]:
    chs = chapters(root)
    n = sum(len(c.quizzes) for c in chs)
    cells = [_md(f"""
# Quiz bank · 题库

**In one line:** all {n} quizzes of the book on one page — each chapter's quick checks in the order the
chapter asks them, then its end-of-chapter quiz. Click an option: every one, right or wrong, explains
itself. English and 中文 are two tabs of the same questions, and the math in them (the $\\sqrt{{d}}$ of
chapter 4, the $\\tau$ of chapter 10) is typeset.

全书的 {n} 组测验：每章先是正文中的小测，再是章末测验。点击任一选项都会看到解释。
""")]
    setup = colab_setup(root)
    cells += [setup] if setup else []
    cells.append(_code("from bertedu.notebook import quiz", "remove-cell"))
    for ch in chs:
        if not ch.quizzes:
            continue
        cells.append(_md(_heading(ch)))
        checks = 0
        for bank in ch.quizzes:
            checks += bank.check
            cells.append(_md(_bank_label(bank.name, checks)))
            cells.append(_code(f'quiz("{bank.name}")', "remove-input"))
    return cells


def _catalogue(root: Path | None = None) -> dict[int, str]:
    """Bug number -> the "What goes wrong." paragraph of book/bugs.md."""
    path = (root or REPO) / "book" / "bugs.md"
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    out = {}
    for number, body in re.findall(r"^## (\d+)\. [^\n]*\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S):
        m = re.search(r"\*\*What goes wrong\.\*\*(.*?)(?:\n\n|\Z)", body, flags=re.S)
        out[int(number)] = " ".join((m.group(1) if m else "").split())
    return out


def _module_of(fn: Any) -> str:
    return fn.__module__.rsplit(".", 1)[-1]


def bug_hunt_cells(root: Path | None = None) -> list[dict[str, Any]]:
    from bertedu.study.bughunt import BUGS, layers, tokenizer

    shared = {8: layers.encoder_by_hand, 9: tokenizer.basic_by_hand}
    what = _catalogue(root)
    cells = [_md("""
# Bug hunt · 找错误

**In one line:** every entry of the [bug catalogue](bugs.md) as code you can run: a broken
implementation, the check that exposes it, and the fix, hidden until you want it. Each bug is one a public
reimplementation of BERT really shipped, and each one *runs*: nothing crashes, the numbers just lie.

**How to use this page.** Read the broken code, predict what the check will say, run it. Then write your own
fix — a function with the same signature — and try it with `bughunt.report(N, your_fix)`; the check does not
care whose code it judges (`tests/test_bug_hunt.py` runs bertedu's own masking, losses, attention mask,
pooler and embeddings through the same checks). Only then open **Show solution / 查看答案**.

目录中的每个错误都可以在这里运行：有问题的实现、暴露它的检查，以及（折叠起来的）修复。先预测，再运行，
自己写出修复后再看答案。
""")]
    setup = colab_setup(root)
    cells += [setup] if setup else []
    cells.append(_code("from bertedu.notebook import setup_matplotlib, show_source\n\nsetup_matplotlib()",
                       "remove-cell"))
    cells.append(_code(SUMMARY))
    cells.append(_code(FIGURE, "hide-input"))
    cells.append(_md("**Figure 1.** Every bug of the catalogue (rows) and every version of its code: red, the "
                     "broken versions (the first is the one below, the others are the entry's other forms); "
                     "green, the fix. The same check judges all of them."))
    for b in BUGS.values():
        main, others = b.broken[0], b.broken[1:]
        check_doc = (b.check.__doc__ or "").strip().split("\n")[0]
        cells.append(_md(f"## Bug #{b.number}. {b.title}\n\n{what.get(b.number, '')}\n\n"
                         f"**The check** (`{_module_of(b.check)}.{b.check.__name__}`): {check_doc.split(': ', 1)[-1]}"))
        if b.number in shared:
            cells.append(_md(f"The versions of this entry share `{shared[b.number].__name__}`, and each flips "
                             "one of its switches:"))
            cells.append(_code(f"show_source(bughunt.{_module_of(shared[b.number])}.{shared[b.number].__name__})",
                               "remove-input"))
        cells.append(_code(f"show_source(bughunt.{_module_of(main)}.{main.__name__})", "remove-input"))
        lines = [f"bughunt.report({b.number}, bughunt.{_module_of(main)}.{main.__name__})"]
        if others:
            lines += [f"for broken in bughunt.BUGS[{b.number}].broken[1:]:   # its other forms",
                      f"    bughunt.report({b.number}, broken)"]
        cells.append(_code("\n".join(lines)))
        fixed = f"bughunt.{_module_of(b.fixed)}.{b.fixed.__name__}"
        cells.append(_code(f"show_source({fixed})\nbughunt.report({b.number}, {fixed})\n"
                           f"assert bughunt.run({b.number}, {fixed}).passed", metadata=HIDE_SOLUTION))
    cells.append(_md("## Where these bugs came from\n\nThe catalogue's entries are mistakes of public "
                     "reimplementations and courses, described in the project's own words in "
                     "[the bug catalogue](bugs.md), together with the tests of `tests/` that keep each one "
                     "out of bertedu."))
    return cells


SUMMARY = '''
from bertedu.study import bughunt

results = bughunt.run_all()   # every check on every version: about 10 s on one core
broken = [(b.number, f.__name__) for b in bughunt.BUGS.values() for f in b.broken]
fixed = [(b.number, b.fixed.__name__) for b in bughunt.BUGS.values()]
print(f"{sum(not results[k].passed for k in broken)} of {len(broken)} broken versions fail "
      f"their check; {sum(results[k].passed for k in fixed)} of {len(fixed)} fixes pass it")
'''

FIGURE = '''
import textwrap

import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(7.5, 4.6))
for row, bug in enumerate(bughunt.BUGS.values()):
    for col, impl in enumerate(bug.implementations):
        outcome = results[(bug.number, impl.__name__)]
        fixed = impl is bug.fixed
        ax.scatter(col if not fixed else 5, row, s=150, marker="s", zorder=3,
                   color="#2e8b57" if outcome.passed else "#c0392b")
        ax.text((col if not fixed else 5) + 0.25, row,
                "PASS" if outcome.passed else "FAIL", va="center", fontsize=7)
ax.set_yticks(range(len(bughunt.BUGS)),
              [f"#{b.number} " + textwrap.shorten(b.title, 36, placeholder=" …")
               for b in bughunt.BUGS.values()], fontsize=7)
ax.grid(False)
ax.set_xticks([0, 2, 5], ["broken (shown)", "its other forms", "fixed"], fontsize=8)
ax.set_xlim(-0.5, 6)
ax.invert_yaxis()
ax.set_title("Each check fails every broken version and passes the fix", fontsize=9)
for side in ("top", "right"):
    ax.spines[side].set_visible(False)
plt.tight_layout()
plt.show()
'''


def notebook(cells: list[dict[str, Any]], page: str) -> dict[str, Any]:
    """A notebook (nbformat 4.5) with deterministic cell ids."""
    for i, cell in enumerate(cells):
        cell["id"] = f"{page.replace('_', '-')}-{i:02d}"
    return {"cells": cells, "metadata": {"kernelspec": {"display_name": "Python 3 (ipykernel)",
                                                         "language": "python", "name": "python3"},
                                          "language_info": {"name": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


BUILDERS = {"flashcards": flashcards_cells, "quiz_bank": quiz_bank_cells, "bug_hunt": bug_hunt_cells}
# what each page's *outputs* are made of: a cell ``quiz("12_ablations_check4")`` reads its bank when it runs,
# so a question added to an existing bank changes no cell, only what executing the page shows
SOURCES = {"flashcards": ("data/cards/**/*.json",), "quiz_bank": ("data/quizzes/**/*.json",),
           "bug_hunt": ("book/bugs.md", "bertedu/study/bughunt/**/*.py")}
DIGEST_KEY = "bertedu_sources_sha256"


def sources_digest(page: str, root: Path | None = None) -> str:
    """SHA-256 of the files a page's outputs are made of (their paths and bytes, in sorted order)."""
    root = root or REPO
    h = hashlib.sha256()
    files = sorted({f for pattern in SOURCES[page] for f in root.glob(pattern) if f.is_file()})
    for f in files:
        h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def cell_signature(nb: dict[str, Any]) -> list[tuple[str, str, str]]:
    """What must not go stale: each cell's type, source and metadata (outputs come from executing it)."""
    out = []
    for c in nb["cells"]:
        source = "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
        meta = {k: v for k, v in c.get("metadata", {}).items() if k != "execution"}
        out.append((c["cell_type"], source, json.dumps(meta, sort_keys=True)))
    return out


def stale_pages(root: Path | None = None) -> list[str]:
    """Pages whose committed cells differ from what :data:`BUILDERS` writes now, or whose sources (the cards,
    quiz banks or bugs their outputs show) changed since they were written."""
    root = root or REPO
    stale = []
    for page, build in BUILDERS.items():
        path = root / "book" / f"{page}.ipynb"
        want = notebook(build(root), page)
        have = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
        if (have is None or cell_signature(have) != cell_signature(want)
                or have["metadata"].get(DIGEST_KEY) != sources_digest(page, root)):
            stale.append(f"book/{page}.ipynb")
    return stale


def write_pages(root: Path | None = None, execute: bool = False, pages: tuple[str, ...] = PAGES) -> list[Path]:
    """Write the pages' cells (outputs of unchanged pages are lost: pass ``execute`` to rerun them)."""
    from bertedu._io import atomic_write_text

    root = root or REPO
    written = []
    for page in pages:
        path = root / "book" / f"{page}.ipynb"
        nb = notebook(BUILDERS[page](root), page)
        if execute:
            nb = execute_notebook(nb, path.parent)
        nb["metadata"][DIGEST_KEY] = sources_digest(page, root)
        atomic_write_text(path, json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
        written.append(path)
    return written


def execute_notebook(nb: dict[str, Any], cwd: Path, timeout: int = 300) -> dict[str, Any]:
    """Run every cell (in ``cwd``, like the book's chapters) and drop per-cell execution metadata."""
    import nbformat
    from nbclient import NotebookClient

    node = nbformat.from_dict(nb)
    NotebookClient(node, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(cwd)}}).execute()
    for cell in node.cells:
        cell.metadata.pop("execution", None)
    return json.loads(nbformat.writes(node))

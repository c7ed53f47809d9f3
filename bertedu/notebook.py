"""Helpers every chapter of the book uses: figures, source listings, quizzes, cards, solutions, bertviz.

Nothing here is part of BERT itself (Devlin et al., 2018); it is the classroom around it.  Every helper
produces *deterministic* HTML (no random ids, no dates) so that the committed notebooks can be checked
cell by cell with ``pytest --nbval`` and the built book looks the same on every build.

Bilingual content (quizzes, knowledge cards) is shown in two tabs, "English" and "中文", made of plain
HTML radio buttons and CSS only, so the tabs work on the static book page, in Jupyter and in Colab without
a running kernel.

Quiz banks live in ``data/quizzes/<chapter>.json``; the format is documented in :func:`validate_quiz`.
"""

from __future__ import annotations

import hashlib
import html
import importlib.resources
import inspect
import json
import os
import re
from pathlib import Path
from typing import Any, Iterable, Sequence

__all__ = [
    "setup_matplotlib", "show_source", "source_html",
    "project_data_dir", "load_quiz", "validate_quiz", "quiz_html", "quiz",
    "tabs_html", "knowledge_card_html", "knowledge_card", "solution_html", "solution",
    "paper_quote_html", "paper_quote", "bertviz_html", "bertviz_head_view", "bertviz_model_view",
]


# --------------------------------------------------------------------------------------------- display
def _display_html(markup: str) -> None:
    """Show HTML in a notebook; print it when IPython is not available (plain scripts)."""
    try:
        from IPython.display import HTML, display
    except ImportError:  # pragma: no cover - IPython ships with every Jupyter install
        print(markup)
        return
    display(HTML(markup))


def _stable_id(prefix: str, *parts: Any) -> str:
    """A short id derived from the content, so equal inputs give equal HTML on every run."""
    digest = hashlib.sha1(json.dumps(parts, ensure_ascii=False, sort_keys=True, default=str).encode("utf-8"))
    return f"{prefix}-{digest.hexdigest()[:10]}"


# ------------------------------------------------------------------------------------------ matplotlib
def setup_matplotlib(dpi: int = 100) -> None:
    """Make matplotlib output deterministic and readable for the book.

    * SVG files get a fixed ``svg.hashsalt`` (element ids otherwise change on every run) and PNG/SVG/PDF
      files carry no creation date, so re-running a chapter gives byte-identical figures;
    * a clean default style (light grid, no top/right spines) and a fixed figure size and dpi;
    * inline figures in Jupyter are PNG (nbval skips images, so they never make a cell fail).

    Figures in this book use English text only: matplotlib ships no Chinese font.
    """
    if not isinstance(dpi, int) or dpi <= 0:
        raise ValueError(f"dpi must be a positive int, got {dpi!r}")
    import matplotlib

    matplotlib.rcParams.update({
        "svg.hashsalt": "bertedu",
        "svg.fonttype": "path",
        "figure.figsize": (7.0, 3.6),
        "figure.dpi": dpi,
        "savefig.dpi": dpi,
        "savefig.bbox": "tight",
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.titlesize": 12,
        "axes.titleweight": "bold",
        "font.size": 10,
        "image.cmap": "viridis",
    })
    # No timestamps in saved files (matplotlib otherwise writes the current date).
    os.environ.setdefault("SOURCE_DATE_EPOCH", "0")
    try:
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats("png", metadata={"Software": None})
    except Exception:  # not inside IPython: nothing to configure
        pass


# ------------------------------------------------------------------------------------------ source code
def source_html(obj: Any) -> str:
    """Return the real source of ``obj`` (a function, class or module) as highlighted HTML.

    Uses :func:`inspect.getsource`, so what the reader sees is the code that runs, never a copy.
    Falls back to an escaped ``<pre>`` block when pygments is not installed.
    """
    try:
        code = inspect.getsource(obj)
    except (TypeError, OSError) as err:
        raise TypeError(f"obj must be a Python function, class or module with source on disk, "
                        f"got {type(obj).__name__} ({err})") from err
    name = getattr(obj, "__qualname__", getattr(obj, "__name__", "source"))
    module = getattr(obj, "__module__", None) or getattr(obj, "__name__", "")
    header = f'<div class="bertedu-source-title"><code>{html.escape(f"{module}.{name}" if module != name else name)}</code></div>'
    try:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import PythonLexer

        formatter = HtmlFormatter(noclasses=True, style="friendly", nowrap=False)
        body = highlight(code, PythonLexer(), formatter)
    except ImportError:
        body = f"<pre>{html.escape(code)}</pre>"
    return f'<div class="bertedu-source">{header}{body}</div>'


def show_source(obj: Any) -> None:
    """Display the real, current source of a bertedu function or class, syntax-highlighted.

    >>> from bertedu.notebook import show_source
    >>> show_source(show_source)   # doctest: +SKIP
    """
    _display_html(source_html(obj))


# ----------------------------------------------------------------------------------------------- tabs
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


# ---------------------------------------------------------------------------------------------- quizzes
def project_data_dir() -> Path:
    """The project's ``data/`` folder (quizzes, cards, toy texts), wherever the chapter runs.

    Looks next to the bertedu package (a git checkout, editable install, Colab clone), then in the current
    folder and its parent (chapters run from ``book/``).  ``$BERTEDU_PROJECT_DATA`` overrides all of them.
    """
    override = os.environ.get("BERTEDU_PROJECT_DATA")
    candidates = [Path(override)] if override else []
    candidates += [Path(__file__).resolve().parent.parent / "data", Path.cwd() / "data", Path.cwd().parent / "data"]
    for path in candidates:
        if (path / "quizzes").is_dir():
            return path
    raise FileNotFoundError("could not find the project's data/ folder (with data/quizzes); run the chapter from a "
                            "checkout of the bertedu repository or set BERTEDU_PROJECT_DATA=/path/to/repo/data")


def _check_text(value: Any, where: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where} must be a non-empty string, got {value!r}")


def validate_quiz(questions: Any, name: str = "quiz") -> list[dict]:
    """Check a bilingual quiz bank and return it unchanged; raise ValueError naming the first problem.

    Format (a JSON list of 3-5 questions)::

        [{"type": "single",                # "single": exactly one correct answer;
                                           # "multiple": at least two correct and at least one wrong
          "en": "Question text",  "zh": "问题",
          "answers": [                     # 2-6 options
             {"en": "Option", "zh": "选项", "correct": true,
              "feedback_en": "Why this is right/wrong", "feedback_zh": "为什么对/错"}, ...]}, ...]

    Every option carries feedback in both languages: a quiz here teaches, it does not just grade.
    Text may use inline HTML, markdown links and ``$...$`` math (rendered by MathJax where present).
    """
    if not isinstance(questions, list):
        raise TypeError(f"{name}: the quiz must be a JSON list of questions, got {type(questions).__name__}")
    if not 3 <= len(questions) <= 5:
        raise ValueError(f"{name}: a chapter quiz has 3-5 questions, got {len(questions)}")
    for i, q in enumerate(questions):
        where = f"{name}: question {i + 1}"
        if not isinstance(q, dict):
            raise TypeError(f"{where} must be an object, got {type(q).__name__}")
        unknown = set(q) - {"type", "en", "zh", "answers"}
        if unknown:
            raise ValueError(f"{where} has unknown keys {sorted(unknown)}; allowed: type, en, zh, answers")
        kind = q.get("type", "single")
        if kind not in ("single", "multiple"):
            raise ValueError(f"{where}: type must be 'single' or 'multiple', got {kind!r}")
        _check_text(q.get("en"), f"{where} 'en'")
        _check_text(q.get("zh"), f"{where} 'zh'")
        answers = q.get("answers")
        if not isinstance(answers, list) or not 2 <= len(answers) <= 6:
            raise ValueError(f"{where}: 'answers' must be a list of 2-6 options")
        for j, a in enumerate(answers):
            aw = f"{where}, option {j + 1}"
            if not isinstance(a, dict):
                raise TypeError(f"{aw} must be an object")
            for key in ("en", "zh", "feedback_en", "feedback_zh"):
                _check_text(a.get(key), f"{aw} '{key}'")
            if not isinstance(a.get("correct"), bool):
                raise ValueError(f"{aw}: 'correct' must be true or false, got {a.get('correct')!r}")
        n_correct = sum(a["correct"] for a in answers)
        if kind == "single" and n_correct != 1:
            raise ValueError(f"{where}: a 'single' question needs exactly 1 correct option, got {n_correct}; "
                             f"use type 'multiple' for several")
        if kind == "multiple" and not 2 <= n_correct < len(answers):
            raise ValueError(f"{where}: a 'multiple' question needs at least 2 correct and 1 wrong option, "
                             f"got {n_correct} correct of {len(answers)}")
    return questions


def load_quiz(chapter: str, directory: str | os.PathLike | None = None) -> list[dict]:
    """Read and validate ``data/quizzes/<chapter>.json`` (e.g. ``chapter="01_why_bert"``)."""
    if not isinstance(chapter, str) or not re.fullmatch(r"[A-Za-z0-9_-]+", chapter):
        raise ValueError(f"chapter must be a file stem like '01_why_bert', got {chapter!r}")
    folder = Path(directory) if directory is not None else project_data_dir() / "quizzes"
    path = folder / f"{chapter}.json"
    if not path.is_file():
        raise FileNotFoundError(f"no quiz bank {path}; create it (format: bertedu.notebook.validate_quiz)")
    with open(path, encoding="utf-8") as f:
        return validate_quiz(json.load(f), name=path.name)


def _to_jupyterquiz(questions: list[dict], lang: str) -> list[dict]:
    """Our bilingual format -> jupyterquiz's one-language format."""
    return [{
        "question": q[lang],
        "type": "many_choice" if q.get("type", "single") == "multiple" else "multiple_choice",
        "answers": [{"answer": a[lang], "correct": a["correct"], "feedback": a[f"feedback_{lang}"]}
                    for a in q["answers"]],
    } for q in questions]


def _jupyterquiz_assets() -> tuple[str, str]:
    """jupyterquiz's CSS and JavaScript (its question classes), read from the installed package."""
    root = importlib.resources.files("jupyterquiz")
    css = root.joinpath("styles.css").read_text(encoding="utf-8")
    js_dir = root.joinpath("js")
    js = "".join(p.read_text(encoding="utf-8") for p in sorted(js_dir.iterdir(), key=lambda p: p.name)
                 if p.name.endswith(".js"))
    return css, js


_QUIZ_COLORS = {
    "--jq-multiple-choice-bg": "#3b2a6b", "--jq-mc-button-bg": "#fafafa", "--jq-mc-button-border": "#e0e0e0e0",
    "--jq-mc-button-inset-shadow": "#555555", "--jq-many-choice-bg": "#b4451f", "--jq-numeric-bg": "#392061ff",
    "--jq-numeric-input-bg": "#c0c0c0", "--jq-numeric-input-label": "#101010", "--jq-numeric-input-shadow": "#999999",
    "--jq-string-bg": "#4c1a57", "--jq-incorrect-color": "#c80202", "--jq-correct-color": "#009113",
    "--jq-text-color": "#fafafa", "--jq-link-color": "#9abafa",
}


def quiz_html(questions: list[dict], key: str) -> str:
    """The bilingual quiz as one self-contained HTML fragment (two static tabs + jupyterquiz).

    The element ids are ``<key>-en-quiz`` / ``<key>-zh-quiz`` (no randomness), so the output is identical on
    every run; jupyterquiz's own JavaScript (bundled from the installed package) renders the questions
    in the browser.  Answers are not shuffled, so "option 2" means the same thing to every reader.
    """
    validate_quiz(questions)
    css, js = _jupyterquiz_assets()
    panels, loaders = {}, []
    for lang in ("en", "zh"):
        div_id = f"{key}-{lang}-quiz".replace("-", "_")
        colors = "".join(f"{k}: {v}; " for k, v in _QUIZ_COLORS.items())
        panels[lang] = (f'<div id="{div_id}" class="bertedu-quiz" data-shufflequestions="False" '
                        f'data-shuffleanswers="False" data-preserveresponses="false" '
                        f'data-numquestions="{len(questions)}" data-maxwidth="640" '
                        f'style="border-radius: 10px; text-align: left"></div>'
                        f'<style>#{div_id} {{ {colors}}}</style>')
        data = json.dumps(_to_jupyterquiz(questions, lang), ensure_ascii=False).replace("</", "<\\/")
        loaders.append(f"[{data}, {json.dumps(div_id)}]")
    script = (
        "<script>\n(function () {\n"
        f"var bertedu_quizzes = [{', '.join(loaders)}];\n"
        "if (typeof Question === 'undefined') {\n" + js + "\n"
        "  function bertedu_show(tries) {\n"
        "    var ready = bertedu_quizzes.every(function (q) { return document.getElementById(q[1]); });\n"
        "    if (!ready) { if (tries < 50) { setTimeout(function () { bertedu_show(tries + 1); }, 200); } return; }\n"
        "    bertedu_quizzes.forEach(function (q) { show_questions(q[0], document.getElementById(q[1])); });\n"
        "  }\n"
        "  bertedu_show(0);\n"
        "}\n})();\n</script>"
    )
    return tabs_html(panels["en"], panels["zh"], key) + f"<style>{css}</style>" + script


def quiz(chapter: str, directory: str | os.PathLike | None = None) -> None:
    """Display the chapter's quiz (English and 中文 tabs) from ``data/quizzes/<chapter>.json``.

    Every option explains why it is right or wrong when clicked.  Works on the static book page (the quiz
    is self-contained JavaScript), in Jupyter and in Colab.
    """
    _display_html(quiz_html(load_quiz(chapter, directory), key=f"quiz-{chapter}"))


# -------------------------------------------------------------------------------------- knowledge cards
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
    _check_text(title, "title")
    _check_text(title_zh, "title_zh")

    def table(head: str, pairs: list[tuple[str, str]], cols: tuple[str, str]) -> str:
        body = "".join(f"<tr><th>{t}</th><td>{x}</td></tr>" for t, x in pairs)
        return (f'<div class="bertedu-card-title"><b>{head}</b></div><table class="bertedu-card">'
                f"<thead><tr><th>{cols[0]}</th><th>{cols[1]}</th></tr></thead><tbody>{body}</tbody></table>")

    en = table(html.escape(title), [(r[0], r[2]) for r in rows], ("Idea", "In one breath"))
    zh = table(html.escape(title_zh), [(r[1], r[3]) for r in rows], ("概念", "一句话"))
    return tabs_html(en, zh, _stable_id("card", title, rows))


def knowledge_card(rows: Sequence[Sequence[str]] | str | os.PathLike, title: str = "Knowledge card",
                   title_zh: str = "知识卡片") -> None:
    """Display a bilingual knowledge card.

    ``rows`` is a list of ``(term_en, term_zh, text_en, text_zh)`` or the path of a JSON file holding such
    a list (e.g. ``data/cards/01_why_bert.json``).
    """
    if isinstance(rows, (str, os.PathLike)):
        with open(rows, encoding="utf-8") as f:
            rows = json.load(f)
    _display_html(knowledge_card_html(rows, title, title_zh))


# -------------------------------------------------------------------------------------------- solutions
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
    _check_text(content, "content")
    if language not in ("python", "text", "html"):
        raise ValueError(f"language must be 'python', 'text' or 'html', got {language!r}")
    body = content if language == "html" else f"<pre><code>{html.escape(content.strip())}</code></pre>"
    return (f'<details class="bertedu-solution"><summary style="cursor:pointer;font-weight:bold">'
            f"{html.escape(summary)}</summary>{body}</details>")


def solution(content: str, language: str = "python", summary: str = "Show solution / 查看答案") -> None:
    """Display a hidden solution that opens on click (see :func:`solution_html`)."""
    _display_html(solution_html(content, language, summary))


# ------------------------------------------------------------------------------------------ paper quotes
def paper_quote_html(text: str, section: str) -> str:
    """A short, exact quote of the BERT paper (Devlin et al., 2018) with its section number."""
    _check_text(text, "text")
    _check_text(section, "section")
    # "3.1" -> "§3.1"; named parts ("Abstract", "Appendix A.2") stay words
    where = f"§{html.escape(section)}" if section[0].isdigit() else html.escape(section)
    return (f'<blockquote class="bertedu-quote" style="border-left:4px solid #6b4fbb;margin:.5em 0;'
            f'padding:.3em .9em;background:#f7f5fc;color:#222">“{html.escape(text)}”'
            f'<br><small>— Devlin et al. (2018), {where}</small></blockquote>')


def paper_quote(text: str, section: str) -> None:
    """Display a quote of the paper with its section number (see :func:`paper_quote_html`)."""
    _display_html(paper_quote_html(text, section))


# ---------------------------------------------------------------------------------------------- bertviz
_CDN = {
    "require": "https://cdnjs.cloudflare.com/ajax/libs/require.js/2.3.6/require.min.js",
    "d3": "https://cdnjs.cloudflare.com/ajax/libs/d3/5.7.0/d3.min",
    "jquery": "https://cdnjs.cloudflare.com/ajax/libs/jquery/2.0.0/jquery.min",
}
# Files inside the vendored folder (see tools/vendor_js.py); window.BERTEDU_VENDOR is the folder's URL,
# set by a small script the built book loads on every page when the files were vendored.
_LOCAL = {"require": "require.js", "d3": "d3.min", "jquery": "jquery.min"}


def bertviz_html(markup: str, view: str, tokens: Sequence[str]) -> str:
    """Make bertviz's returned HTML deterministic and able to load its scripts offline.

    * the random ``bertviz-<uuid>`` id becomes ``bertviz-<hash of view and tokens>``;
    * require.js, d3 and jquery load from the book's vendored copies when the page provides
      ``window.BERTEDU_VENDOR`` (the built book, page-relative) and from the public CDN otherwise
      (Jupyter, Colab).
    """
    vis_id = _stable_id(f"bertviz-{view}", list(tokens))
    markup = re.sub(r"bertviz-[0-9a-f]{32}", vis_id, markup)
    markup = markup.replace(f'<script src="{_CDN["require"]}"></script>', "")
    for name in ("d3", "jquery"):
        markup = markup.replace(f"'{_CDN[name]}'",
                                f"(window.BERTEDU_VENDOR ? window.BERTEDU_VENDOR + '{_LOCAL[name]}' : '{_CDN[name]}')")
    # Run bertviz's script only once require.js is there: load it (local or CDN) if the page lacks it.
    start = markup.index('<script type="text/javascript">') + len('<script type="text/javascript">')
    end = markup.rindex("</script>")
    body = markup[start:end]
    loader = (
        "\n(function () {\n  function bertedu_run() {\n" + body + "\n  }\n"
        "  if (typeof require !== 'undefined' && typeof require.config === 'function') { bertedu_run(); return; }\n"
        "  var s = document.createElement('script');\n"
        f"  s.src = window.BERTEDU_VENDOR ? window.BERTEDU_VENDOR + '{_LOCAL['require']}' : '{_CDN['require']}';\n"
        "  s.onload = bertedu_run;\n  document.head.appendChild(s);\n})();\n"
    )
    return markup[:start] + loader + markup[end:]


def _bertviz(view: str, attention: Any, tokens: Sequence[str], **kwargs: Any) -> None:
    try:
        from bertviz import head_view, model_view
    except ImportError as err:  # pragma: no cover
        raise ImportError("bertviz is not installed: pip install --no-deps bertviz==1.4.1") from err
    if not isinstance(tokens, (list, tuple)) or not all(isinstance(t, str) for t in tokens):
        raise TypeError("tokens must be a list of strings (e.g. tokenizer.convert_ids_to_tokens(ids))")
    fn = head_view if view == "head" else model_view
    out = fn(attention, list(tokens), html_action="return", **kwargs)
    _display_html(bertviz_html(out.data, view, tokens))


def bertviz_head_view(attention: Any, tokens: Sequence[str], **kwargs: Any) -> None:
    """Display bertviz's head view (one layer, all heads) with deterministic, offline-capable HTML.

    ``attention`` is a tuple of L tensors of shape (1, A, T, T) (``BertModel(...,
    output_attentions=True).attentions``, paper §3.1 / Vaswani et al. 2017 §3.2); ``tokens`` has T strings.
    Extra keyword arguments go to :func:`bertviz.head_view` (e.g. ``layer=5``, ``heads=[0, 3]``).
    The view needs JavaScript; tag its cell ``nbval-ignore-output`` and pair it with a static figure.
    """
    _bertviz("head", attention, tokens, **kwargs)


def bertviz_model_view(attention: Any, tokens: Sequence[str], **kwargs: Any) -> None:
    """Display bertviz's model view (a grid of every layer x head) like :func:`bertviz_head_view`."""
    _bertviz("model", attention, tokens, **kwargs)

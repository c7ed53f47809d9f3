"""The chapters' bilingual quizzes: banks in ``data/quizzes/<chapter>.json``, shown with jupyterquiz.

The format of a bank is documented in :func:`validate_quiz`.
"""

from __future__ import annotations

import importlib.resources
import json
import os
import re
from pathlib import Path
from typing import Any

from bertedu.notebook.cards import tabs_html
from bertedu.notebook.display import check_text, display_html


def project_data_dir() -> Path:
    """The project's ``data/`` folder (quizzes, cards, toy texts), wherever the chapter runs.

    Looks next to the bertedu package (a git checkout, editable install, Colab clone), then in the current
    folder and its parent (chapters run from ``book/``).  ``$BERTEDU_PROJECT_DATA`` overrides all of them.
    """
    override = os.environ.get("BERTEDU_PROJECT_DATA")
    candidates = [Path(override)] if override else []
    candidates += [Path(__file__).resolve().parents[2] / "data", Path.cwd() / "data", Path.cwd().parent / "data"]
    for path in candidates:
        if (path / "quizzes").is_dir():
            return path
    raise FileNotFoundError("could not find the project's data/ folder (with data/quizzes); run the chapter from a "
                            "checkout of the bertedu repository or set BERTEDU_PROJECT_DATA=/path/to/repo/data")


MAX_QUESTIONS = 5
CHAPTER_MIN_QUESTIONS = 3   # an end-of-chapter quiz
CHECK_MIN_QUESTIONS = 1     # a quick check inside a chapter (``<chapter>_checkN.json`` or ``checks/*.json``)

# A ``$`` that is not written ``\$``: jupyterquiz turns every one into a MathJax delimiter.
_DOLLAR = re.compile(r"(?<!\\)\$")


def _check_dollars(text: str, where: str) -> None:
    """Math is ``$...$``, so a text needs an even number of ``$``; a literal dollar is ``&#36;``."""
    n = len(_DOLLAR.findall(text))
    if n % 2:
        raise ValueError(f"{where} has an odd number ({n}) of '$': math is $...$ and a literal dollar sign "
                         f"must be written &#36; (jupyterquiz turns every $ into a math delimiter)")
    if "\\(" in text or "\\)" in text:
        raise ValueError(f"{where} uses \\( ... \\): write math in quizzes as $...$")


def is_check_bank(name: str) -> bool:
    """True for a quick-check bank name (``04_attention_check1``, ``checks/...``), False for a chapter quiz."""
    return bool(re.search(r"_check\d*$", name)) or name.startswith("checks/")


def validate_quiz(questions: Any, name: str = "quiz",
                  min_questions: int = CHAPTER_MIN_QUESTIONS) -> list[dict]:
    """Check a bilingual quiz bank and return it unchanged; raise ValueError naming the first problem.

    Format (a JSON list of ``min_questions``-5 questions: 3-5 for an end-of-chapter quiz, the default;
    pass ``min_questions=1`` for a quick check of 1-2 questions)::

        [{"type": "single",                # "single": exactly one correct answer;
                                           # "multiple": at least two correct and at least one wrong
          "en": "Question text",  "zh": "问题",
          "answers": [                     # 2-6 options
             {"en": "Option", "zh": "选项", "correct": true,
              "feedback_en": "Why this is right/wrong", "feedback_zh": "为什么对/错"}, ...]}, ...]

    Every option carries feedback in both languages: a quiz here teaches, it does not just grade.
    Text may use inline HTML, markdown links and ``$...$`` math (rendered by MathJax where present); a
    literal dollar sign is ``&#36;`` (an odd number of ``$`` in a text is rejected, naming the question).
    """
    if isinstance(min_questions, bool) or not isinstance(min_questions, int) or \
            not 1 <= min_questions <= MAX_QUESTIONS:
        raise ValueError(f"min_questions must be an int in 1..{MAX_QUESTIONS}, got {min_questions!r}")
    if not isinstance(questions, list):
        raise TypeError(f"{name}: the quiz must be a JSON list of questions, got {type(questions).__name__}")
    if not min_questions <= len(questions) <= MAX_QUESTIONS:
        kind = "a chapter quiz" if min_questions >= CHAPTER_MIN_QUESTIONS else "a quick check"
        raise ValueError(f"{name}: {kind} has {min_questions}-{MAX_QUESTIONS} questions, got {len(questions)}"
                         + (" (a quick check inside a chapter: min_questions=1)"
                            if len(questions) < min_questions else ""))
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
        for key in ("en", "zh"):
            check_text(q.get(key), f"{where} '{key}'")
            _check_dollars(q[key], f"{where} '{key}'")
        answers = q.get("answers")
        if not isinstance(answers, list) or not 2 <= len(answers) <= 6:
            raise ValueError(f"{where}: 'answers' must be a list of 2-6 options")
        for j, a in enumerate(answers):
            aw = f"{where}, option {j + 1}"
            if not isinstance(a, dict):
                raise TypeError(f"{aw} must be an object")
            for key in ("en", "zh", "feedback_en", "feedback_zh"):
                check_text(a.get(key), f"{aw} '{key}'")
                _check_dollars(a[key], f"{aw} '{key}'")
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


def quiz_path(chapter: str, directory: str | os.PathLike | None = None) -> Path:
    """The bank file of ``chapter``: ``<folder>/<chapter>.json``, else ``<folder>/checks/<chapter>.json``.

    ``<folder>`` is ``directory`` or the project's ``data/quizzes``; ``chapter`` may also name the
    sub-folder itself (``"checks/04_attention_1"``).
    """
    if not isinstance(chapter, str) or not re.fullmatch(r"(checks/)?[A-Za-z0-9_-]+", chapter):
        raise ValueError(f"chapter must be a file stem like '01_why_bert' or '04_attention_check1', "
                         f"got {chapter!r}")
    folder = Path(directory) if directory is not None else project_data_dir() / "quizzes"
    for path in (folder / f"{chapter}.json", folder / "checks" / f"{chapter}.json"):
        if path.is_file():
            return path
    raise FileNotFoundError(f"no quiz bank {folder / f'{chapter}.json'} (nor in {folder / 'checks'}); create it "
                            f"(format: bertedu.notebook.validate_quiz)")


def load_quiz(chapter: str, directory: str | os.PathLike | None = None,
              min_questions: int | None = None) -> list[dict]:
    """Read and validate ``data/quizzes/<chapter>.json`` (e.g. ``chapter="01_why_bert"``).

    ``min_questions`` defaults to 3 for a chapter quiz and to 1 for a quick check (a name ending in
    ``_checkN`` or a bank in ``data/quizzes/checks/``).
    """
    path = quiz_path(chapter, directory)
    if min_questions is None:
        check = is_check_bank(chapter) or path.parent.name == "checks"
        min_questions = CHECK_MIN_QUESTIONS if check else CHAPTER_MIN_QUESTIONS
    with open(path, encoding="utf-8") as f:
        return validate_quiz(json.load(f), name=path.name, min_questions=min_questions)


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


# True once jupyterquiz may draw: no MathJax on the page (plain Jupyter), or the real MathJax 2/3 (it has
# a version; MathJax 3 also its typeset()), not the configuration object a page sets before loading it.
MATHJAX_READY_JS = (
    "    var M = window.MathJax;\n"
    "    if (typeof M === 'undefined') { return true; }\n"
    "    var v = String(M.version || '');\n"
    "    return v[0] === '2' || (v[0] === '3' && typeof M.typeset === 'function');"
)


def quiz_html(questions: list[dict], key: str, min_questions: int = CHAPTER_MIN_QUESTIONS) -> str:
    """The bilingual quiz as one self-contained HTML fragment (two static tabs + jupyterquiz).

    The element ids are ``<key>-en-quiz`` / ``<key>-zh-quiz`` (no randomness), so the output is identical on
    every run; jupyterquiz's own JavaScript (bundled from the installed package) renders the questions
    in the browser.  Answers are not shuffled, so "option 2" means the same thing to every reader.

    The questions are drawn only once MathJax is ready (see :data:`MATHJAX_READY_JS`): 500 ms after
    drawing, jupyterquiz reads ``MathJax.version[0]``, and on a long page ``window.MathJax`` may still be
    the configuration object then (no version: a TypeError; no ``typeset``: jupyterquiz swaps in a CDN
    MathJax).  After ~20 s without MathJax the questions are drawn anyway.
    """
    validate_quiz(questions, min_questions=min_questions)
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
        "  function bertedu_mathjax_ready() {\n" + MATHJAX_READY_JS + "\n  }\n"
        "  function bertedu_show(tries) {\n"
        "    var ready = bertedu_quizzes.every(function (q) { return document.getElementById(q[1]); });\n"
        "    if (ready && !bertedu_mathjax_ready() && tries < 100) { ready = false; }\n"
        "    if (!ready) { if (tries < 150) { setTimeout(function () { bertedu_show(tries + 1); }, 200); } return; }\n"
        "    bertedu_quizzes.forEach(function (q) { show_questions(q[0], document.getElementById(q[1])); });\n"
        "  }\n"
        "  bertedu_show(0);\n"
        "}\n})();\n</script>"
    )
    return tabs_html(panels["en"], panels["zh"], key) + f"<style>{css}</style>" + script


def quiz(chapter: str, directory: str | os.PathLike | None = None, min_questions: int | None = None) -> None:
    """Display a quiz (English and 中文 tabs) from ``data/quizzes/<chapter>.json``.

    ``chapter`` is the end-of-chapter bank (``"04_attention"``, 3-5 questions) or a quick check of 1-5
    questions (``"04_attention_check1"``, or a bank in ``data/quizzes/checks/``); ``min_questions``
    overrides the minimum (see :func:`load_quiz`).  Every option explains why it is right or wrong when
    clicked.  Works on the static book page (the quiz is self-contained JavaScript), in Jupyter and in Colab.
    """
    questions = load_quiz(chapter, directory, min_questions)
    key = "quiz-" + chapter.replace("/", "-")
    display_html(quiz_html(questions, key=key, min_questions=min(len(questions), CHAPTER_MIN_QUESTIONS)))

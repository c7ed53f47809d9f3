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
        check_text(q.get("en"), f"{where} 'en'")
        check_text(q.get("zh"), f"{where} 'zh'")
        answers = q.get("answers")
        if not isinstance(answers, list) or not 2 <= len(answers) <= 6:
            raise ValueError(f"{where}: 'answers' must be a list of 2-6 options")
        for j, a in enumerate(answers):
            aw = f"{where}, option {j + 1}"
            if not isinstance(a, dict):
                raise TypeError(f"{aw} must be an object")
            for key in ("en", "zh", "feedback_en", "feedback_zh"):
                check_text(a.get(key), f"{aw} '{key}'")
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
    display_html(quiz_html(load_quiz(chapter, directory), key=f"quiz-{chapter}"))

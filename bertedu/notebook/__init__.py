"""Helpers the book's chapters use: figures, source listings, quizzes, cards, solutions, bertviz.

Nothing here is part of BERT itself (Devlin et al., 2018); it is the classroom around it, and only the
book imports it.  Every helper produces *deterministic* HTML (no random ids, no dates) so that the
committed notebooks can be checked cell by cell with ``pytest --nbval``.

* :mod:`~bertedu.notebook.figures` - matplotlib settings;
* :mod:`~bertedu.notebook.source`  - :func:`show_source`;
* :mod:`~bertedu.notebook.cards`   - bilingual tabs, knowledge cards, solutions, paper quotes;
* :mod:`~bertedu.notebook.quiz`    - the chapters' quizzes (``data/quizzes/<chapter>.json``);
* :mod:`~bertedu.notebook.bertviz` - bertviz views that work offline;
* :mod:`~bertedu.notebook.display` - what they share (showing HTML, stable ids).
"""

from __future__ import annotations

from bertedu.notebook.bertviz import bertviz_head_view, bertviz_html, bertviz_model_view
from bertedu.notebook.cards import (knowledge_card, knowledge_card_html, paper_quote, paper_quote_html, solution,
                                    solution_html, tabs_html)
from bertedu.notebook.figures import setup_matplotlib
from bertedu.notebook.quiz import load_quiz, project_data_dir, quiz, quiz_html, validate_quiz
from bertedu.notebook.source import show_source, source_html

__all__ = [
    "setup_matplotlib", "show_source", "source_html",
    "project_data_dir", "load_quiz", "validate_quiz", "quiz_html", "quiz",
    "tabs_html", "knowledge_card_html", "knowledge_card", "solution_html", "solution",
    "paper_quote_html", "paper_quote", "bertviz_html", "bertviz_head_view", "bertviz_model_view",
]

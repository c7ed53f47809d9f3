"""The teacher's kit: student notebooks and autograded exercises for the book's chapters (nbgrader).

Two commands (see ``book/teachers.md``)::

    python -m bertedu.teach student --out class/          # class/release/NN_slug/NN_slug.ipynb
    python -m bertedu.teach grade submissions/ --course class/   # table of per-exercise scores

A chapter marks its exercises with cell tags only (:mod:`bertedu.teach.exercises` says how); the tool
that removes solutions, hides tests, runs submissions and keeps the grade book is nbgrader
(:mod:`bertedu.teach.course`). Nothing here grades by itself.
"""

from __future__ import annotations

from bertedu.teach.exercises import Exercise, GradedTest, check_chapter, exercise_table, find_exercises

__all__ = ["Exercise", "GradedTest", "check_chapter", "exercise_table", "find_exercises"]

"""A chapter's autograded exercises, read from cell tags (the authoring convention of the teacher's kit).

An exercise is autograded when, in order (all inside the chapter's exercises, before the next ``##``):

1. a **task card**: a markdown cell tagged ``grader-task`` and ``remove-cell`` (the book's page does not
   show it; the student's copy does) whose text starts with
   ``**Exercise N, autograded (P points).**`` and names what the grader reads;
2. one or more **work cells**: the exercise's ``solution`` cell(s) (the book's collapsed solution), and
   optionally ``grader-answer`` cells (tagged ``remove-cell`` too) that set the graded names from it. In
   the student's copy nbgrader replaces each work cell by ``# YOUR CODE HERE / raise NotImplementedError()``;
3. one or more **test cells** tagged ``grader-test`` and ``remove-cell``: the first line is
   ``# Exercise Na (p points)`` (letters a, b, c ... in order; the points add up to the card's P), and the
   tests sit between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS`` (nbgrader's markers: the
   student's copy keeps only the lines outside them). Each test cell passes or fails as a whole, so two
   test cells give partial credit. Tests must not change the chapter's state (use ``_t``-prefixed names).

nbval runs the test cells against the book's solutions every time the chapter is tested, so a test that
the teacher's solution fails cannot be committed. :func:`check_chapter` checks the convention;
:mod:`bertedu.teach.course` turns it into nbgrader metadata.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

TASK, ANSWER, TEST, SOLUTION, REMOVE = "grader-task", "grader-answer", "grader-test", "solution", "remove-cell"
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
TASK_RE = re.compile(r"^\*\*Exercise (\d+), autograded \((\d+) points?\)\.\*\*")
TEST_RE = re.compile(r"^# Exercise (\d+)([a-z]) \((\d+) points?\)")
PROMPT_RE = re.compile(r"\*\*(\d+)\.\s+(.+?)\*\*", re.S)   # "**2. Predict, then run.** ..." in the prompt


@dataclass
class GradedTest:
    """One test cell: passes (``points``) or fails (0) as a whole."""

    index: int          # 0-based cell index in the chapter
    grade_id: str       # nbgrader's id, e.g. "ex2a"
    points: int


@dataclass
class Exercise:
    """One autograded exercise of a chapter (cell indices are 0-based)."""

    number: int
    title: str
    points: int
    task: int
    work: list[int] = field(default_factory=list)
    tests: list[GradedTest] = field(default_factory=list)


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _prompt_title(cells, before: int) -> tuple[int | None, str]:
    """Number and title of the exercise prompt ("**N. Title.**") in the markdown cells before ``before``."""
    for cell in reversed(cells[:before]):
        if cell.cell_type != "markdown" or TASK in _tags(cell):
            continue
        found = PROMPT_RE.findall(cell.source)
        if found:
            number, title = found[-1]
            title = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", " ".join(title.split()))  # links -> their text
            return int(number), title.rstrip(".").strip()
        if cell.source.lstrip().startswith("## "):
            break
    return None, ""


def _parse(nb) -> tuple[list[Exercise], list[str]]:
    exercises: list[Exercise] = []
    problems: list[str] = []
    current: Exercise | None = None
    for i, cell in enumerate(nb.cells):
        tags, where = _tags(cell), f"cell {i + 1}"
        if cell.cell_type == "markdown" and cell.source.lstrip().startswith("## ") and TASK not in tags:
            current = None
        if TASK in tags:
            m = TASK_RE.match(cell.source.strip())
            if cell.cell_type != "markdown" or not m:
                problems.append(f"{where}: a {TASK} card must be markdown starting "
                                f"'**Exercise N, autograded (P points).**'")
                current = None
                continue
            _, title = _prompt_title(nb.cells, i)
            current = Exercise(int(m[1]), title, int(m[2]), i)
            exercises.append(current)
        elif SOLUTION in tags or ANSWER in tags:
            if current is None:
                problems.append(f"{where}: a {SOLUTION}/{ANSWER} cell outside an autograded exercise "
                                f"(put a {TASK} card before it and {TEST} cells after it)")
            elif current.tests:
                problems.append(f"{where}: a work cell after exercise {current.number}'s test cells")
            else:
                current.work.append(i)
        elif TEST in tags:
            m = TEST_RE.match(cell.source)
            if current is None or not m:
                problems.append(f"{where}: a {TEST} cell must follow a {TASK} card and start "
                                f"'# Exercise Na (p points)'")
                continue
            current.tests.append(GradedTest(i, f"ex{m[1]}{m[2]}", int(m[3])))
            if int(m[1]) != current.number:
                problems.append(f"{where}: test of exercise {m[1]} inside exercise {current.number}")
    return exercises, problems


def find_exercises(nb) -> list[Exercise]:
    """The chapter's autograded exercises, in order. ``nb``: an nbformat notebook or a path."""
    if isinstance(nb, (str, Path)):
        nb = nbformat.read(str(nb), as_version=4)
    return _parse(nb)[0]


def check_chapter(nb) -> list[str]:
    """Everything that stops the chapter's exercises from being autograded (empty list: all good)."""
    if isinstance(nb, (str, Path)):
        nb = nbformat.read(str(nb), as_version=4)
    exercises, problems = _parse(nb)
    numbers = [e.number for e in exercises]
    if numbers != sorted(set(numbers)):
        problems.append(f"exercise numbers not increasing and unique: {numbers}")
    for ex in exercises:
        name = f"exercise {ex.number}"
        prompt_number, _ = _prompt_title(nb.cells, ex.task)
        if prompt_number != ex.number:
            problems.append(f"{name}: the prompt above its card is numbered {prompt_number}")
        if not ex.work:
            problems.append(f"{name}: no {SOLUTION} or {ANSWER} cell")
        if not ex.tests:
            problems.append(f"{name}: no {TEST} cell")
        letters = [t.grade_id[len(f"ex{ex.number}"):] for t in ex.tests]
        if letters != [chr(ord("a") + k) for k in range(len(letters))]:
            problems.append(f"{name}: test letters {letters}, expected a, b, c ... in order")
        if sum(t.points for t in ex.tests) != ex.points:
            problems.append(f"{name}: the card says {ex.points} points, its tests add up to "
                            f"{sum(t.points for t in ex.tests)}")
        for index in [ex.task] + [w for w in ex.work if ANSWER in _tags(nb.cells[w])] + [t.index for t in ex.tests]:
            if REMOVE not in _tags(nb.cells[index]):
                problems.append(f"cell {index + 1}: tag it {REMOVE} (the book's page must not show it)")
        for t in ex.tests:
            source = nb.cells[t.index].source
            begin, end = source.count(HIDDEN_BEGIN), source.count(HIDDEN_END)
            if begin != 1 or end != 1 or source.index(HIDDEN_BEGIN) > source.index(HIDDEN_END):
                problems.append(f"cell {t.index + 1}: needs one '{HIDDEN_BEGIN}' ... '{HIDDEN_END}' region")
            elif "assert" not in source.split(HIDDEN_BEGIN, 1)[1]:
                problems.append(f"cell {t.index + 1}: no assert among its hidden tests")
    for i, cell in enumerate(nb.cells):
        if "BEGIN SOLUTION" in cell.source:
            problems.append(f"cell {i + 1}: nbgrader's '### BEGIN SOLUTION' markers are not used here "
                            f"(a whole work cell is replaced; the marker would show on the page)")
    return problems


def with_grading_metadata(nb, *, clear_exercise_outputs: bool = True):
    """A copy of the chapter with nbgrader's cell metadata, ready for ``nbgrader generate_assignment``.

    Work cells become solution cells, test cells locked grade cells with their points, task cards
    read-only. Exercise cells are unfolded (the book folds solutions), lose their outputs (the book's
    solution output is the answer) and are tagged ``nbval-skip`` (a student's copy still passes nbval on
    every other cell, with the book's outputs).
    """
    nb = copy.deepcopy(nb)

    def mark(cell, grade_id: str, *, solution: bool, grade: bool, locked: bool, points: int | None = None):
        meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
                "solution": solution, "task": False}
        if points is not None:
            meta["points"] = points
        cell.metadata["nbgrader"] = meta
        cell.metadata.pop("jupyter", None)
        if cell.cell_type == "code":
            if clear_exercise_outputs:
                cell.outputs = []
            tags = cell.metadata.setdefault("tags", [])
            if "nbval-skip" not in tags:
                tags.append("nbval-skip")

    for ex in _parse(nb)[0]:
        mark(nb.cells[ex.task], f"ex{ex.number}_task", solution=False, grade=False, locked=True)
        for j, index in enumerate(ex.work, 1):
            mark(nb.cells[index], f"ex{ex.number}_work{j}", solution=True, grade=False, locked=False)
        for t in ex.tests:
            mark(nb.cells[t.index], t.grade_id, solution=False, grade=True, locked=True, points=t.points)
    return nb


def exercise_table(chapters: list[Path]) -> str:
    """The markdown table of autograded exercises (``book/teachers.md`` embeds it; a test compares)."""
    rows = ["| Chapter | Exercise | Points | Tests |", "|---|---|---|---|"]
    total = 0
    for path in chapters:
        for ex in find_exercises(path):
            tests = ", ".join(f"{t.grade_id[2:]} ({t.points})" for t in ex.tests)
            rows.append(f"| {path.stem} | {ex.number}. {ex.title} | {ex.points} | {tests} |")
            total += ex.points
    rows.append(f"| **all** | | **{total}** | |")
    return "\n".join(rows)

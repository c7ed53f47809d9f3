"""A class's course folder, run by nbgrader: student versions of the chapters, autograding, the score table.

nbgrader (https://nbgrader.readthedocs.io) does the work: ``generate_assignment`` removes the solutions
and the hidden tests (keeping both in its grade book, ``gradebook.db``), ``autograde`` runs a submission
in the local Python (no Docker) with the hidden tests put back, ``generate_feedback`` writes one HTML
page per submission. This module only prepares the chapters (:func:`exercises.with_grading_metadata`),
lays out the course folder nbgrader expects and reads its grade book into a table::

    class/
      nbgrader_config.py             the same settings, for running nbgrader by hand in class/
      source/NN_slug/NN_slug.ipynb   the chapter with nbgrader metadata (teacher's copy: solutions, tests)
      release/NN_slug/NN_slug.ipynb  the student version (hand this out)
      submitted/STUDENT/NN_slug/     what `grade` copies in;  autograded/, feedback/: nbgrader's output
      gradebook.db                   nbgrader's grade book (hidden tests, scores)
      grades.csv                     the table `grade` prints
"""

from __future__ import annotations

import csv
import os
import sys
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat

from bertedu.teach.citations import plain_citations
from bertedu.teach.exercises import check_chapter, find_exercises, with_grading_metadata

BOOK = Path(__file__).resolve().parents[2] / "book"
STUB = "raise NotImplementedError"
HEADER = """\
**Student version.** Your teacher made this notebook from the book's chapter with `python -m bertedu.teach
student`. It is the chapter as published, with every exercise's solution replaced by a cell that says
`# YOUR CODE HERE`. Above each such cell a box **Exercise N, autograded** says which names your code must
define; the grader's tests are hidden, so read the box carefully.

1. Run the notebook top to bottom first (it takes about a minute); the book's outputs are already here.
2. Write your code in place of `# YOUR CODE HERE` and delete the `raise NotImplementedError()` line. You
   may add cells of your own; do not delete the locked test cells (`# Exercise 1a ...`).
3. Before you hand it in: *Kernel → Restart & Run All*, and check that your cells run without errors.
"""


def nbgrader_settings(course: Path, *, keep_outputs: bool = True) -> dict[str, dict[str, object]]:
    """nbgrader's configuration for the course folder (also written to ``nbgrader_config.py``)."""
    return {
        "CourseDirectory": {"root": str(course.resolve())},
        # the student copy keeps the book's outputs of the lesson's cells (exercise cells are already
        # emptied), so nbval can compare them in class; --clear-outputs gives nbgrader's usual blank copy
        "ClearOutput": {"enabled": not keep_outputs},
        "IncludeHeaderFooter": {"header": str((course / "source" / "header.ipynb").resolve())},
        # a chapter runs for up to a minute; one cell (a short training run) can take 30 s on a busy CPU
        "Execute": {"timeout": 300, "interrupt_on_timeout": True},
    }


def _config(settings: dict[str, dict[str, object]]):
    from traitlets.config import Config

    from bertedu.teach.execute import autograde_preprocessors

    config = Config()
    for section, values in settings.items():
        for key, value in values.items():
            setattr(config[section], key, value)
    config.Autograde.autograde_preprocessors = autograde_preprocessors()  # see bertedu/teach/execute.py
    return config


def _write_config_file(course: Path, settings: dict[str, dict[str, object]]) -> None:
    lines = ["# nbgrader settings of this course folder (written by `python -m bertedu.teach student`).",
             "# Run nbgrader here by hand, e.g. `nbgrader autograde 01_why_bert`; paths below are relative to",
             "# this folder (nbgrader opens the header relative to the current directory).", "c = get_config()  # noqa"]
    for section, values in settings.items():
        for key, value in values.items():
            if section == "CourseDirectory" and key == "root":
                value = "."
            elif section == "IncludeHeaderFooter":
                value = "source/header.ipynb"
            lines.append(f"c.{section}.{key} = {value!r}")
    lines += ["# the cell runner without nbclient's Output-widget mirror (it can stall `interact` cells):",
              "from bertedu.teach.execute import autograde_preprocessors  # noqa: E402",
              "c.Autograde.autograde_preprocessors = autograde_preprocessors()"]
    (course / "nbgrader_config.py").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _api(course: Path, **kwargs):
    from nbgrader.apps import NbGraderAPI

    # nbgrader runs the `alembic` command (its grade-book migrations) from PATH: the one installed beside
    # this Python, also when the virtual environment is not activated
    here = str(Path(sys.executable).parent)
    if here not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = here + os.pathsep + os.environ.get("PATH", "")

    return NbGraderAPI(config=_config(nbgrader_settings(course, **kwargs)))


def _ok(result: dict, what: str) -> None:
    if not result.get("success"):
        raise RuntimeError(f"nbgrader {what} failed:\n{result.get('error') or ''}\n"
                           f"{(result.get('log') or '')[-3000:]}")


def chapters_in(book: Path = BOOK) -> list[Path]:
    """The book's chapters, ``book/NN_slug.ipynb``, in order."""
    return sorted(book.glob("[0-9][0-9]_*.ipynb"))


def make_student(out: Path, chapters: list[Path] | None = None, *, keep_outputs: bool = True,
                 log=print) -> list[Path]:
    """Write the student version of each chapter to ``out/release/NN_slug/NN_slug.ipynb``.

    A chapter whose exercises are not (all) marked for autograding is skipped with its reasons (a chapter
    without exercises is handed out whole). Returns the student notebooks written.
    """
    out = Path(out)
    chapters = chapters_in() if chapters is None else [Path(c) for c in chapters]
    if not chapters:
        raise ValueError("chapters: no book/NN_slug.ipynb found; pass the chapter notebooks")
    (out / "source").mkdir(parents=True, exist_ok=True)
    settings = nbgrader_settings(out, keep_outputs=keep_outputs)
    _write_config_file(out, settings)
    header = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(HEADER)])
    nbformat.write(header, str(out / "source" / "header.ipynb"))
    api = _api(out, keep_outputs=keep_outputs)
    written = []
    for path in chapters:
        nb = nbformat.read(str(path), as_version=4)
        problems = check_chapter(nb)
        if problems:
            log(f"skip {path.name}: its exercises are not autogradable yet: {problems[0]}"
                + (f" (+{len(problems) - 1} more; run `python -m bertedu.teach check {path}`)"
                   if len(problems) > 1 else ""))
            continue
        slug = path.stem
        source = out / "source" / slug / f"{slug}.ipynb"
        source.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(plain_citations(with_grading_metadata(nb)), str(source))
        _ok(api.generate_assignment(slug, force=True, create=True), f"generate_assignment {slug}")
        student = out / "release" / slug / f"{slug}.ipynb"
        n = len(find_exercises(nb))
        log(f"{student}  ({n} autograded exercise{'s' if n != 1 else ''})")
        written.append(student)
    return written


@dataclass
class Score:
    """One student's score on one exercise, with the grader's feedback."""

    student: str
    chapter: str
    exercise: int
    title: str
    score: float
    max_score: float
    feedback: str


def _error_line(cell) -> str | None:
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            value = (out.get("evalue") or "").strip().splitlines()
            return f"{out.get('ename')}: {value[0]}" if value else str(out.get("ename"))
    return None


def scores(course: Path, chapter: str, student: str) -> list[Score]:
    """Per-exercise scores of one autograded submission, read from nbgrader's grade book."""
    from nbgrader.api import Gradebook

    course = Path(course)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        submitted = gb.find_submission_notebook(chapter, chapter, student)
        points = {g.name: (float(g.score), float(g.max_score)) for g in submitted.grades}
    source = nbformat.read(str(course / "source" / chapter / f"{chapter}.ipynb"), as_version=4)
    graded = nbformat.read(str(course / "autograded" / student / chapter / f"{chapter}.ipynb"), as_version=4)
    by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in graded.cells}
    rows = []
    for ex in find_exercises(source):
        work = [by_id.get(source.cells[i].metadata["nbgrader"]["grade_id"]) for i in ex.work]
        untouched = all(c is None or STUB in c.source for c in work)
        notes = []
        for t in ex.tests:
            error = _error_line(by_id.get(t.grade_id, {}))
            if error:
                notes.append(f"{t.grade_id[2:]}: {error}")
        got = sum(points.get(t.grade_id, (0.0, 0.0))[0] for t in ex.tests)
        if untouched:
            feedback = "not attempted (the cell still raises NotImplementedError)"
        else:
            feedback = "all tests pass" if not notes else "; ".join(notes)
        rows.append(Score(student, chapter, ex.number, ex.title, got, float(ex.points), feedback))
    return rows


def _submissions(folder: Path) -> list[tuple[str, Path]]:
    """(student, notebook) pairs of ``folder/STUDENT/NN_slug.ipynb`` (or ``.../NN_slug/NN_slug.ipynb``)."""
    found = []
    for student_dir in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for nb in sorted(student_dir.rglob("*.ipynb")):
            if ".ipynb_checkpoints" not in nb.parts:
                found.append((student_dir.name, nb))
    return found


def _copy_submission(nb: Path, target: Path) -> None:
    """Copy a submission; a copy of the book's own chapter (no nbgrader metadata) is marked first, so
    that nbgrader finds its solution cells (that is how the teacher's solution is graded)."""
    notebook = nbformat.read(str(nb), as_version=4)
    if not any("nbgrader" in c.metadata for c in notebook.cells):
        notebook = with_grading_metadata(notebook, clear_exercise_outputs=False)
    nbformat.write(notebook, str(target))


def grade(submissions: Path, course: Path, *, feedback: bool = True, log=print) -> list[Score]:
    """Autograde every ``submissions/STUDENT/NN_slug.ipynb`` with nbgrader; return the scores.

    The chapter is read from the notebook's name; its student version must have been made in ``course``
    by :func:`make_student` (the grade book holds the hidden tests). Writes ``course/grades.csv`` and,
    with ``feedback``, one HTML page per submission under ``course/feedback/``.
    """
    submissions, course = Path(submissions), Path(course)
    if not (course / "gradebook.db").is_file():
        raise ValueError(f"course: {course} has no gradebook.db; make it first with "
                         f"`python -m bertedu.teach student --out {course}`")
    if not submissions.is_dir():
        raise ValueError(f"submissions: {submissions} is not a folder of STUDENT/NN_slug.ipynb files")
    pairs = _submissions(submissions)
    if not pairs:
        raise ValueError(f"submissions: no STUDENT/NN_slug.ipynb under {submissions}")
    known = {p.name for p in (course / "source").iterdir() if p.is_dir()}
    api = _api(course)
    rows: list[Score] = []
    for student, nb in pairs:
        chapter = nb.stem
        if chapter not in known:
            raise ValueError(f"submissions: {nb} is not a chapter of this course (known: {sorted(known)})")
        target = course / "submitted" / student / chapter / f"{chapter}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        _copy_submission(nb, target)
        log(f"grading {student} / {chapter} ...")
        with warnings.catch_warnings():  # nbgrader's grade book triggers SQLAlchemy's autoflush notices
            warnings.filterwarnings("ignore", message=r".*not in session.*")
            _ok(api.autograde(chapter, student, force=True, create=True), f"autograde {chapter} {student}")
            if feedback:
                _ok(api.generate_feedback(chapter, student, force=True),
                    f"generate_feedback {chapter} {student}")
        rows.extend(scores(course, chapter, student))
    write_csv(rows, course / "grades.csv")
    return rows


def write_csv(rows: list[Score], path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(Score.__dataclass_fields__))
        writer.writeheader()
        writer.writerows(asdict(r) for r in rows)


def format_table(rows: list[Score]) -> str:
    """The score table as aligned text: one line per exercise, a total per student and chapter."""
    lines = [f"{'student':<12} {'chapter':<22} {'ex':>2}  {'score':>7}  feedback"]
    totals: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        lines.append(f"{r.student:<12} {r.chapter:<22} {r.exercise:>2}  "
                     f"{r.score:>3g}/{r.max_score:<3g}  {r.feedback}")
        total = totals.setdefault((r.student, r.chapter), [0.0, 0.0])
        total[0] += r.score
        total[1] += r.max_score
    for (student, chapter), (got, out_of) in totals.items():
        lines.append(f"{student:<12} {chapter:<22} {'all':>2}  {got:>3g}/{out_of:<3g}  "
                     f"{100 * got / out_of:.0f}%")
    return "\n".join(lines)

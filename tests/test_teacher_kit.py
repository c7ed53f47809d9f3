"""The teacher's kit (issue 13): every chapter's exercises are autogradable with nbgrader, the student
versions hide solutions and tests, and one chapter goes through the whole round trip in CI: its student
version fails the grader, the book's solution passes, a half-done submission gets partial credit, and
nbval passes on the student version's lesson cells.

The round trip uses chapter 1 (the fastest: about 13 s of CPU per run, four runs).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from bertedu.teach import check_chapter, exercise_table, find_exercises
from bertedu.teach.__main__ import main as teach_main
from bertedu.teach.exercises import HIDDEN_BEGIN, HIDDEN_END, TEST, with_grading_metadata

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))
# chapters whose exercises must all be autograded; add a chapter here once its exercises are marked
AUTOGRADED = [f"{n:02d}" for n in (*range(1, 9), 10, 11, 12, 13)]
ROUND_TRIP = "01_why_bert"

from bertedu.teach import course  # noqa: E402  (nbgrader is imported when a course is made)


def _read(path: Path):
    return nbformat.read(str(path), as_version=4)


def _md(text: str, *tags: str):
    return nbformat.v4.new_markdown_cell(text, metadata={"tags": list(tags)})


def _code(text: str, *tags: str):
    return nbformat.v4.new_code_cell(text, metadata={"tags": list(tags)})


def _toy(*, tests: int = 2, points: int = 2, hidden: bool = True, solution_outside: bool = False):
    """A tiny chapter with one exercise, for the checker's own tests."""
    cells = [_code("x = 3"), _md("## Exercises\n\n**1. Double it.** Twice x."),
             _md(f"**Exercise 1, autograded ({points} points).** Define `y`.", "grader-task", "remove-cell"),
             _code("y = 2 * x", "solution")]
    for k in range(tests):
        body = f"{HIDDEN_BEGIN}\nassert y == 6\n{HIDDEN_END}" if hidden else "assert y == 6"
        cells.append(_code(f"# Exercise 1{'abc'[k]} (1 point)\n{body}", TEST, "remove-cell"))
    if solution_outside:
        cells += [_md("## More"), _code("z = 1", "solution")]
    return nbformat.v4.new_notebook(cells=cells)


# ------------------------------------------------------------------------------ the authoring convention
def test_a_well_marked_exercise_passes_the_check():
    nb = _toy()
    assert check_chapter(nb) == []
    (ex,) = find_exercises(nb)
    assert (ex.number, ex.title, ex.points, [t.grade_id for t in ex.tests]) == (1, "Double it", 2, ["ex1a", "ex1b"])


@pytest.mark.parametrize("kwargs,problem", [
    ({"tests": 0, "points": 0}, "no grader-test cell"),
    ({"points": 3}, "the card says 3 points"),
    ({"hidden": False}, "BEGIN HIDDEN TESTS"),
    ({"solution_outside": True}, "outside an autograded exercise"),
])
def test_the_check_names_what_is_missing(kwargs, problem):
    problems = check_chapter(_toy(**kwargs))
    assert any(problem in p for p in problems), problems


def test_cells_the_page_must_not_show_need_remove_cell():
    nb = _toy()
    nb.cells[4].metadata["tags"] = [TEST]
    assert any("remove-cell" in p and "cell 5" in p for p in check_chapter(nb))


@pytest.mark.parametrize("number", AUTOGRADED)
def test_every_exercise_of_the_chapter_is_autograded(number):
    (path,) = [p for p in CHAPTERS if p.name.startswith(number)]
    nb = _read(path)
    assert check_chapter(nb) == [], f"python -m bertedu.teach check {path.relative_to(ROOT)}"
    exercises = find_exercises(nb)
    solutions = [i for i, c in enumerate(nb.cells) if "solution" in c.metadata.get("tags", [])]
    assert exercises and solutions, f"{path.name}: no exercises"
    assert set(solutions) <= {w for e in exercises for w in e.work}
    for ex in exercises:  # the book's page shows the prompt and the folded solution, nothing else
        for index in [ex.task] + [t.index for t in ex.tests]:
            assert "remove-cell" in nb.cells[index].metadata["tags"]


def test_teachers_page_lists_every_autograded_exercise():
    """book/teachers.md embeds the table that `python -m bertedu.teach table` prints."""
    page = (ROOT / "book" / "teachers.md").read_text(encoding="utf-8")
    embedded = re.search(r"<!-- exercise-table -->\n(.*?)\n<!-- /exercise-table -->", page, re.S)
    assert embedded, "book/teachers.md: the table between <!-- exercise-table --> markers is missing"
    assert embedded[1].strip() == exercise_table(CHAPTERS).strip(), \
        "book/teachers.md is stale: paste the output of `python -m bertedu.teach table`"
    timing = re.search(r"<!-- timing-table -->\n(.*?)\n<!-- /timing-table -->", page, re.S)[1]
    rows = {m[1]: (int(m[2]), int(m[3])) for m in re.finditer(r"^\| (\d\d_\w+) \| (\d+) \((\d+)\) \|", timing, re.M)}
    for number in AUTOGRADED:  # the measured lessons: one row each, with the right exercise count
        (path,) = [p for p in CHAPTERS if p.name.startswith(number)]
        exercises = find_exercises(path)
        assert rows.get(path.stem) == (len(exercises), sum(e.points for e in exercises)), path.stem


# ------------------------------------------------------------------------------ student versions
@pytest.fixture(scope="module")
def every_chapter(tmp_path_factory):
    out = tmp_path_factory.mktemp("class")
    written = course.make_student(out, log=lambda *_: None)
    return out, {p.stem: p for p in written}


def test_student_versions_of_every_autograded_chapter(every_chapter):
    out, written = every_chapter
    assert {p.name[:2] for p in (ROOT / "book").glob("*.ipynb") if p.name[:2] in AUTOGRADED} \
        <= {s[:2] for s in written}
    for slug, path in written.items():
        master, student = _read(ROOT / "book" / f"{slug}.ipynb"), _read(path)
        marked = with_grading_metadata(master)
        ids = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in student.cells}
        text = "\n".join(c.source for c in student.cells)
        assert HIDDEN_BEGIN not in text and "BEGIN HIDDEN" not in text, slug
        for ex in find_exercises(master):
            for w in ex.work:  # the solution is gone: a stub instead, no output
                cell = ids[marked.cells[w].metadata["nbgrader"]["grade_id"]]
                assert "YOUR CODE HERE" in cell.source and "raise NotImplementedError" in cell.source
                assert not cell.get("outputs") and "nbval-skip" in cell.metadata["tags"]
            for t in ex.tests:  # the tests are hidden: only the line naming the exercise stays
                cell = ids[t.grade_id]
                hidden = master.cells[t.index].source.split(HIDDEN_BEGIN)[1].split(HIDDEN_END)[0]
                assert cell.source.strip() == master.cells[t.index].source.split("\n")[0], slug
                assert hidden.strip() not in text, (slug, t.grade_id)
                assert cell.metadata["editable"] is False and cell.metadata["deletable"] is False
            assert ids[f"ex{ex.number}_task"].source == master.cells[ex.task].source
        # every lesson cell is the book's, outputs included (nbval compares them)
        lesson = [c for c in course.plain_citations(marked).cells if "nbgrader" not in c.metadata]
        kept = [c for c in student.cells if "nbgrader" not in c.metadata][1:]  # [0]: the header
        assert [(c.source, c.get("outputs")) for c in kept] == [(c.source, c.get("outputs")) for c in lesson]


def test_every_solution_passes_its_tests_under_nbval():
    """The test cells follow the solutions in the book's chapters, so nbval (tools/test.sh) runs every
    hidden test against the teacher's solution; here: no test cell is skipped or allowed to fail."""
    for path in CHAPTERS:
        nb = _read(path)
        for ex in find_exercises(nb):
            for t in ex.tests:
                tags = nb.cells[t.index].metadata.get("tags", [])
                assert not {"nbval-skip", "raises-exception", "skip-execution"} & set(tags), (path.name, t)


def test_student_notebooks_read_citations_as_plain_text():
    nb = nbformat.v4.new_notebook(cells=[_md("See {cite:t}`devlin2018bert` and "
                                             "{cite:p}`vaswani2017attention,wu2016gnmt`.")])
    assert course.plain_citations(nb).cells[0].source == \
        "See Devlin et al. (2018) and (Vaswani et al., 2017; Wu et al., 2016)."


@pytest.mark.parametrize("keep", [True, False])
def test_clear_outputs_blanks_the_lesson_cells_too(tmp_path, keep):
    nb = _toy()
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", text="3\n")]
    nb.cells[0].execution_count = 1
    nbformat.write(nb, str(tmp_path / "01_toy.ipynb"))
    (student,) = course.make_student(tmp_path / "class", [tmp_path / "01_toy.ipynb"], keep_outputs=keep,
                                     log=lambda *_: None)
    lesson = _read(student).cells[1]
    assert lesson.source == "x = 3" and bool(lesson.outputs) == keep


def test_grading_runs_cells_without_the_output_widget_mirror(tmp_path):
    """nbclient's Output-widget mirror can stall an `interact` cell until its timeout (nbclient #312);
    the course's autograde pipeline uses GradingExecute, which opens none."""
    from bertedu.teach.execute import GradingExecute

    config = course._config(course.nbgrader_settings(tmp_path))
    assert config.Autograde.autograde_preprocessors[0] is GradingExecute
    assert GradingExecute().on_comm_open_jupyter_widget({"content": {"data": {"state": {}}}}) is None
    assert config.Execute.timeout >= 120      # the slowest lesson cell takes ~40 s on a busy CPU


def test_grade_refuses_a_folder_that_is_not_a_course(tmp_path, capsys):
    (tmp_path / "subs" / "ann").mkdir(parents=True)
    assert teach_main(["grade", str(tmp_path / "subs"), "--course", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "course:" in err and "bertedu.teach student" in err


# ------------------------------------------------------------------------------ the round trip (slow)
def _filled(student, master, exercises, wrong: dict[str, str] | None = None):
    """The student version with the book's solution in the work cells of ``exercises`` (numbers);
    ``wrong`` replaces chosen cells (by grade id) afterwards."""
    nb = nbformat.from_dict(student)
    marked = with_grading_metadata(master)
    solved = {marked.cells[w].metadata["nbgrader"]["grade_id"]: marked.cells[w].source
              for ex in find_exercises(master) if ex.number in exercises for w in ex.work}
    solved.update(wrong or {})
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in solved:
            cell.source = solved[gid]
    return nb


@pytest.mark.slow
def test_round_trip_blank_fails_solution_passes_half_gets_partial_credit(tmp_path):
    out = tmp_path / "class"
    (student_path,) = course.make_student(out, [ROOT / "book" / f"{ROUND_TRIP}.ipynb"], log=lambda *_: None)
    master, student = _read(ROOT / "book" / f"{ROUND_TRIP}.ipynb"), _read(student_path)
    exercises = find_exercises(master)
    subs = tmp_path / "submissions"
    for who in ("blank", "teacher", "half"):
        (subs / who).mkdir(parents=True)
    nbformat.write(student, str(subs / "blank" / f"{ROUND_TRIP}.ipynb"))
    nbformat.write(master, str(subs / "teacher" / f"{ROUND_TRIP}.ipynb"))        # the book's chapter
    # half: exercises 1 and 2 solved, but exercise 2's answer cell wrong; 3 and 4 left blank
    wrong = {"ex2_work2": "moving_full = {0}\nmoving_causal = {0}"}
    nbformat.write(_filled(student, master, {1, 2}, wrong), str(subs / "half" / f"{ROUND_TRIP}.ipynb"))

    rows = course.grade(subs, out, log=lambda *_: None)
    got = {(r.student, r.exercise): r for r in rows}
    total = {who: sum(r.score for r in rows if r.student == who) for who in ("blank", "teacher", "half")}
    full = sum(e.points for e in exercises)
    assert total["blank"] == 0 and total["teacher"] == full, total
    assert 0 < total["half"] < full and total["half"] == exercises[0].points + 1, total   # 1 + 2a
    assert got[("half", 2)].score == 1 and "2b: AssertionError: moving_full" in got[("half", 2)].feedback
    assert got[("half", 3)].feedback.startswith("not attempted")
    assert all(got[("teacher", e.number)].feedback == "all tests pass" for e in exercises)
    assert (out / "grades.csv").read_text(encoding="utf-8").count("\n") == 3 * len(exercises) + 1
    assert (out / "feedback" / "half" / ROUND_TRIP / f"{ROUND_TRIP}.html").is_file()
    table = course.format_table(rows)
    print(table)                                                  # pytest -s shows the teacher's table
    assert re.search(rf"half\s+{ROUND_TRIP}\s+all\s+{total['half']:g}/{full:g}", table), table


@pytest.mark.slow
def test_nbval_passes_on_the_student_version(tmp_path):
    """nbval on a student notebook: every lesson cell runs and gives the book's output; the exercise
    cells (stubs and tests) are skipped. For every chapter: the command in book/teachers.md."""
    (student,) = course.make_student(tmp_path / "class", [ROOT / "book" / f"{ROUND_TRIP}.ipynb"],
                                     log=lambda *_: None)
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-p", "no:cacheprovider",
                          "--nbval", "--nbval-current-env", "--nbval-sanitize-with",
                          str(ROOT / "tests" / "nbval_sanitize.cfg"), str(student)],
                         cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    exercise_cells = [c for c in _read(student).cells if c.cell_type == "code" and "nbgrader" in c.metadata]
    assert re.search(rf"\b\d+ passed, {len(exercise_cells)} skipped", run.stdout), run.stdout[-500:]

"""``python -m bertedu.teach {student,grade,check,table}``: the teacher's kit (book/teachers.md)."""

from __future__ import annotations

import sys
from pathlib import Path

from bertedu.teach.course import BOOK, chapters_in, format_table, grade, make_student
from bertedu.teach.exercises import check_chapter, exercise_table
from bertedu._io import OneLineParser


def _chapters(names: list[str]) -> list[Path] | None:
    """Chapter paths from paths or prefixes ("01", "02_tokenization"); None = every chapter."""
    if not names:
        return None
    found = []
    for name in names:
        path = Path(name)
        if path.suffix == ".ipynb":
            if not path.is_file():
                raise ValueError(f"chapters: {name} does not exist")
            found.append(path)
            continue
        match = [p for p in chapters_in() if p.stem.startswith(name)]
        if len(match) != 1:
            raise ValueError(f"chapters: {name!r} matches {len(match)} chapters in {BOOK}; "
                             f"give NN or NN_slug or a path")
        found.extend(match)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m bertedu.teach", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("student", help="write the student version of the chapters (nbgrader course folder)")
    p.add_argument("chapters", nargs="*", help="NN, NN_slug or book/NN_slug.ipynb (default: every chapter)")
    p.add_argument("--out", type=Path, required=True, help="the course folder to write, e.g. class/")
    p.add_argument("--clear-outputs", action="store_true",
                   help="blank every output (default: keep the book's outputs of the lesson's cells)")
    p = sub.add_parser("grade", help="autograde a folder of submissions: SUBMISSIONS/STUDENT/NN_slug.ipynb")
    p.add_argument("submissions", type=Path)
    p.add_argument("--course", type=Path, required=True, help="the folder `student --out` wrote")
    p.add_argument("--no-feedback", action="store_true", help="skip the HTML feedback pages")
    p = sub.add_parser("check", help="check that every exercise of the chapters is autogradable")
    p.add_argument("chapters", nargs="*")
    p = sub.add_parser("table", help="print the markdown table of autograded exercises (book/teachers.md)")
    p.add_argument("chapters", nargs="*")
    args = parser.parse_args(argv)
    try:
        if args.command == "student":
            written = make_student(args.out, _chapters(args.chapters), keep_outputs=not args.clear_outputs)
            print(f"{len(written)} student notebook(s) in {args.out / 'release'}")
        elif args.command == "grade":
            rows = grade(args.submissions, args.course, feedback=not args.no_feedback)
            print(format_table(rows))
            print(f"written: {args.course / 'grades.csv'}"
                  + ("" if args.no_feedback else f"; feedback pages in {args.course / 'feedback'}"))
        elif args.command == "check":
            bad = 0
            for path in _chapters(args.chapters) or chapters_in():
                problems = check_chapter(path)
                bad += bool(problems)
                print(f"{path.name}: " + ("ok" if not problems else f"{len(problems)} problem(s)"))
                for problem in problems:
                    print(f"  {problem}")
            return 1 if bad else 0
        elif args.command == "table":
            print(exercise_table(_chapters(args.chapters) or chapters_in()))
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Whole-chapter checks that nbval cannot make: the table of contents, saved widget state, no errors.

nbval re-runs each chapter and compares its outputs; these tests check what the *rendered book* needs from
the committed notebooks.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def _toc_files() -> list[str]:
    text = (ROOT / "_toc.yml").read_text(encoding="utf-8")
    return re.findall(r"^\s*-\s*file:\s*(\S+)", text, flags=re.M)  # commented-out entries do not match


APPENDIX = ["book/bugs", "book/bug_hunt", "book/flashcards", "book/glossary", "book/quiz_bank", "book/teachers",
            "book/bibliography"]  # pages after the chapters (the bug catalogue first: code and chapters cite it)


def test_every_chapter_is_in_the_toc_and_every_toc_entry_exists():
    listed = _toc_files()
    chapters = [f for f in listed if re.fullmatch(r"book/\d\d_\w+", f)]
    assert sorted(f"book/{p.stem}" for p in CHAPTERS) == sorted(chapters)
    assert chapters == sorted(chapters)  # in order
    assert listed == chapters + APPENDIX  # the appendix after the last chapter (the root page is book/intro)
    for entry in listed:
        assert any((ROOT / f"{entry}{ext}").is_file() for ext in (".ipynb", ".md")), entry


def test_bug_catalogue_has_entries_1_to_14_and_names_existing_tests():
    text = (ROOT / "book" / "bugs.md").read_text(encoding="utf-8")
    assert re.findall(r"^## (\d+)\. ", text, flags=re.M) == [str(n) for n in range(1, 15)]
    for file, test in re.findall(r"`(test_\w+\.py)::(test_\w+)`", text):
        source = (ROOT / "tests" / file).read_text(encoding="utf-8")
        assert re.search(rf"^def {test}\(", source, flags=re.M), f"bugs.md names {file}::{test}, which does not exist"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_widget_views_have_saved_state(path: Path):
    """A static page draws a widget only from the state saved in the notebook's metadata: stripping the
    metadata (a tempting clean-up) silently turns every widget on the published page into nothing."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    views = {o["data"][WIDGET_VIEW]["model_id"] for c in nb["cells"] if c["cell_type"] == "code"
             for o in c.get("outputs", []) if WIDGET_VIEW in o.get("data", {})}
    assert views, f"{path.name} has no widget output (every chapter has an interactive control)"
    state = nb["metadata"].get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    missing = views - set(state)
    assert not missing, f"{path.name}: widget views without saved state: {sorted(missing)[:3]}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_committed_outputs_have_no_errors_and_every_code_cell_ran(path: Path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert not [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert all(c.get("execution_count") for c in code if "".join(c["source"]).strip()), "run every cell before committing"

"""The bug hunt (issue 12): every entry of book/bugs.md as broken and fixed code, and a check that tells them
apart -- in both directions: the check FAILS on every broken version and PASSES on the fixed one; bertedu's
own implementation passes the same check where its signature allows.
"""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

import pytest

from bertedu.study import bughunt
from bertedu.study.bughunt.library import LIBRARY
from bertedu.study.bughunt.outcome import Outcome, guarded

ROOT = Path(__file__).resolve().parent.parent
BROKEN = [(b.number, f) for b in bughunt.BUGS.values() for f in b.broken]


def test_one_hunt_per_catalogue_entry_with_its_title():
    text = (ROOT / "book" / "bugs.md").read_text(encoding="utf-8")
    headings = dict((int(n), t) for n, t in re.findall(r"^## (\d+)\. (.+)$", text, flags=re.M))
    assert sorted(bughunt.BUGS) == sorted(headings) == list(range(1, 15))
    for n, b in bughunt.BUGS.items():
        assert b.title == headings[n], n


@pytest.mark.parametrize("number, broken", BROKEN, ids=[f"{n}-{f.__name__}" for n, f in BROKEN])
def test_the_check_fails_on_the_broken_version(number, broken):
    outcome = bughunt.BUGS[number].check(broken)
    assert isinstance(outcome, Outcome) and not outcome.passed, f"bug #{number}: {outcome}"


@pytest.mark.parametrize("number", sorted(bughunt.BUGS))
def test_the_check_passes_on_the_fixed_version(number):
    outcome = bughunt.BUGS[number].check(bughunt.BUGS[number].fixed)
    assert outcome.passed, f"bug #{number}: {outcome}"


@pytest.mark.parametrize("number", sorted(LIBRARY))
def test_bertedus_own_code_passes_the_same_check(number):
    outcome = bughunt.BUGS[number].check(LIBRARY[number]())
    assert outcome.passed, f"bug #{number}, bertedu's implementation: {outcome}"


@pytest.mark.parametrize("number, function, line", [
    (2, bughunt.losses.nsp_loss_ignore_index_0, "ignore_index=0"),          # drops every label-0 (NotNext) pair
    (12, bughunt.masking.mask_prob_times_08, "prob < prob * 0.8"),          # the [MASK] branch never fires
    (13, bughunt.layers.PositionsThroughData, ".weight.data["),             # positions cut out of autograd
    (14, bughunt.masking.mask_words_inserting_ids, "out[i] = rng.randint("),  # an id among token strings
    (5, bughunt.masking.mask_random_from_whole_vocab, "torch.randint(vocab_size"),  # specials inserted
])
def test_the_bugs_real_reimplementations_shipped_are_here(number, function, line):
    assert function in bughunt.BUGS[number].broken
    assert line in inspect.getsource(function)


def test_a_crash_of_the_implementation_is_a_failed_check():
    @guarded
    def check(impl):
        return Outcome(bool(impl()), "ran")

    def crashes():
        raise RuntimeError("shape mismatch")

    assert check(lambda: True).passed
    outcome = check(crashes)
    assert not outcome.passed and "RuntimeError: shape mismatch" in outcome.detail
    # a float where an id belongs, in a real check: reported, not raised
    assert not bughunt.BUGS[14].check(lambda tokens, vocab, rng: [0.5 for _ in tokens]).passed


def test_run_and_report(capsys):
    bughunt.report(4, bughunt.masking.mask_coin_per_token)
    assert capsys.readouterr().out.startswith("bug #4, mask_coin_per_token: FAIL  ")
    with pytest.raises(ValueError, match="1-14"):
        bughunt.run(15, bughunt.masking.mask_fixed)
    with pytest.raises(TypeError, match="function or class"):
        bughunt.run(4, "mask_fixed")


def test_the_page_has_every_bug_with_its_fix_behind_a_toggle():
    nb = json.loads((ROOT / "book" / "bug_hunt.ipynb").read_text(encoding="utf-8"))
    text = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    assert re.findall(r"^## Bug #(\d+)\.", text, flags=re.M) == [str(n) for n in range(1, 15)]
    solutions = [c for c in nb["cells"] if "solution" in c["metadata"].get("tags", [])]
    assert len(solutions) == 14
    for n, cell in zip(range(1, 15), solutions):
        assert f"bughunt.run({n}, " in "".join(cell["source"])           # the fix is run and asserted
        assert cell["metadata"]["jupyter"] == {"source_hidden": True, "outputs_hidden": True}

"""Bug #3 of book/bugs.md: NotNext pairs whose "random" B comes from A's own document (Sec. 3.1, Task #2).

Signature: ``random_next(docs, index, rng) -> (document, sentence)``: where the NotNext segment B of a pair
whose A is in ``docs[index]`` starts.  ``docs`` is a list of documents, each a list of sentences.
"""

from __future__ import annotations

import random

from bertedu.study.bughunt.outcome import Outcome, guarded


def random_next_fixed(docs: list[list[str]], index: int, rng: random.Random) -> tuple[int, int]:
    """Any document but A's own, then any sentence of it."""
    if len(docs) < 2:
        raise ValueError("NotNext needs at least two documents (B must come from another one)")
    other = rng.randrange(len(docs) - 1)
    other += other >= index                       # skip A's document: the others stay equally likely
    return other, rng.randrange(len(docs[other]))


def random_next_any_document(docs: list[list[str]], index: int, rng: random.Random) -> tuple[int, int]:
    """Bug #3: B is drawn from the whole corpus, so sometimes from A's own document."""
    other = rng.randrange(len(docs))              # BUG: may be `index` itself
    return other, rng.randrange(len(docs[other]))


@guarded
def check_not_next_document(random_next) -> Outcome:
    """Bug #3: on a corpus of three documents, a NotNext B never comes from A's document."""
    rng = random.Random(3)
    docs = [[f"d{d} s{s}" for s in range(5 + d)] for d in range(3)]
    draws = [(i, random_next(docs, i, rng)[0]) for i in range(3) for _ in range(200)]
    same = sum(a == b for a, b in draws)
    if same:
        return Outcome(False, f"{same} of {len(draws)} NotNext pairs take B from A's own document: "
                              "labelled NotNext, often really the next sentence")
    return Outcome(True, f"none of {len(draws)} NotNext pairs takes B from A's document")

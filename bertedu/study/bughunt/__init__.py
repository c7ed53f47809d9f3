"""Every entry of the bug catalogue (book/bugs.md, bugs #1-#14) as broken and fixed code, with its check.

Each :class:`BugHunt` has the catalogue's number and title, the **fixed** implementation, one or more
**broken** ones (the first is the one the book shows; the others are the entry's other forms) and a
**check**: a function ``check(implementation) -> Outcome`` that fails on every broken version and passes on
the fixed one (``tests/test_bug_hunt.py`` proves both directions, and that bertedu's own code passes the
same checks where its signature allows, see :mod:`bertedu.study.bughunt.library`).

    >>> from bertedu.study import bughunt
    >>> bughunt.report(12, bughunt.masking.mask_prob_times_08)       # doctest: +SKIP
    bug #12, mask_prob_times_08: FAIL  of 1336 chosen tokens: [MASK] 0.000, random 0.000, ...

Bugs real public reimplementations shipped, and where they are: an NSP loss with ``ignore_index=0`` (#2),
80/10/10 branches comparing a probability with itself times 0.8 (#12), position embeddings sliced through
``.data`` (#13), an id inserted among token strings (#14), random replacements that draw special tokens (#5).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Callable

from bertedu.study.bughunt import attention, layers, losses, masking, pairs, tokenizer
from bertedu.study.bughunt.outcome import Outcome


@dataclass(frozen=True)
class BugHunt:
    """One catalogue entry as code."""

    number: int
    title: str                          # the heading of book/bugs.md, word for word
    check: Callable[..., Outcome]
    fixed: Callable
    broken: tuple[Callable, ...]        # the first one is shown in the book

    @property
    def implementations(self) -> tuple[Callable, ...]:
        return (*self.broken, self.fixed)


BUGS: dict[int, BugHunt] = {b.number: b for b in (
    BugHunt(1, "A masked-LM loss that does not look at its mask", losses.check_mlm_loss,
            losses.mlm_loss_fixed, (losses.mlm_loss_weighted_after_mean,)),
    BugHunt(2, "A next-sentence loss that never sees NotNext", losses.check_nsp_loss,
            losses.nsp_loss_fixed, (losses.nsp_loss_ignore_index_0,)),
    BugHunt(3, "NotNext pairs that are really IsNext (and the reverse)", pairs.check_not_next_document,
            pairs.random_next_fixed, (pairs.random_next_any_document,)),
    BugHunt(4, "Not saying what \"15%\" means", masking.check_exact_count,
            masking.mask_fixed, (masking.mask_coin_per_token,)),
    BugHunt(5, "Special tokens that get masked, or get inserted", masking.check_specials,
            masking.mask_fixed, (masking.mask_random_from_whole_vocab, masking.mask_specials_too)),
    BugHunt(6, "80/10/10 read as \"80%, then 10% of the rest\"", masking.check_80_10_10,
            masking.mask_fixed, (masking.mask_10_percent_of_the_rest,)),
    BugHunt(7, "An attention mask of the wrong shape or sign", attention.check_attention_bias,
            attention.attention_bias_fixed, (attention.attention_bias_on_queries,
                                             attention.attention_bias_wrong_sign,
                                             attention.attention_bias_minus_inf)),
    BugHunt(8, "Real weights that give different numbers", layers.check_against_reference,
            layers.encoder_fixed, (layers.encoder_torch_eps, layers.encoder_pre_ln, layers.encoder_tanh_gelu,
                                   layers.encoder_pooler_without_tanh)),
    BugHunt(9, "A WordPiece tokenizer that disagrees with the reference", tokenizer.check_basic_tokenizer,
            tokenizer.basic_fixed, (tokenizer.basic_unicode_punctuation_only, tokenizer.basic_accents_without_nfd,
                                    tokenizer.basic_no_cjk_split, tokenizer.basic_keeps_control)),
    BugHunt(10, "NSP classified from every token instead of [CLS]", losses.check_nsp_head,
            losses.nsp_logits_fixed, (losses.nsp_logits_every_token,)),
    BugHunt(11, "\"The MLM loss is stuck around 7\"", losses.check_overfit_one_batch,
            losses.epoch_batch_fixed, (losses.epoch_batch_two_loaders,)),
    BugHunt(12, "80/10/10 branches that never fire", masking.check_80_10_10,
            masking.mask_fixed, (masking.mask_prob_times_08, masking.mask_reused_draw)),
    BugHunt(13, "Learned position embeddings that never learn", layers.check_positions_learn,
            layers.PositionsFixed, (layers.PositionsThroughData,)),
    BugHunt(14, "A random replacement of the wrong kind", masking.check_replacement_kind,
            masking.mask_words_fixed, (masking.mask_words_inserting_ids,)),
)}

_CACHE: dict[tuple[int, Callable], Outcome] = {}


def run(number: int, implementation: Callable) -> Outcome:
    """The verdict of bug ``number``'s check on ``implementation`` (remembered: checks are deterministic)."""
    if number not in BUGS:
        raise ValueError(f"number must be a bug of book/bugs.md, 1-{max(BUGS)}, got {number!r}")
    if not callable(implementation):
        raise TypeError(f"implementation must be a function or class, got {type(implementation).__name__}")
    key = (number, implementation)
    if key not in _CACHE:
        _CACHE[key] = BUGS[number].check(implementation)
    return _CACHE[key]


def report(number: int, implementation: Callable) -> None:
    """Print ``bug #N, <name>: PASS/FAIL  <why>``, wrapped at 88 columns."""
    name = getattr(implementation, "__name__", repr(implementation))
    line = f"bug #{number}, {name}: {run(number, implementation)}"
    print(textwrap.fill(line, width=88, subsequent_indent="    "))   # the book's column: 88 characters


def run_all() -> dict[tuple[int, str], Outcome]:
    """Every check on every implementation: ``{(number, name): Outcome}`` (about 10 s on one core)."""
    return {(b.number, impl.__name__): run(b.number, impl) for b in BUGS.values() for impl in b.implementations}


__all__ = ["BUGS", "BugHunt", "Outcome", "run", "report", "run_all",
           "attention", "layers", "losses", "masking", "pairs", "tokenizer"]

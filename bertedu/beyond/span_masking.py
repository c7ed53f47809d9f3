"""SpanBERT's span masking: one more way to choose the masked-LM targets (Joshi et al. 2020, Sec. 3.1).

BERT masks 15% of the tokens one by one (:func:`bertedu.mask_tokens`).  SpanBERT masks *contiguous
spans* of whole words instead, so the model must rebuild a phrase it cannot see any part of:

    "we iteratively sample spans of text until the masking budget (e.g. 15% of X) has been spent.
     At each iteration, we first sample a span length (number of words) from a geometric
     distribution l ~ Geo(p), which is skewed towards shorter spans. We then randomly (uniformly)
     select the starting point for the span to be masked."  (SpanBERT, Sec. 3.1)

With p = 0.2 and lengths clipped at 10 words the paper reports a mean span of 3.8 words: that is the
geometric distribution *truncated* to 1..10 and renormalised (:func:`span_length_pmf`).  The 80/10/10
rule is applied per span: every token of a span becomes [MASK], or every one a random word piece, or
every one stays.

Choices here (the paper leaves them open): the budget is the same token count as BERT's,
``min(n, cap, max(1, round(0.15 n)))`` of the ``n`` candidate tokens; a span starts at an unmasked
word, grows to the right over adjacent unmasked words only (so spans never overlap, and never cross a
special token such as [UNK]) and its last word is cut when the budget runs out.  Words are a token plus
its ``##`` pieces when ``spec.is_continuation`` is given, else every token is a word.
Shapes: input_ids (T,) or (B, T); outputs shaped like input_ids.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

from bertedu.model.checks import IGNORE_INDEX
from bertedu.pretraining.masking import (KEPT, MASKED, NOT_CHOSEN, RANDOM, MaskSpec, as_mask_spec,
                                         candidate_positions, prediction_budget)

__all__ = ["SpanMaskedBatch", "span_length_pmf", "sample_span_lengths", "span_mask_tokens", "word_spans"]


class SpanMaskedBatch(NamedTuple):
    """:class:`bertedu.MaskedBatch`'s four fields plus ``spans``: per sequence, the masked spans as
    ``(start, end)`` token positions (end exclusive), in the order they were drawn."""

    input_ids: torch.Tensor
    labels: torch.Tensor
    masked_positions: torch.Tensor
    decision: torch.Tensor
    spans: list[list[tuple[int, int]]]


def _check_lengths(p: float, max_span: int) -> None:
    if not isinstance(p, (int, float)) or isinstance(p, bool) or not 0.0 < p <= 1.0:
        raise ValueError(f"p must be a probability in (0, 1] (SpanBERT uses 0.2), got {p!r}")
    if isinstance(max_span, bool) or not isinstance(max_span, int) or max_span < 1:
        raise ValueError(f"max_span must be an int >= 1 (SpanBERT uses 10), got {max_span!r}")


def span_length_pmf(p: float = 0.2, max_span: int = 10) -> torch.Tensor:
    """P(length = l) for l = 1..max_span: Geo(p) truncated at ``max_span`` and renormalised -> (max_span,).

    >>> pmf = span_length_pmf()
    >>> round(float((torch.arange(1, 11) * pmf).sum()), 1)   # the paper's "mean(l) = 3.8"
    3.8
    """
    _check_lengths(p, max_span)
    lengths = torch.arange(1, max_span + 1, dtype=torch.float64)
    weights = p * (1.0 - p) ** (lengths - 1)  # P(first success at trial l)
    return weights / weights.sum()


def sample_span_lengths(n: int, generator: torch.Generator, p: float = 0.2, max_span: int = 10) -> torch.Tensor:
    """``n`` span lengths (in words, 1..max_span) drawn from :func:`span_length_pmf` -> long (n,)."""
    if not isinstance(generator, torch.Generator):
        raise TypeError("generator must be a torch.Generator, e.g. torch.Generator().manual_seed(0)")
    pmf = span_length_pmf(p, max_span).float()
    return torch.multinomial(pmf, n, replacement=True, generator=generator) + 1


def word_spans(candidates: torch.Tensor, continuation: torch.Tensor | None) -> list[tuple[int, int]]:
    """The words of one sequence as ``(start, end)`` token ranges over its candidate positions (T,).

    A word is a candidate token plus the candidate ``##`` pieces right after it (``continuation`` (T,)
    bool, or None: every candidate token is a word of its own).
    """
    words: list[tuple[int, int]] = []
    previous = False
    for t, is_candidate in enumerate(candidates.tolist()):
        if not is_candidate:
            previous = False
            continue
        if previous and continuation is not None and bool(continuation[t]):
            words[-1] = (words[-1][0], t + 1)  # a ## piece extends the word before it
        else:
            words.append((t, t + 1))
        previous = True
    return words


def _draw_spans(words: list[tuple[int, int]], budget: int, generator: torch.Generator, p: float,
                max_span: int) -> list[tuple[int, int]]:
    """Spans of whole words (the last one maybe cut) until ``budget`` tokens are taken."""
    taken = [False] * len(words)
    spans: list[tuple[int, int]] = []
    left = budget
    while left > 0 and not all(taken):
        length = int(sample_span_lengths(1, generator, p, max_span))
        free = [i for i, t in enumerate(taken) if not t]
        first = free[int(torch.randint(len(free), (1,), generator=generator))]  # uniform start word
        w = first
        start, end = words[first][0], words[first][0]
        # grow over the next words while they are free and adjacent (a special token such as [UNK]
        # between two words ends the span: it is never a target)
        while (w < len(words) and w - first < length and not taken[w] and left > 0
               and (w == first or words[w][0] == end)):
            w_start, w_end = words[w]
            end = min(w_end, w_start + left)  # cut the last word at the budget
            left -= end - w_start
            taken[w] = True
            w += 1
        spans.append((start, end))
    return spans


def span_mask_tokens(input_ids: torch.Tensor, spec: MaskSpec | None = None, *, generator: torch.Generator,
                     attention_mask: torch.Tensor | None = None, p: float = 0.2, max_span: int = 10,
                     **spec_fields: Any) -> SpanMaskedBatch:
    """SpanBERT masking (Sec. 3.1): spans of whole words, Geo(p) lengths clipped at ``max_span``.

    Takes the :class:`bertedu.MaskSpec` (or its fields) of :func:`bertedu.mask_tokens`; exactly the same
    number of targets per sequence as :func:`bertedu.mask_tokens` (15% of the candidates).  Each span
    then gets *one* 80/10/10 draw: all its tokens become [MASK], or all random non-special word pieces
    (each drawn on its own), or all stay unchanged.  The input tensor is never modified.
    """
    spec = as_mask_spec(spec, spec_fields)
    _check_lengths(p, max_span)
    ids, candidates = candidate_positions(input_ids, spec, generator, attention_mask)
    budget = prediction_budget(candidates, spec.mlm_probability, spec.max_predictions)  # (B,)
    flags = None if spec.is_continuation is None else spec.is_continuation[ids.cpu()]  # (B, T)
    chosen = torch.zeros_like(candidates)
    span_start = torch.arange(ids.shape[1]).expand(ids.shape).clone()  # (B, T): position of its span's start
    spans = []
    for b in range(ids.shape[0]):
        words = word_spans(candidates[b].cpu(), None if flags is None else flags[b])
        mine = _draw_spans(words, int(budget[b]), generator, p, max_span)
        for start, end in mine:
            chosen[b, start:end] = True
            span_start[b, start:end] = start
        spans.append(mine)
    batch = _corrupt_spans(ids, chosen, span_start.to(ids.device), spec, generator)
    return SpanMaskedBatch(*(t.reshape(input_ids.shape) for t in batch), spans)


def _corrupt_spans(ids: torch.Tensor, chosen: torch.Tensor, span_start: torch.Tensor, spec: MaskSpec,
                   generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    """80/10/10 with one draw per span (read at its first token); random ids drawn per token."""
    u = torch.rand(ids.shape, generator=generator, device=generator.device).to(ids.device)
    u = u.gather(1, span_start)  # every token of a span reads its span's draw
    every = torch.arange(spec.vocab_size, device=ids.device)
    allowed = every[~torch.isin(every, spec.special_ids.to(ids.device))]  # never [CLS], [MASK], ...
    to_mask = chosen & (u < spec.mask_prob)
    to_random = chosen & (u >= spec.mask_prob) & (u < spec.mask_prob + spec.random_prob)
    corrupted = ids.masked_fill(to_mask, spec.mask_token_id)
    if bool(to_random.any()):
        if len(allowed) == 0:
            raise ValueError("random_prob > 0 but every vocabulary id is special; pass random_prob=0.0")
        pick = torch.randint(len(allowed), ids.shape, generator=generator, device=generator.device)
        corrupted = torch.where(to_random, allowed[pick.to(ids.device)], corrupted)
    decision = torch.full_like(ids, NOT_CHOSEN)
    decision[chosen] = KEPT
    decision[to_mask] = MASKED
    decision[to_random] = RANDOM
    return corrupted, ids.masked_fill(~chosen, IGNORE_INDEX), chosen, decision

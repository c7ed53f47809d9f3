"""Masked language modelling: choosing and corrupting tokens (BERT paper, Sec. 3.1 "Task #1: Masked LM",
Appendix A.1, and Appendix C.2 / Table 8 for the masking rates).

    "we simply mask some percentage of the input tokens at random, and then predict those masked
     tokens ... we mask 15% of all WordPiece tokens in each sequence at random."  (Sec. 3.1)
    "If the i-th token is chosen, we replace the i-th token with (1) the [MASK] token 80% of the time
     (2) a random token 10% of the time (3) the unchanged i-th token 10% of the time."  (Sec. 3.1)

Two choices the paper leaves open, and what bertedu does (bugs #4-#6 in book/bugs.md):

* **What "15%" means.**  A per-token coin (Bernoulli(0.15), as ``transformers``' data collator) gives
  15% *on average*; the original data script (``create_pretraining_data.py``) picks *exactly*
  ``max(1, round(0.15 * n))`` positions per sequence, uniformly without replacement, capped by
  ``max_predictions_per_seq``.  bertedu follows the original script, with ``n`` = the number of
  *candidate* tokens (not special, not padding).  (The original counted every token, [CLS]/[SEP]
  included; with 128-token sequences the difference is at most one prediction.)
* **80/10/10 are probabilities of the chosen token, not of "the rest".**  One uniform draw ``u`` per
  chosen token: ``u < 0.8`` -> [MASK]; ``0.8 <= u < 0.9`` -> random token; otherwise unchanged.
  (Written as "then 10% of the remaining", the random share would be 2%: a classic bug.)
* **The random token is a real word piece:** drawn uniformly from the vocabulary *minus* the special
  ids, so [CLS], [SEP], [PAD], [MASK] and [UNK] are never inserted.

What to mask is one :class:`MaskSpec` (the vocabulary's special ids, its size, the [MASK] id, the rates,
the cap); every function here takes it, or its fields as keywords.  Everything is vectorised over the
batch (it runs at every training step) and every random number comes from the ``torch.Generator`` you
pass, so the same seed gives the same batch.
Shapes: input_ids (T,) or (B, T); every output has the same shape as input_ids.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any, NamedTuple

import torch

from bertedu.model.checks import IGNORE_INDEX

# Codes of MaskedBatch.decision: what happened to each position.
NOT_CHOSEN, MASKED, RANDOM, KEPT = 0, 1, 2, 3


class MaskedBatch(NamedTuple):
    """Result of :func:`mask_tokens` / :func:`whole_word_mask_tokens`; all tensors shaped like the input.

    input_ids: the corrupted ids the model reads.
    labels: the original id at chosen positions, ``-100`` elsewhere (ignored by the MLM loss).
    masked_positions: bool, True at the chosen positions (``labels != -100``).
    decision: long, ``NOT_CHOSEN`` (0), ``MASKED`` (1), ``RANDOM`` (2) or ``KEPT`` (3) per position;
        a random replacement can draw the original id by chance, so this is the only exact record.
    """

    input_ids: torch.Tensor
    labels: torch.Tensor
    masked_positions: torch.Tensor
    decision: torch.Tensor


@dataclass
class MaskSpec:
    """What to mask and how (Sec. 3.1 Task #1): the one description every masking function takes.

    ``max_predictions`` caps the targets per sequence (the original script's ``max_predictions_per_seq``,
    the name :class:`bertedu.PretrainConfig` keeps); ``is_continuation`` (V,) marks ``##`` pieces and is
    needed only by whole-word masking (:func:`continuation_lookup`).
    """

    special_ids: Iterable[int] | torch.Tensor  # never chosen nor used as random replacements ([CLS], [PAD], ...)
    vocab_size: int
    mask_token_id: int
    mlm_probability: float = 0.15
    mask_prob: float = 0.8  # of the chosen tokens: -> [MASK]
    random_prob: float = 0.1  # of the chosen tokens: -> a random word piece (the rest stay unchanged)
    max_predictions: int | None = None
    is_continuation: torch.Tensor | None = None

    def __post_init__(self) -> None:
        self.special_ids = _as_id_tensor(self.special_ids, "special_ids")
        self.validate()

    def validate(self) -> None:
        """Raise ValueError/TypeError naming the bad field and the fix."""
        V = self.vocab_size
        if isinstance(V, bool) or not isinstance(V, int) or V < 1:
            raise ValueError(f"vocab_size must be a positive int (len(tokenizer.vocab)), got {V!r}")
        m = self.mask_token_id
        if isinstance(m, bool) or not isinstance(m, int) or not 0 <= m < V:
            raise ValueError(f"mask_token_id must be an int id in [0, vocab_size={V}), got {m!r}")
        for name in ("mlm_probability", "mask_prob", "random_prob"):
            p = getattr(self, name)
            if not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {p!r}")
        if self.mask_prob + self.random_prob > 1.0 + 1e-9:
            raise ValueError(f"mask_prob + random_prob must be <= 1 (the rest is kept unchanged), got "
                             f"{self.mask_prob} + {self.random_prob}; the paper uses mask_prob=0.8, random_prob=0.1")
        cap = self.max_predictions
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 0):
            raise ValueError(f"max_predictions must be None or an int >= 0, got {cap!r}")
        flags = self.is_continuation
        if flags is not None and (not isinstance(flags, torch.Tensor) or flags.dtype != torch.bool
                                  or flags.shape != (V,)):
            raise TypeError(f"is_continuation must be a bool tensor of shape ({V},) (one flag per vocab "
                            f"id); build it with continuation_lookup(tokenizer)")

    def apply(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
              generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Masked ids and labels (-100 where not chosen) for a batch (B, T): whole words if ``is_continuation``."""
        masker = mask_tokens if self.is_continuation is None else whole_word_mask_tokens
        out = masker(input_ids, self, generator=generator, attention_mask=attention_mask)
        return out.input_ids, out.labels


def as_mask_spec(spec: MaskSpec | None, spec_fields: dict[str, Any]) -> MaskSpec:
    """``spec`` itself, or a :class:`MaskSpec` built from keyword fields (exactly one of the two)."""
    if spec is not None:
        if not isinstance(spec, MaskSpec):
            raise TypeError(f"spec must be a MaskSpec, got {type(spec).__name__}")
        if spec_fields:
            raise TypeError(f"pass a MaskSpec or its fields, not both (got spec and {sorted(spec_fields)})")
        return spec
    known = [f.name for f in fields(MaskSpec)]
    unknown = sorted(set(spec_fields) - set(known))
    missing = [k for k in ("special_ids", "vocab_size", "mask_token_id") if k not in spec_fields]
    if unknown or missing:
        raise TypeError(f"masking takes a MaskSpec or its fields {known}; unknown {unknown}, missing {missing} "
                        f"(use **mask_kwargs(tokenizer) for the vocabulary's three)")
    return MaskSpec(**spec_fields)


def mask_tokens(input_ids: torch.Tensor, spec: MaskSpec | None = None, *, generator: torch.Generator,
                attention_mask: torch.Tensor | None = None, **spec_fields: Any) -> MaskedBatch:
    """Choose and corrupt tokens for the masked-LM task (Sec. 3.1 Task #1, Appendix A.1).

    ``spec`` is a :class:`MaskSpec`, or pass its fields as keywords (``special_ids``, ``vocab_size``,
    ``mask_token_id``, and optionally ``mlm_probability``, ``mask_prob``, ``random_prob``,
    ``max_predictions``): ``mask_tokens(ids, generator=g, **mask_kwargs(tokenizer))``.
    Per sequence, exactly ``min(n, max_predictions, max(1, round(mlm_probability * n)))`` positions
    are chosen uniformly without replacement among the ``n`` candidates (ids not in ``special_ids``
    and, if ``attention_mask`` is given, not padding).  Each chosen token independently becomes
    [MASK] with probability ``mask_prob``, a random non-special id with probability ``random_prob``,
    and stays unchanged otherwise.  The input tensor is never modified.

    >>> g = torch.Generator().manual_seed(0)
    >>> ids = torch.tensor([2, 10, 11, 12, 13, 14, 15, 3])
    >>> out = mask_tokens(ids, special_ids=[0, 1, 2, 3, 4], vocab_size=20, mask_token_id=4, generator=g)
    >>> int(out.masked_positions.sum())  # round(0.15 * 6) = 1
    1
    """
    spec = as_mask_spec(spec, spec_fields)
    ids, candidates = candidate_positions(input_ids, spec, generator, attention_mask)
    budget = prediction_budget(candidates, spec.mlm_probability, spec.max_predictions)  # (B,)
    # Rank the candidates in a random order (non-candidates last); the first `budget` are chosen.
    scores = _rand(ids.shape, generator, ids.device)
    scores = scores.masked_fill(~candidates, 2.0)  # uniform draws are < 1, so these sort last
    ranks = scores.argsort(dim=-1).argsort(dim=-1)  # (B, T): 0 = first in the random order
    chosen = (ranks < budget[:, None]) & candidates
    return _shaped_like(corrupt_chosen(ids, chosen, spec, generator), input_ids)


def whole_word_mask_tokens(input_ids: torch.Tensor, spec: MaskSpec | None = None, *, generator: torch.Generator,
                           attention_mask: torch.Tensor | None = None, same_decision_for_word: bool = False,
                           **spec_fields: Any) -> MaskedBatch:
    """Whole-word masking (the 2019 "Whole Word Masking" BERT models; Sec. 3.1 Task #1 variant).

    Takes the same ``spec`` (or fields) as :func:`mask_tokens`, with ``is_continuation`` set: a word is a
    candidate token plus the ``##`` pieces that follow it (``is_continuation[id]`` is True for ``##``
    pieces; a piece with no word start before it starts its own word).  Chosen words are chosen with all
    their pieces.  As in the original script, the budget is counted in *tokens*: ``min(max_predictions,
    max(1, round(mlm_probability * n)))``; words are visited in a random order and a word is taken only if
    all its pieces still fit, so a sequence may get slightly fewer predictions than the budget, never more
    (and none if every word is longer than the budget). The 80/10/10 decision is made per token, as the
    original script and ``transformers``; set ``same_decision_for_word=True`` to give all pieces of a word
    the same fate.
    """
    spec = as_mask_spec(spec, spec_fields)
    if spec.is_continuation is None:
        raise TypeError(f"whole-word masking needs is_continuation, a bool tensor of shape ({spec.vocab_size},) "
                        f"(one flag per vocab id); build it with continuation_lookup(tokenizer)")
    ids, candidates = candidate_positions(input_ids, spec, generator, attention_mask)
    is_cont = spec.is_continuation.to(ids.device)[ids] & candidates  # (B, T)
    prev_candidate = torch.nn.functional.pad(candidates[:, :-1], (1, 0), value=False)
    word_start = candidates & ~(is_cont & prev_candidate)  # (B, T)
    word_id = word_start.long().cumsum(dim=-1) - 1  # (B, T): index of the word each token belongs to
    word_id = word_id.clamp(min=0)
    num_words = int(word_start.sum(dim=-1).max()) if ids.numel() else 0
    w = max(num_words, 1)
    lengths = torch.zeros(ids.shape[0], w, dtype=torch.long, device=ids.device)
    lengths.scatter_add_(1, word_id, candidates.long())  # (B, W): pieces per word, 0 = no such word
    # Visit the words in a random order: uniform scores, missing words last.
    scores = _rand((ids.shape[0], w), generator, ids.device).masked_fill(lengths == 0, 2.0)
    order = scores.argsort(dim=-1)  # (B, W)
    budget = prediction_budget(candidates, spec.mlm_probability, spec.max_predictions)
    taken_sorted = _greedy_fill(lengths.gather(1, order), budget)
    taken = torch.zeros_like(taken_sorted).scatter_(1, order, taken_sorted)  # (B, W) back in word order
    chosen = taken.gather(1, word_id) & candidates  # (B, T)
    start_pos = None
    if same_decision_for_word:  # each piece reuses the draws of its word's first piece
        pos = torch.arange(ids.shape[1], device=ids.device).expand_as(ids)  # (B, T)
        start_pos = torch.where(word_start, pos, torch.zeros_like(pos)).cummax(dim=-1).values
    return _shaped_like(corrupt_chosen(ids, chosen, spec, generator, start_pos), input_ids)


def _greedy_fill(lengths: torch.Tensor, budget: torch.Tensor) -> torch.Tensor:
    """Walk words in order; take a word if it still fits the remaining budget (the original rule).

    Vectorised over the batch in a few rounds: each round takes the longest prefix of the open words
    that fits, then closes every open word that can no longer fit (the budget only shrinks).
    lengths: (B, W) >= 0; budget: (B,).  Returns bool (B, W).
    """
    taken = torch.zeros_like(lengths, dtype=torch.bool)
    remaining = budget.clone()
    open_ = lengths > 0
    while bool(open_.any()):
        cum = (lengths * open_).cumsum(dim=-1)  # (B, W)
        fits = open_ & (cum <= remaining[:, None])  # a prefix of the open words (cum is monotone)
        taken |= fits
        remaining -= (lengths * fits).sum(dim=-1)
        open_ &= ~fits
        open_ &= lengths <= remaining[:, None]  # never fits again: close it
    return taken


def corrupt_chosen(ids: torch.Tensor, chosen: torch.Tensor, spec: MaskSpec, generator: torch.Generator,
                   share_from: torch.Tensor | None = None) -> MaskedBatch:
    """The 80/10/10 rule at the ``chosen`` positions of ``ids`` (B, T), and the labels; ``ids`` is not modified.

    One uniform draw ``u`` per position: ``u < mask_prob`` -> [MASK], then ``u < mask_prob + random_prob``
    -> a random non-special id, else unchanged.  ``share_from`` (B, T) gives whole words one draw each.
    """
    u = _rand(ids.shape, generator, ids.device)  # one draw per position decides its fate
    allowed = _non_special_ids(spec.special_ids, spec.vocab_size, ids.device)  # (V - #special,)
    pick = _randint(len(allowed), ids.shape, generator, ids.device) if len(allowed) else torch.zeros_like(ids)
    if share_from is not None:  # whole words share their first piece's draws
        u, pick = u.gather(1, share_from), pick.gather(1, share_from)
    to_mask = chosen & (u < spec.mask_prob)
    to_random = chosen & (u >= spec.mask_prob) & (u < spec.mask_prob + spec.random_prob)
    if bool(to_random.any()) and len(allowed) == 0:
        raise ValueError("random_prob > 0 but every vocabulary id is special: nothing to draw a random token "
                         "from; pass random_prob=0.0 or a larger vocab_size")
    corrupted = ids.masked_fill(to_mask, spec.mask_token_id)  # masked_fill returns a new tensor
    if len(allowed):
        corrupted = torch.where(to_random, allowed[pick], corrupted)
    decision = torch.full_like(ids, NOT_CHOSEN)
    decision[chosen] = KEPT
    decision[to_mask] = MASKED
    decision[to_random] = RANDOM
    return MaskedBatch(corrupted, ids.masked_fill(~chosen, IGNORE_INDEX), chosen, decision)


def prediction_budget(candidates: torch.Tensor, mlm_probability: float, max_predictions: int | None) -> torch.Tensor:
    """Number of predictions per sequence: min(n, cap, max(1, round(p * n))) with n candidates. (B,)"""
    n = candidates.sum(dim=-1)  # (B,)
    k = torch.round(n.double() * mlm_probability).long().clamp(min=1)  # round half to even, as Python
    if max_predictions is not None:
        k = k.clamp(max=max_predictions)
    return torch.minimum(k, n)


def candidate_positions(input_ids: Any, spec: MaskSpec, generator: Any,
                        attention_mask: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Check the batch; return ids as (B, T) and the candidates (B, T): not special, not padding."""
    if not isinstance(input_ids, torch.Tensor) or input_ids.dtype != torch.long:
        raise TypeError("input_ids must be a torch.long tensor of shape (T,) or (B, T); "
                        "convert with torch.as_tensor(ids, dtype=torch.long)")
    if input_ids.dim() not in (1, 2):
        raise ValueError(f"input_ids must have shape (T,) or (B, T), got {tuple(input_ids.shape)}")
    if not isinstance(generator, torch.Generator):
        raise TypeError("generator must be a torch.Generator, e.g. torch.Generator().manual_seed(0)")
    ids = input_ids.reshape(1, -1) if input_ids.dim() == 1 else input_ids  # (B, T)
    V = spec.vocab_size
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= V):
        raise ValueError(f"input_ids must lie in [0, vocab_size={V}); got ids from {int(ids.min())} "
                         f"to {int(ids.max())}. Is vocab_size the tokenizer's?")
    candidates = ~torch.isin(ids, spec.special_ids.to(ids.device))  # (B, T)
    if attention_mask is not None:
        if not isinstance(attention_mask, torch.Tensor) or attention_mask.shape != input_ids.shape:
            raise ValueError(f"attention_mask must be a tensor shaped like input_ids {tuple(input_ids.shape)} "
                             f"(1 = real token, 0 = padding)")
        candidates &= attention_mask.reshape(ids.shape).to(ids.device).bool()
    return ids, candidates


def _shaped_like(batch: MaskedBatch, input_ids: torch.Tensor) -> MaskedBatch:
    return MaskedBatch(*(t.reshape(input_ids.shape) for t in batch))


def _non_special_ids(special: torch.Tensor, vocab_size: int, device: torch.device) -> torch.Tensor:
    every = torch.arange(vocab_size, device=device)
    return every[~torch.isin(every, special.to(device))]


def _rand(shape: tuple[int, ...] | torch.Size, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    # Drawn on the generator's device, so a seed gives the same numbers for CPU and GPU batches.
    return torch.rand(shape, generator=generator, device=generator.device).to(device)


def _randint(high: int, shape: torch.Size, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    return torch.randint(high, shape, generator=generator, device=generator.device).to(device)


def _as_id_tensor(ids: Any, name: str) -> torch.Tensor:
    if isinstance(ids, torch.Tensor):
        return ids.reshape(-1).long().cpu()
    try:
        values = [int(i) for i in ids]
    except TypeError:
        raise TypeError(f"{name} must be an iterable of int ids (e.g. tokenizer.all_special_ids), "
                        f"got {type(ids).__name__}") from None
    return torch.tensor(values, dtype=torch.long)


def mask_kwargs(tokenizer: Any) -> dict[str, Any]:
    """``special_ids``, ``vocab_size`` and ``mask_token_id`` of a BertTokenizer, ready for ``**``.

    >>> # batch = mask_tokens(ids, generator=g, **mask_kwargs(tokenizer))
    """
    return {"special_ids": torch.tensor(sorted(set(tokenizer.all_special_ids)), dtype=torch.long),
            "vocab_size": len(tokenizer.vocab), "mask_token_id": int(tokenizer.mask_token_id)}


def continuation_lookup(tokenizer: Any) -> torch.Tensor:
    """Bool tensor (V,): True for ``##`` word pieces, the ``is_continuation`` of whole-word masking."""
    flags = torch.zeros(len(tokenizer.vocab), dtype=torch.bool)
    for token, index in tokenizer.vocab.items():
        flags[index] = token.startswith("##")
    return flags

"""Masked language modelling: choosing and corrupting tokens (BERT paper, Sec. 3.1 "Task #1: Masked LM",
Appendix A.1, and Appendix C.2 / Table 8 for the masking rates).

    "we simply mask some percentage of the input tokens at random, and then predict those masked
     tokens ... we mask 15% of all WordPiece tokens in each sequence at random."  (Sec. 3.1)
    "If the i-th token is chosen, we replace the i-th token with (1) the [MASK] token 80% of the time
     (2) a random token 10% of the time (3) the unchanged i-th token 10% of the time."  (Sec. 3.1)

Two choices the paper leaves open, and what bertedu does (see PITFALLS 4-6 in the developers' notes):

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

Everything is vectorised over the batch (it runs at every training step) and every random number
comes from the ``torch.Generator`` you pass, so the same seed gives the same batch.
Shapes: input_ids (T,) or (B, T); every output has the same shape as input_ids.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from dataclasses import dataclass

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


def mask_tokens(
    input_ids: torch.Tensor,
    *,
    special_ids: Iterable[int] | torch.Tensor,
    vocab_size: int,
    mask_token_id: int,
    generator: torch.Generator,
    mlm_probability: float = 0.15,
    mask_prob: float = 0.8,
    random_prob: float = 0.1,
    max_predictions: int | None = None,
    attention_mask: torch.Tensor | None = None,
) -> MaskedBatch:
    """Choose and corrupt tokens for the masked-LM task (Sec. 3.1 Task #1, Appendix A.1).

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
    ids, candidates = _check_common(input_ids, special_ids, vocab_size, mask_token_id, generator,
                                    mlm_probability, mask_prob, random_prob, max_predictions, attention_mask)
    special = _as_id_tensor(special_ids, "special_ids")
    budget = _budget(candidates, mlm_probability, max_predictions)  # (B,)
    # Rank the candidates in a random order (non-candidates last); the first `budget` are chosen.
    scores = _rand(ids.shape, generator, ids.device)
    scores = scores.masked_fill(~candidates, 2.0)  # uniform draws are < 1, so these sort last
    ranks = scores.argsort(dim=-1).argsort(dim=-1)  # (B, T): 0 = first in the random order
    chosen = (ranks < budget[:, None]) & candidates
    return _corrupt(ids, chosen, input_ids.shape, special, vocab_size, mask_token_id, generator,
                    mask_prob, random_prob)


def whole_word_mask_tokens(
    input_ids: torch.Tensor,
    *,
    special_ids: Iterable[int] | torch.Tensor,
    is_continuation: torch.Tensor,
    vocab_size: int,
    mask_token_id: int,
    generator: torch.Generator,
    mlm_probability: float = 0.15,
    mask_prob: float = 0.8,
    random_prob: float = 0.1,
    max_predictions: int | None = None,
    attention_mask: torch.Tensor | None = None,
    same_decision_for_word: bool = False,
) -> MaskedBatch:
    """Whole-word masking (the 2019 "Whole Word Masking" BERT models; Sec. 3.1 Task #1 variant).

    A word is a candidate token plus the ``##`` pieces that follow it (``is_continuation[id]`` is True
    for ``##`` pieces; a piece with no word start before it starts its own word).  Chosen words are
    chosen with all their pieces.  As in the original script, the budget is counted in *tokens*:
    ``min(max_predictions, max(1, round(mlm_probability * n)))``; words are visited in a random order
    and a word is taken only if all its pieces still fit, so a sequence may get slightly fewer
    predictions than the budget, never more (and none if every word is longer than the budget).
    The 80/10/10 decision is made per token, as the original script and ``transformers``; set
    ``same_decision_for_word=True`` to give all pieces of a word the same fate.
    """
    ids, candidates = _check_common(input_ids, special_ids, vocab_size, mask_token_id, generator,
                                    mlm_probability, mask_prob, random_prob, max_predictions, attention_mask)
    if not isinstance(is_continuation, torch.Tensor) or is_continuation.dtype != torch.bool \
            or is_continuation.shape != (vocab_size,):
        raise TypeError(f"is_continuation must be a bool tensor of shape ({vocab_size},) (one flag per vocab "
                        f"id); build it with continuation_lookup(tokenizer)")
    special = _as_id_tensor(special_ids, "special_ids")
    is_cont = is_continuation.to(ids.device)[ids] & candidates  # (B, T)
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
    taken_sorted = _greedy_fill(lengths.gather(1, order), _budget(candidates, mlm_probability, max_predictions))
    taken = torch.zeros_like(taken_sorted).scatter_(1, order, taken_sorted)  # (B, W) back in word order
    chosen = taken.gather(1, word_id) & candidates  # (B, T)
    start_pos = None
    if same_decision_for_word:  # each piece reuses the draws of its word's first piece
        pos = torch.arange(ids.shape[1], device=ids.device).expand_as(ids)  # (B, T)
        start_pos = torch.where(word_start, pos, torch.zeros_like(pos)).cummax(dim=-1).values
    return _corrupt(ids, chosen, input_ids.shape, special, vocab_size, mask_token_id, generator,
                    mask_prob, random_prob, start_pos)


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


def _corrupt(ids: torch.Tensor, chosen: torch.Tensor, shape: torch.Size, special: torch.Tensor,
             vocab_size: int, mask_token_id: int, generator: torch.Generator,
             mask_prob: float, random_prob: float, share_from: torch.Tensor | None = None) -> MaskedBatch:
    """Apply the 80/10/10 rule at ``chosen`` (B, T) and build the labels; ``ids`` is not modified."""
    u = _rand(ids.shape, generator, ids.device)  # one draw per position decides its fate
    allowed = _non_special_ids(special, vocab_size, ids.device)  # (V - #special,)
    pick = _randint(len(allowed), ids.shape, generator, ids.device) if len(allowed) else torch.zeros_like(ids)
    if share_from is not None:  # whole words share their first piece's draws
        u, pick = u.gather(1, share_from), pick.gather(1, share_from)
    to_mask = chosen & (u < mask_prob)
    to_random = chosen & (u >= mask_prob) & (u < mask_prob + random_prob)
    if bool(to_random.any()) and len(allowed) == 0:
        raise ValueError("random_prob > 0 but every vocabulary id is special: nothing to draw a random token "
                         "from; pass random_prob=0.0 or a larger vocab_size")
    corrupted = ids.masked_fill(to_mask, mask_token_id)  # masked_fill returns a new tensor
    if len(allowed):
        corrupted = torch.where(to_random, allowed[pick], corrupted)
    labels = ids.masked_fill(~chosen, IGNORE_INDEX)
    decision = torch.full_like(ids, NOT_CHOSEN)
    decision[chosen] = KEPT
    decision[to_mask] = MASKED
    decision[to_random] = RANDOM
    return MaskedBatch(corrupted.reshape(shape), labels.reshape(shape), chosen.reshape(shape),
                       decision.reshape(shape))


def _budget(candidates: torch.Tensor, mlm_probability: float, max_predictions: int | None) -> torch.Tensor:
    """Number of predictions per sequence: min(n, cap, max(1, round(p * n))) with n candidates. (B,)"""
    n = candidates.sum(dim=-1)  # (B,)
    k = torch.round(n.double() * mlm_probability).long().clamp(min=1)  # round half to even, as Python
    if max_predictions is not None:
        k = k.clamp(max=max_predictions)
    return torch.minimum(k, n)


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


def _check_common(input_ids: Any, special_ids: Any, vocab_size: Any, mask_token_id: Any, generator: Any,
                  mlm_probability: float, mask_prob: float, random_prob: float, max_predictions: Any,
                  attention_mask: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate the shared arguments; return ids as (B, T) and the candidate mask (B, T)."""
    if not isinstance(input_ids, torch.Tensor) or input_ids.dtype != torch.long:
        raise TypeError("input_ids must be a torch.long tensor of shape (T,) or (B, T); "
                        "convert with torch.as_tensor(ids, dtype=torch.long)")
    if input_ids.dim() not in (1, 2):
        raise ValueError(f"input_ids must have shape (T,) or (B, T), got {tuple(input_ids.shape)}")
    if not isinstance(generator, torch.Generator):
        raise TypeError("generator must be a torch.Generator, e.g. torch.Generator().manual_seed(0)")
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 1:
        raise ValueError(f"vocab_size must be a positive int (len(tokenizer.vocab)), got {vocab_size!r}")
    if isinstance(mask_token_id, bool) or not isinstance(mask_token_id, int) or not 0 <= mask_token_id < vocab_size:
        raise ValueError(f"mask_token_id must be an int id in [0, vocab_size={vocab_size}), got {mask_token_id!r}")
    for name, p in (("mlm_probability", mlm_probability), ("mask_prob", mask_prob), ("random_prob", random_prob)):
        if not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise ValueError(f"{name} must be a probability in [0, 1], got {p!r}")
    if mask_prob + random_prob > 1.0 + 1e-9:
        raise ValueError(f"mask_prob + random_prob must be <= 1 (the rest is kept unchanged), got "
                         f"{mask_prob} + {random_prob}; the paper uses mask_prob=0.8, random_prob=0.1")
    if max_predictions is not None and (isinstance(max_predictions, bool) or not isinstance(max_predictions, int)
                                        or max_predictions < 0):
        raise ValueError(f"max_predictions must be None or an int >= 0, got {max_predictions!r}")
    ids = input_ids.reshape(1, -1) if input_ids.dim() == 1 else input_ids  # (B, T)
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= vocab_size):
        raise ValueError(f"input_ids must lie in [0, vocab_size={vocab_size}); got ids from {int(ids.min())} "
                         f"to {int(ids.max())}. Is vocab_size the tokenizer's?")
    special = _as_id_tensor(special_ids, "special_ids").to(ids.device)
    candidates = ~torch.isin(ids, special)  # (B, T)
    if attention_mask is not None:
        if not isinstance(attention_mask, torch.Tensor) or attention_mask.shape != input_ids.shape:
            raise ValueError(f"attention_mask must be a tensor shaped like input_ids {tuple(input_ids.shape)} "
                             f"(1 = real token, 0 = padding)")
        candidates &= attention_mask.reshape(ids.shape).to(ids.device).bool()
    return ids, candidates


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


@dataclass
class MaskSpec:
    """How to choose MLM targets (Sec. 3.1 Task #1): :func:`mask_tokens`' arguments for one vocabulary."""

    special_ids: torch.Tensor  # ids never chosen nor used as random replacements ([CLS], [SEP], [PAD], ...)
    vocab_size: int
    mask_token_id: int
    mlm_probability: float = 0.15
    max_predictions: int | None = 20
    is_continuation: torch.Tensor | None = None  # (V,) bool: set for whole-word masking

    def apply(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
              generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Masked ids and labels (-100 where not chosen) for a batch (B, T)."""
        kwargs: dict[str, Any] = dict(special_ids=self.special_ids, vocab_size=self.vocab_size,
                                      mask_token_id=self.mask_token_id, generator=generator,
                                      mlm_probability=self.mlm_probability, max_predictions=self.max_predictions,
                                      attention_mask=attention_mask)
        if self.is_continuation is not None:
            out = whole_word_mask_tokens(input_ids, is_continuation=self.is_continuation, **kwargs)
        else:
            out = mask_tokens(input_ids, **kwargs)
        return out.input_ids, out.labels

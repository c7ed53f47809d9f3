"""Honest diagnostics of a pretraining run: is the model reading the context, or only word frequencies?

A falling MLM loss is not proof of understanding (bug #11 in book/bugs.md, "loss stuck around 7"). Three
things can make a masked-LM model look better than chance without using the context at all:

* **word frequencies**: always answering the most frequent piece (``the``, ``,``) is right ~4-5% of the time;
* **copying**: by the 80/10/10 rule (paper Sec. 3.1) a tenth of the targets show the right word in the input;
* **genre**: on a mixed corpus a NotNext partner is often from another kind of text, which gives it away.

So this module scores a model against the strongest *context-free* guess fitted on the held-out text's own
domain (an in-domain unigram), splits MLM accuracy by what the model read at the target ([MASK], the kept
word, a random word), reports how concentrated its answers are, compares with a one-neighbour (bigram)
guess, and splits NSP accuracy by where B came from. Everything is a pure function of tensors, a model
and a tokenizer; :func:`evaluate_checkpoint` strings them together for one checkpoint.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from typing import Any, Sequence

import torch

from bertedu.model.checks import IGNORE_INDEX as IGNORE  # label of positions that are not MLM targets


# ----------------------------------------------------------------------------- context-free baselines
@dataclass
class Unigram:
    """Token counts of a text (the distribution a context-free model can at best learn)."""

    counts: torch.Tensor  # (V,) float64, add-one smoothed

    @classmethod
    def fit(cls, token_ids: Sequence[Sequence[int]], vocab_size: int, exclude: Sequence[int] = ()) -> "Unigram":
        """Count ``token_ids`` (lists of ids, e.g. tokenised training documents), ignoring ``exclude``."""
        flat = torch.tensor([i for ids in token_ids for i in ids], dtype=torch.long)
        if len(flat) == 0:
            raise ValueError("token_ids is empty: pass the tokenised training text of the held-out domain")
        if exclude:
            flat = flat[~torch.isin(flat, torch.tensor(list(exclude)))]
        counts = torch.bincount(flat, minlength=vocab_size).double() + 1.0
        counts[list(exclude)] = 0.0
        return cls(counts)

    @property
    def best_guess(self) -> int:
        """The id a model that ignores the context should always answer."""
        return int(self.counts.argmax())

    def score(self, targets: torch.Tensor) -> dict[str, float]:
        """Cross-entropy of ``targets`` (N,) under the unigram, and the accuracy of the constant best guess."""
        log_p = (self.counts / self.counts.sum()).log()
        return {"loss": float(-log_p[targets].mean()), "accuracy": float((targets == self.best_guess).double().mean())}


@dataclass
class Neighbour:
    """Bigram guesses: the most frequent token after a given left neighbour, and before a right one."""

    after: dict[int, int]
    before: dict[int, int]
    fallback: int

    @classmethod
    def fit(cls, token_ids: Sequence[Sequence[int]], fallback: int) -> "Neighbour":
        left: dict[int, Counter] = {}
        right: dict[int, Counter] = {}
        for ids in token_ids:
            for a, b in zip(ids, ids[1:]):
                left.setdefault(a, Counter())[b] += 1
                right.setdefault(b, Counter())[a] += 1
        pick = lambda table: {k: c.most_common(1)[0][0] for k, c in table.items()}  # noqa: E731
        return cls(pick(left), pick(right), fallback)

    def guess(self, clean_ids: torch.Tensor, positions: torch.Tensor, side: str) -> torch.Tensor:
        """Guesses at ``positions`` (N, 2) of ``clean_ids`` (B, T) from the left or the right neighbour.

        The neighbour is read from the *uncorrupted* sequence, which flatters this baseline (in the real
        input the neighbour may itself be masked)."""
        if side not in ("left", "right"):
            raise ValueError(f"side must be 'left' or 'right', got {side!r}")
        table, step = (self.after, -1) if side == "left" else (self.before, 1)
        width = clean_ids.shape[1]
        out = []
        for b, t in positions.tolist():
            j = t + step
            out.append(table.get(int(clean_ids[b, j]), self.fallback) if 0 <= j < width else self.fallback)
        return torch.tensor(out, dtype=torch.long)


# ----------------------------------------------------------------------------- what the model answers
def target_kinds(input_ids: torch.Tensor, labels: torch.Tensor, mask_token_id: int) -> torch.Tensor:
    """For each MLM target (row-major order), 0 = the input shows [MASK], 1 = the original word, 2 = another."""
    chosen = labels != IGNORE
    shown, truth = input_ids[chosen], labels[chosen]
    kinds = torch.full_like(truth, 2)
    kinds[shown == truth] = 1
    kinds[shown == mask_token_id] = 0
    return kinds


@torch.no_grad()
def mlm_predictions(model: Any, batches: Sequence[dict[str, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-1 predictions and per-target losses at every MLM target of ``batches`` (row-major order)."""
    model.eval()
    preds, losses = [], []
    for batch in batches:
        out = model(input_ids=batch["input_ids"], token_type_ids=batch["token_type_ids"],
                    attention_mask=batch["attention_mask"], labels=batch["labels"], masked_only=True)
        logits = out.prediction_logits.float()  # (N, V) at the labelled positions
        truth = batch["labels"][batch["labels"] != IGNORE]
        preds.append(logits.argmax(-1))
        losses.append(torch.nn.functional.cross_entropy(logits, truth, reduction="none"))
    return torch.cat(preds), torch.cat(losses)


def mlm_report(preds: torch.Tensor, losses: torch.Tensor, truth: torch.Tensor, kinds: torch.Tensor,
               unigram: Unigram) -> dict[str, Any]:
    """Accuracy and loss per kind of target, against the in-domain context-free guess.

    ``ratio`` = accuracy at [MASK] targets / accuracy of always answering ``unigram.best_guess`` there."""
    report: dict[str, Any] = {}
    for name, k in (("mask", 0), ("kept", 1), ("random", 2), ("all", None)):
        sel = torch.ones_like(kinds, dtype=torch.bool) if k is None else kinds == k
        if not sel.any():
            continue
        base = unigram.score(truth[sel])
        report[name] = {"targets": int(sel.sum()), "accuracy": float((preds[sel] == truth[sel]).double().mean()),
                        "loss": float(losses[sel].mean()), "unigram_accuracy": base["accuracy"],
                        "unigram_loss": base["loss"]}
    at_mask = preds[kinds == 0]
    if len(at_mask):
        top, n = Counter(at_mask.tolist()).most_common(1)[0]
        report["mask"].update(ratio=report["mask"]["accuracy"] / max(report["mask"]["unigram_accuracy"], 1e-12),
                              top_answer_id=top, top_answer_share=n / len(at_mask),
                              distinct_answers=len(set(at_mask.tolist())))
    return report


# ----------------------------------------------------------------------------- next sentence prediction
@torch.no_grad()
def nsp_accuracy(model: Any, features: dict[str, torch.Tensor], batch_size: int = 64) -> float:
    """Share of pairs whose NSP prediction equals ``next_sentence_label`` (0 IsNext, 1 NotNext)."""
    model.eval()
    right = 0
    n = len(features["input_ids"])
    for s in range(0, n, batch_size):
        part = {k: v[s:s + batch_size] for k, v in features.items()}
        out = model(input_ids=part["input_ids"], token_type_ids=part["token_type_ids"],
                    attention_mask=part["attention_mask"])
        right += int((out.seq_relationship_logits.argmax(-1) == part["next_sentence_label"]).sum())
    return right / max(n, 1)


def swap_partners(instances: Sequence[Any], other_documents: Sequence[Sequence[Sequence[str]]],
                  rng: random.Random) -> list[Any]:
    """NotNext instances with B replaced by a span of the same length from ``other_documents`` (another
    genre): if the model's NotNext decisions get easier, it was reading genre, not coherence."""
    from dataclasses import replace

    pool = [tok for doc in other_documents for sent in doc for tok in sent]
    if not pool:
        raise ValueError("other_documents is empty: pass tokenised documents of another genre")
    out = []
    for inst in instances:
        if not inst.is_random_next:
            continue
        n = len(inst.tokens_b)
        start = rng.randrange(max(1, len(pool) - n))
        out.append(replace(inst, tokens_b=list(pool[start:start + n])))
    return out


__all__ = ["Unigram", "Neighbour", "target_kinds", "mlm_predictions", "mlm_report", "nsp_accuracy",
           "swap_partners"]

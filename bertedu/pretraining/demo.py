"""Why BERT reads both sides: a one-minute demo on a tiny synthetic language (BERT paper, Sec. 3.1, Sec. 5.1).

Sec. 3.1 argues that "a deep bidirectional model is strictly more powerful than either a left-to-right model
or the shallow concatenation of a left-to-right and a right-to-left model", and Sec. 5.1 (Table 5) measures it
with the "LTR & No NSP" ablation: the same Transformer with causal attention, trained as a left-to-right
language model.  This module replays that comparison where it can be seen in seconds:

* a tiny language (:func:`sample_sentence`) with three families, each with two kinds of blank:

  ============  =============================  ==============================
  family        blank that needs the right     blank the left side decides
  ============  =============================  ==============================
  agreement     ``the [MASK] often bark``      ``the dogs often [MASK]``
  brackets      ``list [MASK] x { y } )``      ``list ( x { y } [MASK]``
  arithmetic    ``3 + [MASK] = 7``             ``3 + 4 = [MASK]``
  ============  =============================  ==============================

* two models built and trained with the *same* bertedu code (``BertForPreTraining``, ``train_step``, AdamW
  groups, warmup/decay schedule): a bidirectional one trained with ``mask_tokens`` (MLM, no NSP), and a
  left-to-right one (``is_decoder=True``) trained on next-token targets (:func:`ltr_labels`, :func:`ltr_loss`).
  The only differences are the attention mask and the labels.

:func:`run_demo` trains both and reports per-kind accuracy before and after, beside the best any
left-to-right reader can do (:func:`left_only_baseline`).
"""

from __future__ import annotations

import math
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch

from bertedu.model.checks import IGNORE_INDEX
from bertedu.text.tokenizer import SPECIAL_TOKENS

__all__ = ["KINDS", "FAMILIES", "SPECIALS", "BlankExample", "sample_sentence", "make_examples", "language",
           "demo_tokenizer", "encode", "ltr_labels", "ltr_loss", "build_demo_model", "train_demo_model",
           "predict_blanks", "accuracy_by_kind", "left_only_baseline", "DemoResult", "run_demo"]

NEEDS_RIGHT, LEFT_SUFFICES = "needs right context", "left suffices"
KINDS: tuple[str, str] = (NEEDS_RIGHT, LEFT_SUFFICES)

# agreement: each animal has its own verb, so the verb on the right decides both which noun and its number
_ANIMALS = {"dog": "bark", "cat": "meow", "bird": "sing", "cow": "moo"}
_ADVERBS = ("often", "never", "always", "rarely")
_BRACKETS = {"(": ")", "{": "}", "<": ">"}
_FILLERS = ("x", "y", "z", "w")
_DIGITS = tuple(str(d) for d in range(10))
SPECIALS = SPECIAL_TOKENS  # [PAD] [UNK] [CLS] [SEP] [MASK], first in the vocabulary as train_wordpiece puts them


def _words() -> list[str]:
    words = ["the", "list", "+", "="]
    for noun, verb in _ANIMALS.items():
        words += [noun, noun + "s", verb, verb + "s"]
    return words + list(_ADVERBS) + [s for pair in _BRACKETS.items() for s in pair] + list(_FILLERS) + list(_DIGITS)


@dataclass(frozen=True)
class BlankExample:
    """One sentence with one blank.  ``tokens`` is the whole sentence (no [CLS]/[SEP]); ``blank`` indexes it."""

    tokens: tuple[str, ...]
    blank: int
    family: str
    kind: str  # "needs right context" or "left suffices", fixed by construction

    @property
    def answer(self) -> str:
        return self.tokens[self.blank]

    def text(self, mask: str = "[MASK]") -> str:
        """The sentence with the blank shown as ``mask``, e.g. ``"3 + [MASK] = 7"``."""
        return " ".join(mask if i == self.blank else t for i, t in enumerate(self.tokens))


# Each family is a tiny program whose only source of randomness is ``pick.choice(options)`` (uniform).  Run
# with a random.Random it samples a sentence; run with :class:`_Replay` it walks every path, which gives the
# language's exact distribution (:func:`language`) from the very same code.
def _agreement(pick: Any) -> tuple[list[str], int, int]:
    noun, verb = pick.choice(sorted(_ANIMALS.items()))
    plural = pick.choice((False, True))  # plural "dogs" takes "bark", singular "dog" takes "barks"
    tokens = ["the", noun + "s" if plural else noun, pick.choice(_ADVERBS), verb if plural else verb + "s"]
    return tokens, 1, 3  # the noun is named only by the verb; the verb follows from the noun


def _brackets(pick: Any) -> tuple[list[str], int, int]:
    outer, inner = pick.choice(sorted(_BRACKETS)), pick.choice(sorted(_BRACKETS))
    fill = lambda: [pick.choice(_FILLERS) for _ in range(pick.choice((1, 2)))]  # noqa: E731
    tokens = ["list", outer, *fill(), inner, *fill(), _BRACKETS[inner], _BRACKETS[outer]]
    return tokens, 1, len(tokens) - 1  # the opener is named only by the last closer, the last closer by the opener


def _arithmetic(pick: Any) -> tuple[list[str], int, int]:
    a, b = pick.choice(range(5)), pick.choice(range(5))  # 25 facts, sums 0-8 stay single digits
    return [str(a), "+", str(b), "=", str(a + b)], 2, 4  # "a + ? = c" needs c; "a + b = ?" does not


_FAMILY_FN = {"agreement": _agreement, "brackets": _brackets, "arithmetic": _arithmetic}
FAMILIES: tuple[str, ...] = tuple(_FAMILY_FN)


class _Replay:
    """A stand-in for random.Random that follows a fixed path of option indices (0 past its end)."""

    def __init__(self, path: list[int]) -> None:
        self.path, self.taken, self.sizes = path, [], []

    def choice(self, options: Sequence[Any]) -> Any:
        k = self.path[len(self.taken)] if len(self.taken) < len(self.path) else 0
        self.taken.append(k)
        self.sizes.append(len(options))
        return options[k]


def language() -> dict[tuple[str, ...], float]:
    """Every sentence of the language with its exact probability (families equally likely); sums to 1."""
    out: dict[tuple[str, ...], float] = defaultdict(float)
    for fn in _FAMILY_FN.values():
        path: list[int] | None = []
        while path is not None:  # depth-first over the choice tree, like an odometer
            r = _Replay(path)
            tokens = tuple(fn(r)[0])
            out[tokens] += math.prod(1 / n for n in r.sizes) / len(_FAMILY_FN)
            j = max((i for i, (k, n) in enumerate(zip(r.taken, r.sizes)) if k + 1 < n), default=None)
            path = None if j is None else r.taken[:j] + [r.taken[j] + 1]
    return dict(out)


def sample_sentence(rng: random.Random, family: str | None = None) -> tuple[tuple[str, ...], str, dict[str, int]]:
    """Draw one sentence -> ``(tokens, family, {kind: blank index})``; a random family unless one is named."""
    if not isinstance(rng, random.Random):
        raise TypeError(f"rng must be a random.Random (e.g. random.Random(0)), got {type(rng).__name__}")
    if family is None:
        family = rng.choice(FAMILIES)
    elif family not in _FAMILY_FN:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
    tokens, right, left = _FAMILY_FN[family](rng)
    return tuple(tokens), family, {NEEDS_RIGHT: right, LEFT_SUFFICES: left}


def make_examples(n: int, rng: random.Random) -> list[BlankExample]:
    """``n`` blanks, balanced: example i has family ``FAMILIES[(i // 2) % 3]`` and kind ``KINDS[i % 2]``."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an int >= 1, got {n!r}")
    out = []
    for i in range(n):
        tokens, family, blanks = sample_sentence(rng, FAMILIES[(i // 2) % len(FAMILIES)])
        kind = KINDS[i % 2]
        out.append(BlankExample(tokens, blanks[kind], family, kind))
    return out


def demo_tokenizer() -> Any:
    """A :class:`bertedu.BertTokenizer` over the five special tokens + the language's 44 words (one id each)."""
    from bertedu import BertTokenizer

    return BertTokenizer.from_tokens(list(SPECIALS) + _words())


def encode(sentences: Sequence[Sequence[str]], tokenizer: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """``[CLS] w1 .. wn [SEP]``, right-padded -> ``(input_ids (B, T), attention_mask (B, T))``."""
    rows = [[tokenizer.cls_token_id, *tokenizer.convert_tokens_to_ids(list(s)), tokenizer.sep_token_id]
            for s in sentences]
    T = max(map(len, rows))
    ids = torch.full((len(rows), T), tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros(len(rows), T, dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, :len(row)] = torch.tensor(row)
        mask[i, :len(row)] = 1
    return ids, mask


# ----------------------------------------------------------------------------- the left-to-right objective
def ltr_labels(input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Next-token targets for a left-to-right LM (Sec. 5.1, "LTR & No NSP"): ``labels[:, t] = input_ids[:, t+1]``.

    The last column, and every column whose next token is padding, get -100 (IGNORE_INDEX), so the labels
    plug straight into ``BertForPreTraining(..., labels=...)`` / ``train_step``: its MLM loss then *is* the LTR
    loss (with ``is_decoder=True``, position t sees only positions <= t).  ``input_ids``, ``attention_mask``: (B, T).
    """
    if not isinstance(input_ids, torch.Tensor) or input_ids.dim() != 2:
        raise ValueError(f"input_ids must be a (B, T) tensor, got {getattr(input_ids, 'shape', type(input_ids))}")
    if attention_mask is not None and attention_mask.shape != input_ids.shape:
        raise ValueError(f"attention_mask must have input_ids' shape {tuple(input_ids.shape)}, "
                         f"got {tuple(attention_mask.shape)}")
    labels = torch.full_like(input_ids, IGNORE_INDEX)  # (B, T)
    labels[:, :-1] = input_ids[:, 1:]
    if attention_mask is not None:
        labels[:, :-1] = labels[:, :-1].masked_fill(attention_mask[:, 1:] == 0, IGNORE_INDEX)
    return labels


def ltr_loss(logits: torch.Tensor, input_ids: torch.Tensor,
             attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean next-token cross-entropy: logits (B, T, V) at position t score token t+1; padding targets ignored."""
    if logits.dim() != 3 or logits.shape[:2] != input_ids.shape:
        raise ValueError(f"logits must be (B, T, V) with (B, T) = input_ids.shape {tuple(input_ids.shape)}, "
                         f"got {tuple(logits.shape)}")
    labels = ltr_labels(input_ids, attention_mask).reshape(-1)
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels, ignore_index=IGNORE_INDEX)


# ----------------------------------------------------------------------------- evaluation
@torch.no_grad()
def predict_blanks(model: Any, examples: Sequence[BlankExample], tokenizer: Any,
                   show_answer: bool = False) -> list[str]:
    """Each model's answer for each blank (argmax over the whole vocabulary).

    The blank is replaced by [MASK] (``show_answer=True`` leaves the true word there instead: a causal
    model's answers must not change).  A bidirectional model answers at the blank's own position i; a causal
    one (``config.is_decoder``) answers with its next-token guess from position i - 1, having read only the
    tokens left of the blank.
    """
    was_training = model.training
    model.eval()
    masked = [e.tokens if show_answer else tuple("[MASK]" if i == e.blank else t for i, t in enumerate(e.tokens))
              for e in examples]
    ids, mask = encode(masked, tokenizer)
    logits = model(ids, attention_mask=mask).prediction_logits  # (B, T, V)
    pos = torch.tensor([e.blank + 1 for e in examples])  # +1 for [CLS]
    if model.config.is_decoder:
        pos = pos - 1
    best = logits[torch.arange(len(examples)), pos].argmax(-1)  # (B,)
    model.train(was_training)
    return tokenizer.convert_ids_to_tokens(best.tolist())


def accuracy_by_kind(examples: Sequence[BlankExample], answers: Sequence[str]) -> dict[str, float]:
    """Share of right answers per kind, and per ``"family / kind"``."""
    hits: dict[str, list[bool]] = defaultdict(list)
    for e, a in zip(examples, answers, strict=True):
        hits[e.kind].append(a == e.answer)
        hits[f"{e.family} / {e.kind}"].append(a == e.answer)
    return {k: sum(v) / len(v) for k, v in sorted(hits.items())}


def left_only_baseline(examples: Sequence[BlankExample]) -> dict[str, float]:
    """The best any left-to-right reader can do, per kind: answer each blank with the most probable next word
    after the same prefix, under the language's exact distribution (:func:`language`)."""
    after: dict[tuple[str, ...], Counter[str]] = defaultdict(Counter)
    for s, p in language().items():
        for i in range(len(s)):
            after[s[:i]][s[i]] += p
    guesses = []
    for i, e in enumerate(examples):
        options = after.get(e.tokens[:e.blank])
        if not options:
            raise ValueError(f"examples[{i}] ({e.text()!r}) is not from this language: no sentence of "
                             "language() starts with its left context")
        guesses.append(max(sorted(options.items()), key=lambda kv: kv[1])[0])  # ties: alphabetical first
    return accuracy_by_kind(examples, guesses)


# ----------------------------------------------------------------------------- the demo
@dataclass
class DemoResult:
    """What :func:`run_demo` measured.  ``accuracy[model][stage]`` maps a kind (and "family / kind") to a share.

    models: "bidirectional" (MLM), "left-to-right" (LTR); stages: "before", "after".  ``baseline`` is
    :func:`left_only_baseline` on the same test blanks.  ``examples``: one test blank per family and kind, with
    the true answer and each model's answer before and after training.  ``losses``: the training loss of every
    step.  ``seconds`` / ``cpu_seconds``: wall-clock and process CPU time (never print them in checked output).
    ``models``: the two trained models, in eval mode (not compared by ``==``).
    """

    accuracy: dict[str, dict[str, dict[str, float]]]
    baseline: dict[str, float]
    examples: list[dict[str, str]]
    losses: dict[str, list[float]]
    seconds: float
    cpu_seconds: float
    config: dict[str, Any] = field(default_factory=dict)
    models: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


def build_demo_model(tokenizer: Any, causal: bool, seed: int = 0) -> Any:
    """A tiny ``BertForPreTraining`` (L=2, H=64, A=2, I=128, no dropout), causal attention if ``causal``."""
    from bertedu import BertConfig, BertForPreTraining

    cfg = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=128, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                     max_position_embeddings=16, is_decoder=causal)
    return BertForPreTraining(cfg, generator=torch.Generator().manual_seed(seed))


def train_demo_model(model: Any, batches: Sequence[tuple[torch.Tensor, torch.Tensor]], tokenizer: Any,
                     lr: float = 5e-3, seed: int = 0, callback: Any = None) -> list[float]:
    """One bertedu ``train_step`` per ``(input_ids, attention_mask)`` batch (AdamW groups, 10% warmup, linear
    decay, clipping; no NSP) -> the loss of every step.  A causal model learns next-token targets
    (:func:`ltr_labels`), a bidirectional one BERT's masked LM (``mask_tokens``, fresh masks each step).

    Any model with BertForPreTraining's ``forward`` and a ``config`` works (e.g. chapter 13's ALBERT).
    ``callback(step, model)``, if given, is called after every step (step counts from 1); it must leave the
    model's parameters alone (evaluating is fine: :func:`predict_blanks` restores training mode)."""
    from bertedu import PretrainConfig, build_optimizer, build_scheduler, mask_tokens, train_step

    steps = len(batches)
    cfg = PretrainConfig(batch_size=len(batches[0][0]), total_steps=steps, warmup_steps=steps // 10, lr=lr,
                         nsp=False, max_seq_length=16, seed=seed)
    opt = build_optimizer(model, cfg)
    sched = build_scheduler(opt, cfg.warmup_steps, cfg.total_steps)
    g = torch.Generator().manual_seed(seed)
    special = tokenizer.convert_tokens_to_ids(list(SPECIALS))
    losses = []
    for ids, mask in batches:
        if model.config.is_decoder:  # next-token targets; the input is the clean sentence
            inputs, labels = ids, ltr_labels(ids, mask)
        else:  # BERT's masking, 15% and 80/10/10 (Sec. 3.1), fresh masks every step
            mb = mask_tokens(ids, special_ids=special, vocab_size=tokenizer.vocab_size,
                             mask_token_id=tokenizer.mask_token_id, generator=g, attention_mask=mask)
            inputs, labels = mb.input_ids, mb.labels
        batch = {"input_ids": inputs, "token_type_ids": torch.zeros_like(ids), "attention_mask": mask,
                 "labels": labels, "next_sentence_label": torch.zeros(len(ids), dtype=torch.long)}
        losses.append(train_step(model, opt, sched, [batch], cfg)["mlm_loss"])
        if callback is not None:
            callback(len(losses), model)
    return losses


def run_demo(seed: int = 0, steps: int = 200, batch_size: int = 256, lr: float = 5e-3, n_test: int = 1200,
             n_shown: int = 6, num_threads: int | None = 1) -> DemoResult:
    """Train the bidirectional and the left-to-right model on the same sentences; score both before and after.

    Both see the same ``steps`` batches of ``batch_size`` fresh sentences; the ``n_test`` test blanks
    (:func:`make_examples`, balanced over family and kind) are drawn with seed + 1.  The language is small
    (:func:`language`: 3,657 sentences), so most test sentences also occur in training: what is measured is
    not generalisation but which side of a blank a model can read.

    Deterministic for a given seed (dropout is 0 and every draw uses a seeded generator).  ``num_threads`` sets
    torch's thread count for the run and restores it afterwards (None = leave it as it is).  Cost: 200 steps
    of 256 sentences for each model, about 20-25 s of CPU time on one thread.
    """
    for name, value in (("steps", steps), ("batch_size", batch_size), ("n_test", n_test)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    start, cpu_start, threads = time.perf_counter(), time.process_time(), torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    try:
        tokenizer = demo_tokenizer()
        rng = random.Random(seed)
        test = make_examples(n_test, random.Random(seed + 1))
        batches = [encode([sample_sentence(rng)[0] for _ in range(batch_size)], tokenizer) for _ in range(steps)]
        accuracy: dict[str, dict[str, dict[str, float]]] = {}
        losses: dict[str, list[float]] = {}
        answers: dict[str, list[str]] = {}
        models: dict[str, Any] = {}
        for name, causal in (("bidirectional", False), ("left-to-right", True)):
            model = build_demo_model(tokenizer, causal, seed)
            answers[f"{name} (before)"] = predict_blanks(model, test, tokenizer)
            losses[name] = train_demo_model(model, batches, tokenizer, lr, seed)
            answers[name] = predict_blanks(model, test, tokenizer)
            models[name] = model.eval()
            accuracy[name] = {stage: accuracy_by_kind(test, answers[name + suffix])
                              for stage, suffix in (("before", " (before)"), ("after", ""))}
        shown = [{"text": e.text(), "family": e.family, "kind": e.kind, "answer": e.answer,
                  **{name: answers[name][i] for name in sorted(answers)}} for i, e in enumerate(test[:n_shown])]
        config = dict(seed=seed, steps=steps, batch_size=batch_size, lr=lr, n_test=n_test, num_threads=num_threads)
        return DemoResult(accuracy, left_only_baseline(test), shown, losses, time.perf_counter() - start,
                          time.process_time() - cpu_start, config, models)
    finally:
        torch.set_num_threads(threads)

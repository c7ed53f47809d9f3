"""Bugs #4, #5, #6, #12 and #14 of book/bugs.md: choosing and corrupting the masked-LM targets (Sec. 3.1).

Every masker here has one signature, so that one check can judge any of them (bertedu's own
:func:`bertedu.mask_tokens` included, see ``tests/test_bug_hunt.py``)::

    masker(input_ids: LongTensor (B, T), vocab_size: int, generator: torch.Generator)
        -> (corrupted ids (B, T), labels (B, T): the original id at chosen positions, -100 elsewhere)

on a toy vocabulary whose ids 0-4 are the special tokens.  The fixed masker does what the paper and the
original script do; each broken one differs from it in a line or two, marked ``# BUG``.
Bug #14 is about token *strings* (the original script masks strings), so it has its own small masker.
"""

from __future__ import annotations

import random

import torch

from bertedu.study.bughunt.outcome import Outcome, guarded

PAD, UNK, CLS, SEP, MASK = 0, 1, 2, 3, 4          # the toy vocabulary's special ids
SPECIAL = (PAD, UNK, CLS, SEP, MASK)
IGNORE = -100                                     # the label no loss reads


# ------------------------------------------------------------------------------ the fixed masker
def choose_exact(input_ids: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Exactly ``max(1, round(0.15 n))`` of the ``n`` non-special tokens of each row, uniformly."""
    candidates = ~torch.isin(input_ids, torch.tensor(SPECIAL))                 # (B, T)
    n = candidates.sum(dim=-1).tolist()
    budget = torch.tensor([min(k, max(1, round(0.15 * k))) for k in n])      # Python's round, as the script
    scores = torch.rand(input_ids.shape, generator=generator).masked_fill(~candidates, 2.0)
    ranks = scores.argsort(dim=-1).argsort(dim=-1)                           # 0 = first in a random order
    return (ranks < budget[:, None]) & candidates


def corrupt(input_ids: torch.Tensor, chosen: torch.Tensor, vocab_size: int,
            generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """80/10/10 of the *chosen* tokens: one draw u per token, [MASK] if u < 0.8, random if u < 0.9."""
    u = torch.rand(input_ids.shape, generator=generator)
    words = torch.tensor([i for i in range(vocab_size) if i not in SPECIAL])  # never a special id
    random_ids = words[torch.randint(len(words), input_ids.shape, generator=generator)]
    out = torch.where(chosen & (u < 0.8), MASK, input_ids)
    out = torch.where(chosen & (u >= 0.8) & (u < 0.9), random_ids, out)
    return out, torch.where(chosen, input_ids, IGNORE)


def mask_fixed(input_ids: torch.Tensor, vocab_size: int, generator: torch.Generator):
    """The masker of Sec. 3.1: exactly 15% of the non-special tokens, then 80/10/10."""
    return corrupt(input_ids, choose_exact(input_ids, generator), vocab_size, generator)


# ------------------------------------------------------------------------------ the broken maskers
def mask_coin_per_token(input_ids: torch.Tensor, vocab_size: int, generator: torch.Generator):
    """Bug #4: a 15% coin per token, while the documentation promises exactly 15% per sequence."""
    candidates = ~torch.isin(input_ids, torch.tensor(SPECIAL))
    chosen = candidates & (torch.rand(input_ids.shape, generator=generator) < 0.15)  # BUG: 0 to n targets
    return corrupt(input_ids, chosen, vocab_size, generator)


def mask_random_from_whole_vocab(input_ids: torch.Tensor, vocab_size: int, generator: torch.Generator):
    """Bug #5: the 10% "random token" is drawn from the whole vocabulary, special ids included."""
    chosen = choose_exact(input_ids, generator)
    u = torch.rand(input_ids.shape, generator=generator)
    random_ids = torch.randint(vocab_size, input_ids.shape, generator=generator)  # BUG: [CLS], [SEP], ...
    out = torch.where(chosen & (u < 0.8), MASK, input_ids)
    out = torch.where(chosen & (u >= 0.8) & (u < 0.9), random_ids, out)
    return out, torch.where(chosen, input_ids, IGNORE)


def mask_specials_too(input_ids: torch.Tensor, vocab_size: int, generator: torch.Generator):
    """Bug #5, the other half: only padding is excluded, so [CLS] and [SEP] can become targets."""
    candidates = input_ids != PAD                     # BUG: should exclude every special id
    n = candidates.sum(dim=-1).tolist()
    budget = torch.tensor([max(1, round(0.15 * k)) for k in n])
    scores = torch.rand(input_ids.shape, generator=generator).masked_fill(~candidates, 2.0)
    chosen = (scores.argsort(-1).argsort(-1) < budget[:, None]) & candidates
    return corrupt(input_ids, chosen, vocab_size, generator)


def mask_10_percent_of_the_rest(input_ids: torch.Tensor, vocab_size: int, generator: torch.Generator):
    """Bug #6: "80% [MASK], then 10% random" read as 10% *of the remaining 20%*: 80/2/18."""
    chosen = choose_exact(input_ids, generator)
    u = torch.rand(input_ids.shape, generator=generator)
    v = torch.rand(input_ids.shape, generator=generator)                      # a second, fresh draw
    words = torch.tensor([i for i in range(vocab_size) if i not in SPECIAL])
    random_ids = words[torch.randint(len(words), input_ids.shape, generator=generator)]
    to_mask = chosen & (u < 0.8)
    to_random = chosen & ~to_mask & (v < 0.1)         # BUG: 10% of the 20% left = 2% of the chosen
    out = torch.where(to_mask, MASK, input_ids)
    out = torch.where(to_random, random_ids, out)
    return out, torch.where(chosen, input_ids, IGNORE)


def mask_prob_times_08(input_ids: torch.Tensor, vocab_size: int, generator: torch.Generator):
    """Bug #12: the draw is compared with a scaled copy of itself, ``prob < prob * 0.8``: never true."""
    chosen = choose_exact(input_ids, generator)
    prob = torch.rand(input_ids.shape, generator=generator)
    words = torch.tensor([i for i in range(vocab_size) if i not in SPECIAL])
    random_ids = words[torch.randint(len(words), input_ids.shape, generator=generator)]
    to_mask = chosen & (prob < prob * 0.8)            # BUG: meant prob < 0.8
    to_random = chosen & ~to_mask & (prob < prob * 0.9)  # BUG: never true either
    out = torch.where(to_mask, MASK, input_ids)
    out = torch.where(to_random, random_ids, out)
    return out, torch.where(chosen, input_ids, IGNORE)


def mask_reused_draw(input_ids: torch.Tensor, vocab_size: int, generator: torch.Generator):
    """Bug #12, the other form: the draw that chose the token (< 0.15) decides its fate unrescaled."""
    candidates = ~torch.isin(input_ids, torch.tensor(SPECIAL))
    prob = torch.rand(input_ids.shape, generator=generator)
    chosen = candidates & (prob < 0.15)
    words = torch.tensor([i for i in range(vocab_size) if i not in SPECIAL])
    random_ids = words[torch.randint(len(words), input_ids.shape, generator=generator)]
    out = torch.where(chosen & (prob < 0.8), MASK, input_ids)   # BUG: prob < 0.15 here, so always true
    out = torch.where(chosen & (prob >= 0.8) & (prob < 0.9), random_ids, out)  # BUG: never reached
    return out, torch.where(chosen, input_ids, IGNORE)


# ------------------------------------------------------------------------------ the checks
def toy_batch(rows: int, length: int, vocab_size: int, generator: torch.Generator) -> torch.Tensor:
    """``[CLS] w ... w [SEP] [PAD] ...`` rows of random words (non-special ids), random lengths."""
    batch = torch.full((rows, length), PAD)
    for r in range(rows):
        n = int(torch.randint(4, length - 1, (1,), generator=generator))     # words in this row
        batch[r, 0], batch[r, n + 1] = CLS, SEP
        batch[r, 1:n + 1] = torch.randint(len(SPECIAL), vocab_size, (n,), generator=generator)
    return batch


@guarded
def check_exact_count(masker) -> Outcome:
    """Bug #4: count the targets of every sequence; the documented rule is exactly max(1, round(0.15 n))."""
    g = torch.Generator().manual_seed(4)
    ids = toy_batch(300, 40, 1000, g)
    _, labels = masker(ids, 1000, g)
    n = (~torch.isin(ids, torch.tensor(SPECIAL))).sum(-1).tolist()
    got = (labels != IGNORE).sum(-1).tolist()
    wrong = [(k, c) for k, c in zip(n, got) if c != max(1, round(0.15 * k))]
    if wrong:
        k, c = wrong[0]
        return Outcome(False, f"{len(wrong)} of {len(n)} sequences break the rule, e.g. {k} candidates got "
                              f"{c} targets instead of {max(1, round(0.15 * k))}")
    return Outcome(True, f"all {len(n)} sequences have exactly max(1, round(0.15 n)) targets")


@guarded
def check_specials(masker) -> Outcome:
    """Bug #5: no special or padding position is a target, and no special id but [MASK] is inserted."""
    g = torch.Generator().manual_seed(5)
    ids = toy_batch(400, 24, 12, g)                   # 12 ids: a random id is special 5 times in 12
    out, labels = masker(ids, 12, g)
    special = torch.isin(ids, torch.tensor(SPECIAL))
    targets = int((special & (labels != IGNORE)).sum())
    inserted = int((~special & torch.isin(out, torch.tensor((PAD, UNK, CLS, SEP)))).sum())
    problems = [f"{targets} special or padding positions were chosen as targets"] if targets else []
    problems += [f"{inserted} special tokens other than [MASK] were inserted"] if inserted else []
    if problems:
        return Outcome(False, " and ".join(problems))
    return Outcome(True, "no special token was chosen, none but [MASK] was inserted")


@guarded
def check_80_10_10(masker) -> Outcome:
    """Bugs #6 and #12: among the chosen tokens, [MASK] / random / unchanged must be 0.8 / 0.1 / 0.1."""
    g = torch.Generator().manual_seed(6)
    ids = toy_batch(500, 32, 1000, g)                 # 1000 ids: a random token rarely equals the original
    out, labels = masker(ids, 1000, g)
    chosen = labels != IGNORE
    n = int(chosen.sum())
    shares = [float(((out == MASK) & chosen).sum()) / n,
              float(((out != MASK) & (out != ids) & chosen).sum()) / n,
              float(((out == ids) & chosen).sum()) / n]
    text = "[MASK] {:.3f}, random {:.3f}, unchanged {:.3f}".format(*shares)
    if any(abs(s - want) > 0.03 for s, want in zip(shares, (0.8, 0.1, 0.1))):
        return Outcome(False, f"of {n} chosen tokens: {text} (want 0.8, 0.1, 0.1)")
    return Outcome(True, f"of {n} chosen tokens: {text}")


# ------------------------------------------------------------------------------ bug #14: token strings
def mask_words_fixed(tokens: list[str], vocab_words: list[str], rng: random.Random) -> list[str]:
    """The original script's way, on strings: a random replacement is a *word* of the vocabulary."""
    out = list(tokens)
    positions = [i for i, t in enumerate(tokens) if t not in ("[CLS]", "[SEP]")]
    rng.shuffle(positions)
    words = [w for w in vocab_words if not (w.startswith("[") and w.endswith("]"))]
    for i in positions[:max(1, round(0.15 * len(positions)))]:
        u = rng.random()
        if u < 0.8:
            out[i] = "[MASK]"
        elif u < 0.9:
            out[i] = words[rng.randint(0, len(words) - 1)]   # a token string, like every other entry
    return out


def mask_words_inserting_ids(tokens: list[str], vocab_words: list[str], rng: random.Random) -> list[str]:
    """Bug #14: the random branch inserts an *id* into a list of token strings."""
    out = list(tokens)
    positions = [i for i, t in enumerate(tokens) if t not in ("[CLS]", "[SEP]")]
    rng.shuffle(positions)
    words = [w for w in vocab_words if not (w.startswith("[") and w.endswith("]"))]
    for i in positions[:max(1, round(0.15 * len(positions)))]:
        u = rng.random()
        if u < 0.8:
            out[i] = "[MASK]"
        elif u < 0.9:
            out[i] = rng.randint(0, len(words) - 1)          # BUG: an int among strings
    return out


@guarded
def check_replacement_kind(masker) -> Outcome:
    """Bug #14: after masking, every entry is still a token string of the vocabulary."""
    rng = random.Random(14)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(50)]
    known, bad = set(vocab), []
    for _ in range(300):
        tokens = ["[CLS]"] + [rng.choice(vocab[5:]) for _ in range(rng.randint(5, 20))] + ["[SEP]"]
        bad += [t for t in masker(tokens, vocab, rng) if not isinstance(t, str) or t not in known]
    if bad:
        return Outcome(False, f"{len(bad)} entries are not vocabulary tokens, e.g. {bad[0]!r} "
                              f"({type(bad[0]).__name__})")
    return Outcome(True, "every entry after masking is a token string of the vocabulary")

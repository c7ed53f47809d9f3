"""Masked-LM masking (paper Sec. 3.1 Task #1, Appendix A.1): what gets chosen, and what it becomes.

Statistical tests use tolerances from the binomial distribution: a count of n independent events of
probability p has standard deviation sqrt(n p (1 - p)); we allow 5 standard deviations, so a correct
implementation fails about once in 1.7 million runs (and the seeds are fixed, so never in practice),
while each bug these tests target moves the count by far more than that.
"""

from __future__ import annotations

import math

import pytest
import torch

from bertedu.pretraining.masking import (IGNORE_INDEX, KEPT, MASKED, NOT_CHOSEN, RANDOM, MaskedBatch, MaskSpec,
                                         continuation_lookup, mask_kwargs, mask_tokens, whole_word_mask_tokens)
from bertedu.text.tokenizer import BertTokenizer

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = [f"w{i}" for i in range(70)]
PIECES = [f"##p{i}" for i in range(24)]
VOCAB = SPECIALS + WORDS + PIECES  # 99 tokens: an odd size, so a swapped dimension shows
TOK = BertTokenizer({t: i for i, t in enumerate(VOCAB)})
KW = mask_kwargs(TOK)
V = len(VOCAB)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def random_batch(b: int, t: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T) of [CLS] words... [SEP] [PAD]...: each row a different real length (attention_mask 1s)."""
    g = gen(seed)
    ids = torch.randint(5, V, (b, t), generator=g)
    lengths = torch.randint(3, t + 1, (b,), generator=g)
    mask = (torch.arange(t) < lengths[:, None]).long()
    ids[:, 0] = TOK.cls_token_id
    ids[torch.arange(b), lengths - 1] = TOK.sep_token_id
    ids[mask == 0] = TOK.pad_token_id
    return ids, mask


def test_golden_everything_masked():
    # With every rate at 1, the result is fully determined: a hand-worked example.
    ids = torch.tensor(TOK.convert_tokens_to_ids(["[CLS]", "w3", "w4", "[SEP]", "[PAD]"]))
    out = mask_tokens(ids, generator=gen(0), mlm_probability=1.0, mask_prob=1.0, random_prob=0.0, **KW)
    assert TOK.convert_ids_to_tokens(out.input_ids.tolist()) == ["[CLS]", "[MASK]", "[MASK]", "[SEP]", "[PAD]"]
    assert out.labels.tolist() == [-100, VOCAB.index("w3"), VOCAB.index("w4"), -100, -100]
    assert out.decision.tolist() == [NOT_CHOSEN, MASKED, MASKED, NOT_CHOSEN, NOT_CHOSEN]


def test_bug4_exact_count_per_sequence():
    # bug #4 in book/bugs.md: we follow the original script, "exactly max(1, round(0.15 n))" positions per sequence,
    # capped by max_predictions.  A per-token Bernoulli(0.15) would make the count vary from draw to draw.
    ids, attn = random_batch(3, 37, seed=1)
    n = ((attn == 1) & ~torch.isin(ids, torch.tensor(TOK.all_special_ids))).sum(1).tolist()
    for cap in (None, 2):
        for seed in range(40):
            out = mask_tokens(ids, generator=gen(seed), attention_mask=attn, max_predictions=cap, **KW)
            want = [min(c, max(1, round(0.15 * c)), cap if cap is not None else c) for c in n]
            assert out.masked_positions.sum(1).tolist() == want


def test_edge_counts():
    cls, sep, pad = TOK.cls_token_id, TOK.sep_token_id, TOK.pad_token_id
    only_special = torch.tensor([[cls, sep, pad, pad]])
    assert mask_tokens(only_special, generator=gen(0), **KW).masked_positions.sum() == 0  # nothing to choose
    one_word = torch.tensor([[cls, 7, sep, pad]])
    assert mask_tokens(one_word, generator=gen(0), **KW).masked_positions.sum() == 1  # the max(1, ...)
    assert mask_tokens(one_word, generator=gen(0), max_predictions=0, **KW).masked_positions.sum() == 0
    # 10 candidates: 0.15 * 10 = 1.5 rounds to 2 (Python's round, half to even)
    ten = torch.tensor([[cls] + list(range(10, 20)) + [sep]])
    assert mask_tokens(ten, generator=gen(0), **KW).masked_positions.sum() == round(0.15 * 10) == 2


def test_bug5_special_and_padding_never_chosen_or_inserted():
    # bug #5 in book/bugs.md.  Send *every* chosen token to a random replacement, choose every candidate, and use
    # special ids scattered through the vocabulary (not just the first few), so "randint(5, V)" fails too.
    special = torch.tensor([0, 1, 2, 3, 4, 40, 98])
    ids, attn = random_batch(64, 41, seed=2)
    ids[attn == 0] = 50  # padding that looks like a word: only attention_mask says it is padding
    out = mask_tokens(ids, special_ids=special, vocab_size=V, mask_token_id=4, generator=gen(3),
                      attention_mask=attn, mlm_probability=1.0, mask_prob=0.0, random_prob=1.0)
    chosen = out.masked_positions
    assert not chosen[torch.isin(ids, special)].any()
    assert not chosen[attn == 0].any()
    assert torch.equal(out.input_ids[~chosen], ids[~chosen])
    replaced = out.input_ids[chosen]
    assert not torch.isin(replaced, special).any()
    # ~2000 uniform draws over 92 allowed ids: each is missed with probability (91/92)^2000 < 1e-9,
    # so all of them appear; this fails if replacements come from a sub-range of the vocabulary.
    allowed = set(range(V)) - set(special.tolist())
    assert set(replaced.tolist()) == allowed


def test_bug6_80_10_10_of_the_chosen_tokens():
    # bug #6 in book/bugs.md: of the chosen tokens 80% -> [MASK], 10% -> random, 10% unchanged.  "0.1 of the rest"
    # would give 2% random and 18% unchanged.  Counted from the outputs alone, not from `decision`.
    ids, attn = random_batch(400, 99, seed=4)
    out = mask_tokens(ids, generator=gen(5), attention_mask=attn, **KW)
    chosen = out.masked_positions
    n = int(chosen.sum())  # about 400 * 0.15 * 50 = 3000
    new, old = out.input_ids[chosen], ids[chosen]
    non_special = V - len(TOK.all_special_ids)
    # A random replacement equals the original id with probability 1/94, so:
    p_mask = 0.8
    p_same = 0.1 + 0.1 / non_special
    p_other = 0.1 * (1 - 1 / non_special)
    for observed, p in ((int((new == TOK.mask_token_id).sum()), p_mask), (int((new == old).sum()), p_same),
                        (int(((new != old) & (new != TOK.mask_token_id)).sum()), p_other)):
        assert abs(observed - n * p) <= 5 * math.sqrt(n * p * (1 - p)), (observed, n, p)
    # and the decision record agrees with what happened
    d = out.decision[chosen]
    assert torch.equal(new[d == MASKED], torch.full_like(new[d == MASKED], TOK.mask_token_id))
    assert torch.equal(new[d == KEPT], old[d == KEPT])
    assert (out.decision[~chosen] == NOT_CHOSEN).all() and (d != NOT_CHOSEN).all()
    assert abs(int((d == RANDOM).sum()) - 0.1 * n) <= 5 * math.sqrt(n * 0.1 * 0.9)


def test_bug14_random_replacements_are_ids_of_the_vocabulary():
    # bug #14 in book/bugs.md: the random branch must insert a token id of the same kind as the others (a long
    # tensor of vocabulary ids), never a string or a float, so the tokenizer turns every output back into text.
    ids, attn = random_batch(8, 30, seed=6)
    out = mask_tokens(ids, generator=gen(7), attention_mask=attn, mlm_probability=1.0, mask_prob=0.0,
                      random_prob=1.0, **KW)
    assert out.input_ids.dtype == ids.dtype == torch.long and out.labels.dtype == torch.long
    assert int(out.input_ids.min()) >= 0 and int(out.input_ids.max()) < V
    words = TOK.convert_ids_to_tokens(out.input_ids[out.decision == RANDOM])
    assert words and all(isinstance(w, str) and w in TOK.vocab and w not in SPECIALS for w in words)


def test_a_spec_object_and_its_fields_give_the_same_masks():
    ids, attn = random_batch(6, 25, seed=8)
    spec = MaskSpec(**KW, max_predictions=3)
    a = mask_tokens(ids, spec, generator=gen(9), attention_mask=attn)
    b = mask_tokens(ids, generator=gen(9), attention_mask=attn, max_predictions=3, **KW)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    with pytest.raises(TypeError, match="not both"):
        mask_tokens(ids, spec, generator=gen(9), vocab_size=V)
    with pytest.raises(TypeError, match="max_predictions_per_seq"):
        mask_tokens(ids, generator=gen(9), max_predictions_per_seq=3, **KW)


def test_chosen_positions_are_uniform():
    # Every candidate position is equally likely: 6 candidates, 1 chosen per draw, 3000 draws ->
    # each position about 500 times, sd sqrt(3000 * 1/6 * 5/6) = 20.4.
    ids = torch.tensor([[2, 10, 11, 12, 13, 14, 15, 3]]).repeat(3000, 1)
    counts = mask_tokens(ids, generator=gen(6), **KW).masked_positions.sum(0)
    assert counts[0] == counts[-1] == 0
    for c in counts[1:-1].tolist():
        assert abs(c - 500) <= 5 * 20.4


def test_labels_and_input_untouched():
    ids, attn = random_batch(3, 7, seed=7)
    before = ids.clone()
    out = mask_tokens(ids, generator=gen(8), attention_mask=attn, mlm_probability=0.5, **KW)
    assert isinstance(out, MaskedBatch)
    assert torch.equal(ids, before)  # never modified in place
    chosen = out.labels != IGNORE_INDEX
    assert torch.equal(chosen, out.masked_positions)
    assert torch.equal(out.labels[chosen], ids[chosen])  # the original id is the target
    assert (out.labels[~chosen] == -100).all()
    assert out.input_ids.shape == out.labels.shape == ids.shape == (3, 7)
    assert out.input_ids.dtype == out.labels.dtype == torch.long


def test_one_dimensional_input():
    ids = torch.tensor([2, 10, 11, 12, 13, 14, 3])
    out = mask_tokens(ids, generator=gen(0), mlm_probability=0.4, **KW)
    assert out.input_ids.shape == out.labels.shape == (7,)
    assert int(out.masked_positions.sum()) == 2  # round(0.4 * 5)


def test_determinism():
    ids, attn = random_batch(3, 37, seed=9)
    a = mask_tokens(ids, generator=gen(10), attention_mask=attn, **KW)
    b = mask_tokens(ids, generator=gen(10), attention_mask=attn, **KW)
    c = mask_tokens(ids, generator=gen(11), attention_mask=attn, **KW)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a.labels, c.labels)


@pytest.mark.parametrize("kwargs, error", [
    (dict(mlm_probability=1.5), ValueError),
    (dict(mask_prob=-0.1), ValueError),
    (dict(mask_prob=0.8, random_prob=0.3), ValueError),  # 80% + 30% > 100%
    (dict(max_predictions=-1), ValueError),
    (dict(generator=0), TypeError),  # a seed is not a generator
    (dict(attention_mask=torch.ones(3, 6)), ValueError),
    (dict(vocab_size=20), ValueError),  # ids up to 98 do not fit a vocabulary of 20
])
def test_bad_arguments(kwargs, error):
    ids, _ = random_batch(3, 7, seed=0)
    args = dict(KW, generator=gen(0))
    args.update(kwargs)
    with pytest.raises(error, match="|".join(kwargs)):
        mask_tokens(ids, **args)


def test_bad_ids_dtype():
    with pytest.raises(TypeError, match="input_ids"):
        mask_tokens(torch.ones(3, 7), generator=gen(0), **KW)


# ---- whole-word masking -------------------------------------------------------------------------------

def word_batch(b: int, t: int, seed: int) -> torch.Tensor:
    """Rows of [CLS] + random words and pieces + [SEP]; about one token in three is a ## piece."""
    g = gen(seed)
    words = torch.randint(5, 75, (b, t), generator=g)
    pieces = torch.randint(75, V, (b, t), generator=g)
    ids = torch.where(torch.rand(b, t, generator=g) < 0.35, pieces, words)
    ids[:, 0], ids[:, -1] = TOK.cls_token_id, TOK.sep_token_id
    ids[:, t // 2] = TOK.sep_token_id  # a ## piece right after [SEP] starts a word of its own
    return ids


def word_spans(row: list[int]) -> list[list[int]]:
    """Positions of each word, worked out with the tokenizer's own notion of a ## continuation."""
    spans: list[list[int]] = []
    for pos, i in enumerate(row):
        if i in TOK.all_special_ids:
            continue
        if TOK.is_continuation(VOCAB[i]) and spans and spans[-1][-1] == pos - 1:
            spans[-1].append(pos)
        else:
            spans.append([pos])
    return spans


@pytest.mark.parametrize("same", [False, True])
def test_whole_words_chosen_together_within_budget(same):
    ids = word_batch(3, 41, seed=12)
    cont = continuation_lookup(TOK)
    for seed in range(30):
        out = whole_word_mask_tokens(ids, is_continuation=cont, generator=gen(seed), mlm_probability=0.3,
                                     same_decision_for_word=same, **KW)
        for row, chosen, decision in zip(ids.tolist(), out.masked_positions.tolist(), out.decision.tolist()):
            spans = word_spans(row)
            n = sum(len(s) for s in spans)
            budget = max(1, round(0.3 * n))
            count = sum(chosen)
            assert count <= budget  # counted in tokens, never exceeded
            for span in spans:
                flags = {chosen[p] for p in span}
                assert len(flags) == 1, "a word was only partly chosen"
                if not chosen[span[0]]:
                    # the original greedy rule: a word is skipped only if it no longer fit
                    assert len(span) > budget - count
                elif same:
                    assert len({decision[p] for p in span}) == 1
            assert not any(chosen[p] for p, i in enumerate(row) if i in TOK.all_special_ids)


def test_whole_word_lookup_and_errors():
    cont = continuation_lookup(TOK)
    assert cont.shape == (V,) and cont.dtype == torch.bool
    assert cont.nonzero().flatten().tolist() == list(range(75, 99))
    ids = word_batch(3, 7, seed=0)
    with pytest.raises(TypeError, match="is_continuation"):
        whole_word_mask_tokens(ids, is_continuation=cont[:50], generator=gen(0), **KW)


def test_whole_word_determinism_and_statistics():
    ids = word_batch(300, 51, seed=13)
    cont = continuation_lookup(TOK)
    a = whole_word_mask_tokens(ids, is_continuation=cont, generator=gen(1), **KW)
    b = whole_word_mask_tokens(ids, is_continuation=cont, generator=gen(1), **KW)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    n = int(a.masked_positions.sum())  # ~ 300 * 7 = 2100 tokens, decided per token
    masked = int((a.decision == MASKED).sum())
    assert abs(masked - 0.8 * n) <= 5 * math.sqrt(n * 0.8 * 0.2)


def test_mask_kwargs_from_tokenizer():
    kw = mask_kwargs(TOK)
    assert kw["vocab_size"] == 99 and kw["mask_token_id"] == 4
    assert sorted(kw["special_ids"].tolist()) == [0, 1, 2, 3, 4]

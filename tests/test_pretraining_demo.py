"""The both-sides demo (bertedu.pretraining.demo): its language, the left-to-right objective, the causal mask.

Paper Sec. 3.1 ("deep bidirectional") and Sec. 5.1 (the "LTR & No NSP" ablation of Table 5).
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections import Counter, defaultdict

import pytest
import torch

from bertedu import BertForPreTraining
from bertedu.pretraining import demo
from odd_sizes import B, T, V, odd_config


@pytest.fixture(scope="module")
def tok():
    return demo.demo_tokenizer()


@pytest.fixture(scope="module")
def lang():
    return demo.language()


def _prefix_table(lang):
    """prefix -> Counter(next word -> probability), and (prefix, suffix) -> set of words in between."""
    after, between = defaultdict(Counter), defaultdict(set)
    for s, p in lang.items():
        for i in range(len(s)):
            after[s[:i]][s[i]] += p
            between[s[:i], s[i + 1:]].add(s[i])
    return after, between


# ----------------------------------------------------------------------------- the language
def test_generator_is_deterministic_and_seeded():
    a = demo.make_examples(30, random.Random(5))
    assert a == demo.make_examples(30, random.Random(5))
    assert a != demo.make_examples(30, random.Random(6))
    assert [(e.family, e.kind) for e in a[:6]] == [(f, k) for f in demo.FAMILIES for k in demo.KINDS]


def test_samples_follow_the_exact_distribution(lang):
    assert math.isclose(sum(lang.values()), 1.0, rel_tol=1e-9)
    assert len(lang) == 4 * 2 * 4 + 3 * 3 * 20 * 20 + 5 * 5  # agreement, brackets, arithmetic
    n, rng = 20_000, random.Random(0)
    counts = Counter(demo.sample_sentence(rng)[0] for _ in range(n))
    assert set(counts) <= set(lang)
    for s, p in lang.items():  # every frequency within 5 binomial standard deviations (+1 count)
        assert abs(counts[s] - n * p) <= 5 * math.sqrt(n * p * (1 - p)) + 1, s


def test_blank_kinds_are_right_by_construction(lang):
    """'left suffices': the prefix fixes the answer.  'needs right context': it does not, but both sides do."""
    after, between = _prefix_table(lang)
    rng = random.Random(1)
    for _ in range(3000):
        tokens, family, blanks = demo.sample_sentence(rng)
        for kind, i in blanks.items():
            nxt = after[tokens[:i]]
            best = max(nxt.values()) / sum(nxt.values())  # what the best left-only guess gets right
            if kind == demo.LEFT_SUFFICES:
                assert set(nxt) == {tokens[i]}, (tokens, i)
            else:
                assert best <= 0.5, (tokens, i, nxt)
            assert between[tokens[:i], tokens[i + 1:]] == {tokens[i]}, (tokens, i)  # both sides decide


def test_left_only_baseline_is_exact_chance():
    examples = [e for e in demo.make_examples(600, random.Random(2)) if e.family == "agreement"]
    base = demo.left_only_baseline(examples)
    assert base["agreement / left suffices"] == 1.0
    # "the [MASK]": 8 equally likely nouns; the guess is right on the test blanks whose noun it names
    noun = Counter(e.answer for e in examples if e.kind == demo.NEEDS_RIGHT)
    assert base["agreement / needs right context"] == pytest.approx(noun["bird"] / sum(noun.values()))


def test_vocabulary_and_tokenizer(tok):
    vocab = tok.convert_ids_to_tokens(list(range(tok.vocab_size)))
    assert vocab[:5] == list(demo.SPECIALS) and len(set(vocab)) == len(vocab)
    for e in demo.make_examples(60, random.Random(3)):  # what the text shows is exactly what the models read
        assert tok.tokenize(" ".join(e.tokens)) == list(e.tokens)
        assert tok.tokenize(e.text()) == ["[MASK]" if i == e.blank else t for i, t in enumerate(e.tokens)]
    ids, mask = demo.encode([("the", "dog", "often", "barks"), ("1", "+", "2", "=", "3")], tok)
    assert ids.shape == mask.shape == (2, 7)
    assert mask[0].tolist() == [1] * 6 + [0] and ids[0, -1] == tok.pad_token_id
    assert ids[1, 0] == tok.cls_token_id and ids[1, -1] == tok.sep_token_id


def test_bad_arguments():
    with pytest.raises(TypeError, match="rng"):
        demo.sample_sentence(0)
    with pytest.raises(ValueError, match="family"):
        demo.sample_sentence(random.Random(0), "poetry")
    with pytest.raises(ValueError, match="n must"):
        demo.make_examples(0, random.Random(0))
    with pytest.raises(ValueError, match="steps"):
        demo.run_demo(steps=0)
    with pytest.raises(ValueError, match="attention_mask"):
        demo.ltr_labels(torch.zeros(2, 3, dtype=torch.long), torch.ones(2, 4))
    with pytest.raises(ValueError, match="not from this language"):
        demo.left_only_baseline([demo.BlankExample(("dogs", "the"), 1, "agreement", demo.LEFT_SUFFICES)])


# ----------------------------------------------------------------------------- the left-to-right objective
def test_ltr_labels_shift_and_skip_padding():
    ids = torch.tensor([[2, 10, 11, 3, 0], [2, 12, 3, 0, 0]])
    mask = (ids != 0).long()
    assert demo.ltr_labels(ids, mask).tolist() == [[10, 11, 3, -100, -100], [12, 3, -100, -100, -100]]
    assert demo.ltr_labels(ids).tolist()[1] == [12, 3, 0, 0, -100]  # without a mask, padding is a target


def test_ltr_loss_by_hand_and_ignores_padding():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 4, 5, generator=g)  # (B, T, V)
    ids = torch.tensor([[1, 2, 3, 4], [4, 3, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    logp = logits.log_softmax(-1)
    # targets: row 0 predicts 2, 3, 4 from positions 0, 1, 2; row 1 predicts 3 from position 0 only
    by_hand = -(logp[0, 0, 2] + logp[0, 1, 3] + logp[0, 2, 4] + logp[1, 0, 3]) / 4
    torch.testing.assert_close(demo.ltr_loss(logits, ids, mask), by_hand)
    changed = logits.clone()
    changed[1, 1:] = 100.0  # outputs whose next token is padding (and the last column) do not count
    changed[0, 3] = -100.0
    torch.testing.assert_close(demo.ltr_loss(changed, ids, mask), by_hand)
    with pytest.raises(ValueError, match="logits"):
        demo.ltr_loss(logits[:, :3], ids, mask)


def test_ltr_labels_turn_the_mlm_loss_into_the_ltr_loss():
    model = BertForPreTraining(odd_config(is_decoder=True), generator=torch.Generator().manual_seed(0)).eval()
    ids = torch.randint(5, V, (B, T), generator=torch.Generator().manual_seed(1))
    mask = torch.ones(B, T, dtype=torch.long)
    mask[1, 4:] = 0
    out = model(ids, attention_mask=mask, labels=demo.ltr_labels(ids, mask))
    torch.testing.assert_close(out.mlm_loss, demo.ltr_loss(out.prediction_logits, ids, mask))
    masked_only = model(ids, attention_mask=mask, labels=demo.ltr_labels(ids, mask), masked_only=True)
    torch.testing.assert_close(masked_only.mlm_loss, out.mlm_loss)


# ----------------------------------------------------------------------------- the causal mask
@pytest.mark.parametrize("impl", ["eager", "sdpa"])
def test_causal_model_cannot_see_the_right_context(impl):
    """Changing every token right of position t leaves outputs 0..t unchanged (and it does change them
    in the bidirectional model, so the check can fail)."""
    ids = torch.randint(5, V, (B, T), generator=torch.Generator().manual_seed(2))
    for causal in (True, False):
        model = BertForPreTraining(odd_config(is_decoder=causal, attn_implementation=impl),
                                   generator=torch.Generator().manual_seed(0)).eval()
        base = model(ids).prediction_logits  # (B, T, V)
        for t in range(T - 1):
            other = ids.clone()
            other[:, t + 1:] = torch.randint(5, V, (B, T - t - 1), generator=torch.Generator().manual_seed(t))
            new = model(other).prediction_logits
            if causal:
                torch.testing.assert_close(new[:, :t + 1], base[:, :t + 1], rtol=0, atol=1e-6)
            else:
                assert not torch.allclose(new[:, :t + 1], base[:, :t + 1], atol=1e-4)


# ----------------------------------------------------------------------------- short training
def _agreement_run(tok, seed: int, drop_causal_mask: bool = False, both: bool = True):
    """80 steps of 128 agreement sentences (both models, or the left-to-right one only)
    -> accuracies, baseline, whether the LTR answers stay the same when the true word is left in the blank."""
    rng, test_rng = random.Random(seed), random.Random(seed + 1)
    test = [demo.BlankExample(t, b[k], "agreement", k)
            for t, _, b in (demo.sample_sentence(test_rng, "agreement") for _ in range(200)) for k in demo.KINDS]
    batches = [demo.encode([demo.sample_sentence(rng, "agreement")[0] for _ in range(128)], tok) for _ in range(80)]
    acc = {}
    for name, causal in (("bidirectional", False), ("left-to-right", True))[0 if both else 1:]:
        model = demo.build_demo_model(tok, causal, seed)
        if causal and drop_causal_mask:  # the bug: LTR labels and reading, but the encoder sees everything
            model.bert.config = dataclasses.replace(model.config, is_decoder=False)
        demo.train_demo_model(model, batches, tok, lr=5e-3, seed=seed)
        answers = demo.predict_blanks(model, test, tok)
        acc[name] = demo.accuracy_by_kind(test, answers)
    stable = answers == demo.predict_blanks(model, test, tok, show_answer=True)
    return acc, demo.left_only_baseline(test), stable


def _ltr_is_blind_to_the_right(acc, base, stable) -> bool:
    ltr = acc["left-to-right"]
    return stable and ltr[demo.NEEDS_RIGHT] <= base[demo.NEEDS_RIGHT] + 0.15 and ltr[demo.LEFT_SUFFICES] >= 0.8


def test_short_training_bidirectional_reads_the_right_side_ltr_cannot(tok):
    # margins: over seeds 0-5 the bidirectional model reached 1.00 on 'needs right' (chance ~0.12), the
    # left-to-right one stayed within 0.05 of chance there and reached >= 0.88 where the left suffices
    acc, base, stable = _agreement_run(tok, seed=0)
    assert acc["bidirectional"][demo.NEEDS_RIGHT] >= base[demo.NEEDS_RIGHT] + 0.5
    assert _ltr_is_blind_to_the_right(acc, base, stable), (acc, base, stable)


def test_short_training_check_catches_a_missing_causal_mask(tok):
    acc, base, stable = _agreement_run(tok, seed=0, drop_causal_mask=True, both=False)
    assert not stable  # it reads the word in the blank when it is left there
    assert not _ltr_is_blind_to_the_right(acc, base, stable)


# ----------------------------------------------------------------------------- the demo function
def test_run_demo_is_deterministic_and_restores_threads():
    threads = torch.get_num_threads()
    a = demo.run_demo(seed=3, steps=4, batch_size=16, n_test=24, num_threads=1)
    b = demo.run_demo(seed=3, steps=4, batch_size=16, n_test=24, num_threads=1)
    assert torch.get_num_threads() == threads
    assert (a.accuracy, a.baseline, a.examples, a.losses) == (b.accuracy, b.baseline, b.examples, b.losses)
    assert set(a.accuracy) == set(a.models) == {"bidirectional", "left-to-right"}
    assert a.models["left-to-right"].config.is_decoder and not a.models["bidirectional"].config.is_decoder
    assert len(a.losses["bidirectional"]) == 4
    assert set(a.accuracy["left-to-right"]) == {"before", "after"}
    first = a.examples[0]
    assert {"text", "answer", "kind", "family", "bidirectional", "left-to-right", "bidirectional (before)",
            "left-to-right (before)"} <= set(first) and "[MASK]" in first["text"]

"""Part V (chapter 13): span masking, ALBERT, distillation, sentence pooling, and the measured limits.

Statistical checks allow 5 binomial standard deviations (see tests/test_masking.py); seeds are fixed.
"""

from __future__ import annotations

import math
import random

import pytest
import torch

import bertedu
from bertedu.beyond.albert import AlbertForPreTraining, AlbertModel, albert_num_parameters_formula
from bertedu.beyond.distill import (DistillationStudent, distillation_loss, soft_targets, student_from_teacher,
                                    with_example_index)
from bertedu.beyond.limits import fill_masks, time_attention
from bertedu.beyond.pooling import cosine_matrix, cross_encoder_scores, embed_sentences, mean_pool, top_k
from bertedu.beyond.span_masking import sample_span_lengths, span_length_pmf, span_mask_tokens, word_spans
from bertedu.pretraining.masking import KEPT, MASKED, NOT_CHOSEN, RANDOM, continuation_lookup, mask_kwargs, mask_tokens

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
VOCAB = SPECIALS + [f"w{i}" for i in range(70)] + [f"##p{i}" for i in range(24)]  # 99: an odd size
TOK = bertedu.BertTokenizer({t: i for i, t in enumerate(VOCAB)})
KW = mask_kwargs(TOK)
V = len(VOCAB)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def sequence(t: int, seed: int, pieces: bool = False) -> torch.Tensor:
    """[CLS] w.. [SEP]; with ``pieces`` every third token is a ## piece."""
    g = gen(seed)
    ids = torch.randint(5, 75, (t,), generator=g)
    if pieces:
        ids[2::3] = torch.randint(75, V, (len(ids[2::3]),), generator=g)
    ids[0], ids[-1] = TOK.cls_token_id, TOK.sep_token_id
    return ids


def within(count: float, n: int, p: float) -> bool:
    return abs(count - n * p) <= 5 * math.sqrt(n * p * (1 - p)) + 1


# ---------------------------------------------------------------- span masking

def test_span_length_pmf_is_the_truncated_geometric_with_the_papers_mean():
    pmf = span_length_pmf(0.2, 10)
    assert pmf.shape == (10,) and abs(float(pmf.sum()) - 1) < 1e-12
    assert abs(float(pmf[1] / pmf[0]) - 0.8) < 1e-12  # geometric: each length 0.8 times the one before
    assert round(float((torch.arange(1, 11) * pmf).sum()), 1) == 3.8  # SpanBERT Sec. 3.1
    assert torch.allclose(span_length_pmf(1.0, 5), torch.tensor([1.0, 0, 0, 0, 0], dtype=torch.float64))
    for bad in (dict(p=0.0), dict(p=1.5), dict(max_span=0), dict(max_span=2.5)):
        with pytest.raises(ValueError):
            span_length_pmf(**bad)


def test_sampled_span_lengths_follow_the_pmf():
    n = 20000
    lengths = sample_span_lengths(n, gen(0))
    assert int(lengths.min()) >= 1 and int(lengths.max()) <= 10
    pmf = span_length_pmf()
    for length in range(1, 11):
        assert within(int((lengths == length).sum()), n, float(pmf[length - 1])), length


def test_span_masking_takes_exactly_the_bert_budget_and_never_specials_or_padding():
    ids = torch.stack([sequence(40, s) for s in range(6)])
    attention = torch.ones_like(ids)
    attention[3, 30:] = 0
    ids[3, 30:] = TOK.pad_token_id
    out = span_mask_tokens(ids, generator=gen(1), attention_mask=attention, **KW)
    plain = mask_tokens(ids, generator=gen(1), attention_mask=attention, **KW)
    assert out.masked_positions.sum(-1).tolist() == plain.masked_positions.sum(-1).tolist()
    assert not out.masked_positions[:, 0].any() and not out.masked_positions[attention == 0].any()
    assert not out.masked_positions[ids == TOK.sep_token_id].any()
    assert torch.equal(out.labels[out.masked_positions], ids[out.masked_positions])
    assert (out.labels[~out.masked_positions] == -100).all()


def test_spans_never_cross_a_special_token_inside_the_sequence():
    """[UNK] (or any special id) between two words is not a candidate: a span stops there."""
    ids = torch.stack([sequence(120, s, pieces=True) for s in range(20)])
    ids[:, 5::4] = TOK.unk_token_id  # specials in the middle, every fourth token
    out = span_mask_tokens(ids, generator=gen(4), is_continuation=continuation_lookup(TOK), **KW)
    assert not out.masked_positions[ids == TOK.unk_token_id].any()
    plain = mask_tokens(ids, generator=gen(4), **KW)
    assert out.masked_positions.sum(-1).tolist() == plain.masked_positions.sum(-1).tolist()
    for b, spans in enumerate(out.spans):
        for start, end in spans:
            assert not (ids[b, start:end] == TOK.unk_token_id).any()


def test_spans_are_contiguous_disjoint_and_cover_the_masked_positions():
    ids = torch.stack([sequence(200, s) for s in range(4)])
    out = span_mask_tokens(ids, generator=gen(2), **KW)
    for b, spans in enumerate(out.spans):
        covered = torch.zeros(200, dtype=torch.bool)
        for start, end in spans:
            assert end > start and not covered[start:end].any()  # disjoint
            covered[start:end] = True
        assert torch.equal(covered, out.masked_positions[b])


def test_span_masking_is_deterministic_and_leaves_the_input_alone():
    ids = sequence(60, 3)
    copy = ids.clone()
    a = span_mask_tokens(ids, generator=gen(5), **KW)
    b = span_mask_tokens(ids, generator=gen(5), **KW)
    assert torch.equal(a.input_ids, b.input_ids) and a.spans == b.spans and torch.equal(ids, copy)
    assert a.input_ids.shape == ids.shape


def test_the_80_10_10_decision_is_made_once_per_span():
    ids = torch.stack([sequence(300, s) for s in range(40)])
    out = span_mask_tokens(ids, generator=gen(7), **KW)
    fates = []
    for b, spans in enumerate(out.spans):
        for start, end in spans:
            decisions = set(out.decision[b, start:end].tolist())
            assert len(decisions) == 1 and NOT_CHOSEN not in decisions  # one fate for the whole span
            fates.append(decisions.pop())
    n = len(fates)
    assert within(fates.count(MASKED), n, 0.8) and within(fates.count(RANDOM), n, 0.1)
    assert within(fates.count(KEPT), n, 0.1)
    random_ids = out.input_ids[out.decision == RANDOM]
    assert not torch.isin(random_ids, KW["special_ids"]).any()
    assert (out.input_ids[out.decision == MASKED] == TOK.mask_token_id).all()


def test_spans_follow_whole_words_and_the_geometric_lengths():
    ids = torch.stack([sequence(300, s, pieces=True) for s in range(30)])
    flags = continuation_lookup(TOK)
    out = span_mask_tokens(ids, generator=gen(9), is_continuation=flags, **KW)
    plain = mask_tokens(ids, generator=gen(9), **KW)  # the same token budget, the last word cut to fit
    assert out.masked_positions.sum(-1).tolist() == plain.masked_positions.sum(-1).tolist()
    lengths = []
    for b, spans in enumerate(out.spans):
        words = word_spans(ids[b] != TOK.cls_token_id, flags[ids[b]])
        starts = {s for s, _ in words}
        ends = {e for _, e in words}
        for k, (start, end) in enumerate(spans):
            assert start in starts  # a span starts at the beginning of a word
            if k < len(spans) - 1:
                assert end in ends  # only the last span may be cut by the budget
            lengths.append(sum(1 for s, e in words if start <= s < end))
    mean = sum(lengths) / len(lengths)
    # collisions with earlier spans and the budget only shorten spans: a bit under the pmf's 3.8
    assert 2.8 < mean < 3.8, mean


def test_word_spans_groups_pieces():
    ids = torch.tensor([2, 10, 80, 81, 11, 3])  # [CLS] w5 ##p5 ##p6 w6 [SEP]
    flags = continuation_lookup(TOK)[ids]
    assert word_spans(torch.tensor([False, True, True, True, True, False]), flags) == [(1, 4), (4, 5)]
    assert word_spans(torch.tensor([False, True, True, True, True, False]), None) == [(1, 2), (2, 3), (3, 4),
                                                                                       (4, 5)]


# ---------------------------------------------------------------- ALBERT

ODD = dict(vocab_size=V, hidden_size=36, num_hidden_layers=3, num_attention_heads=3, intermediate_size=50,
           max_position_embeddings=40, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


@pytest.mark.parametrize("share", [True, False])
def test_albert_parameter_formula_matches_the_module(share):
    config = bertedu.BertConfig(**ODD)
    model = AlbertModel(config, embedding_size=20, share_layers=share)
    assert model.num_parameters() == albert_num_parameters_formula(config, 20, share)
    big = bertedu.BertConfig.preset("base")
    assert albert_num_parameters_formula(big, 768, False) - big.num_parameters_formula() == 768 * 768 + 768


def test_shared_layers_are_one_module_run_l_times():
    model = AlbertModel(bertedu.BertConfig(**ODD), embedding_size=20, generator=gen(0))
    assert len(model.encoder.layer) == 1
    out = model(sequence(9, 0)[None], output_hidden_states=True)
    assert len(out.hidden_states) == 4 and out.last_hidden_state.shape == (1, 9, 36)
    with pytest.raises(ValueError, match="embedding_size"):
        AlbertModel(bertedu.BertConfig(**ODD), embedding_size=0)


def _albert_key(key: str) -> str:
    """bertedu's ALBERT key -> transformers' AlbertForPreTraining key (shared block = group 0, layer 0)."""
    block = "albert.encoder.albert_layer_groups.0.albert_layers.0."
    for mine, theirs in (("attention.self.", "attention."), ("attention.output.dense", "attention.dense"),
                         ("attention.output.LayerNorm", "attention.LayerNorm"), ("intermediate.dense", "ffn"),
                         ("output.dense", "ffn_output"), ("output.LayerNorm", "full_layer_layer_norm")):
        prefix = "albert.encoder.layer.0." + mine
        if key.startswith(prefix):
            return block + theirs + key[len(prefix):]
    return key.replace("albert.pooler.dense.", "albert.pooler.")


def test_albert_matches_transformers():
    transformers = pytest.importorskip("transformers")
    ours = AlbertForPreTraining(bertedu.BertConfig(**ODD), embedding_size=20, generator=gen(3)).eval()
    config = transformers.AlbertConfig(vocab_size=V, embedding_size=20, hidden_size=36, num_hidden_layers=3,
                                       num_attention_heads=3, intermediate_size=50, hidden_act="gelu",
                                       max_position_embeddings=40, hidden_dropout_prob=0.0,
                                       attention_probs_dropout_prob=0.0, classifier_dropout_prob=0.0)
    theirs = transformers.AlbertForPreTraining(config).eval()
    state = {_albert_key(k): v for k, v in ours.state_dict().items()}
    missing, unexpected = theirs.load_state_dict(state, strict=False)
    assert not unexpected and set(missing) <= {"predictions.decoder.bias", "albert.embeddings.position_ids"}
    theirs.predictions.decoder.bias = theirs.predictions.bias
    ids = torch.stack([sequence(11, 1), sequence(11, 2)])
    mask = torch.ones_like(ids)
    mask[1, 8:] = 0
    types = torch.zeros_like(ids)
    types[:, 6:] = 1
    a = ours(ids, types, mask)
    with torch.no_grad():
        b = theirs(input_ids=ids, token_type_ids=types, attention_mask=mask)
    torch.testing.assert_close(a.prediction_logits, b.prediction_logits, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(a.seq_relationship_logits, b.sop_logits, atol=1e-4, rtol=1e-4)


def test_albert_trains_with_the_bert_recipe():
    model = AlbertForPreTraining(bertedu.BertConfig(**ODD), embedding_size=20, generator=gen(0))
    ids = torch.stack([sequence(12, s) for s in range(4)])
    masked = mask_tokens(ids, generator=gen(0), **KW)
    batch = {"input_ids": masked.input_ids, "token_type_ids": torch.zeros_like(ids),
             "attention_mask": torch.ones_like(ids), "labels": masked.labels,
             "next_sentence_label": torch.tensor([0, 1, 0, 1])}
    config = bertedu.PretrainConfig(lr=1e-2, warmup_steps=0, total_steps=30, batch_size=4)
    optimizer = bertedu.build_optimizer(model, config)
    losses = [bertedu.train_step(model, optimizer, None, [batch], config)["loss"] for _ in range(30)]
    assert losses[-1] < 0.5 * losses[0]  # it overfits one batch: gradients reach every part


# ---------------------------------------------------------------- distillation

def test_distillation_loss_is_the_formula():
    g = gen(0)
    s, t = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    y = torch.tensor([0, 2, 1, 1, 0])
    T, alpha = 3.0, 0.7
    pt, ps = soft_targets(t, T), soft_targets(s, T)
    kl = (pt * (pt.log() - ps.log())).sum(-1).mean()
    expected = alpha * T * T * kl + (1 - alpha) * torch.nn.functional.cross_entropy(s, y)
    torch.testing.assert_close(distillation_loss(s, t, y, temperature=T, alpha=alpha), expected)
    torch.testing.assert_close(distillation_loss(s, t, y, alpha=0.0), torch.nn.functional.cross_entropy(s, y))
    assert float(distillation_loss(t, t, alpha=1.0)) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="alpha"):
        distillation_loss(s, t, y, alpha=1.5)
    with pytest.raises(ValueError, match="temperature"):
        distillation_loss(s, t, y, temperature=0)


def _classifier(layers: int = 3) -> bertedu.BertForSequenceClassification:
    config = bertedu.BertConfig(**{**ODD, "num_hidden_layers": layers})
    return bertedu.BertForSequenceClassification(config, 2, generator=gen(4)).eval()


def test_student_from_teacher_copies_the_chosen_layers():
    teacher = _classifier(3)
    ids = torch.stack([sequence(10, 1), sequence(10, 2)])
    same = student_from_teacher(teacher, [0, 1, 2]).eval()
    torch.testing.assert_close(same(ids).logits, teacher(ids).logits)
    small = student_from_teacher(teacher, [0, 2])
    assert small.config.num_hidden_layers == 2
    torch.testing.assert_close(small.bert.encoder.layer[1].output.dense.weight,
                               teacher.bert.encoder.layer[2].output.dense.weight)
    torch.testing.assert_close(small.classifier.weight, teacher.classifier.weight)
    fresh = student_from_teacher(teacher, [0], copy_weights=False)
    assert not torch.equal(fresh.classifier.weight, teacher.classifier.weight)
    for bad in ([], [2, 0], [0, 3], [1, 1]):
        with pytest.raises(ValueError, match="layers"):
            student_from_teacher(teacher, bad)


def test_distillation_student_reads_the_teacher_logits_by_example_index():
    student = _classifier(1)
    logits = torch.randn(6, 2, generator=gen(1))
    wrapped = DistillationStudent(student, logits, temperature=2.0, alpha=0.5)
    ids = torch.stack([sequence(8, s) for s in range(3)])
    labels, index = torch.tensor([0, 1, 1]), torch.tensor([5, 0, 3])
    out = wrapped(ids, labels=labels, example_index=index)
    expected = distillation_loss(student(ids).logits, logits[index], labels, temperature=2.0, alpha=0.5)
    torch.testing.assert_close(out.loss, expected)
    torch.testing.assert_close(wrapped(ids, labels=labels).loss, student(ids, labels=labels).loss)
    assert [f["example_index"] for f in with_example_index([{"a": 1}, {"a": 2}])] == [0, 1]
    assert "teacher" not in wrapped.state_dict()


# ---------------------------------------------------------------- pooling and search

def test_mean_pool_ignores_padding():
    g = gen(0)
    h = torch.randn(2, 5, 4, generator=g)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    pooled = mean_pool(h, mask)
    torch.testing.assert_close(pooled[0], h[0, :3].mean(0))
    torch.testing.assert_close(pooled[1], h[1].mean(0))
    with pytest.raises(ValueError):
        mean_pool(h, mask[:, :4])


def test_embed_sentences_keeps_order_and_does_not_depend_on_batching():
    words = [t for t in VOCAB if t.startswith("w")]
    tok = bertedu.BertTokenizer.from_tokens(SPECIALS + words)
    config = bertedu.BertConfig(**{**ODD, "vocab_size": len(tok.vocab)})
    model = bertedu.BertModel(config, generator=gen(2))
    texts = ["w1 w2 w3", "w4", "w5 w6 w7 w8 w9 w10", "w3 w2"]
    one = embed_sentences(model, tok, texts, poolings=("cls", "mean", "pooler"), batch_size=1)
    many = embed_sentences(model, tok, texts, poolings=("cls", "mean", "pooler"), batch_size=3)
    for how in one:
        torch.testing.assert_close(one[how], many[how], atol=1e-5, rtol=1e-5)
    enc = tok.encode(texts[2])
    out = model.eval()(torch.tensor([enc["input_ids"]]))
    torch.testing.assert_close(one["mean"][2], out.last_hidden_state[0].mean(0), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(one["pooler"][2], out.pooler_output[0], atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="poolings"):
        embed_sentences(model, tok, texts, poolings=("max",))


def test_cosine_and_top_k():
    a = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    b = torch.tensor([[0.0, 5.0], [3.0, 3.0], [-1.0, 0.0]])
    sims = cosine_matrix(a, b)
    torch.testing.assert_close(sims[0], torch.tensor([0.0, 2 ** -0.5, -1.0]))
    scores, index = top_k(a, b, 2)
    assert index.tolist() == [[1, 0], [0, 1]]
    with pytest.raises(ValueError, match="k must"):
        top_k(a, b, 4)


def test_cross_encoder_scores_read_the_pair_together():
    words = [t for t in VOCAB if t.startswith("w")]
    tok = bertedu.BertTokenizer.from_tokens(SPECIALS + words)
    config = bertedu.BertConfig(**{**ODD, "vocab_size": len(tok.vocab)})
    model = bertedu.BertForSequenceClassification(config, 1, generator=gen(3))
    pairs = [("w1 w2", "w3"), ("w4 w5 w6", "w1"), ("w1 w2", "w3 w4 w5 w6 w7")]
    scores = cross_encoder_scores(model, tok, pairs, batch_size=2)
    for k, (a, b) in enumerate(pairs):
        enc = tok.encode(a, b)
        alone = model.eval()(torch.tensor([enc["input_ids"]]), torch.tensor([enc["token_type_ids"]])).logits
        assert float(scores[k]) == pytest.approx(float(alone[0, 0].detach()), abs=1e-5)


# ---------------------------------------------------------------- limits

def test_time_attention_reports_the_quadratic_score_matrix():
    small, big = time_attention(16, heads=2, head_dim=8), time_attention(32, heads=2, head_dim=8)
    assert small["score_bytes"] == 2 * 16 * 16 * 4 and big["score_bytes"] == 4 * small["score_bytes"]
    assert len(big["all_seconds"]) == 3 and big["seconds"] > 0
    assert time_attention(16, implementation="sdpa")["score_bytes"] == 4 * 16 * 16 * 4
    with pytest.raises(ValueError, match="implementation"):
        time_attention(16, implementation="flash")


def test_fill_masks_fills_left_to_right_or_at_once():
    model = bertedu.BertForPreTraining(bertedu.BertConfig(**ODD), generator=gen(0))
    steps = fill_masks(model, TOK, "w1 w2", 4)
    assert len(steps) == 4 and all(len(s) == 4 for s in steps)
    assert steps[0][1:] == ["[MASK]"] * 3 and "[MASK]" not in steps[-1]
    assert all(t not in SPECIALS for t in steps[-1])
    once = fill_masks(model, TOK, "w1 w2", 4, order="parallel")
    assert len(once) == 1 and "[MASK]" not in once[0]
    with pytest.raises(ValueError, match="max_length"):
        fill_masks(model, TOK, "w1 w2", 40, max_length=20)


def test_albert_demo_run_is_deterministic_and_records_its_curve():
    from bertedu.beyond.albert import DEMO_VARIANTS, DemoVariant, demo_run

    variant = DemoVariant("ALBERT E=16, shared", 16, True)
    a = demo_run(variant, steps=12, eval_every=5, n_test=60, batch_size=32)
    assert a == demo_run(variant, steps=12, eval_every=5, n_test=60, batch_size=32)
    assert [p["step"] for p in a["curve"]] == [0, 5, 10, 12]
    assert a["curve"][0]["loss"] is None and all(p["loss"] > 0 for p in a["curve"][1:])
    counts = {v.name: demo_run(v, steps=1, eval_every=1, n_test=12, batch_size=4)["parameters"]
              for v in DEMO_VARIANTS}
    assert counts["ALBERT E=64, shared"] < counts["BERT (E = H = 64)"] < counts["ALBERT E=64, not shared"]
    assert counts["ALBERT E=16, shared"] < counts["ALBERT E=32, shared"] < counts["ALBERT E=64, shared"]
    with pytest.raises(TypeError, match="DemoVariant"):
        demo_run("ALBERT")
    with pytest.raises(ValueError, match="eval_every"):
        demo_run(variant, eval_every=0)


def test_demo_callback_does_not_change_training():
    from bertedu.pretraining import demo

    tok = demo.demo_tokenizer()
    rng = random.Random(0)
    batches = [demo.encode([demo.sample_sentence(rng)[0] for _ in range(16)], tok) for _ in range(6)]
    test = demo.make_examples(30, random.Random(1))
    plain = demo.train_demo_model(demo.build_demo_model(tok, False), batches, tok)
    seen = []
    watched = demo.train_demo_model(demo.build_demo_model(tok, False), batches, tok,
                                    callback=lambda step, m: seen.append((step, demo.predict_blanks(m, test, tok))))
    assert plain == watched and [s for s, _ in seen] == list(range(1, 7))

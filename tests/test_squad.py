"""SQuAD features and decoding (bertedu/finetuning/squad.py): windows, max context, span search, tau."""

from __future__ import annotations

import math
import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from bertedu import BertTokenizer
from bertedu.finetuning.metrics import normalize_answer, squad_question_scores, squad_scores
from bertedu.finetuning.squad import (QuestionPrediction, answer_piece_span, best_spans, decode_predictions,
                                      final_answers, is_max_context, span_text, split_words, squad_features,
                                      tokenize_words, tune_null_threshold, windows)

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


@pytest.fixture(scope="module")
def toy_tokenizer() -> BertTokenizer:
    words = "born ( 1895 - 1943 ) in paris when was he the city of light is a ##s big old".split()
    return BertTokenizer.from_tokens(SPECIAL + words)


@pytest.fixture(scope="module")
def uncased(uncased_vocab_path) -> BertTokenizer:
    return BertTokenizer.from_vocab_file(uncased_vocab_path)


def _example(qid, question, context, answer=None, impossible=False):
    answers = [] if answer is None else [{"text": answer, "answer_start": context.index(answer)}]
    return SimpleNamespace(id=qid, question=question, context=context, answers=answers, is_impossible=impossible)


# ---------------------------------------------------------------- features ---------------------------


def test_split_words_maps_every_character():
    words, char_to_word = split_words("  Hi  there\nyou")
    assert words == ["Hi", "there", "you"]
    assert char_to_word == [-1, -1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2]


def test_answer_span_is_tightened_inside_a_word(toy_tokenizer):
    context = "he was born (1895-1943) in paris"
    words, char_to_word = split_words(context)
    pieces, piece_to_word, word_to_piece = tokenize_words(words, toy_tokenizer)
    assert pieces == ["he", "was", "born", "(", "1895", "-", "1943", ")", "in", "paris"]
    assert piece_to_word == [0, 1, 2, 3, 3, 3, 3, 3, 4, 5]
    answer = {"text": "1895", "answer_start": context.index("1895")}
    assert answer_piece_span(answer, char_to_word, word_to_piece, pieces, toy_tokenizer) == (4, 4)
    answer = {"text": "born (1895", "answer_start": context.index("born")}
    assert answer_piece_span(answer, char_to_word, word_to_piece, pieces, toy_tokenizer) == (2, 4)


def test_windows_and_max_context_by_hand():
    assert windows(10, 4, 3) == [(0, 4), (3, 4), (6, 4)]
    assert windows(3, 4, 3) == [(0, 3)]
    assert windows(10, 4, 6) == [(0, 4), (4, 4), (8, 2)]  # a stride longer than a window skips nothing
    spans = windows(10, 4, 3)
    # piece 3: last of window 0, first of window 1 -> both score 0 + 0.04: the first wins
    assert is_max_context(spans, 0, 3) and not is_max_context(spans, 1, 3)
    # piece 4: window 1 holds it with 1 piece left and 2 right -> score 1.04
    assert is_max_context(spans, 1, 4) and not is_max_context(spans, 0, 4)
    for piece in range(10):  # every piece has exactly one max-context window
        assert sum(is_max_context(spans, k, piece) for k in range(len(spans))) == 1


def test_features_layout_labels_and_windows(toy_tokenizer):
    context = " ".join(["the city of light is big"] * 6) + " he was born (1895-1943) in paris"
    ex = _example("q", "when was he born", context, "1895")
    feats = squad_features([ex], toy_tokenizer, max_seq_length=16, doc_stride=4, max_query_length=3)
    assert len(feats) > 3
    n_pieces = len(tokenize_words(split_words(context)[0], toy_tokenizer)[0])
    owners = [0] * n_pieces
    for f in feats:
        assert len(f.input_ids) <= 16 and f.tokens[0] == "[CLS]" and f.tokens[4] == "[SEP]"
        assert f.tokens[:4] == ["[CLS]", "when", "was", "he"]  # query cut at max_query_length=3
        assert f.tokens[-1] == "[SEP]" and f.token_type_ids == [0] * 5 + [1] * (len(f.tokens) - 5)
        assert f.input_ids == toy_tokenizer.convert_tokens_to_ids(f.tokens)
        assert all(w == -1 for w in f.token_to_word[:5] + f.token_to_word[-1:])
        if f.start_position:
            assert f.tokens[f.start_position:f.end_position + 1] == ["1895"]
            assert span_text(f, f.start_position, f.end_position) == "1895"
        else:
            assert f.end_position == 0 and "1895" not in f.tokens  # answer outside: [CLS] is the label
        assert not any(f.max_context[:5]) and not f.max_context[-1]
        for i in range(5, len(f.tokens) - 1):  # window k starts at passage piece 4k (stride 4)
            owners[4 * f.window_index + i - 5] += f.max_context[i]
    assert owners == [1] * n_pieces
    assert sum(f.start_position > 0 for f in feats) >= 1
    impossible = squad_features([_example("n", "who", "paris is big", None, True)], toy_tokenizer)
    assert impossible[0].is_impossible and impossible[0].start_position == impossible[0].end_position == 0


def test_answer_text_comes_from_the_original_words(uncased):
    """Pieces are lower-cased and accent-free; the answer keeps the passage's own spelling and drops
    the punctuation glued to its word."""
    ex = _example("q", "Where did he live?", "He lived in Zürich, Switzerland.", "Zürich")
    f = squad_features([ex], uncased)[0]
    assert f.tokens[f.start_position:f.end_position + 1] == ["zurich"]
    assert span_text(f, f.start_position, f.end_position) == "Zürich"
    end = f.tokens.index("switzerland")
    assert span_text(f, f.start_position, end) == "Zürich, Switzerland"
    assert span_text(f, end, end + 1) == "Switzerland."


def test_feature_arguments_are_checked(toy_tokenizer):
    with pytest.raises(ValueError, match="max_seq_length"):
        squad_features([_example("q", "he", "paris")], toy_tokenizer, max_seq_length=8, max_query_length=6)


def test_gold_spans_map_back_to_the_answer_on_real_dev(data_dir, uncased):
    """For 200 SQuAD v1.1 dev questions the gold token span, mapped back through the word map,
    gives the gold text; the few that do not are answers that end inside a WordPiece piece."""
    from bertedu.datasets.tasks import read_squad, squad_examples

    examples = squad_examples(read_squad("v1.1", "dev"))[:200]
    feats = squad_features(examples, uncased, max_seq_length=128, doc_stride=48)
    recovered: dict[str, set[str]] = {}
    for f in feats:
        if f.start_position:
            recovered.setdefault(f.qid, set()).add(span_text(f, f.start_position, f.end_position))
    assert len(recovered) == 200  # every answer lies whole in some window
    exact = 0
    for ex in examples:
        texts = recovered[ex.id]
        assert len(texts) == 1  # every window that holds the answer recovers the same text
        text, gold = texts.pop(), ex.answers[0]["text"]
        if normalize_answer(text) == normalize_answer(gold):
            exact += 1
            continue
        words, char_to_word = split_words(ex.context)
        start = ex.answers[0]["answer_start"]
        covering = " ".join(words[char_to_word[start]:char_to_word[start + len(gold) - 1] + 1])
        assert text == covering and gold.lower() in text.lower(), (gold, text)  # a piece-boundary case
    print(f"span recovery: {exact}/200 gold spans normalise to the gold text")
    assert exact >= 190


# ---------------------------------------------------------------- span search ------------------------


def _brute_force(s, e, f, max_len):
    best = None
    for i in range(len(f.tokens)):
        for j in range(i, min(len(f.tokens), i + max_len)):
            if f.token_to_word[i] >= 0 and f.token_to_word[j] >= 0 and f.max_context[i]:
                if best is None or s[i] + e[j] > best[0]:
                    best = (s[i] + e[j], i, j)
    return best


@pytest.mark.parametrize("max_answer_length", [1, 3, 30])
def test_best_spans_properties_on_random_logits(toy_tokenizer, max_answer_length):
    context = " ".join(["the city of light is big"] * 5) + " he was born (1895-1943) in paris"
    feats = squad_features([_example("q", "when was he born", context, "1895")], toy_tokenizer,
                           max_seq_length=20, doc_stride=5, max_query_length=4)
    gen = torch.Generator().manual_seed(0)
    for trial in range(60):
        f = feats[trial % len(feats)]
        s, e = torch.randn(24, generator=gen), torch.randn(24, generator=gen)  # longer: padding is ignored
        spans = best_spans(s, e, f, n_best=10, max_answer_length=max_answer_length)
        assert spans and [c.score for c in spans] == sorted((c.score for c in spans), reverse=True)
        for c in spans:
            assert c.start <= c.end and c.end - c.start + 1 <= max_answer_length
            assert f.token_to_word[c.start] >= 0 and f.token_to_word[c.end] >= 0  # inside the passage
            assert f.max_context[c.start]
            assert c.score == pytest.approx(float(s[c.start] + e[c.end]))
        top = _brute_force(s.tolist(), e.tolist(), f, max_answer_length)
        assert (spans[0].start, spans[0].end) == top[1:] and spans[0].score == pytest.approx(top[0])


def test_best_spans_rejects_short_logits(toy_tokenizer):
    f = squad_features([_example("q", "he", "paris is big")], toy_tokenizer)[0]
    with pytest.raises(ValueError, match="the feature has"):
        best_spans(np.zeros(2), np.zeros(2), f)


def test_oracle_logits_decode_to_the_gold_answers(data_dir, uncased):
    """Logits that point at the gold span decode (over all windows) to the gold answers."""
    from bertedu.datasets.tasks import read_squad, split_squad_by_article

    _, held = split_squad_by_article(read_squad("v1.1", "dev"), 0.02)  # one article
    from bertedu.datasets.tasks import squad_examples

    examples = squad_examples(held)[:150]
    feats = squad_features(examples, uncased, max_seq_length=128, doc_stride=48)
    starts, ends = [], []
    for f in feats:
        s, e = np.zeros(len(f.tokens)), np.zeros(len(f.tokens))
        if f.start_position:
            s[f.start_position] = e[f.end_position] = 10.0
        starts.append(s)
        ends.append(e)
    preds = decode_predictions(feats, starts, ends, n_best=5, max_answer_length=30)
    assert set(preds) == {ex.id for ex in examples}
    answers = final_answers(preds)
    sub = {"version": "1.1", "data": [{"title": "x", "paragraphs": [
        {"context": ex.context, "qas": [{"id": ex.id, "question": ex.question, "answers": ex.answers}]}
        for ex in examples]}]}
    assert squad_scores(answers, sub)["exact"] >= 95.0
    assert all(len({c.text for c in p.nbest}) == len(p.nbest) for p in preds.values())  # distinct texts


# ---------------------------------------------------------------- SQuAD v2.0 null score --------------


def test_null_score_is_the_minimum_over_windows(toy_tokenizer):
    context = " ".join(["the city of light is big"] * 4)
    feats = squad_features([_example("q", "he", context)], toy_tokenizer, max_seq_length=16, doc_stride=4,
                           max_query_length=4)
    assert len(feats) >= 3
    starts = [np.full(len(f.tokens), 0.5) for f in feats]
    ends = [np.full(len(f.tokens), 0.5) for f in feats]
    for k, (s, e) in enumerate(zip(starts, ends)):
        s[0], e[0] = 3.0 + k, 2.0  # s_null per window: 5, 6, 7, ...
    pred = decode_predictions(feats, starts, ends)["q"]
    assert pred.null_score == 5.0 and pred.score == 1.0 and pred.null_diff == 4.0
    assert final_answers({"q": pred}, null_threshold=3.9) == {"q": ""}
    assert final_answers({"q": pred}, null_threshold=4.0) == {"q": pred.text} != {"q": ""}
    assert final_answers({"q": pred}) == {"q": pred.text}  # v1.1: always answer


def _official_best_f1(preds, f1, na, has):
    """The official v2.0 script's best-F1 threshold search, restated (valid when no diffs tie)."""
    cur = best = sum(1 for q in has if not has[q])
    thresh = 0.0
    for q in sorted(na, key=na.get):
        cur += f1[q] if has[q] else (-1 if preds[q] else 0)
        if cur > best:
            best, thresh = cur, na[q]
    return 100.0 * best / len(f1), thresh


def test_tune_null_threshold_on_v2_dev(data_dir):
    from bertedu.datasets.tasks import read_squad, squad_examples

    data = read_squad("v2.0", "dev")
    rng = random.Random(5)
    preds = {}
    for ex in squad_examples(data):
        gold = ex.answers[0]["text"] if ex.answers else ""
        text = gold if ex.answers and rng.random() < 0.7 else rng.choice(["Paris", "1895", "big city"])
        score = rng.gauss(2.0, 1.0)
        null = score + rng.gauss(1.0 if ex.is_impossible else -1.0, 1.5)  # NoAns questions lean null
        preds[ex.id] = QuestionPrediction(ex.id, text, score, null, [])
    search = tune_null_threshold(preds, data)
    at_best = squad_scores(final_answers(preds, search.threshold), data)
    assert search.f1 == pytest.approx(at_best["f1"]) and search.exact == pytest.approx(at_best["exact"])
    assert search.f1 == max(c["f1"] for c in search.curve)
    for point in search.curve[:: max(1, len(search.curve) // 4)]:  # the curve is what squad_scores says
        s = squad_scores(final_answers(preds, point["threshold"]), data)
        for key in ("f1", "exact", "HasAns_f1", "NoAns_f1"):
            assert point[key] == pytest.approx(s[key]), key
    first, last = search.curve[0], search.curve[-1]
    assert first["NoAns_f1"] == 100.0 and first["HasAns_f1"] == 0.0  # tau below every diff: all ""
    assert last["NoAns_f1"] == pytest.approx(squad_scores(final_answers(preds), data)["NoAns_f1"])
    raw = squad_question_scores({q: p.text for q, p in preds.items()}, data)
    official, _ = _official_best_f1({q: p.text for q, p in preds.items()}, {q: r[1] for q, r in raw.items()},
                                    {q: p.null_diff for q, p in preds.items()}, {q: r[2] for q, r in raw.items()})
    assert search.f1 == pytest.approx(official)
    assert 0 < search.f1 and math.isfinite(search.threshold)

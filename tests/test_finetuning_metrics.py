"""Metrics of the fine-tuning tasks against hand-worked cases, formulas and established implementations.

Oracles: seqeval (conlleval's chunk rules) for entity F1; for SQuAD a compact re-statement of the
official v1.1 / v2.0 evaluation scripts, written here independently of bertedu; numpy / scipy /
scikit-learn formulas for the correlations (skipped where not installed).
"""

from __future__ import annotations

import collections
import math
import random
import re
import string
import warnings

import numpy as np
import pytest

from bertedu.finetuning.metrics import (accuracy, average_ranks, binary_f1, entity_f1, get_chunks,
                                        matthews_corrcoef, normalize_answer, pearson, spearman,
                                        squad_question_scores, squad_scores)

# ---------------------------------------------------------------- classification / regression --------


def test_accuracy_and_binary_f1_by_hand():
    y, p = [1, 0, 1, 1, 0, 0], [1, 1, 0, 1, 0, 0]
    assert accuracy(y, p) == pytest.approx(4 / 6)
    # TP = 2, FP = 1, FN = 1 -> P = R = 2/3 -> F1 = 2/3
    assert binary_f1(y, p) == pytest.approx(2 / 3)
    assert binary_f1([0, 0], [0, 0]) == 0.0  # no positives anywhere
    assert binary_f1(["no", "yes"], ["yes", "yes"], positive="yes") == pytest.approx(2 / 3)


def test_matthews_by_hand_and_edge_cases():
    # TP=3 TN=2 FP=1 FN=1: (3*2 - 1*1) / sqrt(4*4*3*3) = 5/12
    y = [1, 1, 1, 1, 0, 0, 0]
    p = [1, 1, 1, 0, 1, 0, 0]
    assert matthews_corrcoef(y, p) == pytest.approx(5 / 12)
    assert matthews_corrcoef(y, y) == pytest.approx(1.0)
    assert matthews_corrcoef(y, [1 - v for v in y]) == pytest.approx(-1.0)
    assert matthews_corrcoef(y, [1] * len(y)) == 0.0  # one predicted class: defined as 0


def test_matthews_against_sklearn_multiclass():
    sk = pytest.importorskip("sklearn.metrics")
    rng = random.Random(3)
    for _ in range(50):
        n = rng.randint(2, 40)
        y = [rng.randrange(3) for _ in range(n)]
        p = [rng.randrange(3) for _ in range(n)]
        assert matthews_corrcoef(y, p) == pytest.approx(sk.matthews_corrcoef(y, p), abs=1e-12)


def test_pearson_spearman_against_formulas():
    rng = np.random.default_rng(0)
    for _ in range(30):
        x = rng.normal(size=25)
        y = 0.5 * x + rng.normal(size=25)
        assert pearson(list(x), list(y)) == pytest.approx(np.corrcoef(x, y)[0, 1], abs=1e-12)
    # Spearman with ties, by hand: x ranks [1, 2.5, 2.5, 4], y ranks [1, 2, 3, 4]
    assert average_ranks([1, 2, 2, 3]) == [1, 2.5, 2.5, 4]
    assert average_ranks([5, 5, 5]) == [2, 2, 2]
    r = np.corrcoef([1, 2.5, 2.5, 4], [1, 2, 3, 4])[0, 1]
    assert spearman([1, 2, 2, 3], [10, 20, 30, 40]) == pytest.approx(r)
    assert spearman([1, 2, 3], [9, 4, 1]) == pytest.approx(-1.0)
    assert math.isnan(pearson([1, 1, 1], [1, 2, 3]))


def test_spearman_against_scipy_with_ties():
    stats = pytest.importorskip("scipy.stats")
    rng = random.Random(1)
    for _ in range(50):
        x = [rng.randint(0, 5) for _ in range(30)]  # many ties
        y = [rng.randint(0, 5) + v for v in x]
        assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)
        assert pearson(x, y) == pytest.approx(stats.pearsonr(x, y).statistic, abs=1e-12)


def test_bad_input_names_the_problem():
    with pytest.raises(ValueError, match="y_pred has 1"):
        accuracy([1, 2], [1])
    with pytest.raises(ValueError, match="empty"):
        pearson([], [])
    with pytest.raises(ValueError, match="not a chunk tag"):
        entity_f1([["B-PER", "PER"]], [["O", "O"]])
    with pytest.raises(ValueError, match="sentence 0"):
        entity_f1([["O"]], [["O", "O"]])
    with pytest.raises(TypeError, match="lists of tag sequences"):
        entity_f1(["O", "B-PER"], ["O", "B-PER"])


# ---------------------------------------------------------------- entity F1 ---------------------------


def test_chunks_follow_conlleval_by_hand():
    assert get_chunks(["B-PER", "I-PER", "O", "B-LOC"]) == [("PER", 0, 1), ("LOC", 3, 3)]
    assert get_chunks(["O", "I-PER", "I-PER", "O"]) == [("PER", 1, 2)]   # IOB1: I- after O starts one
    assert get_chunks(["B-PER", "I-LOC"]) == [("PER", 0, 0), ("LOC", 1, 1)]  # type change: new chunk
    assert get_chunks(["B-PER", "B-PER"]) == [("PER", 0, 0), ("PER", 1, 1)]
    assert get_chunks(["I-ORG"]) == [("ORG", 0, 0)]  # a chunk open at the end is closed


def test_entity_f1_by_hand():
    true = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    pred = [["B-PER", "O", "O", "B-LOC"], ["B-ORG", "B-MISC"]]
    # true chunks: PER 0-1, LOC 3, ORG 0 (3); predicted: PER 0, LOC 3, ORG 0, MISC 1 (4); correct: 2
    m = entity_f1(true, pred)
    assert m["precision"] == pytest.approx(2 / 4)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 * (1 / 2) * (2 / 3) / (1 / 2 + 2 / 3))
    assert entity_f1(true, true) == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    assert entity_f1([["O"]], [["O"]]) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}


def _seqeval(true, pred):
    metrics = pytest.importorskip("seqeval.metrics")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # seqeval warns when a side has no chunks
        return (metrics.precision_score(true, pred), metrics.recall_score(true, pred),
                metrics.f1_score(true, pred))


def _assert_matches_seqeval(true, pred):
    got = entity_f1(true, pred)
    ref = _seqeval(true, pred)
    for key, value in zip(("precision", "recall", "f1"), ref):
        assert abs(got[key] - value) <= 1e-12, (key, got, ref)


@pytest.mark.parametrize("prefixes", ["BI", "BIES"])
def test_entity_f1_equals_seqeval_on_random_tags(prefixes):
    rng = random.Random(11)
    tags = ["O"] + [f"{p}-{t}" for p in prefixes for t in ("PER", "LOC", "MISC")]
    for _ in range(400):
        true = [[rng.choice(tags) for _ in range(rng.randint(0, 12))] for _ in range(rng.randint(1, 6))]
        pred = [[rng.choice(tags) for _ in s] for s in true]
        _assert_matches_seqeval(true, pred)


def _perturb(sentences, rng, rate):
    """Typical tagger errors: wrong type, B <-> I, dropped or invented tags, shifted boundaries."""
    types = ["PER", "LOC", "ORG", "MISC"]
    out = []
    for tags in sentences:
        tags = list(tags)
        for i, tag in enumerate(tags):
            if rng.random() >= rate:
                continue
            kind = rng.randrange(4)
            if kind == 0 and tag != "O":
                tags[i] = tag[:2] + rng.choice(types)
            elif kind == 1 and tag != "O":
                tags[i] = ("I-" if tag[0] == "B" else "B-") + tag[2:]
            elif kind == 2:
                tags[i] = "O" if tag != "O" else rng.choice("BI") + "-" + rng.choice(types)
            elif kind == 3 and i + 1 < len(tags):
                tags[i], tags[i + 1] = tags[i + 1], tags[i]
        out.append(tags)
    return out


def test_entity_f1_equals_seqeval_on_conll_dev(data_dir):
    from bertedu.datasets.tasks import read_conll2003

    true = [s.tags for s in read_conll2003("dev")]
    _assert_matches_seqeval(true, true)
    rng = random.Random(2003)
    for rate in (0.01, 0.05, 0.2, 0.6):
        _assert_matches_seqeval(true, _perturb(true, rng, rate))


# ---------------------------------------------------------------- SQuAD: re-statement ---------------
# The official scripts, restated compactly and independently (different code, same definitions).

_PUNCT_TABLE = str.maketrans("", "", string.punctuation)


def _norm(s):
    s = s.lower().translate(_PUNCT_TABLE)
    s = re.sub(r"\b(?:a|an|the)\b", " ", s)
    return " ".join(s.split())


def _f1(gold, pred, empty_rule):
    g, p = _norm(gold).split(), _norm(pred).split()
    if empty_rule and (len(g) == 0 or len(p) == 0):
        return int(g == p)
    overlap = sum((collections.Counter(g) & collections.Counter(p)).values())
    return 0 if overlap == 0 else 2 * overlap / (len(g) + len(p))  # = 2PR/(P+R)


def _official_v1(dataset, preds):
    em = f1 = total = 0
    for qa in (qa for a in dataset["data"] for p in a["paragraphs"] for qa in p["qas"]):
        total += 1
        if qa["id"] in preds:
            golds = [x["text"] for x in qa["answers"]]
            em += max(_norm(preds[qa["id"]]) == _norm(g) for g in golds)
            f1 += max(_f1(g, preds[qa["id"]], False) for g in golds)
    return {"exact": 100.0 * em / total, "f1": 100.0 * f1 / total}


def _official_v2(dataset, preds):
    em, f1, has = {}, {}, {}
    for qa in (qa for a in dataset["data"] for p in a["paragraphs"] for qa in p["qas"]):
        has[qa["id"]] = bool(qa["answers"])
        golds = [x["text"] for x in qa["answers"] if _norm(x["text"])] or [""]
        if qa["id"] in preds:
            em[qa["id"]] = max(int(_norm(g) == _norm(preds[qa["id"]])) for g in golds)
            f1[qa["id"]] = max(_f1(g, preds[qa["id"]], True) for g in golds)
    out = {"exact": 100.0 * sum(em.values()) / len(em), "f1": 100.0 * sum(f1.values()) / len(f1), "total": len(em)}
    for name, flag in (("HasAns", True), ("NoAns", False)):
        ids = [q for q in has if has[q] == flag]
        if ids:
            out.update({f"{name}_exact": 100.0 * sum(em[q] for q in ids) / len(ids),
                        f"{name}_f1": 100.0 * sum(f1[q] for q in ids) / len(ids), f"{name}_total": len(ids)})
    return out


def _questions(dataset):
    return [(qa, p["context"]) for a in dataset["data"] for p in a["paragraphs"] for qa in p["qas"]]


def _perturbed_predictions(dataset, rng):
    """Per question one of: a gold answer, a truncated gold, another question's answer (shuffled),
    "", a random piece of the passage, or the gold in other case and with extra punctuation."""
    qs = _questions(dataset)
    pool = [x["text"] for qa, _ in qs for x in qa["answers"]] or ["nothing"]
    preds = {}
    for qa, context in qs:
        gold = rng.choice(qa["answers"])["text"] if qa["answers"] else ""
        kind = rng.randrange(6)
        if kind == 0:
            preds[qa["id"]] = gold
        elif kind == 1:
            words = gold.split()
            preds[qa["id"]] = " ".join(words[:max(1, len(words) // 2)]) if words else ""
        elif kind == 2:
            preds[qa["id"]] = rng.choice(pool)
        elif kind == 3:
            preds[qa["id"]] = ""
        elif kind == 4:
            i = rng.randrange(len(context))
            preds[qa["id"]] = context[i:i + rng.randint(1, 40)]
        else:
            preds[qa["id"]] = "The " + gold.upper() + "."
    return preds


def test_squad_scores_by_hand():
    data = {"version": "1.1", "data": [{"title": "t", "paragraphs": [{"context": "The Cat sat.", "qas": [
        {"id": "a", "question": "?", "answers": [{"text": "The Cat", "answer_start": 0}]},
        {"id": "b", "question": "?", "answers": [{"text": "cat", "answer_start": 4},
                                                  {"text": "The Cat sat", "answer_start": 0}]}]}]}]}
    assert squad_scores({"a": "cat", "b": "cat"}, data) == {"exact": 100.0, "f1": 100.0, "total": 2}
    # b: "cat sat" vs gold "cat" -> P 1/2 R 1 -> F1 2/3; vs "The Cat sat" -> F1 1 (max is taken), EM 1
    assert squad_scores({"a": "cat", "b": "cat sat"}, data)["exact"] == 100.0
    # a: "a cat!!" normalises to "cat" (EM 1); b: "dog sat" vs "cat sat": F1 1/2 vs "cat": 0 -> EM 0
    s = squad_scores({"a": "a cat!!", "b": "dog sat"}, data)
    assert s["exact"] == 50.0 and s["f1"] == pytest.approx(100 * (1 + 0.5) / 2)
    # a missing prediction counts as wrong, as in the official v1.1 script
    assert squad_scores({"a": "cat"}, data) == {"exact": 50.0, "f1": 50.0, "total": 2}
    assert normalize_answer("  The  Beatles, an   English band ") == "beatles english band"


def test_squad_v2_no_answer_rules_by_hand():
    data = {"version": "v2.0", "data": [{"title": "t", "paragraphs": [{"context": "Paris is big.", "qas": [
        {"id": "h", "question": "?", "answers": [{"text": "Paris", "answer_start": 0}], "is_impossible": False},
        {"id": "n", "question": "?", "answers": [], "is_impossible": True}]}]}]}
    s = squad_scores({"h": "Paris", "n": ""}, data)
    assert s == {"exact": 100.0, "f1": 100.0, "total": 2, "HasAns_exact": 100.0, "HasAns_f1": 100.0,
                 "HasAns_total": 1, "NoAns_exact": 100.0, "NoAns_f1": 100.0, "NoAns_total": 1}
    s = squad_scores({"h": "", "n": "Paris"}, data)  # both wrong
    assert s["exact"] == 0.0 and s["f1"] == 0.0
    s = squad_scores({"h": "Paris"}, data)  # missing "n": counted as wrong (the official v2.0 skips it)
    assert s["NoAns_exact"] == 0.0 and s["total"] == 2 and s["exact"] == 50.0
    assert squad_question_scores({"n": "the"}, data)["n"] == (1.0, 1.0, False)  # "the" normalises to ""


@pytest.mark.parametrize("seed", [0])
def test_squad_scores_equal_restatement_on_dev_v11(data_dir, seed):
    from bertedu.datasets.tasks import read_squad

    data = read_squad("v1.1", "dev")
    preds = _perturbed_predictions(data, random.Random(seed))
    got, ref = squad_scores(preds, data), _official_v1(data, preds)
    assert set(got) == {"exact", "f1", "total"}
    assert abs(got["exact"] - ref["exact"]) <= 1e-9 and abs(got["f1"] - ref["f1"]) <= 1e-9
    # with some predictions missing (scored 0, as the official v1.1 script does)
    rng = random.Random(seed)
    partial = {q: a for q, a in preds.items() if rng.random() < 0.7}
    got, ref = squad_scores(partial, data), _official_v1(data, partial)
    assert abs(got["exact"] - ref["exact"]) <= 1e-9 and abs(got["f1"] - ref["f1"]) <= 1e-9


@pytest.mark.parametrize("seed", [0, 1])
def test_squad_scores_equal_restatement_on_dev_v20(data_dir, seed):
    from bertedu.datasets.tasks import read_squad

    data = read_squad("v2.0", "dev")
    preds = _perturbed_predictions(data, random.Random(seed))
    got, ref = squad_scores(preds, data), _official_v2(data, preds)
    assert set(got) == set(ref)
    for key in ref:
        assert abs(got[key] - ref[key]) <= 1e-9, key
    gold = {qa["id"]: (qa["answers"][0]["text"] if qa["answers"] else "") for qa, _ in _questions(data)}
    perfect = squad_scores(gold, data)
    assert perfect["exact"] == perfect["f1"] == perfect["HasAns_f1"] == perfect["NoAns_f1"] == 100.0
    assert squad_scores({q: "" for q in gold}, data)["NoAns_exact"] == 100.0

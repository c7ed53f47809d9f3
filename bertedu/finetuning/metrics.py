"""Evaluation metrics of the BERT paper's fine-tuning tasks (Section 4), written from their definitions.

- GLUE (§4.1): accuracy; F1 of the positive class (MRPC, QQP); Matthews correlation (CoLA);
  Pearson and Spearman correlation (STS-B).
- NER (§5.3, CoNLL-2003): entity-level precision / recall / F1 with the CoNLL shared task's
  ``conlleval`` definition of a chunk (:func:`entity_f1`).
- SQuAD (§4.2, §4.3): exact match and token F1 as the official v1.1 and v2.0 evaluation scripts
  define them (:func:`squad_scores`).

Everything here is plain Python on lists (no torch), so it scores predictions from any model.
"""

from __future__ import annotations

import collections
import math
import re
import string
from typing import Sequence

# ---------------------------------------------------------------- classification / regression --------


def _pair(y_true: Sequence, y_pred: Sequence) -> None:
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} items but y_pred has {len(y_pred)}; pass one "
                         "prediction per example")
    if not y_true:
        raise ValueError("y_true is empty: a metric needs at least one example")


def accuracy(y_true: Sequence, y_pred: Sequence) -> float:
    """Fraction of examples with ``y_pred[i] == y_true[i]`` (0..1)."""
    _pair(y_true, y_pred)
    return sum(t == p for t, p in zip(y_true, y_pred)) / len(y_true)


def binary_f1(y_true: Sequence, y_pred: Sequence, positive: object = 1) -> float:
    """F1 = 2PR/(P+R) of the class ``positive`` (GLUE's MRPC/QQP F1); 0.0 when there are no true
    positives (also when neither side has a positive)."""
    _pair(y_true, y_pred)
    tp = sum(t == positive and p == positive for t, p in zip(y_true, y_pred))
    n_pred = sum(p == positive for p in y_pred)
    n_true = sum(t == positive for t in y_true)
    return 0.0 if tp == 0 else 2 * tp / (n_pred + n_true)


def matthews_corrcoef(y_true: Sequence, y_pred: Sequence) -> float:
    """Matthews correlation (Matthews 1975; GLUE's CoLA metric), in [-1, 1].

    Written with the confusion-matrix totals so it also covers K > 2 classes (Gorodkin 2004):
    ``(c*s - sum_k p_k t_k) / sqrt((s^2 - sum_k p_k^2)(s^2 - sum_k t_k^2))`` with s examples, c correct,
    p_k / t_k the predicted / true counts of class k; for two classes this is
    ``(TP*TN - FP*FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN))``. 0.0 when a side has one class only.
    """
    _pair(y_true, y_pred)
    s = len(y_true)
    c = sum(t == p for t, p in zip(y_true, y_pred))
    t_k, p_k = collections.Counter(y_true), collections.Counter(y_pred)
    cov = c * s - sum(p_k[k] * t_k[k] for k in t_k.keys() | p_k.keys())
    var_p = s * s - sum(v * v for v in p_k.values())
    var_t = s * s - sum(v * v for v in t_k.values())
    return 0.0 if var_p == 0 or var_t == 0 else cov / math.sqrt(var_p * var_t)


def pearson(x: Sequence[float], y: Sequence[float]) -> float:
    """Pearson's r = cov(x, y) / (std(x) std(y)); ``nan`` if x or y is constant (r is undefined)."""
    _pair(x, y)
    mx, my = sum(x) / len(x), sum(y) / len(y)
    dx, dy = [v - mx for v in x], [v - my for v in y]
    sxx, syy = sum(v * v for v in dx), sum(v * v for v in dy)
    if sxx == 0 or syy == 0:
        return math.nan
    return sum(a * b for a, b in zip(dx, dy)) / math.sqrt(sxx * syy)


def average_ranks(values: Sequence[float]) -> list[float]:
    """Ranks 1..n of ``values``; tied values share the mean of the ranks they occupy."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):  # positions i..j (0-based) hold ranks i+1..j+1: their mean
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rho: Pearson's r of the average ranks (ties handled), ``nan`` for constant input."""
    _pair(x, y)
    return pearson(average_ranks(x), average_ranks(y))


# ---------------------------------------------------------------- entity F1 (conlleval) --------------


def _split_tag(tag: str) -> tuple[str, str]:
    if tag == "O":
        return "O", ""
    if len(tag) < 3 or tag[0] not in "BIES" or tag[1] != "-":
        raise ValueError(f"tag {tag!r} is not a chunk tag: expected 'O' or a B-/I-/E-/S- prefix and a type "
                         "such as 'B-PER'")
    return tag[0], tag[2:]


def _ends(prev: str, prev_type: str, cur: str, cur_type: str) -> bool:
    """conlleval's end-of-chunk rule: does the chunk holding the previous token end before this one?"""
    if prev == "O":
        return False
    if prev in "ES" or cur in "BSO":
        return True
    return prev_type != cur_type  # an I-/E- of another type cannot continue the chunk


def _starts(prev: str, prev_type: str, cur: str, cur_type: str) -> bool:
    """conlleval's start-of-chunk rule: B-/S- always start one; I-/E- start one after O, after an
    ended chunk (E-/S-) or after a chunk of another type (IOB1: ``O I-PER`` is a PER chunk)."""
    if cur == "O":
        return False
    if cur in "BS" or prev in "OES":
        return True
    return prev_type != cur_type


def get_chunks(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """Chunks ``(type, start, end)`` (end inclusive) of one tag sequence, by conlleval's rules."""
    chunks, prev, prev_type, begin = [], "O", "", 0
    for i, tag in enumerate(list(tags) + ["O"]):  # the sentinel O closes a chunk open at the end
        cur, cur_type = _split_tag(tag)
        if _ends(prev, prev_type, cur, cur_type):
            chunks.append((prev_type, begin, i - 1))
        if _starts(prev, prev_type, cur, cur_type):
            begin = i
        prev, prev_type = cur, cur_type
    return chunks


def entity_f1(true_tags: Sequence[Sequence[str]], pred_tags: Sequence[Sequence[str]]) -> dict[str, float]:
    """Micro-averaged entity precision, recall and F1 (0..1) over sentences of BIO/IOB1 tags.

    A predicted chunk is correct only if a true chunk has the same type, start and end
    (CoNLL-2003's definition; ``conlleval`` and seqeval's default mode). Chunks never cross sentences.
    Precision is 0 with no predicted chunks, recall 0 with no true chunks, F1 0 when both are 0.
    """
    if len(true_tags) != len(pred_tags):
        raise ValueError(f"true_tags has {len(true_tags)} sentences but pred_tags has {len(pred_tags)}")
    n_true = n_pred = n_correct = 0
    for i, (t, p) in enumerate(zip(true_tags, pred_tags)):
        if isinstance(t, str) or isinstance(p, str):
            raise TypeError("true_tags and pred_tags are lists of tag sequences (one list per sentence)")
        if len(t) != len(p):
            raise ValueError(f"sentence {i}: {len(t)} true tags but {len(p)} predicted; one tag per token")
        gold, guess = set(get_chunks(t)), set(get_chunks(p))
        n_true, n_pred, n_correct = n_true + len(gold), n_pred + len(guess), n_correct + len(gold & guess)
    precision = n_correct / n_pred if n_pred else 0.0
    recall = n_correct / n_true if n_true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


# ---------------------------------------------------------------- SQuAD -------------------------------

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(text: str) -> str:
    """The official scripts' normalisation: lower-case, drop ASCII punctuation, drop the articles
    a/an/the, collapse whitespace (in that order)."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_score(gold: str, pred: str) -> float:
    """1.0 if the normalised strings are equal, else 0.0."""
    return float(normalize_answer(gold) == normalize_answer(pred))


def token_f1(gold: str, pred: str, *, v2: bool = False) -> float:
    """F1 of the bags of normalised tokens. v1.1: 0.0 when nothing overlaps (so "" vs "" is 0);
    v2.0: when either side is empty, 1.0 if both are empty, else 0.0."""
    g, p = normalize_answer(gold).split(), normalize_answer(pred).split()
    if v2 and (not g or not p):
        return float(g == p)
    same = sum((collections.Counter(g) & collections.Counter(p)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def is_squad_v2(dataset_json: dict) -> bool:
    """True for a v2.0 file: its version says so or some question is marked is_impossible."""
    if str(dataset_json.get("version", "")).lstrip("v").startswith("2"):
        return True
    return any(qa.get("is_impossible") for a in dataset_json["data"] for p in a["paragraphs"] for qa in p["qas"])


def squad_question_scores(predictions: dict[str, str], dataset_json: dict) -> dict[str, tuple[float, float, bool]]:
    """Per question id: (exact, f1, has_answer), each score 0..1, max over the gold answers.

    v2.0 rules (official v2.0 script): gold answers that normalise to "" are dropped and a question
    left with none has the single gold answer "" (so predicting "" scores 1); ``has_answer`` is
    ``bool(answers)``. A question missing from ``predictions`` scores 0 (see :func:`squad_scores`).
    """
    v2, out = is_squad_v2(dataset_json), {}
    for article in dataset_json["data"]:
        for par in article["paragraphs"]:
            for qa in par["qas"]:
                golds = [a["text"] for a in qa["answers"]]
                if v2:
                    golds = [g for g in golds if normalize_answer(g)] or [""]
                qid = qa["id"]
                if qid not in predictions:
                    out[qid] = (0.0, 0.0, bool(qa["answers"]))
                    continue
                pred = predictions[qid]
                if not isinstance(pred, str):
                    raise TypeError(f"predictions[{qid!r}] must be the answer text (str), got {type(pred).__name__}")
                out[qid] = (max(exact_score(g, pred) for g in golds),
                            max(token_f1(g, pred, v2=v2) for g in golds), bool(qa["answers"]))
    return out


def squad_scores(predictions: dict[str, str], dataset_json: dict) -> dict[str, float]:
    """Exact match and F1 in percent, as the official SQuAD v1.1 / v2.0 evaluation scripts define them.

    ``predictions`` maps question id -> answer text ("" = no answer, for v2.0); ``dataset_json`` is the
    whole SQuAD dict (``{"version", "data"}``). Keys: ``exact``, ``f1``, ``total``; for v2.0 (see
    :func:`is_squad_v2`) also ``HasAns_exact``, ``HasAns_f1``, ``HasAns_total``, ``NoAns_exact``,
    ``NoAns_f1``, ``NoAns_total`` (only for groups that have questions).

    Missing predictions count as wrong (score 0) and stay in every total. That is what the official
    v1.1 script does; the official v2.0 script instead leaves them out of ``total`` (and fails on
    its HasAns/NoAns breakdown), so both agree whenever every question has a prediction.
    """
    scores = squad_question_scores(predictions, dataset_json)
    if not scores:
        raise ValueError("dataset_json has no questions")

    def summary(ids: list[str]) -> tuple[float, float, int]:
        return (100.0 * sum(scores[q][0] for q in ids) / len(ids),
                100.0 * sum(scores[q][1] for q in ids) / len(ids), len(ids))

    out: dict[str, float] = dict(zip(("exact", "f1", "total"), summary(list(scores))))
    if is_squad_v2(dataset_json):
        for name, want in (("HasAns", True), ("NoAns", False)):
            ids = [q for q, (_, _, has) in scores.items() if has == want]
            if ids:
                out.update(zip((f"{name}_exact", f"{name}_f1", f"{name}_total"), summary(ids)))
    return out

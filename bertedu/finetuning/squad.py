"""SQuAD as span prediction (BERT paper, Section 4.2 and 4.3; Figure 1 right): features and decoding.

Input ``[CLS] question [SEP] passage [SEP]``; the model gives every token a start logit S·T_i and an
end logit E·T_j, and a span i..j scores S·T_i + E·T_j. This module does everything around the model
and depends on none: it takes a tokenizer and returns lists, it takes logits (tensors, arrays or
lists) and returns answers. The recipe follows the released ``run_squad.py``:

1. split the passage at whitespace into words, remembering each character's word;
2. WordPiece-tokenise each word, remembering each piece's word (answer characters -> words -> pieces);
3. cut long passages into windows of ``max_seq_length`` tokens that start ``doc_stride`` pieces apart;
   a piece seen by several windows is decoded only in the window where it has the most context
   on both sides ("max context");
4. decode: the best span with start <= end, both in the passage, at most ``max_answer_length`` pieces,
   the start in its max-context window; the answer text comes from the original words.

SQuAD v2.0 (§4.3): the no-answer span is [CLS]..[CLS], s_null = S·C + E·C; predict "" when
s_null - best non-null score > tau, tau chosen on dev to maximise F1 (:func:`tune_null_threshold`).
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from bertedu.finetuning.metrics import squad_question_scores


@dataclass
class SquadFeature:
    """One window of one question, ready for the model (lists of length T, unpadded).

    ``token_to_word[i]`` is the passage word of position i (-1 outside the passage);
    ``max_context[i]`` says whether this window is position i's max-context window;
    ``start_position``/``end_position`` are the answer's positions, 0 ([CLS]) when the answer is not
    inside this window or the question has none.
    """

    qid: str
    example_index: int
    window_index: int
    tokens: list[str]
    input_ids: list[int]
    token_type_ids: list[int]
    token_to_word: list[int]
    max_context: list[bool]
    words: list[str] = field(repr=False)
    start_position: int = 0
    end_position: int = 0
    is_impossible: bool = False

    @property
    def attention_mask(self) -> list[int]:
        return [1] * len(self.input_ids)


def split_words(context: str) -> tuple[list[str], list[int]]:
    """Whitespace words of ``context`` and, per character, the index of its word (a space maps to
    the word before it, -1 before the first word)."""
    words: list[str] = []
    char_to_word: list[int] = []
    for m in re.finditer(r"\S+", context):  # \s is str.isspace's whitespace
        char_to_word.extend([len(words) - 1] * (m.start() - len(char_to_word)))  # spaces before it
        char_to_word.extend([len(words)] * (m.end() - m.start()))
        words.append(m.group())
    char_to_word.extend([len(words) - 1] * (len(context) - len(char_to_word)))
    return words, char_to_word


def tokenize_words(words: Sequence[str], tokenizer: Any) -> tuple[list[str], list[int], list[int]]:
    """WordPiece pieces of the words, each piece's word, and each word's first piece (a word with no
    pieces, e.g. only control characters, points at the next word's first piece)."""
    pieces: list[str] = []
    piece_to_word: list[int] = []
    word_to_piece: list[int] = []
    for w, word in enumerate(words):
        word_to_piece.append(len(pieces))
        for piece in tokenizer.tokenize(word):
            pieces.append(piece)
            piece_to_word.append(w)
    return pieces, piece_to_word, word_to_piece


def answer_piece_span(answer: dict, char_to_word: Sequence[int], word_to_piece: Sequence[int],
                      pieces: Sequence[str], tokenizer: Any) -> tuple[int, int]:
    """Char span of ``answer`` (``text``, ``answer_start``) -> (first, last) piece of the passage.

    Words are whole, so the span first covers the answer's words; it is then tightened to the
    smallest sub-span whose pieces equal the answer's own pieces, when one exists (an answer
    "1895" inside the word "(1895-1943)" gets just the piece "1895", as in the released code).
    """
    start_char, text = answer["answer_start"], answer["text"]
    first_word = char_to_word[start_char]
    last_word = char_to_word[start_char + max(len(text), 1) - 1]
    first = word_to_piece[first_word]
    last = (word_to_piece[last_word + 1] if last_word + 1 < len(word_to_piece) else len(pieces)) - 1
    target = tokenizer.tokenize(text)
    for i in range(first, last + 1):
        for j in range(last, i - 1, -1):
            if list(pieces[i:j + 1]) == target:
                return i, j
    return first, last


def windows(n_pieces: int, max_tokens: int, doc_stride: int) -> list[tuple[int, int]]:
    """(start, length) of each window over ``n_pieces`` passage pieces; the last one ends at the end."""
    out, start = [], 0
    while True:
        length = min(n_pieces - start, max_tokens)
        out.append((start, length))
        if start + length >= n_pieces:
            return out
        start += min(length, doc_stride)


def is_max_context(spans: Sequence[tuple[int, int]], index: int, piece: int) -> bool:
    """Whether window ``index`` gives ``piece`` its most context: the score of a window is
    min(pieces to the left, pieces to the right) + 0.01 * window length; the first best wins."""
    best, best_score = None, -1.0
    for k, (start, length) in enumerate(spans):
        end = start + length - 1
        if start <= piece <= end:
            score = min(piece - start, end - piece) + 0.01 * length
            if score > best_score:
                best, best_score = k, score
    return best == index


def squad_features(examples: Sequence[Any], tokenizer: Any, *, max_seq_length: int = 384,
                   doc_stride: int = 128, max_query_length: int = 64) -> list[SquadFeature]:
    """Windows (features) of SQuAD examples (``bertedu.datasets.tasks.SquadExample``: ``id``,
    ``question``, ``context``, ``answers``, ``is_impossible``). The first answer is the training target."""
    if max_seq_length - max_query_length - 3 < 1 or doc_stride < 1:
        raise ValueError(f"max_seq_length={max_seq_length}, max_query_length={max_query_length}, "
                         f"doc_stride={doc_stride}: need max_seq_length > max_query_length + 3 and doc_stride >= 1")
    cls, sep = tokenizer.cls_token, tokenizer.sep_token
    features, passages = [], {}  # passages: context -> its words and pieces (questions share passages)
    for index, ex in enumerate(examples):
        query = tokenizer.tokenize(ex.question)[:max_query_length]
        if ex.context not in passages:
            words, char_to_word = split_words(ex.context)
            passages[ex.context] = (words, char_to_word, *tokenize_words(words, tokenizer))
        words, char_to_word, pieces, piece_to_word, word_to_piece = passages[ex.context]
        impossible = bool(ex.is_impossible) or not ex.answers
        span = (-1, -1) if impossible else answer_piece_span(ex.answers[0], char_to_word, word_to_piece,
                                                             pieces, tokenizer)
        spans = windows(len(pieces), max_seq_length - len(query) - 3, doc_stride)  # [CLS] q [SEP] p [SEP]
        for k, (start, length) in enumerate(spans):
            offset = len(query) + 2  # position of the first passage piece
            tokens = [cls] + query + [sep] + pieces[start:start + length] + [sep]
            to_word = [-1] * offset + piece_to_word[start:start + length] + [-1]
            max_ctx = [False] * offset + [is_max_context(spans, k, p) for p in range(start, start + length)] + [False]
            first = last = 0  # [CLS]: no answer, or not inside this window
            if not impossible and start <= span[0] and span[1] <= start + length - 1:
                first, last = span[0] - start + offset, span[1] - start + offset
            features.append(SquadFeature(ex.id, index, k, tokens, tokenizer.convert_tokens_to_ids(tokens),
                                         [0] * offset + [1] * (length + 1), to_word, max_ctx, words,
                                         first, last, impossible))
    return features


# ---------------------------------------------------------------- decoding ---------------------------
@dataclass
class SpanCandidate:
    """A span of one window: positions ``start``..``end`` (inclusive), score = start + end logit."""

    start: int
    end: int
    score: float
    start_logit: float
    end_logit: float
    text: str


def _array(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor, without importing torch here
        x = x.detach().cpu().float().numpy()
    return np.asarray(x, dtype=np.float64).reshape(-1)


def _fold(text: str) -> list[tuple[str, int]]:
    """Lower-cased, accent-stripped characters of ``text`` (no spaces), each with its index in text."""
    out = []
    for i, ch in enumerate(text):
        if not ch.isspace():
            for c in unicodedata.normalize("NFD", ch.lower()):
                if unicodedata.category(c) != "Mn":
                    out.append((c, i))
    return out


def span_text(feature: SquadFeature, start: int, end: int) -> str:
    """Answer text of positions start..end: the original words they fall in, joined by one space,
    then cut to the part that matches the pieces themselves (case and accents ignored). This is a
    simpler take on the released ``get_final_text``: if the pieces are not found in the words
    (e.g. an [UNK] piece), the whole words are returned."""
    words = " ".join(feature.words[feature.token_to_word[start]:feature.token_to_word[end] + 1])
    pred = "".join(t[2:] if t.startswith("##") else t for t in feature.tokens[start:end + 1])
    folded, target = _fold(words), _fold_plain(pred)
    at = "".join(c for c, _ in folded).find(target) if target else -1
    if at < 0:
        return words
    return words[folded[at][1]:folded[at + len(target) - 1][1] + 1]


def _fold_plain(text: str) -> str:
    return "".join(c for c, _ in _fold(text))


def best_spans(start_logits: Any, end_logits: Any, feature: SquadFeature, n_best: int = 20,
               max_answer_length: int = 30) -> list[SpanCandidate]:
    """The ``n_best`` highest-scoring valid spans of one window, best first.

    Valid: end >= start, both inside the passage, end - start + 1 <= max_answer_length, and start in
    its max-context window. Every valid pair is scored (the released code scores only pairs of the
    top-n starts and top-n ends; the best span is the same whenever it is among those).
    Logits: shape (T,) or longer (padding beyond the feature's length is ignored).
    """
    n = len(feature.input_ids)
    s, e = _array(start_logits)[:n], _array(end_logits)[:n]
    if len(s) < n or len(e) < n:
        raise ValueError(f"start_logits/end_logits have {len(s)}/{len(e)} values; the feature has {n} tokens")
    in_passage = np.array(feature.token_to_word) >= 0
    can_start = in_passage & np.array(feature.max_context)
    scores, starts, lengths = [], [], []
    for d in range(min(max_answer_length, n)):  # d = end - start
        i = np.nonzero(can_start[:n - d] & in_passage[d:])[0]
        scores.append(s[i] + e[i + d])
        starts.append(i)
        lengths.append(np.full(len(i), d))
    score, start, d = (np.concatenate(x) if x else np.zeros(0) for x in (scores, starts, lengths))
    order = np.lexsort((d, start, -score))[:n_best]  # best score first; ties: earlier, shorter span
    return [SpanCandidate(int(start[k]), int(start[k] + d[k]), float(score[k]), float(s[start[k]]),
                          float(e[start[k] + d[k]]), span_text(feature, int(start[k]), int(start[k] + d[k])))
            for k in order]


@dataclass
class QuestionPrediction:
    """Decoded answer of one question over all its windows.

    ``text``/``score``: the best non-null span ("" / -inf when no window has one); ``null_score``:
    the smallest s_null = start_logit[CLS] + end_logit[CLS] over the windows; ``nbest``: the best
    distinct answer texts, best first.
    """

    qid: str
    text: str
    score: float
    null_score: float
    nbest: list[SpanCandidate]

    @property
    def null_diff(self) -> float:
        """s_null - best non-null score: predict "" when this exceeds tau (§4.3)."""
        return self.null_score - self.score


def decode_predictions(features: Sequence[SquadFeature], start_logits: Sequence[Any], end_logits: Sequence[Any],
                       *, n_best: int = 20, max_answer_length: int = 30) -> dict[str, QuestionPrediction]:
    """Per question id, the best answers over its windows; ``start_logits[k]`` belongs to ``features[k]``."""
    if not len(features) == len(start_logits) == len(end_logits):
        raise ValueError(f"{len(features)} features but {len(start_logits)} start and {len(end_logits)} "
                         "end logit rows; pass one row per feature")
    grouped: dict[str, list[SpanCandidate]] = {}
    null: dict[str, float] = {}
    for f, s, e in zip(features, start_logits, end_logits):
        s, e = _array(s), _array(e)
        grouped.setdefault(f.qid, []).extend(best_spans(s, e, f, n_best, max_answer_length))
        null[f.qid] = min(null.get(f.qid, math.inf), float(s[0] + e[0]))
    out = {}
    for qid, cands in grouped.items():
        cands.sort(key=lambda c: -c.score)
        seen, nbest = set(), []
        for c in cands:
            if c.text not in seen and len(nbest) < n_best:
                seen.add(c.text)
                nbest.append(c)
        best = nbest[0] if nbest else None
        out[qid] = QuestionPrediction(qid, best.text if best else "", best.score if best else -math.inf,
                                      null[qid], nbest)
    return out


def final_answers(predictions: dict[str, QuestionPrediction], null_threshold: float | None = None) -> dict[str, str]:
    """Answer text per question: the best span (v1.1: ``null_threshold=None``), or "" when
    s_null - best > ``null_threshold`` (v2.0)."""
    return {q: "" if null_threshold is not None and p.null_diff > null_threshold else p.text
            for q, p in predictions.items()}


@dataclass
class NullThresholdSearch:
    """Result of :func:`tune_null_threshold`: the best tau, its scores (percent) and the whole curve
    (one dict per candidate tau: threshold, exact, f1, HasAns_exact, HasAns_f1, NoAns_exact, NoAns_f1)."""

    threshold: float
    f1: float
    exact: float
    curve: list[dict[str, float]]


def tune_null_threshold(predictions: dict[str, QuestionPrediction], dataset_json: dict) -> NullThresholdSearch:
    """Choose tau to maximise F1 on ``dataset_json``, as the official v2.0 script's best_f1 search.

    Candidates: just below the smallest finite s_null - best (every question answered "") and each
    distinct finite difference (questions at or below it keep their span). Equal differences move
    together, so every reported score is reachable. Ties in F1: the smallest tau. Questions with no
    prediction score 0, as in ``squad_scores``.
    """
    raw = squad_question_scores({q: p.text for q, p in predictions.items()}, dataset_json)
    total = len(raw)
    has_ids = [q for q, (_, _, has) in raw.items() if has]
    n_has, n_no = len(has_ids), total - len(has_ids)
    diffs = sorted((p.null_diff, q) for q, p in predictions.items() if q in raw and math.isfinite(p.null_diff))
    # state: every predicted question answered "" -> the NoAns ones are right (gold ""), HasAns wrong
    answered_no = {q for q, (_, _, has) in raw.items() if not has and q in predictions}
    sums = {"has_em": 0.0, "has_f1": 0.0, "no_em": float(len(answered_no)), "no_f1": float(len(answered_no))}

    def pct(x: float, n: int) -> float:
        return 100.0 * x / n if n else 0.0

    def point(tau: float) -> dict[str, float]:
        return {"threshold": tau, "exact": pct(sums["has_em"] + sums["no_em"], total),
                "f1": pct(sums["has_f1"] + sums["no_f1"], total), "HasAns_exact": pct(sums["has_em"], n_has),
                "HasAns_f1": pct(sums["has_f1"], n_has), "NoAns_exact": pct(sums["no_em"], n_no),
                "NoAns_f1": pct(sums["no_f1"], n_no)}

    curve = [point((diffs[0][0] - 1.0) if diffs else 0.0)]
    for i, (d, q) in enumerate(diffs):
        em, f1, has = raw[q]
        kind = "has" if has else "no"
        if not has:  # a NoAns question was right while answered ""; now it scores what its span scores
            sums["no_em"] -= 1.0
            sums["no_f1"] -= 1.0
        sums[kind + "_em"] += em
        sums[kind + "_f1"] += f1
        if i + 1 == len(diffs) or diffs[i + 1][0] != d:
            curve.append(point(d))
    best = max(curve, key=lambda c: c["f1"])  # max keeps the first of equal F1s: the smallest tau
    return NullThresholdSearch(best["threshold"], best["f1"], best["exact"], curve)

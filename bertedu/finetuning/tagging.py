"""Words <-> WordPiece tokens for tagging tasks (NER, slot filling): the first sub-token rule.

Tagging data (CoNLL-2003, WNUT-17, SNIPS slots) comes as a list of words with one tag each, but BERT
reads WordPiece tokens, and one word may become several pieces ("Johanson" -> ``johan ##son``).  The
paper's recipe: "we use the representation of the first sub-token as the input to the token-level
classifier over the NER label set" (Sec. 5.3).  So:

1. :func:`encode_words` tokenises each word on its own and records, for every token, the index of the
   word it came from (``None`` for [CLS] and [SEP]);
2. :func:`align_word_labels` puts each word's tag on its first piece and -100 (not scored) on the other
   pieces and on the special tokens;
3. :func:`word_predictions` turns one prediction per token back into one tag per word (the first
   piece's), which is what the CoNLL scorer compares.

Example (bert-base-uncased vocabulary)::

    words     EU    rejects  German  call  ...
    tokens    [CLS] eu  rejects  german  call  ... [SEP]
    word_ids  None  0   1        2       3     ... None
"""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import torch

from bertedu.model.checks import IGNORE_INDEX

__all__ = ["WordEncoding", "encode_words", "align_word_labels", "word_predictions", "collate_word_encodings"]


class WordEncoding(NamedTuple):
    """One encoded sentence of words; all lists have one entry per token (T)."""

    input_ids: list[int]
    token_type_ids: list[int]
    attention_mask: list[int]
    word_ids: list[int | None]  # index into the input words; None for [CLS] / [SEP]
    tokens: list[str]
    num_words: int  # len(words), including any words truncation dropped


def _word_pieces(tokenizer: Any, words: Sequence[str]) -> list[list[str]]:
    if isinstance(words, str) or not isinstance(words, Sequence):
        raise TypeError(f"words must be a list of str (one entry per word), got {type(words).__name__}; "
                        "for raw text use tokenizer.encode")
    pieces = []
    for i, word in enumerate(words):
        if not isinstance(word, str):
            raise TypeError(f"words[{i}] must be a str, got {type(word).__name__}")
        # a word the basic tokenizer deletes entirely (control characters) still gets one token,
        # so that every word has a first sub-token and therefore a prediction
        pieces.append(tokenizer.tokenize(word) or [tokenizer.unk_token])
    return pieces


def encode_words(tokenizer: Any, words: Sequence[str], max_length: int | None = 512) -> WordEncoding:
    """``[CLS] pieces(w_0) pieces(w_1) ... [SEP]`` with the word index of every token.

    Each word is tokenised on its own (``tokenizer.tokenize(word)``), so a piece never spans two words.
    Truncation to ``max_length`` tokens keeps whole words: it stops before the first word that does not
    fit; only a first word longer than the whole budget is cut inside the word.
    """
    if max_length is not None and (isinstance(max_length, bool) or not isinstance(max_length, int)
                                   or max_length < 3):
        raise ValueError(f"max_length must be an int >= 3 ([CLS], one piece, [SEP]) or None, got {max_length!r}")
    pieces = _word_pieces(tokenizer, words)
    budget = float("inf") if max_length is None else max_length - 2
    tokens: list[str] = []
    word_ids: list[int | None] = []
    for index, word in enumerate(pieces):
        if len(tokens) + len(word) > budget:
            if not tokens:  # the first word alone is too long: keep what fits of it
                word = word[: int(budget)]
            else:
                break
        tokens.extend(word)
        word_ids.extend([index] * len(word))
    tokens = [tokenizer.cls_token, *tokens, tokenizer.sep_token]
    word_ids = [None, *word_ids, None]
    ids = tokenizer.convert_tokens_to_ids(tokens)
    return WordEncoding(ids, [0] * len(ids), [1] * len(ids), word_ids, tokens, len(words))


def _check_word_ids(word_ids: Sequence[int | None]) -> None:
    """Word ids must be None or ints >= 0, each word's tokens side by side (first-piece rule needs it)."""
    finished: set[int] = set()
    previous = None
    for position, w in enumerate(word_ids):
        if w is not None and (isinstance(w, bool) or not isinstance(w, int) or w < 0):
            raise ValueError(f"word_ids[{position}] = {w!r}; use a word index >= 0 or None for special tokens")
        if w != previous and previous is not None:
            finished.add(previous)
        if w is not None and w in finished:
            raise ValueError(f"word {w} appears again at token {position} after other tokens; the tokens of "
                             "one word must be contiguous (use encode_words)")
        previous = w


def align_word_labels(word_ids: Sequence[int | None], word_labels: Sequence[int],
                      label_all_subtokens: bool = False, ignore_index: int = IGNORE_INDEX) -> list[int]:
    """One label per token: the word's label on its first piece; ``ignore_index`` on the others and on
    special tokens (Sec. 5.3).  ``label_all_subtokens=True`` copies the word's label to every piece
    instead (a common variant; note a copied ``B-`` tag then also lands on the continuation pieces).
    """
    _check_word_ids(word_ids)
    used = [w for w in word_ids if w is not None]
    if used and max(used) >= len(word_labels):
        raise ValueError(f"word_ids refers to word {max(used)} but word_labels has {len(word_labels)} "
                         "labels; give one label per word")
    out, previous = [], None
    for w in word_ids:
        first = w is not None and w != previous
        out.append(ignore_index if w is None or not (first or label_all_subtokens) else int(word_labels[w]))
        previous = w
    return out


def word_predictions(token_predictions: Sequence[Any] | torch.Tensor, word_ids: Sequence[int | None],
                     num_words: int | None = None, fill: Any = None) -> list[Any]:
    """One prediction per token (T,) -> one per word: the prediction at each word's first piece.

    ``token_predictions`` may be longer than ``word_ids`` (padding).  Words with no token (dropped by
    truncation) get ``fill``; ``num_words`` defaults to one past the largest word id.
    """
    if isinstance(token_predictions, torch.Tensor):
        if token_predictions.dim() != 1:
            raise ValueError(f"token_predictions must be 1-D (T,), got shape {tuple(token_predictions.shape)}; "
                             "take logits.argmax(-1) of one sequence")
        token_predictions = token_predictions.tolist()
    _check_word_ids(word_ids)
    if len(token_predictions) < len(word_ids):
        raise ValueError(f"token_predictions has {len(token_predictions)} entries but word_ids has "
                         f"{len(word_ids)}; give one prediction per token")
    used = [w for w in word_ids if w is not None]
    n = (max(used) + 1 if used else 0) if num_words is None else num_words
    out = [fill] * n
    seen: set[int] = set()
    for position, w in enumerate(word_ids):
        if w is not None and w not in seen:
            if w >= n:
                raise ValueError(f"word_ids refers to word {w} but num_words is {n}")
            out[w] = token_predictions[position]
            seen.add(w)
    return out


def collate_word_encodings(encodings: Sequence[WordEncoding], labels: Sequence[Sequence[int]] | None = None,
                           pad_token_id: int = 0) -> dict[str, torch.Tensor]:
    """Pad a batch to its longest sentence -> tensors (B, T); ``labels`` (token level) padded with -100."""
    if not encodings:
        raise ValueError("encodings is empty; give at least one WordEncoding")
    if labels is not None and len(labels) != len(encodings):
        raise ValueError(f"labels has {len(labels)} rows for {len(encodings)} encodings")
    T = max(len(e.input_ids) for e in encodings)
    rows: dict[str, list[list[int]]] = {"input_ids": [], "token_type_ids": [], "attention_mask": []}
    for e in encodings:
        n = T - len(e.input_ids)
        rows["input_ids"].append(e.input_ids + [pad_token_id] * n)
        rows["token_type_ids"].append(e.token_type_ids + [0] * n)
        rows["attention_mask"].append(e.attention_mask + [0] * n)
    if labels is not None:
        for e, row in zip(encodings, labels):
            if len(row) != len(e.input_ids):
                raise ValueError(f"a labels row has {len(row)} entries for {len(e.input_ids)} tokens")
        rows["labels"] = [list(row) + [IGNORE_INDEX] * (T - len(row)) for row in labels]
    return {k: torch.tensor(v, dtype=torch.long) for k, v in rows.items()}

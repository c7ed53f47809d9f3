"""Model inputs from token lists: Figure 2's packing, padding, and the two truncation rules (BERT Sec. 3).

"Sentence pairs are packed together into a single sequence.  We differentiate the sentences in two ways.
First, we separate them with a special token ([SEP]).  Second, we add a learned embedding to every token
indicating whether it belongs to sentence A or sentence B."  (Sec. 3)

:func:`pack_pair` writes that packing once; the tokenizer (:meth:`bertedu.BertTokenizer.encode`) and the
pre-training pairs (:meth:`bertedu.TrainingInstance.to_features`) both use it.

The original code shortens a pair that is too long in two different ways, named here after where each
comes from:

* :func:`truncate_pair_from_end` - ``_truncate_seq_pair`` of Google's ``run_classifier.py`` (fine-tuning):
  drop the last token of the longer segment, one at a time;
* :func:`truncate_pair_randomly` - ``truncate_seq_pair`` of ``create_pretraining_data.py`` (pre-training):
  drop a token of the longer segment from its front or its back, at random.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")
Encoding = dict[str, list[int]]  # input_ids, token_type_ids, attention_mask: one list each


def pack_pair(a: Sequence[T], b: Sequence[T] | None, cls: T, sep: T) -> tuple[list[T], list[int]]:
    """``[CLS] A [SEP]`` or ``[CLS] A [SEP] B [SEP]`` and its segment ids (Figure 2).

    Segment 0 covers [CLS], A and the first [SEP]; segment 1 covers B and its [SEP].  Works on token
    strings and on ids alike.  ``pack_pair(["hi"], ["yo"], "[CLS]", "[SEP]")`` ->
    ``(["[CLS]", "hi", "[SEP]", "yo", "[SEP]"], [0, 0, 0, 1, 1])``.
    """
    sequence = [cls, *a, sep]
    segments = [0] * len(sequence)
    if b is not None:
        sequence += [*b, sep]
        segments += [1] * (len(b) + 1)
    return sequence, segments


def encode_pair(ids_a: Sequence[int], ids_b: Sequence[int] | None, cls_id: int, sep_id: int) -> Encoding:
    """Packed ids with ``token_type_ids`` and an all-ones ``attention_mask`` (nothing padded yet)."""
    ids, segments = pack_pair(ids_a, ids_b, cls_id, sep_id)
    return {"input_ids": ids, "token_type_ids": segments, "attention_mask": [1] * len(ids)}


def pad_encoding(encoding: Encoding, length: int, pad_id: int) -> Encoding:
    """Pad to ``length`` with [PAD] ids, segment 0 and attention 0 (a longer encoding is returned as is)."""
    n = length - len(encoding["input_ids"])
    if n <= 0:
        return encoding
    return {"input_ids": encoding["input_ids"] + [pad_id] * n,
            "token_type_ids": encoding["token_type_ids"] + [0] * n,
            "attention_mask": encoding["attention_mask"] + [0] * n}


def truncate_pair_from_end(len_a: int, len_b: int, budget: int) -> tuple[int, int]:
    """Lengths after the fine-tuning rule (``run_classifier.py``'s ``_truncate_seq_pair``): drop one token
    at a time from the end of the longer segment (from B on a tie) until ``len_a + len_b <= budget``."""
    while len_a + len_b > budget:
        if len_a > len_b:
            len_a -= 1
        else:
            len_b -= 1
    return len_a, len_b


def truncate_pair_randomly(tokens_a: list[T], tokens_b: list[T], max_num_tokens: int,
                           rng: random.Random) -> None:
    """The pre-training rule (``create_pretraining_data.py``): shorten the longer list by one token, from
    the front or back at random, until both fit (in place).

    Cutting both ends stops the model from learning that sentences always end cleanly.
    """
    while len(tokens_a) + len(tokens_b) > max_num_tokens:
        longer = tokens_a if len(tokens_a) > len(tokens_b) else tokens_b
        if rng.random() < 0.5:
            del longer[0]
        else:
            longer.pop()


def check_max_length(max_length: int | None, n_special: int, padding: bool | str) -> None:
    """Validate ``max_length`` and ``padding`` of an encode call; errors name the argument and the fix."""
    if padding not in (False, True, "longest", "max_length"):
        raise ValueError(f"padding must be False, True, 'longest' or 'max_length', got {padding!r}")
    if max_length is None:
        if padding == "max_length":
            raise ValueError("padding='max_length' needs an integer max_length")
        return
    if isinstance(max_length, bool) or not isinstance(max_length, int):
        raise TypeError(f"max_length must be an int or None, got {type(max_length).__name__}")
    if max_length < n_special:
        raise ValueError(f"max_length={max_length} leaves no room for the {n_special} special tokens "
                         f"([CLS] and [SEP]{' x2' if n_special == 3 else ''}); use max_length >= {n_special}")

"""Sentence pairs for next sentence prediction (BERT paper, Sec. 3.1 "Task #2: Next Sentence Prediction
(NSP)", Appendix A.1 "Input/Output Representations") and ALBERT's sentence-order prediction (SOP).

    "when choosing the sentences A and B for each pretraining example, 50% of the time B is the actual
     next sentence that follows A (labeled as IsNext), and 50% of the time it is a random sentence from
     the corpus (labeled as NotNext)."  (Sec. 3.1)
    "a 'sentence' can be an arbitrary span of contiguous text, rather than an actual linguistic
     sentence."  (Sec. 3)

The recipe is the original data script's (``create_pretraining_data.py``), step by step:

1. Per document, gather whole sentences into a *chunk* until it reaches the target length
   (``max_seq_length - 3``, leaving room for [CLS] and two [SEP]; with probability ``short_seq_prob``
   a random shorter target, so the model also sees short inputs).
2. Cut the chunk at a random sentence boundary: A = the sentences before it.
3. Coin flip: IsNext (label 0) keeps B = the rest of the chunk; NotNext (label 1) takes B from a
   random point of a *different* document, and the chunk's unused sentences are "put back" so the
   next chunk starts with them (nothing is wasted).
4. Cut the longer of A and B, one token at a time from a random end, until the pair fits
   (:func:`bertedu.truncate_pair_randomly`).

Labels follow ``transformers``: 0 = IsNext, 1 = NotNext.  SOP (ALBERT, Lan et al. 2019): B is always
the true continuation and with probability ``nsp_probability`` A and B are swapped (1 = swapped).

Bug #3 in book/bugs.md.  The "random" B must come from another document: on a small corpus the
original's "try 10 times" loop could pick the same one; here it cannot.  The reverse bug is in the
input: documents are separated by blank lines (:func:`documents_from_lines`), so a file with a blank
line after every sentence makes every sentence its own document and (in the original) every pair
NotNext; :func:`create_pretraining_examples` warns when most documents have one sentence.
Deviation from the original: a chunk of a single sentence (a very long sentence, or the last one of a
document) was always NotNext there, tilting the labels; here it is cut inside, at a random token,
so the coin flip is always fair (a sentence is "an arbitrary span of contiguous text" anyway).
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from bertedu.text.inputs import encode_pair, pack_pair, pad_encoding, truncate_pair_randomly

IS_NEXT, NOT_NEXT = 0, 1  # NSP labels; for SOP 0 = in order, 1 = swapped


@dataclass
class TrainingInstance:
    """One pretraining pair (Appendix A.1): ``[CLS] tokens_a [SEP] tokens_b [SEP]``.

    ``is_random_next`` is the label: NSP, B is from another document; SOP, A and B were swapped.
    """

    tokens_a: list[str]
    tokens_b: list[str]
    is_random_next: bool

    @property
    def label(self) -> int:
        """0 = IsNext / in order, 1 = NotNext / swapped (the ``next_sentence_label`` of the model)."""
        return NOT_NEXT if self.is_random_next else IS_NEXT

    def tokens(self, tokenizer: Any) -> list[str]:
        """The packed token list ``[CLS] A [SEP] B [SEP]`` (Figure 2)."""
        return pack_pair(self.tokens_a, self.tokens_b, tokenizer.cls_token, tokenizer.sep_token)[0]

    def to_features(self, tokenizer: Any, max_seq_length: int) -> dict[str, list[int]]:
        """``input_ids``, ``token_type_ids`` (0 for [CLS] A [SEP], 1 for B [SEP]) and ``attention_mask``,
        padded with [PAD] to ``max_seq_length`` (Appendix A.1, Figure 2), plus ``next_sentence_label``."""
        ids_a, ids_b = (tokenizer.convert_tokens_to_ids(t) for t in (self.tokens_a, self.tokens_b))
        enc = encode_pair(ids_a, ids_b, tokenizer.cls_token_id, tokenizer.sep_token_id)
        if len(enc["input_ids"]) > max_seq_length:
            raise ValueError(f"the pair has {len(enc['input_ids'])} tokens with [CLS]/[SEP] but max_seq_length is "
                             f"{max_seq_length}; build instances with the same max_seq_length")
        return {**pad_encoding(enc, max_seq_length, tokenizer.pad_token_id), "next_sentence_label": self.label}


def collate_instances(instances: Sequence[TrainingInstance], tokenizer: Any,
                      max_seq_length: int) -> dict[str, torch.Tensor]:
    """Stack instances into long tensors: ``input_ids``, ``token_type_ids``, ``attention_mask`` (B, T)
    and ``next_sentence_label`` (B,), with T = ``max_seq_length``."""
    if not instances:
        raise ValueError("instances is empty; create_pretraining_examples gave no pairs")
    feats = [inst.to_features(tokenizer, max_seq_length) for inst in instances]
    return {key: torch.tensor([f[key] for f in feats], dtype=torch.long) for key in feats[0]}


def documents_from_lines(lines: Iterable[str]) -> list[list[str]]:
    """The original input format: one sentence per line, a blank line between documents.

    Only blank lines split documents, so check that your corpus does not put one after every sentence
    (bug #3 in book/bugs.md: every sentence would be its own document).
    """
    documents: list[list[str]] = [[]]
    for line in lines:
        line = line.strip()
        if line:
            documents[-1].append(line)
        elif documents[-1]:
            documents.append([])
    return [doc for doc in documents if doc]


def create_pretraining_examples(
    documents: Sequence[Sequence[str]] | Sequence[Sequence[Sequence[str]]],
    tokenizer: Any = None,
    *,
    max_seq_length: int,
    rng: random.Random,
    short_seq_prob: float = 0.1,
    nsp_probability: float = 0.5,
    task: str = "nsp",
    dupe_factor: int = 1,
) -> list[TrainingInstance]:
    """Build NSP (or SOP) pairs from documents of sentences (Sec. 3.1 Task #2, Appendix A.1).

    documents: a list of documents, each a list of sentences: raw strings (tokenized here with
        ``tokenizer.tokenize``) or already lists of word pieces.  Empty documents/sentences are dropped.
    nsp_probability: probability of label 1 (NotNext for NSP, swapped for SOP).
    dupe_factor: passes over the corpus (each with fresh random cuts; the original used 10).
    Returns the instances shuffled with ``rng``; every one fits in ``max_seq_length`` tokens.
    """
    if task not in ("nsp", "sop"):
        raise ValueError(f"task must be 'nsp' (BERT) or 'sop' (ALBERT sentence order), got {task!r}")
    if not isinstance(rng, random.Random):
        raise TypeError("rng must be a random.Random, e.g. random.Random(0)")
    if isinstance(max_seq_length, bool) or not isinstance(max_seq_length, int) or max_seq_length < 5:
        raise ValueError(f"max_seq_length must be an int >= 5 ([CLS] A [SEP] B [SEP] needs 5), got {max_seq_length!r}")
    for name, p in (("short_seq_prob", short_seq_prob), ("nsp_probability", nsp_probability)):
        if not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise ValueError(f"{name} must be a probability in [0, 1], got {p!r}")
    if isinstance(dupe_factor, bool) or not isinstance(dupe_factor, int) or dupe_factor < 1:
        raise ValueError(f"dupe_factor must be an int >= 1, got {dupe_factor!r}")
    docs = _tokenize_documents(documents, tokenizer)
    if task == "nsp" and len(docs) < 2:
        raise ValueError(f"NSP needs at least 2 non-empty documents (a NotNext B must come from another "
                         f"document), got {len(docs)}; add documents or use task='sop'")
    if len(docs) >= 4 and sum(len(d) == 1 for d in docs) > 0.9 * len(docs):
        warnings.warn("more than 90% of the documents have a single sentence: are blank lines splitting "
                      "every sentence into its own document? (documents are separated by blank lines)",
                      stacklevel=2)
    instances: list[TrainingInstance] = []
    for _ in range(dupe_factor):
        for index in range(len(docs)):
            instances.extend(instances_from_document(docs, index, max_seq_length, short_seq_prob,
                                                      nsp_probability, task, rng))
    rng.shuffle(instances)
    return instances


def instances_from_document(docs: list[list[list[str]]], index: int, max_seq_length: int,
                             short_seq_prob: float, nsp_probability: float, task: str,
                             rng: random.Random) -> list[TrainingInstance]:
    """Steps 1-4 of the module docstring for one document."""
    document = docs[index]
    max_num_tokens = max_seq_length - 3  # room for [CLS], [SEP], [SEP]
    target = max_num_tokens
    if rng.random() < short_seq_prob:
        target = rng.randint(2, max_num_tokens)
    instances: list[TrainingInstance] = []
    chunk: list[list[str]] = []
    length = 0
    i = 0
    while i < len(document):
        chunk.append(document[i])
        length += len(document[i])
        if i == len(document) - 1 or length >= target:
            split = len(chunk) == 1 and len(chunk[0]) >= 2
            if split:  # one long sentence: cut it inside, at a random token (see the module docstring)
                cut = rng.randint(1, len(chunk[0]) - 1)
                chunk = [chunk[0][:cut], chunk[0][cut:]]
            if len(chunk) == 1:  # a one-token document end: no pair inside it
                if task == "sop":
                    chunk, length, i = [], 0, i + 1
                    continue
                a_end, random_next = 1, True  # the original's rule
            else:
                a_end = rng.randint(1, len(chunk) - 1)
                random_next = rng.random() < nsp_probability
            tokens_a = [tok for sentence in chunk[:a_end] for tok in sentence]
            tokens_b = [tok for sentence in chunk[a_end:] for tok in sentence]
            if task == "sop" and random_next:
                tokens_a, tokens_b = tokens_b, tokens_a
            elif task == "nsp" and random_next:
                tokens_b = random_continuation(docs, index, target - len(tokens_a), rng)
                if not split:  # put back the sentences B did not use: the next chunk starts with them
                    i -= len(chunk) - a_end
            truncate_pair_randomly(tokens_a, tokens_b, max_num_tokens, rng)
            instances.append(TrainingInstance(tokens_a, tokens_b, random_next))
            chunk, length = [], 0
        i += 1
    return instances


def random_continuation(docs: list[list[list[str]]], index: int, target_length: int,
                         rng: random.Random) -> list[str]:
    """Tokens from a random point of a random *other* document, about ``target_length`` long."""
    other = rng.randrange(len(docs) - 1)
    other += other >= index  # skip our own document: never the same one (bug #3 in book/bugs.md)
    document = docs[other]
    tokens: list[str] = []
    for sentence in document[rng.randrange(len(document)):]:
        tokens.extend(sentence)
        if len(tokens) >= target_length:
            break
    return tokens


def _tokenize_documents(documents: Any, tokenizer: Any) -> list[list[list[str]]]:
    """Documents of raw sentences -> documents of word-piece lists; drop empty sentences and documents."""
    if isinstance(documents, (str, bytes)) or not isinstance(documents, Sequence):
        raise TypeError("documents must be a list of documents, each a list of sentences (str or list of tokens)")
    result = []
    for doc in documents:
        if isinstance(doc, str) or not isinstance(doc, Sequence):
            raise TypeError("each document must be a list of sentences (str or list of tokens), got "
                            f"{type(doc).__name__}; wrap a single text as [[text]] or use documents_from_lines")
        sentences = []
        for sentence in doc:
            if isinstance(sentence, str):
                if tokenizer is None:
                    raise TypeError("documents hold raw strings: pass a tokenizer to split them into word pieces")
                sentence = tokenizer.tokenize(sentence)
            sentences.append(list(sentence))
        sentences = [s for s in sentences if s]
        if sentences:
            result.append(sentences)
    return result

"""Sentence pairs for NSP / SOP (paper Sec. 3.1 Task #2, Appendix A.1).

The corpus is synthetic and *tagged*: token ``d3p17`` is the 17th token of document 3, so every test
can tell where each token of A and B came from.  Statistical checks allow 5 standard deviations of a
binomial count (sd = sqrt(n p (1 - p)), or of a fraction sqrt(p (1 - p) / n)).  The labels of one
document are not a fixed-size sample (a NotNext pair puts sentences back, so it makes more pairs),
but each label is still a fair coin flipped before the next pair is made, so by Wald's identity the
pooled count has the same mean and variance as a binomial over the realised number of pairs.
"""

from __future__ import annotations

import math
import random
import re

import pytest
import torch

from bertedu.pretraining.nsp import (IS_NEXT, NOT_NEXT, TrainingInstance, collate_instances, create_pretraining_examples,
                                     documents_from_lines)
from bertedu.text.inputs import truncate_pair_randomly
from bertedu.text.tokenizer import BertTokenizer

TAG = re.compile(r"d(\d+)p(\d+)")


def tagged_corpus(num_docs: int, seed: int, sent_len: tuple[int, int] = (2, 6),
                  num_sents: tuple[int, int] = (3, 9)) -> list[list[list[str]]]:
    """Documents of sentences of tokens ``d{doc}p{position in the document}``."""
    rng = random.Random(seed)
    docs = []
    for d in range(num_docs):
        pos, doc = 0, []
        for _ in range(rng.randint(*num_sents)):
            n = rng.randint(*sent_len)
            doc.append([f"d{d}p{pos + k}" for k in range(n)])
            pos += n
        docs.append(doc)
    return docs


def where(tokens: list[str]) -> tuple[set[int], list[int]]:
    """(documents the tokens come from, their positions)."""
    found = [TAG.fullmatch(t).groups() for t in tokens]
    return {int(d) for d, _ in found}, [int(p) for _, p in found]


def tokenizer_for(docs: list[list[list[str]]]) -> BertTokenizer:
    words = sorted({t for doc in docs for s in doc for t in s})
    return BertTokenizer.from_tokens(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words)


def test_golden_features():
    # [CLS] the cat [SEP] sat [SEP] [PAD] [PAD]: segment 0 up to the first [SEP], 1 after, 0 on padding.
    tok = BertTokenizer.from_tokens(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat"])
    feats = TrainingInstance(["the", "cat"], ["sat"], is_random_next=True).to_features(tok, 8)
    assert feats == {"input_ids": [2, 5, 6, 3, 7, 3, 0, 0], "token_type_ids": [0, 0, 0, 0, 1, 1, 0, 0],
                     "attention_mask": [1, 1, 1, 1, 1, 1, 0, 0], "next_sentence_label": NOT_NEXT}
    with pytest.raises(ValueError, match="max_seq_length"):
        TrainingInstance(["the", "cat"], ["sat"], False).to_features(tok, 5)


def test_bug3_not_next_never_from_the_same_document():
    # bug #3 in book/bugs.md.  With only 2 documents, a "random document" that may be our own is ours half the time.
    docs = tagged_corpus(2, seed=0, num_sents=(20, 30))
    instances = create_pretraining_examples(docs, max_seq_length=19, rng=random.Random(1), dupe_factor=20)
    not_next = [inst for inst in instances if inst.is_random_next]
    assert len(not_next) > 100
    for inst in instances:
        docs_a, pos_a = where(inst.tokens_a)
        docs_b, pos_b = where(inst.tokens_b)
        assert len(docs_a) == 1 and len(docs_b) == 1
        if inst.is_random_next:
            assert docs_a != docs_b
        else:  # IsNext: B is the text right after A in the same document
            assert docs_a == docs_b and max(pos_a) < min(pos_b)


def test_bug3_needs_two_documents():
    docs = tagged_corpus(1, seed=0)
    with pytest.raises(ValueError, match="2 non-empty documents"):
        create_pretraining_examples(docs, max_seq_length=16, rng=random.Random(0))
    with pytest.raises(ValueError, match="2 non-empty documents"):  # an empty document does not count
        create_pretraining_examples(docs + [[]], max_seq_length=16, rng=random.Random(0))
    assert create_pretraining_examples(docs, max_seq_length=16, rng=random.Random(0), task="sop")


def test_bug3_reverse_bug_blank_lines():
    # The original format: one sentence per line, blank line between documents.
    lines = ["a b c.", "d e.", "", "", "f g.", "h.", ""]
    assert documents_from_lines(lines) == [["a b c.", "d e."], ["f g.", "h."]]
    # A file with a blank line after every sentence makes one-sentence documents: we warn ...
    blank_after_each = [line for i in range(20) for line in (f"w{i} x y z", "")]
    one_each = documents_from_lines(blank_after_each)
    assert len(one_each) == 20 and all(len(doc) == 1 for doc in one_each)
    tok = BertTokenizer.from_tokens(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "x", "y", "z"]
                                    + [f"w{i}" for i in range(20)])
    with pytest.warns(UserWarning, match="blank lines"):
        instances = create_pretraining_examples(one_each, tok, max_seq_length=12, rng=random.Random(0),
                                                dupe_factor=10)
    # ... and the labels stay balanced (the original made every such pair NotNext): 200 pairs, sd 7.1.
    n = len(instances)
    assert abs(sum(i.label for i in instances) - n / 2) <= 5 * math.sqrt(n / 4)


@pytest.mark.parametrize("p", [0.5, 0.2])
def test_is_next_fraction(p):
    docs = tagged_corpus(40, seed=2)
    instances = create_pretraining_examples(docs, max_seq_length=17, rng=random.Random(3), nsp_probability=p,
                                            dupe_factor=10)
    n = len(instances)  # ~ 1500
    not_next = sum(inst.label == NOT_NEXT for inst in instances)
    assert abs(not_next - n * p) <= 5 * math.sqrt(n * p * (1 - p)), (not_next, n)


@pytest.mark.parametrize("max_seq_length, short", [(7, 0.1), (16, 0.1), (33, 1.0)])
def test_lengths_fit_and_sides_are_not_empty(max_seq_length, short):
    docs = tagged_corpus(9, seed=4, sent_len=(1, 12))
    instances = create_pretraining_examples(docs, max_seq_length=max_seq_length, rng=random.Random(5),
                                            short_seq_prob=short, dupe_factor=5)
    lengths = [len(i.tokens_a) + len(i.tokens_b) + 3 for i in instances]
    assert max(lengths) <= max_seq_length
    assert all(i.tokens_a and i.tokens_b for i in instances)
    if short == 1.0:  # every document gets a random target in [2, max - 3], so short pairs appear
        assert min(lengths) < max_seq_length // 2


def test_put_back_wastes_no_sentence():
    # A NotNext pair uses only A from its chunk; the rest must start the next chunk.  With sentences of
    # 3 tokens and room for 9, nothing is truncated, so every token (but those of a document's last
    # sentence, which may be cut in half) appears in A or in an IsNext B of its own document.
    docs = tagged_corpus(12, seed=6, sent_len=(3, 3), num_sents=(6, 10))
    instances = create_pretraining_examples(docs, max_seq_length=12, rng=random.Random(7), short_seq_prob=0.0)
    seen = set()
    for inst in instances:
        seen.update(inst.tokens_a)
        if not inst.is_random_next:
            seen.update(inst.tokens_b)
    for doc in docs:
        for sentence in doc[:-1]:
            assert set(sentence) <= seen, sentence


def test_sop_pairs_are_in_or_out_of_order():
    docs = tagged_corpus(30, seed=8)
    instances = create_pretraining_examples(docs, max_seq_length=17, rng=random.Random(9), task="sop",
                                            dupe_factor=5)
    for inst in instances:
        docs_a, pos_a = where(inst.tokens_a)
        docs_b, pos_b = where(inst.tokens_b)
        assert docs_a == docs_b and len(docs_a) == 1  # SOP never leaves the document
        if inst.label == IS_NEXT:  # in order
            assert max(pos_a) < min(pos_b)
        else:  # swapped
            assert max(pos_b) < min(pos_a)
    n = len(instances)
    assert abs(sum(i.label for i in instances) - n / 2) <= 5 * math.sqrt(n / 4)


def test_segments_and_collate():
    docs = tagged_corpus(5, seed=10)
    tok = tokenizer_for(docs)
    instances = create_pretraining_examples(docs, max_seq_length=13, rng=random.Random(11))
    batch = collate_instances(instances[:3], tok, 13)
    assert set(batch) == {"input_ids", "token_type_ids", "attention_mask", "next_sentence_label"}
    assert batch["input_ids"].shape == (3, 13) and batch["next_sentence_label"].shape == (3,)
    assert all(t.dtype == torch.long for t in batch.values())
    for row, inst in enumerate(instances[:3]):
        ids = batch["input_ids"][row].tolist()
        tokens = tok.convert_ids_to_tokens(ids)
        la, lb = len(inst.tokens_a), len(inst.tokens_b)
        assert tokens[: la + lb + 3] == ["[CLS]", *inst.tokens_a, "[SEP]", *inst.tokens_b, "[SEP]"]
        assert batch["token_type_ids"][row].tolist() == [0] * (la + 2) + [1] * (lb + 1) + [0] * (10 - la - lb)
        assert batch["attention_mask"][row].sum() == la + lb + 3
        assert batch["next_sentence_label"][row] == inst.label


def test_raw_text_documents_use_the_tokenizer():
    tok = BertTokenizer.from_tokens(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "dog", "sat",
                                     "ran", "un", "##aff", "##able", "."])
    docs = [["The cat sat.", "The dog ran."], ["Unaffable dog.", "", "The cat ran."]]
    instances = create_pretraining_examples(docs, tok, max_seq_length=12, rng=random.Random(0), dupe_factor=3)
    pieces = {t for i in instances for t in i.tokens_a + i.tokens_b}
    assert pieces <= set(tok.vocab) and "##aff" in pieces
    with pytest.raises(TypeError, match="tokenizer"):
        create_pretraining_examples(docs, max_seq_length=12, rng=random.Random(0))


def test_determinism():
    docs = tagged_corpus(6, seed=12)
    make = lambda seed: create_pretraining_examples(docs, max_seq_length=15, rng=random.Random(seed))  # noqa: E731
    assert make(1) == make(1)
    assert make(1) != make(2)


def test_truncate_cuts_the_longer_side_at_both_ends():
    fronts = backs = 0
    for seed in range(20):
        a, b = [f"a{i}" for i in range(9)], ["b0", "b1"]
        truncate_pair_randomly(a, b, 7, random.Random(seed))
        assert len(a) + len(b) == 7 and b == ["b0", "b1"]  # only the longer side is cut
        fronts += a[0] != "a0"
        backs += a[-1] != "a8"
    assert fronts and backs  # both ends get cut, at random


@pytest.mark.parametrize("kwargs, error, word", [
    (dict(task="mlm"), ValueError, "task"),
    (dict(rng=0), TypeError, "rng"),
    (dict(max_seq_length=4), ValueError, "max_seq_length"),
    (dict(short_seq_prob=2.0), ValueError, "short_seq_prob"),
    (dict(nsp_probability=-0.5), ValueError, "nsp_probability"),
    (dict(dupe_factor=0), ValueError, "dupe_factor"),
])
def test_bad_arguments(kwargs, error, word):
    args = dict(max_seq_length=16, rng=random.Random(0))
    args.update(kwargs)
    with pytest.raises(error, match=word):
        create_pretraining_examples(tagged_corpus(3, seed=0), **args)
    with pytest.raises(TypeError, match="documents"):
        create_pretraining_examples("just one string", max_seq_length=16, rng=random.Random(0))

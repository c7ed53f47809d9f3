"""Words -> WordPiece tokens -> one label per token -> one tag per word (the paper's NER recipe, Sec. 5.3).

Hand-worked on the real bert-base-uncased vocabulary: "Johanson" -> johan ##son, "U.S." -> u . s .
(the basic tokenizer splits punctuation), "Wolfsburg" -> wolf ##sburg.
"""

from __future__ import annotations

import pytest
import torch

from bertedu import BertTokenizer
from bertedu.finetuning.heads import BertForTokenClassification
from bertedu.finetuning.tagging import (align_word_labels, collate_word_encodings, encode_words,
                                        word_predictions)
from odd_sizes import odd_config

WORDS = ["Johanson", "visits", "U.S.", "Wolfsburg"]
TAGS = {"O": 0, "B-PER": 1, "I-PER": 2, "B-LOC": 3, "I-LOC": 4}
WORD_TAGS = [TAGS["B-PER"], TAGS["O"], TAGS["B-LOC"], TAGS["B-LOC"]]


@pytest.fixture(scope="module")
def tokenizer(uncased_vocab_path) -> BertTokenizer:
    return BertTokenizer.from_vocab_file(uncased_vocab_path)


def test_words_to_tokens_with_word_ids(tokenizer) -> None:
    enc = encode_words(tokenizer, WORDS)
    assert enc.tokens == ["[CLS]", "johan", "##son", "visits", "u", ".", "s", ".", "wolf", "##sburg", "[SEP]"]
    assert enc.word_ids == [None, 0, 0, 1, 2, 2, 2, 2, 3, 3, None]
    assert enc.input_ids == tokenizer.convert_tokens_to_ids(enc.tokens)
    assert enc.token_type_ids == [0] * 11 and enc.attention_mask == [1] * 11 and enc.num_words == 4


def test_first_sub_token_gets_the_label(tokenizer) -> None:
    enc = encode_words(tokenizer, WORDS)
    #            [CLS] johan ##son visits u  .    s    .    wolf ##sburg [SEP]
    expected = [-100, 1, -100, 0, 3, -100, -100, -100, 3, -100, -100]
    assert align_word_labels(enc.word_ids, WORD_TAGS) == expected
    every = align_word_labels(enc.word_ids, WORD_TAGS, label_all_subtokens=True)
    assert every == [-100, 1, 1, 0, 3, 3, 3, 3, 3, 3, -100]


def test_predictions_back_to_word_tags(tokenizer) -> None:
    enc = encode_words(tokenizer, WORDS)
    # the continuation pieces predict nonsense on purpose: only first pieces count
    preds = torch.tensor([9, 1, 7, 0, 3, 8, 8, 8, 3, 6, 9, 9, 9])  # two extra padding positions
    assert word_predictions(preds, enc.word_ids) == WORD_TAGS
    labels = align_word_labels(enc.word_ids, WORD_TAGS)
    fake = [label if label != -100 else 5 for label in labels]  # a perfect tagger's first pieces
    assert word_predictions(fake, enc.word_ids, num_words=4) == WORD_TAGS


def test_truncation_keeps_whole_words(tokenizer) -> None:
    enc = encode_words(tokenizer, WORDS, max_length=8)  # budget 6: johan ##son visits | u . s . does not fit
    assert enc.tokens == ["[CLS]", "johan", "##son", "visits", "[SEP]"]
    assert word_predictions([0, 1, 0, 0, 0], enc.word_ids, num_words=enc.num_words, fill="O") == [1, 0, "O", "O"]
    enc = encode_words(tokenizer, ["unaffable"], max_length=4)  # one word longer than the budget: cut inside
    assert enc.tokens == ["[CLS]", "una", "##ffa", "[SEP]"] and enc.word_ids == [None, 0, 0, None]


def test_a_word_the_tokenizer_deletes_still_gets_a_token(tokenizer) -> None:
    enc = encode_words(tokenizer, ["a", "\x00", "b"])
    assert enc.tokens == ["[CLS]", "a", "[UNK]", "b", "[SEP]"] and enc.word_ids == [None, 0, 1, 2, None]


def test_tagging_batch_trains_a_token_head(tokenizer) -> None:
    sentences = [WORDS, ["EU", "rejects", "German", "call"]]
    encodings = [encode_words(tokenizer, s) for s in sentences]
    labels = [align_word_labels(encodings[0].word_ids, WORD_TAGS), align_word_labels(encodings[1].word_ids, [3, 0, 0, 0])]
    batch = collate_word_encodings(encodings, labels, pad_token_id=tokenizer.pad_token_id)
    assert batch["input_ids"].shape == batch["labels"].shape == (2, 11)
    assert batch["labels"][1, 6:].tolist() == [-100] * 5 and batch["attention_mask"][1].sum() == 6
    batch["input_ids"] = batch["input_ids"] % 99  # the odd test model has a 99-token vocabulary
    model = BertForTokenClassification(odd_config(), len(TAGS), generator=torch.Generator().manual_seed(0)).eval()
    out = model(**batch)
    assert out.logits.shape == (2, 11, 5) and torch.isfinite(out.loss)


@pytest.mark.parametrize("call,error,message", [
    (lambda t: encode_words(t, "Johanson visits"), TypeError, "list of str"),
    (lambda t: encode_words(t, ["ok", 3]), TypeError, r"words\[1\]"),
    (lambda t: encode_words(t, WORDS, max_length=2), ValueError, "max_length"),
    (lambda t: align_word_labels([None, 0, 1, None], [1]), ValueError, "one label per word"),
    (lambda t: align_word_labels([None, 0, 1, 0, None], [1, 2]), ValueError, "contiguous"),
    (lambda t: align_word_labels([None, -1, None], [1]), ValueError, "word index >= 0"),
    (lambda t: word_predictions(torch.zeros(5, 3), [None, 0, None]), ValueError, r"argmax\(-1\)"),
    (lambda t: word_predictions([1, 2], [None, 0, None]), ValueError, "one prediction per token"),
    (lambda t: collate_word_encodings([]), ValueError, "empty"),
])
def test_bad_inputs(tokenizer, call, error, message) -> None:
    with pytest.raises(error, match=message):
        call(tokenizer)

"""Lessons for bertedu.text.wordpiece: learning a WordPiece vocabulary (BERT Section 3, Appendix A.2)."""

from __future__ import annotations

import random

import pytest

from bertedu.text.tokenizer import BertTokenizer
from bertedu.text.wordpiece import train_wordpiece

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
# The classic toy corpus: hug x10, pug x5, pun x12, bun x4, hugs x5.
TOY = ["hug"] * 10 + ["pug"] * 5 + ["pun"] * 12 + ["bun"] * 4 + ["hugs"] * 5
ALPHABET = ["b", "g", "h", "n", "p", "s", "u", "##b", "##g", "##h", "##n", "##p", "##s", "##u"]


def test_layout_specials_then_alphabet():
    vocab = train_wordpiece(TOY, 19)
    assert vocab == SPECIALS + ALPHABET


def test_frequency_merges_worked_by_hand():
    # Pair counts: (##u, ##g) 10 + 5 + 5 = 20 is the most frequent -> "##ug".  Then h ##ug / p ##ug /
    # p ##u ##n / b ##u ##n / h ##ug ##s: (##u, ##n) 12 + 4 = 16 -> "##un"; then (h, ##ug) 15 -> "hug".
    assert train_wordpiece(TOY, 22)[-3:] == ["##ug", "##un", "hug"]


def test_pmi_merges_worked_by_hand():
    # Piece counts: ##u 36, ##g 20, h 15, p 17, ##n 16, ##s 5, b 4.
    # score(a, b) = freq(ab) / (freq(a) freq(b)): every "u" pair scores exactly 1/36, e.g. (##u, ##g)
    # 20 / (36 * 20); but (##g, ##s) scores 5 / (20 * 5) = 1/20: "s" only ever follows "g".  Merge 1: "##gs".
    # Afterwards all candidates score 1/36: the tie goes to the smallest pair in string order,
    # ("##u", "##g") < ("##u", "##gs") < ... < ("b", "##u") because "#" sorts before letters.
    assert train_wordpiece(TOY, 21, scoring="pmi")[-2:] == ["##gs", "##ug"]


def test_min_frequency_stops_rare_merges():
    assert train_wordpiece(TOY, 100, min_frequency=21) == SPECIALS + ALPHABET  # best pair occurs 20 times
    assert train_wordpiece(TOY, 100, min_frequency=37, scoring="pmi") == SPECIALS + ALPHABET
    assert len(train_wordpiece(TOY, 100, min_frequency=1)) < 100  # runs out of pairs: fewer tokens


def test_deterministic_and_independent_of_text_order():
    texts = ["The quick brown fox jumps over the lazy dog.", "Pack my box with five dozen liquor jugs!",
             "Sphinx of black quartz, judge my vow.", "Héllo wörld, naïve café; 中文 字符."] * 3
    shuffled = texts[:]
    random.Random(7).shuffle(shuffled)
    for scoring in ("frequency", "pmi"):
        first = train_wordpiece(texts, 99, scoring=scoring)
        assert train_wordpiece(texts, 99, scoring=scoring) == first
        assert train_wordpiece(shuffled, 99, scoring=scoring) == first
        assert len(first) == 99 and len(set(first)) == 99


def test_every_training_word_is_tokenizable_without_unk(data_dir):
    lines = (data_dir / "corpus/wikitext-2-raw/wiki.valid.raw").read_text(encoding="utf-8").splitlines()[:400]
    n_words = sum(len(line.split()) for line in lines)
    for scoring in ("frequency", "pmi"):
        vocab = train_wordpiece(lines, 1500, scoring=scoring)
        assert vocab[:5] == SPECIALS and len(vocab) == 1500
        tok = BertTokenizer.from_tokens(vocab)
        tokens = [t for line in lines for t in tok.tokenize(line)]
        assert "[UNK]" not in tokens
        if scoring == "frequency":  # learned pieces are really used: well under 2 pieces per word
            assert len(tokens) < 1.6 * n_words


def test_long_words_are_skipped_and_cased_training_keeps_case():
    vocab = train_wordpiece(["Ab " * 3, "x" * 11], 40, max_word_chars=10, do_lower_case=False)
    assert "x" not in vocab and "A" in vocab and "a" not in vocab and "Ab" in vocab


def test_bad_arguments():
    with pytest.raises(TypeError, match="iterable of str"):
        train_wordpiece("hug pug", 50)
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        train_wordpiece(["hug", 3], 50)
    with pytest.raises(ValueError, match="at least 19"):
        train_wordpiece(TOY, 10)
    with pytest.raises(ValueError, match="vocab_size"):
        train_wordpiece(TOY, 3)
    with pytest.raises(ValueError, match="scoring"):
        train_wordpiece(TOY, 50, scoring="bpe")
    with pytest.raises(ValueError, match="min_frequency"):
        train_wordpiece(TOY, 50, min_frequency=0)

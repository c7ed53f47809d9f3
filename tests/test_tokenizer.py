"""Lessons for bertedu.text.tokenizer: WordPiece as in BERT Section 3 / Appendix A.2, worked by hand."""

from __future__ import annotations

import pytest
import torch

from bertedu.text.inputs import truncate_pair_from_end
from bertedu.text.tokenizer import BasicTokenizer, BertTokenizer, WordpieceTokenizer, load_vocab

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
# A hand-made vocabulary.  Decoys ("u", "##af", "##affa") check that matching is longest-first.
WORDS = ["un", "u", "##aff", "##af", "##able", "##a", "the", "cat", "sat", "on", "mat", "a", "b", "c",
         "d", "e", ",", ".", "!", "'", "s", "t", "don", "hello", "world", "##s", "ab", "##bc", "##d"]


@pytest.fixture()
def tok() -> BertTokenizer:
    return BertTokenizer.from_tokens(SPECIALS + WORDS)


def basic(text: str, **kw) -> list[str]:
    return BasicTokenizer(**kw).tokenize(text)


# --- golden examples ---------------------------------------------------------------------------

def test_unaffable_is_cut_greedily_longest_first(tok):
    assert tok.tokenize("unaffable") == ["un", "##aff", "##able"]
    assert tok.convert_tokens_to_ids(["un", "##aff", "##able"]) == [5, 7, 9]


def test_greedy_matching_gives_unk_for_the_whole_word_when_it_gets_stuck(tok):
    # "abc": greedy takes "ab", then no piece matches "##c" -> the WHOLE word is [UNK], not "ab [UNK]",
    # even though "a ##bc" would have worked: WordPiece is greedy, not optimal.
    assert tok.tokenize("abc") == ["[UNK]"]
    assert tok.tokenize("abd") == ["ab", "##d"]


def test_accents_are_stripped_after_nfd_when_lower_casing():
    assert basic("Héllo") == ["hello"]
    assert basic("He\u0301llo") == ["hello"]  # decomposed e + combining acute: same result
    assert basic("Héllo", do_lower_case=False) == ["Héllo"]  # cased models keep accents
    assert basic("Héllo", do_lower_case=False, strip_accents=True) == ["Hello"]
    assert basic("Héllo", strip_accents=False) == ["héllo"]


def test_cjk_ideographs_are_split_one_by_one_but_kana_and_hangul_are_not():
    assert basic("ab中文cd") == ["ab", "中", "文", "cd"]
    assert basic("ひらがな 한국어", do_lower_case=False) == ["ひらがな", "한국어"]
    # Uncased models strip accents, and NFD turns the kana voicing mark into a non-spacing mark:
    assert basic("ひらがな") == ["ひらかな"]
    assert basic("ab中文cd", tokenize_chinese_chars=False) == ["ab中文cd"]


def test_every_ascii_non_alphanumeric_is_punctuation():
    # "$", "^", "`", "+", "<" ... are Unicode symbols (S*), not punctuation (P*), yet the original splits them.
    assert basic("a$b^c`d+e<f|g~h") == list("a$b^c`d+e<f|g~h")
    assert basic("don't 1.5") == ["don", "'", "t", "1", ".", "5"]
    assert basic("«hi»—ok") == ["«", "hi", "»", "—", "ok"]  # Unicode P* too


def test_control_and_format_characters_are_removed_and_whitespace_unified():
    assert basic("a\x00b\ufffdc\u200bd\x07e\u00adf") == ["abcdef"]
    assert basic("a\u00a0b\u3000c\td\ne\rf") == list("abcdef")
    assert basic("a\x0bb") == ["ab"]  # vertical tab is a control character (Cc), not whitespace here


def test_capital_sigma_lowercases_like_python(tok):
    # Python's str.lower (the original code's) knows the word-final sigma; the Rust tokenizer does not.
    assert basic("ΟΔΟΣ") == ["οδος"]


def test_words_longer_than_100_characters_become_one_unk():
    wp = WordpieceTokenizer(["[UNK]", "x", "##x"])
    assert wp.tokenize("x" * 101) == ["[UNK]"]
    assert wp.tokenize("x" * 100) == ["x"] + ["##x"] * 99
    assert WordpieceTokenizer(["[UNK]", "x", "##x"], max_input_chars_per_word=3).tokenize("xxxx") == ["[UNK]"]


def test_special_tokens_typed_in_text_stay_whole(tok):
    assert tok.tokenize("hello[MASK]world") == ["hello", "[MASK]", "world"]
    assert tok.tokenize("[CLS] the cat [SEP]") == ["[CLS]", "the", "cat", "[SEP]"]
    assert tok.tokenize("[mask]") == ["[UNK]", "[UNK]", "[UNK]"]  # "[" "mask" "]": case matters
    assert basic("[MASK] x") == ["[MASK]", "x"]  # BasicTokenizer's never_split
    assert basic("[MASK] x", never_split=()) == ["[", "mask", "]", "x"]


def test_caches_do_not_change_results(tok):
    first = tok.tokenize("The cat sat on the mat, unaffable!")
    assert tok.tokenize("The cat sat on the mat, unaffable!") == first
    assert first == ["the", "cat", "sat", "on", "the", "mat", ",", "un", "##aff", "##able", "!"]


# --- encode: [CLS] A [SEP] B [SEP], segments, truncation, padding --------------------------------

def test_single_sentence_layout(tok):
    enc = tok.encode("the cat sat")
    assert tok.convert_ids_to_tokens(enc["input_ids"]) == ["[CLS]", "the", "cat", "sat", "[SEP]"]
    assert enc["token_type_ids"] == [0] * 5
    assert enc["attention_mask"] == [1] * 5


def test_pair_layout_and_segment_ids(tok):
    enc = tok.encode("the cat", "sat on a mat")
    assert tok.convert_ids_to_tokens(enc["input_ids"]) == [
        "[CLS]", "the", "cat", "[SEP]", "sat", "on", "a", "mat", "[SEP]"]
    # [CLS] and the first [SEP] belong to A (0); B and its [SEP] are segment 1.
    assert enc["token_type_ids"] == [0, 0, 0, 0, 1, 1, 1, 1, 1]


@pytest.mark.parametrize("la, lb, budget, expected", [
    (3, 3, 3, (2, 1)),   # tie -> B loses first, then A (longer), then B again
    (3, 3, 5, (3, 2)),
    (7, 2, 5, (3, 2)),   # only the longer side shrinks until they are level
    (1, 10, 4, (1, 3)),
    (2, 2, 9, (2, 2)),   # already fits
])
def test_pair_truncation_is_longest_first_ties_from_b(la, lb, budget, expected):
    assert truncate_pair_from_end(la, lb, budget) == expected


def test_truncation_in_encode(tok):
    enc = tok.encode("a b c d e", "a b c", max_length=7)  # budget 4 -> A 2, B 2
    assert tok.convert_ids_to_tokens(enc["input_ids"]) == ["[CLS]", "a", "b", "[SEP]", "a", "b", "[SEP]"]
    assert len(tok.encode("a b c d e", max_length=4)["input_ids"]) == 4
    assert len(tok.encode("a b c d e", max_length=4, truncation=False)["input_ids"]) == 7
    assert tok.encode("a b", "c d", max_length=3)["input_ids"] == [2, 3, 3]  # room for specials only


def test_padding_modes(tok):
    enc = tok.encode("a b", max_length=7, padding="max_length")
    assert enc["input_ids"] == [2, 16, 17, 3, 0, 0, 0]
    assert enc["attention_mask"] == [1, 1, 1, 1, 0, 0, 0]
    assert enc["token_type_ids"] == [0] * 7
    assert tok.encode("a b", padding=True) == tok.encode("a b")  # "longest" of one is itself


def test_batch_encode_to_tensors(tok):
    batch = tok(["the cat", "a", "hello world , the mat !"], return_tensors="pt")
    assert batch["input_ids"].dtype == torch.long and batch["input_ids"].shape == (3, 8)
    assert batch["attention_mask"].sum(1).tolist() == [4, 3, 8]
    assert (batch["input_ids"][1, 3:] == tok.pad_token_id).all()
    fixed = tok.batch_encode(["a", "b", "c"], ["d", "e", "t"], max_length=7, padding="max_length",
                             return_tensors="pt")
    assert fixed["token_type_ids"].tolist()[0] == [0, 0, 0, 1, 1, 0, 0]
    ragged = tok.batch_encode(["a", "a b"], padding=False)
    assert [len(r) for r in ragged["input_ids"]] == [3, 4]
    with pytest.raises(ValueError, match="padding=True"):
        tok.batch_encode(["a", "a b"], padding=False, return_tensors="pt")


def test_decode_joins_pieces_and_tidies_punctuation(tok):
    ids = tok.encode("unaffable, don't!")["input_ids"]
    assert tok.decode(ids) == "[CLS] unaffable, don't! [SEP]"
    assert tok.decode(ids, skip_special_tokens=True) == "unaffable, don't!"
    assert tok.decode(torch.tensor(ids)) == tok.decode(ids)


def test_ids_tokens_round_trip_and_special_ids(tok):
    assert (tok.pad_token_id, tok.unk_token_id, tok.cls_token_id, tok.sep_token_id, tok.mask_token_id) == (
        0, 1, 2, 3, 4)
    assert tok.all_special_ids == [0, 1, 2, 3, 4] and tok.vocab_size == len(tok) == 34
    assert tok.convert_tokens_to_ids("zebra") == tok.unk_token_id
    assert tok.convert_ids_to_tokens(tok.convert_tokens_to_ids(WORDS)) == WORDS
    assert tok.is_continuation("##able") and not tok.is_continuation("able")


def test_save_and_load_vocabulary(tok, tmp_path):
    path = tok.save_vocabulary(tmp_path)
    assert load_vocab(path) == tok.vocab
    again = BertTokenizer.from_vocab_file(path)
    assert again.encode("unaffable cat") == tok.encode("unaffable cat")


# --- errors that name the problem ---------------------------------------------------------------

def test_vocab_without_special_tokens_is_rejected():
    with pytest.raises(ValueError, match=r"\[MASK\]"):
        BertTokenizer.from_tokens(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a"])
    with pytest.raises(ValueError, match="duplicates"):
        BertTokenizer.from_tokens(SPECIALS + ["a", "a"])
    with pytest.raises(TypeError):
        BertTokenizer(SPECIALS)  # a list, not a dict


def test_bad_arguments(tok, tmp_path):
    with pytest.raises(ValueError, match="max_length"):
        tok.encode("a", max_length=1)
    with pytest.raises(ValueError, match="max_length"):
        tok.encode("a", "b", max_length=2)
    assert tok.encode("a", max_length=2)["input_ids"] == [2, 3]
    with pytest.raises(ValueError, match="padding"):
        tok.encode("a", padding="left")
    with pytest.raises(TypeError, match="text"):
        tok.tokenize(123)
    with pytest.raises(TypeError, match="text_pair"):
        tok.encode("a", ["b"])
    with pytest.raises(ValueError, match="ids"):
        tok.convert_ids_to_tokens([0, 34])
    with pytest.raises(ValueError, match="ids"):
        tok.decode([-1])
    with pytest.raises(ValueError, match="text_pairs"):
        tok.batch_encode(["a", "b"], ["c"])
    with pytest.raises(FileNotFoundError, match="vocab"):
        BertTokenizer.from_vocab_file(tmp_path / "nope.txt")


def test_empty_batch_is_a_clear_error():
    tok = BertTokenizer.from_tokens(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a"])
    with pytest.raises(ValueError, match="texts is empty"):
        tok.batch_encode([], return_tensors="pt")


def test_a_cased_vocabulary_with_lower_casing_warns():
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    cased = specials + [w for n in ("Paris", "London", "Anna", "Berlin", "Tokyo") for w in (n, n.lower())] * 1
    cased += [f"Word{i}" for i in range(20)] + [f"word{i}" for i in range(20)]
    with pytest.warns(UserWarning, match="looks cased"):
        BertTokenizer.from_tokens(cased)
    import warnings as w
    with w.catch_warnings():
        w.simplefilter("error")
        BertTokenizer.from_tokens(cased, do_lower_case=False)  # no warning: it is told the truth
        BertTokenizer.from_tokens(specials + [f"word{i}" for i in range(40)])  # uncased: no warning

"""Bug #9 of book/bugs.md: a basic tokenizer that disagrees with the reference (Sec. 3, WordPiece input).

Signature: ``basic_tokenize(text: str) -> list[str]``, the stage before WordPiece for an uncased model.
It is judged against :class:`bertedu.BasicTokenizer`, which tests/test_tokenizer_parity.py pins to both
``transformers`` and Google's ``tokenization.py``.  One function, :func:`basic_by_hand`, has the four
switches the catalogue names; each broken variant flips one.
"""

from __future__ import annotations

import unicodedata

from bertedu.study.bughunt.outcome import Outcome, guarded

SPECIAL = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def _is_cjk(cp: int) -> bool:
    """The CJK Unified Ideographs blocks (Hangul and kana are written with spaces: not split)."""
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2CEAF or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def basic_by_hand(text: str, *, ascii_punctuation: bool = True, nfd: bool = True, split_cjk: bool = True,
                  drop_control: bool = True) -> list[str]:
    """Clean, space out CJK ideographs, split on whitespace, lower-case, strip accents, split punctuation."""
    chars = []
    for ch in text:
        cat = unicodedata.category(ch)
        if ch in " \t\n\r" or cat == "Zs":
            chars.append(" ")
        elif drop_control and (ord(ch) in (0, 0xFFFD) or cat.startswith("C")):
            continue                                   # control and format characters vanish
        elif split_cjk and _is_cjk(ord(ch)):
            chars.append(f" {ch} ")
        else:
            chars.append(ch)
    tokens = []
    for word in "".join(chars).split():
        if word in SPECIAL:
            tokens.append(word)
            continue
        word = word.lower()
        if nfd:
            word = unicodedata.normalize("NFD", word)  # é -> e + U+0301, so the accent can be dropped
        word = "".join(c for c in word if unicodedata.category(c) != "Mn")
        piece = ""
        for ch in word:
            cp = ord(ch)
            ascii_symbol = 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126
            if unicodedata.category(ch).startswith("P") or (ascii_punctuation and ascii_symbol):
                tokens += [piece, ch] if piece else [ch]
                piece = ""
            else:
                piece += ch
        tokens += [piece] if piece else []
    return tokens


def basic_fixed(text: str) -> list[str]:
    """All four rules as the original code has them."""
    return basic_by_hand(text)


def basic_unicode_punctuation_only(text: str) -> list[str]:
    """Bug #9: only Unicode P* is punctuation, so ASCII symbols (dollar ^ ` + < = > | ~) stay in words."""
    return basic_by_hand(text, ascii_punctuation=False)   # BUG: the original splits every ASCII symbol


def basic_accents_without_nfd(text: str) -> list[str]:
    """Bug #9: accents dropped without decomposing first: a precomposed é has no mark to drop."""
    return basic_by_hand(text, nfd=False)                 # BUG: café stays café


def basic_no_cjk_split(text: str) -> list[str]:
    """Bug #9: CJK ideographs are not split one by one, so a whole Chinese phrase is one word."""
    return basic_by_hand(text, split_cjk=False)           # BUG: 自然语言 stays one token


def basic_keeps_control(text: str) -> list[str]:
    """Bug #9: control and format characters (a zero-width space, U+0007) are kept."""
    return basic_by_hand(text, drop_control=False)        # BUG: invisible characters become tokens


SAMPLES = ("Héllo, wörld! Café naïve résumé.", "Price: 5^2 = `25` <ok> | a+b ~ c",
           "BERT 在自然语言处理中很有用。", "zero\u200bwidth and a bell\u0007 here",
           "[CLS] Don't stop [SEP] co-operate... 1,000.5")


@guarded
def check_basic_tokenizer(basic_tokenize) -> Outcome:
    """Bug #9: on five tricky texts the tokens equal the reference's (bertedu.BasicTokenizer, uncased)."""
    from bertedu import BasicTokenizer

    reference = BasicTokenizer(do_lower_case=True)
    for text in SAMPLES:
        got, want = basic_tokenize(text), reference.tokenize(text)
        if got != want:
            first = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
            return Outcome(False, f"{text!r}: token {first} is {got[first:first + 1] or 'missing'}, the "
                                  f"reference has {want[first:first + 1] or 'nothing'}")
    return Outcome(True, f"all {len(SAMPLES)} texts tokenize exactly like the reference")

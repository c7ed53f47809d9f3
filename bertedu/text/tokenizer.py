"""WordPiece tokenization (BERT paper, Section 3 "Input/Output Representations" and Appendix A.2).

"We use WordPiece embeddings (Wu et al., 2016) with a 30,000 token vocabulary.  The first token of
every sequence is always a special classification token ([CLS]) ... Sentence pairs are packed
together into a single sequence.  We differentiate the sentences in two ways.  First, we separate them
with a special token ([SEP]).  Second, we add a learned embedding to every token indicating whether it
belongs to sentence A or sentence B."

Text becomes ids in the same two stages as Google's original ``tokenization.py``, with two differences that
follow ``transformers`` (tested against it): cleaning drops every Unicode category C* character (Google: Cc
and Cf only; they differ on private-use, surrogate and unassigned code points), and a word longer than 100
characters becomes [UNK] (Google: 200).

1. :class:`BasicTokenizer` cleans the text (drops NUL, U+FFFD and control/format characters, turns
   every whitespace character into a space), puts spaces around CJK ideographs, splits on whitespace,
   lower-cases and strips accents (NFD, then drop the non-spacing marks), and splits off every
   punctuation character.
2. :class:`WordpieceTokenizer` cuts each word greedily into the longest vocabulary pieces, left to
   right; pieces after the first carry the ``##`` prefix.  A word with no cut, or longer than 100
   characters, becomes a single ``[UNK]``.

:class:`BertTokenizer` adds ``[CLS] A [SEP] (B [SEP])``, the segment ids (``token_type_ids``), the
``attention_mask``, truncation and padding.  Where the two ``transformers`` tokenizers disagree we
follow the original Google code (the pure-Python ``BertTokenizerLegacy`` is its port):
pair truncation drops one token at a time from the longer side (ties: from B), and lower-casing is
Python's ``str.lower`` (a word-final capital sigma becomes "ς"; the Rust tokenizer gives "σ").
Like Google's code and the Rust tokenizer (unlike ``BertTokenizerLegacy``) we do not NFC-normalise
first (no effect on uncased models), and "[MA\u200bSK]" is not the special token once cleaned.
"""

from __future__ import annotations

import functools
import os
import re
import unicodedata
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

from bertedu._io import atomic_write_text
from bertedu.text.inputs import check_max_length, encode_pair, pad_encoding, truncate_pair_from_end

SPECIAL_TOKENS: tuple[str, ...] = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
_CLEANUP = ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
            (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"))


def _is_whitespace(ch: str) -> bool:
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def _is_control(ch: str) -> bool:
    # \t \n \r are Cc too, but the original code treats them as whitespace.
    return ch not in "\t\n\r" and unicodedata.category(ch).startswith("C")


def is_punctuation(ch: str) -> bool:
    """True for a character the basic tokenizer splits off: every ASCII non-alphanumeric ("$", "^" and "`"
    are Unicode symbols, not punctuation, but the original code splits them too) and every Unicode P*."""
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_chinese_char(cp: int) -> bool:
    # The CJK Unified Ideographs blocks of the original code (not Hangul, Hiragana or Katakana,
    # which are written with spaces between words).
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


class _CleanTable(dict):
    """A ``str.translate`` table built lazily: code point -> "" (drop), " " or " c " (CJK) or itself.

    Cleaning and CJK spacing are both per-character, so one C-speed ``translate`` pass does both.
    """

    def __init__(self, split_chinese: bool) -> None:
        super().__init__()
        self.split_chinese = split_chinese

    def __missing__(self, cp: int) -> str:
        ch = chr(cp)
        if cp == 0 or cp == 0xFFFD or _is_control(ch):
            out = ""
        elif _is_whitespace(ch):
            out = " "
        elif self.split_chinese and _is_chinese_char(cp):
            out = f" {ch} "
        else:
            out = ch
        self[cp] = out
        return out


_TABLES = {True: _CleanTable(True), False: _CleanTable(False)}


def remove_accents(word: str) -> str:
    """"café" -> "cafe": decompose (NFD), then drop the combining marks (Unicode category Mn)."""
    if word.isascii():
        return word
    return "".join(c for c in unicodedata.normalize("NFD", word) if unicodedata.category(c) != "Mn")


def _split_on_punctuation(word: str) -> list[str]:
    if word.isalnum():  # letters/digits only: nothing to split (the common case)
        return [word]
    pieces: list[str] = []
    current = ""
    for ch in word:
        if is_punctuation(ch):
            if current:
                pieces.append(current)
                current = ""
            pieces.append(ch)
        else:
            current += ch
    if current:
        pieces.append(current)
    return pieces


def looks_cased(vocab: dict[str, int]) -> bool:
    """True when over 5% of the whole-word entries start with a capital letter (an uncased vocabulary has
    none: bert-base-uncased has 0 of 30,522; bert-base-cased has ~20%)."""
    words = [t for t in vocab if t[:1].isalpha() and not t.startswith("[")]
    return len(words) >= 20 and sum(t[0].isupper() for t in words) > 0.05 * len(words)


def load_vocab(path: str | os.PathLike[str]) -> dict[str, int]:
    """Read a ``vocab.txt`` (one token per line; the line number is the id), Section 3 / Appendix A.2.

    As in the reference, a token repeated on a later line takes that later id.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"vocabulary file not found: {os.fspath(path)!r}; pass the path of a "
                                "vocab.txt (one token per line)")
    with open(path, encoding="utf-8") as f:
        return {line.rstrip("\n"): i for i, line in enumerate(f)}


class BasicTokenizer:
    """Cleaning, CJK splitting, lower-casing, accent stripping and punctuation splitting (Section 3).

    ``strip_accents=None`` strips accents exactly when ``do_lower_case`` (the "uncased" models).
    Whitespace tokens listed in ``never_split`` are kept unchanged.
    """

    def __init__(self, do_lower_case: bool = True, never_split: Iterable[str] = SPECIAL_TOKENS,
                 tokenize_chinese_chars: bool = True, strip_accents: bool | None = None) -> None:
        self.do_lower_case = bool(do_lower_case)
        self.never_split = frozenset(never_split)
        self.tokenize_chinese_chars = bool(tokenize_chinese_chars)
        self.strip_accents = strip_accents
        self._table = _TABLES[self.tokenize_chinese_chars]

    def split_word(self, word: str) -> tuple[str, ...]:
        """One whitespace-separated word -> its basic tokens (lower-cased per word, like the original)."""
        if word in self.never_split:
            return (word,)
        if self.do_lower_case:
            word = word.lower()
            if self.strip_accents is not False:
                word = remove_accents(word)
        elif self.strip_accents:
            word = remove_accents(word)
        return tuple(_split_on_punctuation(word))

    def clean(self, text: str) -> str:
        """Drop control characters, map whitespace to " " and pad CJK ideographs with spaces."""
        return text.translate(self._table)

    def tokenize(self, text: str) -> list[str]:
        """Split ``text`` into basic tokens: ``"Héllo, 世界!"`` -> ``["hello", ",", "世", "界", "!"]``."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        return [tok for word in self.clean(text).split() for tok in self.split_word(word)]


class WordpieceTokenizer:
    """Greedy longest-match-first WordPiece (Wu et al. 2016; BERT Section 3).

    ``"unaffable"`` -> ``["un", "##aff", "##able"]`` when those pieces are in the vocabulary.
    """

    def __init__(self, vocab: dict[str, int] | Iterable[str], unk_token: str = "[UNK]",
                 max_input_chars_per_word: int = 100) -> None:
        self.vocab = vocab if isinstance(vocab, dict) else {t: i for i, t in enumerate(vocab)}
        self.unk_token = unk_token
        self.max_input_chars_per_word = max_input_chars_per_word

    def split_word(self, word: str) -> tuple[str, ...]:
        """One basic token -> its word pieces, longest vocabulary match first, left to right."""
        if len(word) > self.max_input_chars_per_word:
            return (self.unk_token,)
        pieces, start = [], 0
        while start < len(word):
            for end in range(len(word), start, -1):  # longest candidate first
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    pieces.append(piece)
                    start = end
                    break
            else:  # no piece starts here: the whole word is unknown, not just this part
                return (self.unk_token,)
        return tuple(pieces)

    def tokenize(self, text: str) -> list[str]:
        """Word pieces of every whitespace-separated word of ``text`` (already basic-tokenized)."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        return [p for word in text.split() for p in self.split_word(word)]


class BertTokenizer:
    """Text -> ``input_ids``, ``token_type_ids``, ``attention_mask`` for BERT (Section 3, Figure 2)."""

    pad_token, unk_token, cls_token, sep_token, mask_token = SPECIAL_TOKENS

    def __init__(self, vocab: dict[str, int], do_lower_case: bool = True) -> None:
        if not isinstance(vocab, dict):
            raise TypeError(f"vocab must be a dict token -> id, got {type(vocab).__name__}; "
                            "use BertTokenizer.from_tokens(list) or from_vocab_file(path)")
        missing = [t for t in SPECIAL_TOKENS if t not in vocab]
        if missing:
            raise ValueError(f"vocab is missing the special tokens {missing}; add them (train_wordpiece "
                             "puts [PAD] [UNK] [CLS] [SEP] [MASK] first)")
        self.vocab = vocab
        self.ids_to_tokens = {i: t for t, i in vocab.items()}
        self.do_lower_case = do_lower_case
        if do_lower_case and looks_cased(vocab):
            warnings.warn("this vocabulary looks cased (many capitalised entries) but do_lower_case=True: every "
                          "text is lower-cased first, so capitalised words become other pieces or [UNK]; pass "
                          "do_lower_case=False for a cased vocabulary", UserWarning, stacklevel=2)
        # Special tokens are cut out of the raw text first (so "[MASK]" typed in a text stays one token);
        # the rest goes through the basic tokenizer with nothing protected, as in the original code.
        self.basic = BasicTokenizer(do_lower_case=do_lower_case, never_split=())
        self.wordpiece = WordpieceTokenizer(vocab, unk_token=self.unk_token)
        self._special_re = re.compile("(" + "|".join(map(re.escape, SPECIAL_TOKENS)) + ")")
        # The one cache: a whole word -> its pieces (natural text repeats words); the algorithms stay plain.
        self._word_cache = functools.lru_cache(maxsize=1 << 18)(self._word_pieces)

    @classmethod
    def from_vocab_file(cls, path: str | os.PathLike[str], do_lower_case: bool = True) -> BertTokenizer:
        """Load a ``vocab.txt`` such as the 30,522-token uncased vocabulary of the released models."""
        return cls(load_vocab(path), do_lower_case=do_lower_case)

    @classmethod
    def from_tokens(cls, tokens: Sequence[str], do_lower_case: bool = True) -> BertTokenizer:
        """Build from a token list (e.g. :func:`bertedu.train_wordpiece`'s output); id = position."""
        tokens = list(tokens)
        if len(set(tokens)) != len(tokens):
            dup = sorted({t for t in tokens if tokens.count(t) > 1})[:5]
            raise ValueError(f"tokens contains duplicates {dup}; every token must appear once")
        return cls({t: i for i, t in enumerate(tokens)}, do_lower_case=do_lower_case)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def __len__(self) -> int:
        return len(self.vocab)

    cls_token_id = property(lambda self: self.vocab[self.cls_token])
    sep_token_id = property(lambda self: self.vocab[self.sep_token])
    pad_token_id = property(lambda self: self.vocab[self.pad_token])
    unk_token_id = property(lambda self: self.vocab[self.unk_token])
    mask_token_id = property(lambda self: self.vocab[self.mask_token])

    @property
    def all_special_ids(self) -> list[int]:
        return [self.vocab[t] for t in SPECIAL_TOKENS]

    @staticmethod
    def is_continuation(token: str) -> bool:
        """True for a piece that continues a word (``"##able"``)."""
        return token.startswith("##")

    def _word_pieces(self, word: str) -> tuple[str, ...]:
        return tuple(p for tok in self.basic.split_word(word) for p in self.wordpiece.split_word(tok))

    def tokenize(self, text: str) -> list[str]:
        """Text -> WordPiece tokens: ``"Hello [MASK]!"`` -> ``["hello", "[MASK]", "!"]``."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        out: list[str] = []
        for i, part in enumerate(self._special_re.split(text)):
            if i % 2:  # odd positions are the matched special tokens
                out.append(part)
            else:
                for word in self.basic.clean(part).split():
                    out.extend(self._word_cache(word))
        return out

    def convert_tokens_to_ids(self, tokens: str | Iterable[str]) -> int | list[int]:
        """Token(s) -> id(s); unknown tokens map to the ``[UNK]`` id."""
        unk = self.unk_token_id
        if isinstance(tokens, str):
            return self.vocab.get(tokens, unk)
        return [self.vocab.get(t, unk) for t in tokens]

    def convert_ids_to_tokens(self, ids: int | Iterable[int]) -> str | list[str]:
        """Id(s) (ints, a list or a 1-D tensor) -> token(s); an id outside the vocabulary is a ValueError."""
        if hasattr(ids, "tolist"):
            ids = ids.tolist()
        single = isinstance(ids, int)
        out = []
        for i in [ids] if single else ids:
            if not isinstance(i, int) or i not in self.ids_to_tokens:
                raise ValueError(f"ids contains {i!r}, not an id of this vocabulary (0..{len(self) - 1})")
            out.append(self.ids_to_tokens[i])
        return out[0] if single else out

    def _ids(self, text: str, name: str) -> list[int]:
        if not isinstance(text, str):
            raise TypeError(f"{name} must be a str, got {type(text).__name__}")
        return self.convert_tokens_to_ids(self.tokenize(text))  # type: ignore[return-value]

    def encode(self, text: str, text_pair: str | None = None, max_length: int | None = 512,
               truncation: bool = True, padding: bool | str = False) -> dict[str, list[int]]:
        """``[CLS] A [SEP]`` or ``[CLS] A [SEP] B [SEP]`` with segment ids 0 (A, incl. [CLS] and the first
        [SEP]) and 1 (B and its [SEP]) and attention mask 1 (0 on padding), Section 3 / Figure 2.

        A pair that does not fit is shortened by :func:`bertedu.truncate_pair_from_end` (the original
        fine-tuning code's rule)."""
        a = self._ids(text, "text")
        b = None if text_pair is None else self._ids(text_pair, "text_pair")
        n_special = 2 if b is None else 3
        check_max_length(max_length, n_special, padding)
        if truncation and max_length is not None:
            budget = max_length - n_special
            if b is None:
                a = a[:budget]
            else:
                la, lb = truncate_pair_from_end(len(a), len(b), budget)
                a, b = a[:la], b[:lb]
        enc = encode_pair(a, b, self.cls_token_id, self.sep_token_id)
        if padding == "max_length":
            enc = pad_encoding(enc, max_length, self.pad_token_id)  # type: ignore[arg-type]
        return enc

    def batch_encode(self, texts: Sequence[str], text_pairs: Sequence[str] | None = None,
                     max_length: int | None = 512, truncation: bool = True, padding: bool | str = True,
                     return_tensors: str | None = None) -> dict[str, Any]:
        """Encode a batch; ``padding=True``/"longest" pads to the longest row, "max_length" to max_length.
        ``return_tensors="pt"`` gives ``torch.long`` tensors of shape (B, T)."""
        if isinstance(texts, str) or not isinstance(texts, Sequence):
            raise TypeError("texts must be a list of str; use encode() for a single text")
        if len(texts) == 0:
            raise ValueError("texts is empty: pass at least one text (an empty batch has no shape to pad to)")
        if text_pairs is not None and (isinstance(text_pairs, str) or len(text_pairs) != len(texts)):
            raise ValueError(f"text_pairs must be a list with one str per text ({len(texts)})")
        if return_tensors not in (None, "pt"):
            raise ValueError(f"return_tensors must be None or 'pt', got {return_tensors!r}")
        pairs = text_pairs if text_pairs is not None else [None] * len(texts)
        pad_mode = padding if padding == "max_length" else False
        rows = [self.encode(t, p, max_length, truncation, pad_mode) for t, p in zip(texts, pairs)]
        if padding in (True, "longest") and rows:
            longest = max(len(r["input_ids"]) for r in rows)
            rows = [pad_encoding(r, longest, self.pad_token_id) for r in rows]
        out = {k: [r[k] for r in rows] for k in ("input_ids", "token_type_ids", "attention_mask")}
        if return_tensors == "pt":
            import torch

            if len({len(r) for r in out["input_ids"]}) > 1:
                raise ValueError("rows have different lengths; use padding=True to return tensors")
            out = {k: torch.tensor(v, dtype=torch.long).reshape(len(rows), -1) for k, v in out.items()}
        return out

    def __call__(self, text: str | Sequence[str], text_pair: Any = None, **kwargs: Any) -> dict[str, Any]:
        """A str goes to :meth:`encode`, a list of str to :meth:`batch_encode`."""
        if isinstance(text, str):
            return self.encode(text, text_pair, **kwargs)
        return self.batch_encode(text, text_pair, **kwargs)

    def decode(self, ids: Iterable[int], skip_special_tokens: bool = False) -> str:
        """Ids -> text: join ``##`` pieces to the previous piece, then tidy spaces before punctuation.

        Matches ``transformers.BertTokenizerLegacy.decode`` (its ``clean_up_tokenization``: " ." -> ".",
        " ' " -> "'", " 's" -> "'s", ...).  The Rust ``BertTokenizer`` only tidies " ." " ?" " !" " ,",
        so "don't" decodes to "don ' t" there and to "don't" here.  Lower-casing and accents are not undone.
        """
        tokens = self.convert_ids_to_tokens(list(ids) if not hasattr(ids, "tolist") else ids.tolist())
        if skip_special_tokens:
            tokens = [t for t in tokens if t not in SPECIAL_TOKENS]
        text = " ".join(tokens).replace(" ##", "").strip()
        for old, new in _CLEANUP:
            text = text.replace(old, new)
        return text

    def save_vocabulary(self, path: str | os.PathLike[str]) -> str:
        """Write ``vocab.txt`` (a directory gets ``path/vocab.txt``); returns the file written."""
        if os.path.isdir(path):
            path = os.path.join(path, "vocab.txt")
        if sorted(self.ids_to_tokens) != list(range(len(self.ids_to_tokens))):
            raise ValueError("vocab ids are not 0..N-1 without gaps, so a vocab.txt cannot hold them")
        atomic_write_text(path, "".join(self.ids_to_tokens[i] + "\n" for i in range(len(self.ids_to_tokens))))
        return os.fspath(path)


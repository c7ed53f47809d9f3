"""Learning a WordPiece vocabulary from a corpus (BERT paper, Section 3 and Appendix A.2).

The paper uses "WordPiece embeddings (Wu et al., 2016) with a 30,000 token vocabulary" but ships only
the finished ``vocab.txt``, not the trainer.  :func:`train_wordpiece` learns such a vocabulary.

The algorithm (bottom-up merging, as in Schuster & Nakajima 2012, "Japanese and Korean voice search"):

1. Pre-tokenize every text with :class:`~bertedu.text.tokenizer.BasicTokenizer` (the same cleaning,
   lower-casing and punctuation splitting the tokenizer will use) and count the words.
2. Start from characters: every word is spelt as its first character and ``##``-characters
   (``"hug"`` -> ``h ##u ##g``).  The vocabulary starts as the 5 special tokens and every character
   seen, in both forms, so no training word can ever become ``[UNK]``.
3. Repeatedly merge the best adjacent pair ``(a, b)`` and add the merged piece, until ``vocab_size``
   pieces exist.  Two scores are offered:

   * ``scoring="frequency"`` (default): the most frequent pair, ``freq(ab)``, as byte-pair encoding
     (Sennrich et al. 2016) and the ``tokenizers`` library's WordPiece trainer do.
   * ``scoring="pmi"``: ``freq(ab) / (freq(a) * freq(b))``, the ratio inside pointwise mutual
     information, a cheap stand-in for Schuster & Nakajima's "add the piece that most increases the
     likelihood of the data"; it prefers pairs whose parts seldom appear apart.

Why frequency by default?  We measured both on WikiText-2 (8,000 tokens learned on the valid split,
counted on the test split): frequency gives 1.33 pieces per word ("into", "pieces" are whole words),
the ratio 2.96 (2.40 with min_frequency=5) -- on a small corpus it spends the vocabulary on rare
words whose letters are rare ("excavated") and leaves common words in letters ("in ##t ##o").  Longer
sequences cost compute in every later chapter.  The ratio is kept for comparison in the book.

Speed: a merge only changes the words that contain the pair.  We keep, for each pair, its frequency
and the set of words it occurs in, and for each piece the pairs it takes part in; a merge updates only
those words, and re-scores only pairs whose count or whose parts' counts changed.  The best pair comes
from a heap with lazy deletion (stale entries are skipped when popped).  Ties are broken by string
order of ``(a, b)`` so the result is deterministic.  Pairs seen fewer than ``min_frequency`` times are
never merged.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable

from bertedu.text.tokenizer import SPECIAL_TOKENS, BasicTokenizer


def _count_words(texts: Iterable[str], basic: BasicTokenizer, max_word_chars: int) -> Counter[str]:
    if isinstance(texts, str):
        raise TypeError("texts must be an iterable of str (e.g. a list of lines), not one str")
    raw: Counter[str] = Counter()  # whitespace words first: each distinct one is split once
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts[{i}] is a {type(text).__name__}, expected str")
        raw.update(basic.clean(text).split())
    counts: Counter[str] = Counter()
    for word, n in raw.items():
        for token in basic.split_word(word):
            counts[token] += n
    return Counter({w: c for w, c in counts.items() if len(w) <= max_word_chars})


class _PairCounts:
    """Segmentations of the distinct words plus the incremental pair/piece statistics."""

    def __init__(self, words: dict[str, int], scoring: str = "frequency") -> None:
        self.by_frequency = scoring == "frequency"
        self.words = [[w[0]] + ["##" + ch for ch in w[1:]] for w in words]
        self.counts = list(words.values())
        self.pair_freq: Counter[tuple[str, str]] = Counter()
        self.unit_freq: Counter[str] = Counter()
        self.where: dict[tuple[str, str], set[int]] = {}
        self.by_unit: dict[str, set[tuple[str, str]]] = {}
        for idx, (sym, c) in enumerate(zip(self.words, self.counts)):
            self._apply(idx, sym, c, +1)

    def _apply(self, idx: int, sym: list[str], c: int, sign: int) -> set[tuple[str, str]]:
        """Add (sign=+1) or remove (-1) one word's contribution; returns the pairs touched."""
        for u in sym:
            self.unit_freq[u] += sign * c
        touched = set(zip(sym, sym[1:]))
        for p in zip(sym, sym[1:]):
            self.pair_freq[p] += sign * c
        for p in touched:
            if sign > 0:
                self.where.setdefault(p, set()).add(idx)
                self.by_unit.setdefault(p[0], set()).add(p)
                self.by_unit.setdefault(p[1], set()).add(p)
            else:
                self.where[p].discard(idx)
                if self.pair_freq[p] <= 0:
                    del self.pair_freq[p], self.where[p]
                    self.by_unit[p[0]].discard(p)
                    self.by_unit[p[1]].discard(p)
        return touched

    def score(self, p: tuple[str, str]) -> float:
        if self.by_frequency:
            return float(self.pair_freq[p])
        return self.pair_freq[p] / (self.unit_freq[p[0]] * self.unit_freq[p[1]])

    def merge(self, a: str, b: str, new: str) -> set[tuple[str, str]]:
        """Replace every adjacent ``a b`` by ``new``; returns the pairs whose score may have changed."""
        changed: set[tuple[str, str]] = set()
        for idx in sorted(self.where.get((a, b), ())):
            sym, c = self.words[idx], self.counts[idx]
            merged, i = [], 0
            while i < len(sym):
                if i + 1 < len(sym) and sym[i] == a and sym[i + 1] == b:
                    merged.append(new)
                    i += 2
                else:
                    merged.append(sym[i])
                    i += 1
            changed |= self._apply(idx, sym, c, -1)
            changed |= self._apply(idx, merged, c, +1)
            self.words[idx] = merged
        if not self.by_frequency:  # the counts of a, b, new changed: so did the score of their pairs
            for u in (a, b, new):
                changed |= self.by_unit.get(u, set())
        return changed


def train_wordpiece(texts: Iterable[str], vocab_size: int, *, min_frequency: int = 2,
                    do_lower_case: bool = True, max_word_chars: int = 100,
                    tokenize_chinese_chars: bool = True, scoring: str = "frequency") -> list[str]:
    """Learn a WordPiece vocabulary of at most ``vocab_size`` tokens (Section 3, Appendix A.2).

    Returns ``[PAD] [UNK] [CLS] [SEP] [MASK]``, then every character seen (sorted, word-initial forms,
    then ``##`` forms), then the learned pieces in the order they were merged.  Words longer than
    ``max_word_chars`` are skipped (the tokenizer maps them to ``[UNK]`` anyway).  Fewer than
    ``vocab_size`` tokens come back when no pair occurs ``min_frequency`` times any more.
    ``scoring`` picks the merge score ("frequency" or "pmi", see the module docstring).
    Feed the result to :meth:`bertedu.BertTokenizer.from_tokens`.
    """
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < len(SPECIAL_TOKENS):
        raise ValueError(f"vocab_size must be an int >= {len(SPECIAL_TOKENS)}, got {vocab_size!r}")
    if isinstance(min_frequency, bool) or not isinstance(min_frequency, int) or min_frequency < 1:
        raise ValueError(f"min_frequency must be an int >= 1, got {min_frequency!r}")
    if scoring not in ("frequency", "pmi"):
        raise ValueError(f"scoring must be 'frequency' (freq(ab)) or 'pmi' (freq(ab)/(freq(a)freq(b))), "
                         f"got {scoring!r}")
    basic = BasicTokenizer(do_lower_case=do_lower_case, never_split=(),
                           tokenize_chinese_chars=tokenize_chinese_chars)
    words = _count_words(texts, basic, max_word_chars)
    chars = sorted({ch for w in words for ch in w})
    vocab = list(SPECIAL_TOKENS) + chars + ["##" + ch for ch in chars]
    if len(vocab) > vocab_size:
        raise ValueError(f"the corpus has {len(chars)} distinct characters, so vocab_size must be at least "
                         f"{len(vocab)} (5 special tokens + each character with and without '##')")
    seen = set(vocab)
    stats = _PairCounts(dict(sorted(words.items())), scoring)
    heap = [(-stats.score(p), p) for p, f in stats.pair_freq.items() if f >= min_frequency]
    heapq.heapify(heap)
    while len(vocab) < vocab_size and heap:
        neg, pair = heapq.heappop(heap)
        if stats.pair_freq.get(pair, 0) < min_frequency or stats.score(pair) != -neg:
            continue  # stale: this pair's count or score changed after the entry was pushed
        new = pair[0] + pair[1][2:]  # "un" + "##aff" -> "unaff"; "##a" + "##b" -> "##ab"
        if new not in seen:
            seen.add(new)
            vocab.append(new)
        for p in stats.merge(*pair, new):
            if stats.pair_freq.get(p, 0) >= min_frequency:
                heapq.heappush(heap, (-stats.score(p), p))
        if len(heap) > 4 * len(stats.pair_freq) + 100_000:  # drop stale entries now and then
            heap = [(-stats.score(p), p) for p, f in stats.pair_freq.items() if f >= min_frequency]
            heapq.heapify(heap)
    return vocab

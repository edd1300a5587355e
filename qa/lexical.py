"""Lexical scoring: BM25 over stemmed word tokens, kept per segment, scored across segments.

Dense MiniLM vectors miss exact names, numbers and rare words that questions repeat verbatim;
BM25 catches those. Tokenization is ours (lower-case words, a short function-word list, Snowball
stems) so that index time and query time agree, and the same tokens feed the abstention signal.

A live archive adds and deletes articles one at a time, so the postings are written once per
segment (`LexicalSegment`, immutable) and a query reads every segment through `LexicalIndex`,
which computes the statistics BM25 needs (document frequency, unit count, average length) over
the live units of all segments at query time. A per-segment BM25 index with its own statistics
(bm25s bakes its IDF into stored scores) would rank two segments' units on different scales.
The formula is Lucene's (k1 1.2, b 0.75, no (k1 + 1) factor), as bm25s's "lucene" method was.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from qa.memo import SizedMemo

if TYPE_CHECKING:  # imported where it is used, so importing qa stays light
    import Stemmer

_WORD = re.compile(r"\w+", re.UNICODE)

# Raised whenever the same text would give other tokens, so indexes built before are stale.
# 2: text is read in NFC, so a decomposed accent ("e" + U+0301) no longer splits a word.
TOKENIZER_VERSION = 2

# Question words and glue only: content words, even common ones, carry the match.
STOPWORDS = frozenset(
    """a an and are as at be been but by can could did do does for from had has have he her his how
    i if in into is it its me my of on or our she so than that the their them then there these they
    this those to us was we were what when where which who whom whose why will with would you your""".split()
)
# Words ending in a single "s" that name no plural thing: a question's plural subject or object
# ("the board members", "which countries") is read past them.
NOT_PLURAL = frozenset({"this", "his", "its", "is", "was", "has", "does", "as", "us", "yes", "news", "series"})


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    import Stemmer

    return Stemmer.Stemmer("english")


# Words that frame a question rather than name what it is about ("what did he *say* about
# fentanyl?", "did it *come up*?"). Dropped from questions only: articles keep them.
QUESTION_FRAMING = frozenset(
    """say says said saying tell tells told mention mentions mentioned come comes came up happen happens
    happened kind type sort anything something thing things also""".split()
)


def composed(text: str) -> str:
    """`text` in NFC, for matching words only (offsets stay in the text as published): an accent
    typed as a combining mark ("e" + U+0301) is not a word character, so "Ame\u0301lie" would read
    as "Ame" and "lie" where the composed "Amélie" is one word."""
    return unicodedata.normalize("NFC", text)


def tokenize(text: str, ignore: frozenset[str] = frozenset()) -> list[str]:
    """Lower-cased, stemmed content words of `text`, leaving out `ignore` as well as stopwords."""
    words = [w for w in _WORD.findall(composed(text).lower()) if w not in STOPWORDS and w not in ignore]
    return _stemmer().stemWords(words) if words else []


def tokenize_question(text: str) -> list[str]:
    return tokenize(text, QUESTION_FRAMING)


K1 = 1.2
B = 0.75
# Postings a `LexicalIndex` keeps worked out (`Term`: 12 bytes each), so at most 24 MB per index.
# 1,000 SQuAD v1.1 questions read 2,195 tokens: 49,000 sentence postings, 64,000 chunk postings.
TERM_MEMO_POSTINGS = 2_000_000


@dataclass(frozen=True)
class Term:
    """What a query reads off one token's postings across a generation's live units."""

    units: np.ndarray  # ids of the live units holding it, ascending
    weights: np.ndarray  # its BM25 score in each of `units` (IDF included)

    def size(self) -> int:
        """How many live units hold it: its document frequency, and its size in the memo."""
        return len(self.units)


class LexicalSegment:
    """One segment's postings: for every token, the units (sentences or chunks) holding it and how
    often, stored token by token so a query reads only its own tokens' rows. Immutable."""

    def __init__(
        self, vocabulary: list[str], indptr: np.ndarray, units: np.ndarray, counts: np.ndarray, lengths: np.ndarray
    ) -> None:
        self.vocabulary = vocabulary
        self._row = {token: row for row, token in enumerate(vocabulary)}
        self.indptr, self.units, self.counts, self.lengths = indptr, units, counts, lengths

    @property
    def unit_count(self) -> int:
        return len(self.lengths)

    @classmethod
    def build(cls, texts: Sequence[str]) -> LexicalSegment:
        # A unit without a content word still counts as one token long, as bm25s counted it.
        tokens = [tokenize(text) or [""] for text in texts]
        rows: dict[str, int] = {}
        postings: list[list[tuple[int, int]]] = []
        for unit, unit_tokens in enumerate(tokens):
            counted: dict[str, int] = {}
            for token in unit_tokens:
                counted[token] = counted.get(token, 0) + 1
            for token, count in counted.items():
                row = rows.setdefault(token, len(rows))
                if row == len(postings):
                    postings.append([])
                postings[row].append((unit, count))
        sizes = np.array([len(p) for p in postings], dtype=np.int64)
        indptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        flat = [pair for posting in postings for pair in posting]
        units = np.array([u for u, _ in flat], dtype=np.int32)
        counts = np.array([c for _, c in flat], dtype=np.float32)
        lengths = np.array([len(t) for t in tokens], dtype=np.float32)
        return cls(list(rows), indptr, units, counts, lengths)

    def save(self, path: Path) -> None:
        with path.open("wb") as handle:
            np.savez(
                handle,
                vocabulary=np.array(self.vocabulary, dtype=str),
                indptr=self.indptr,
                units=self.units,
                counts=self.counts,
                lengths=self.lengths,
            )

    @classmethod
    def load(cls, path: Path) -> LexicalSegment:
        with np.load(path, allow_pickle=False) as data:
            return cls(data["vocabulary"].tolist(), data["indptr"], data["units"], data["counts"], data["lengths"])

    def postings(self, token: str) -> tuple[np.ndarray, np.ndarray]:
        """Local ids of the units holding `token`, and its count in each."""
        row = self._row.get(token)
        if row is None:
            return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32)
        start, end = self.indptr[row], self.indptr[row + 1]
        return self.units[start:end], self.counts[start:end]


class LexicalPart:
    """A segment as one generation sees it: where its units start in the generation's numbering,
    and which of them are live (None: all; an article deleted later is tombstoned, not rewritten)."""

    def __init__(self, segment: LexicalSegment, offset: int, live: np.ndarray | None) -> None:
        self.segment, self.offset, self.live = segment, offset, live

    def postings(self, token: str) -> tuple[np.ndarray, np.ndarray]:
        units, counts = self.segment.postings(token)
        if self.live is not None and len(units):
            keep = self.live[units]
            units, counts = units[keep], counts[keep]
        return units, counts


class LexicalIndex:
    """BM25 over every live unit of a generation's segments, numbered one after another.

    Statistics are those of the live units only, so an answer never ranks on words of a deleted
    or replaced article, and a generation built in one segment scores as one built in many."""

    def __init__(self, parts: Sequence[LexicalPart]) -> None:
        self.parts = list(parts)
        self.unit_count = sum(p.segment.unit_count for p in self.parts)
        live_lengths = [p.segment.lengths if p.live is None else p.segment.lengths[p.live] for p in self.parts]
        self.live_count = sum(len(lengths) for lengths in live_lengths)
        total_length = float(sum(lengths.sum(dtype=np.float64) for lengths in live_lengths))
        average = total_length / self.live_count if self.live_count else 1.0
        # The length part of BM25's denominator, per unit; it depends on the average over all segments.
        self._norms = [K1 * (1 - B + B * p.segment.lengths / average) for p in self.parts]
        # Every question reads a token's postings several times (BM25, IDF weights, coverage,
        # verification), and a batch repeats tokens across its questions; a generation never
        # changes, so what a token's postings give is worked out once and kept within a bound.
        self._terms: SizedMemo[str, Term] = SizedMemo(self._term, Term.size, TERM_MEMO_POSTINGS)

    @classmethod
    def build(cls, texts: Sequence[str]) -> LexicalIndex:
        """An index over `texts` alone (one segment, nothing deleted)."""
        return cls([LexicalPart(LexicalSegment.build(texts), 0, None)])

    def _idf(self, document_frequency: np.ndarray) -> np.ndarray:
        n = self.live_count
        return np.log(1.0 + (n - document_frequency + 0.5) / (document_frequency + 0.5))

    def _term(self, token: str) -> Term:
        found = [part.postings(token) for part in self.parts]
        frequency = sum(len(units) for units, _ in found)
        if not frequency:
            return Term(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))
        idf = float(self._idf(np.array([frequency], dtype=np.float64))[0])
        units, weights = [], []
        for part, norm, (local, counts) in zip(self.parts, self._norms, found, strict=True):
            units.append(part.offset + local.astype(np.int64))
            weights.append(idf * counts / (counts + norm[local]))
        term = Term(np.concatenate(units), np.concatenate(weights))
        term.units.flags.writeable = term.weights.flags.writeable = False  # shared by every caller
        return term

    def scores(self, query_tokens: Sequence[str]) -> np.ndarray:
        """BM25 score of every unit (zero for deleted ones); a token repeated in the query counts again."""
        scores = np.zeros(self.unit_count, dtype=np.float64)
        for token in query_tokens:
            term = self._terms.get(token)
            if term.size():
                # Within one token a unit appears once, so plain fancy-index addition is exact.
                scores[term.units] += term.weights
        return scores

    def units_containing(self, token: str) -> np.ndarray:
        """Ids of the live units whose text has `token`, ascending (read-only: the array is shared)."""
        return self._terms.get(token).units

    def idf(self, query_tokens: Sequence[str]) -> np.ndarray:
        """Inverse document frequency per query token; unseen tokens get the rarest possible weight."""
        frequency = np.array([self._terms.get(t).size() for t in query_tokens], dtype=np.float64)
        return self._idf(frequency)

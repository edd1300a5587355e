"""Lexical scoring: BM25 (bm25s) over stemmed word tokens.

Dense MiniLM vectors miss exact names, numbers and rare words that questions repeat verbatim;
BM25 catches those. Tokenization is ours (lower-case words, a short function-word list, Snowball
stems) so that index time and query time agree, and the same tokens feed the abstention signal.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # both imported where they are used, so importing qa stays light
    import bm25s
    import Stemmer

_WORD = re.compile(r"\w+", re.UNICODE)

# Question words and glue only: content words, even common ones, carry the match.
STOPWORDS = frozenset(
    """a an and are as at be been but by can could did do does for from had has have he her his how
    i if in into is it its me my of on or our she so than that the their them then there these they
    this those to us was we were what when where which who whom whose why will with would you your""".split()
)


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


def tokenize(text: str, ignore: frozenset[str] = frozenset()) -> list[str]:
    """Lower-cased, stemmed content words of `text`, leaving out `ignore` as well as stopwords."""
    words = [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS and w not in ignore]
    return _stemmer().stemWords(words) if words else []


def tokenize_question(text: str) -> list[str]:
    return tokenize(text, QUESTION_FRAMING)


class LexicalIndex:
    """BM25 scores for every unit (sentence or chunk) of the corpus, saved beside the vectors."""

    K1 = 1.2
    B = 0.75

    def __init__(self, bm25: bm25s.BM25, document_frequency: np.ndarray, unit_count: int) -> None:
        self._bm25 = bm25
        self._document_frequency = document_frequency
        self.unit_count = unit_count

    @classmethod
    def build(cls, texts: Sequence[str]) -> LexicalIndex:
        import bm25s

        tokens = [tokenize(text) or [""] for text in texts]
        bm25 = bm25s.BM25(k1=cls.K1, b=cls.B, method="lucene")
        bm25.index(tokens, show_progress=False)
        return cls(bm25, cls._frequencies(bm25, tokens), len(texts))

    @staticmethod
    def _frequencies(bm25: bm25s.BM25, tokens: list[list[str]]) -> np.ndarray:
        frequency = np.zeros(len(bm25.vocab_dict), dtype=np.int64)
        for unit in tokens:
            for token in set(unit):
                frequency[bm25.vocab_dict[token]] += 1
        return frequency

    def save(self, directory: Path) -> None:
        self._bm25.save(str(directory))
        np.save(directory / "document_frequency.npy", self._document_frequency)

    @classmethod
    def load(cls, directory: Path) -> LexicalIndex:
        import bm25s

        bm25 = bm25s.BM25.load(str(directory))
        frequency = np.load(directory / "document_frequency.npy")
        return cls(bm25, frequency, int(bm25.scores["num_docs"]))

    def scores(self, query_tokens: Sequence[str]) -> np.ndarray:
        """BM25 score of every unit; zeros when no query token is in the vocabulary."""
        ids = self._bm25.get_tokens_ids(list(query_tokens))
        if not ids:
            return np.zeros(self.unit_count, dtype=np.float32)
        return self._bm25.get_scores_from_ids(ids)

    def units_containing(self, token: str) -> np.ndarray:
        """Ids of the units whose text has `token` (a column of BM25's token-by-unit matrix)."""
        token_id = self._bm25.vocab_dict.get(token)
        if token_id is None:
            return np.zeros(0, dtype=np.int64)
        indptr = self._bm25.scores["indptr"]
        return np.asarray(self._bm25.scores["indices"][indptr[token_id] : indptr[token_id + 1]])

    def idf(self, query_tokens: Sequence[str]) -> np.ndarray:
        """Inverse document frequency per query token; unseen tokens get the rarest possible weight."""
        vocab = self._bm25.vocab_dict
        df = np.array([self._document_frequency[vocab[t]] if t in vocab else 0 for t in query_tokens], dtype=np.float64)
        return np.log(1.0 + (self.unit_count - df + 0.5) / (df + 0.5))

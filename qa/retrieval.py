"""Stage 5a, retrieval: find the sentences most likely to answer a question.

Two steps, so the cost follows the corpus size only through FAISS and BM25:
1. Candidate chunks (a sentence with its neighbours): the dense top chunks from FAISS, fused
   with the lexical (BM25) top chunks.
2. Every sentence of those chunks is scored on its own: dense and lexical similarity of the
   sentence, plus the fused score of its best chunk (the context it was found in).
Follow-up questions ("what did he say about Tibet?") are retrieved with the conversation's
earlier questions folded into both the query vector and the lexical query.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from qa.embedding import Embedder
from qa.lexical import tokenize
from qa.store import CorpusIndex
from qa.vectors import search


@dataclass(frozen=True)
class Query:
    question: str
    history: tuple[str, ...] = ()
    top_k: int = 3
    id: str | None = None


@dataclass(frozen=True)
class Weights:
    """How sentence signals combine; tuned on SQuAD dev part 1 only (see README)."""

    candidate_chunks: int = 30
    dense_sentence: float = 0.45
    dense_chunk: float = 0.25
    lexical_sentence: float = 0.20
    lexical_chunk: float = 0.10
    history_weight: float = 0.5
    history_turns: int = 2


@dataclass(frozen=True)
class Candidate:
    sentence_id: int
    score: float
    dense: float
    lexical: float


@dataclass
class Retrieval:
    """Ranked sentences for one query, plus what abstention needs to judge them."""

    query: Query
    candidates: list[Candidate]
    query_tokens: list[str] = field(default_factory=list)
    coverage: float = 0.0


_FOLLOW_UP = re.compile(r"\b(he|she|it|they|him|her|his|hers|its|their|them|this|that|these|those|there)\b", re.I)


def needs_history(query: Query) -> bool:
    """A question leans on the conversation when it refers back with a pronoun or is very short."""
    return bool(query.history) and (bool(_FOLLOW_UP.search(query.question)) or len(query.question.split()) <= 4)


def _scaled(values: np.ndarray) -> np.ndarray:
    top = float(values.max(initial=0.0))
    return values / top if top > 0 else np.zeros_like(values)


class Retriever:
    def __init__(self, index: CorpusIndex, embedder: Embedder, weights: Weights | None = None):
        self.index = index
        self.embedder = embedder
        self.weights = weights or Weights()

    def _query_vectors(self, queries: Sequence[Query]) -> np.ndarray:
        """One vector per query; follow-ups mix in the vector of the earlier questions."""
        texts = [q.question for q in queries]
        contexts = [" ".join(q.history[-self.weights.history_turns :]) for q in queries if needs_history(q)]
        vectors = self.embedder.encode(texts + contexts)
        questions, history = vectors[: len(queries)], iter(vectors[len(queries) :])
        mixed = questions.copy()
        for row, query in enumerate(queries):
            if needs_history(query):
                mixed[row] = questions[row] + self.weights.history_weight * next(history)
                mixed[row] /= np.linalg.norm(mixed[row])
        return mixed

    def _lexical_query(self, query: Query) -> list[str]:
        tokens = tokenize(query.question)
        if needs_history(query):
            tokens += tokenize(" ".join(query.history[-self.weights.history_turns :]))
        return tokens

    def retrieve(self, queries: Sequence[Query]) -> list[Retrieval]:
        vectors = self._query_vectors(queries)
        dense_scores, dense_ids = search(self.index.chunk_vectors, vectors, self.weights.candidate_chunks)
        return [
            self._rank(query, vector, dense_scores[row], dense_ids[row])
            for row, (query, vector) in enumerate(zip(queries, vectors))
        ]

    def _rank(self, query: Query, vector: np.ndarray, dense_scores: np.ndarray, dense_ids: np.ndarray) -> Retrieval:
        w = self.weights
        index = self.index
        tokens = self._lexical_query(query)
        chunk_lexical = index.chunk_lexical.scores(tokens)
        lexical_top = np.argsort(-chunk_lexical)[: w.candidate_chunks]
        lexical_top = lexical_top[chunk_lexical[lexical_top] > 0]
        chunk_ids = np.unique(np.concatenate([dense_ids[dense_ids >= 0], lexical_top]))

        dense_by_chunk = dict(zip(dense_ids.tolist(), dense_scores.tolist()))
        floor = float(dense_scores[dense_ids >= 0].min(initial=0.0))
        chunk_dense = np.array([dense_by_chunk.get(c, floor) for c in chunk_ids.tolist()])
        chunk_score = w.dense_chunk * chunk_dense + w.lexical_chunk * _scaled(chunk_lexical[chunk_ids])

        # Each sentence takes the best score of the candidate chunks that contain it.
        context: dict[int, float] = {}
        for chunk, score in zip(chunk_ids.tolist(), chunk_score.tolist()):
            for sentence in range(int(index.chunk_first[chunk]), int(index.chunk_last[chunk]) + 1):
                context[sentence] = max(score, context.get(sentence, -np.inf))
        sentence_ids = np.fromiter(context, dtype=np.int64, count=len(context))
        sentence_dense = index.sentence_vectors[sentence_ids] @ vector
        sentence_lexical_all = index.sentence_lexical.scores(tokens)
        sentence_lexical = sentence_lexical_all[sentence_ids]
        total = (
            w.dense_sentence * sentence_dense
            + w.lexical_sentence * _scaled(sentence_lexical)
            + np.fromiter(context.values(), dtype=np.float64, count=len(context))
        )
        order = np.argsort(-total, kind="stable")
        candidates = [
            Candidate(int(sentence_ids[i]), float(total[i]), float(sentence_dense[i]), float(sentence_lexical[i]))
            for i in order
        ]
        coverage = self._coverage(tokens, candidates[0].sentence_id) if candidates else 0.0
        return Retrieval(query, candidates, tokens, coverage)

    def _coverage(self, tokens: list[str], sentence_id: int) -> float:
        """Share of the question's IDF weight found in the best sentence and its neighbours."""
        unique = list(dict.fromkeys(tokens))
        if not unique:
            return 0.0
        first = max(0, sentence_id - 1)
        last = min(self.index.sentence_count - 1, sentence_id + 1)
        neighbourhood = set()
        for neighbour in range(first, last + 1):
            if self.index.sentence_doc[neighbour] == self.index.sentence_doc[sentence_id]:
                neighbourhood.update(tokenize(self.index.sentence_text(neighbour)))
        weights = self.index.sentence_lexical.idf(unique)
        found = np.array([token in neighbourhood for token in unique])
        return float(weights[found].sum() / weights.sum())

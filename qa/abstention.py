"""Whether to answer at all: the signals read off a retrieval and the calibration that turns
them into a confidence.

`confidence` is a logistic function of five signals: the best sentence's retrieval score (dense,
lexical and coverage evidence combined), its dense similarity to the conversation, the share of
the question's words it holds, how many names the question uses that the archive never
mentions, and how concentrated the best candidates are in one article. Its numbers were chosen
on SQuAD dev part 1 (in-corpus questions against off-corpus ones) under the constraint that
../shared/eval/dev_questions.jsonl is answered and declined correctly; see README, Quality.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from qa.lexical import composed, tokenize_question
from qa.retrieval import RankedCandidates, Retrieval
from qa.store import CorpusIndex

# Capitalised words other than the question's first: the names a question mentions.
_QUESTION_NAME = re.compile(r"(?<!^)(?<=\s)[A-Z][\w'’.-]*")


def question_names(question: str) -> list[str]:
    """The names `question` mentions, whole even when typed with combining accents (`composed`)."""
    return _QUESTION_NAME.findall(composed(question))


@dataclass(frozen=True)
class Signals:
    """What abstention reads off one retrieval."""

    score: float  # the best sentence's retrieval score
    conversation_similarity: float  # its dense similarity to the whole conversation
    # Names in the question that no indexed sentence uses, under any alias: a question about
    # something the archive never mentions is rarely answerable from it.
    unknown_names: int
    # Share of the best candidates that come from the best one's document: an archive holding the
    # answer usually has one article about it, while a question it cannot answer scatters.
    concentration: float
    # Share of the question's IDF weight that the best sentence holds: a sentence that answers
    # usually repeats most of what the question names, a near miss from another article does not.
    coverage: float


def unknown_names(
    question: str, index: CorpusIndex, aliased_tokens: frozenset[str] = frozenset(), doc_ids: Sequence[str] = ()
) -> int:
    """How many names of `question` no sentence contains (tokens found via an alias excepted): of
    `index`, or of the articles `doc_ids` when the question is scoped to them (a name another article
    mentions does not make a question about this one answerable)."""
    lexical = index.sentence_lexical
    scope = index.doc_numbers(doc_ids) if doc_ids else None

    def mentioned(token: str) -> bool:
        sentences = lexical.units_containing(token)
        if scope is not None:
            sentences = sentences[np.isin(index.sentence_doc_number[sentences], scope)]
        return len(sentences) > 0

    unknown = 0
    for name in question_names(question):
        tokens = [t for t in tokenize_question(name) if t not in aliased_tokens]
        if tokens and not any(mentioned(t) for t in tokens):
            unknown += 1
    return unknown


def concentration(candidates: RankedCandidates, index: CorpusIndex, best: int = 10) -> float:
    """Share of the `best` first candidates that come from the first one's document."""
    if not candidates:
        return 0.0
    docs = index.sentence_doc_number
    top_doc = docs[candidates[0].sentence_id]
    leaders = candidates[:best]
    return sum(docs[c.sentence_id] == top_doc for c in leaders) / len(leaders)


def signals(retrieval: Retrieval, index: CorpusIndex) -> Signals:
    best = retrieval.candidates[0]
    return Signals(
        score=best.score,
        conversation_similarity=best.conversation_similarity,
        unknown_names=unknown_names(retrieval.query.question, index, retrieval.aliased_tokens, retrieval.query.doc_ids),
        concentration=concentration(retrieval.candidates, index),
        coverage=retrieval.best_coverage,
    )


@dataclass(frozen=True)
class Calibration:
    """How the signals weigh, and the logistic curve that makes their sum a confidence."""

    dense_weight: float = 0.7
    unknown_name_penalty: float = 0.5
    max_unknown_names: int = 2
    concentration_weight: float = 0.1
    coverage_weight: float = 0.25
    centre: float = 1.69
    slope: float = 6.5

    def confidence(self, signals: Signals) -> float:
        evidence = (
            signals.score
            + self.dense_weight * signals.conversation_similarity
            - self.unknown_name_penalty * min(signals.unknown_names, self.max_unknown_names)
            + self.concentration_weight * signals.concentration
            + self.coverage_weight * signals.coverage
        )
        return 1.0 / (1.0 + math.exp(-self.slope * (evidence - self.centre)))

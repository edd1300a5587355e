"""Whether the best sentence says what the question asks, not only what it is about.

`qa.abstention` tells a question the archive knows nothing about (off-corpus); a near-topic
question ("How many students attend Lakeside high schools?") finds an article about its subject
and passes it. What gives it away is in the best sentence itself: a word the question rests on
that neither it nor its neighbours use ("students", "attend"), or no span of the kind asked for
("what time" and no time of day). `Verifier` is a logistic model over these and the retrieval
signals, computed on the best candidate only (about a millisecond); its coefficients were fitted
by `tools/fit_verifier.py` on half of SQuAD 2.0 dev part 1, and its operating point is held back
by SQuAD v1.1's hit@3 target, so it declines far fewer than it could (README, Quality).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

import numpy as np

from qa import spans
from qa.abstention import Signals, question_names
from qa.lexical import tokenize_question
from qa.retrieval import Retrieval
from qa.store import CorpusIndex

_NEGATION = re.compile(r"\b(not|never|no|none|nor|without)\b|n't\b", re.I)

EVIDENCE = (
    "score",
    "similarity",
    "coverage",
    "missing_peak",
    "missing_share",
    "missing_sentence",
    "missing_document",
    "kind_absent",
    "name_absent",
    "negation",
    "margin",
)


@dataclass(frozen=True)
class Evidence:
    """What the verifier reads off a retrieval, one value per `EVIDENCE` name."""

    score: float
    similarity: float
    coverage: float
    # The rarest question word absent from the best sentence and its neighbours, as a share of the
    # rarest question word's IDF (1: the question's most specific word is not there).
    missing_peak: float
    missing_share: float  # share of the question's IDF weight absent from them
    missing_sentence: float  # the same peak for the best sentence alone
    missing_document: float  # the same peak for the best sentence's whole article
    kind_absent: float  # 1 when the question asks for a kind of span the best sentence lacks
    name_absent: float  # 1 when a name the question uses is in neither the sentence nor its neighbours
    negation: float  # 1 when the question negates and the sentence does not
    margin: float  # the best score less the second's
    # The question asks for a kind of span and neither the best sentence nor a neighbour (a
    # citation widens to it) holds one. Not a model input: `doubts_kind` reads it.
    kind_unheld: bool = False
    # The same, for a kind the patterns find reliably (an amount of money, a share, a clock time).
    # Not a model input: `Verifier` reads it as a rule.
    kind_missing: bool = False
    # The question names that kind of amount ("how much did it cost", "what percentage"): with
    # `kind_missing`, a rule too, whatever words the sentence shares with the question.
    kind_named: bool = False

    def vector(self) -> np.ndarray:
        return np.array([getattr(self, name) for name in EVIDENCE])


def _holds(units: np.ndarray, sentences: np.ndarray) -> bool:
    """Whether any of a few `sentences` is among `units` (np.isin sorts both: ten times slower here)."""
    return bool((units[:, None] == sentences[None, :]).any())


def _neighbourhood(index: CorpusIndex, sentence: int) -> np.ndarray:
    docs = index.sentence_doc_number
    around = [n for n in (sentence - 1, sentence, sentence + 1) if 0 <= n < index.sentence_count]
    return np.array([n for n in around if docs[n] == docs[sentence]])


# How far below the best a candidate may score and still be cited first for holding the amount,
# share or time of day asked for that the best lacks (chosen on SQuAD v1.1 dev part 1, README).
KIND_MARGIN = 0.1
# ... and what share of the question's IDF weight it must hold itself.
KIND_SHARE = 0.4


def with_kind_first(retrieval: Retrieval, index: CorpusIndex) -> Retrieval:
    """`retrieval` with the best candidate that holds a span of the kind asked first, when the
    question asks for an amount, a share or a time of day, the best sentence holds none and that
    one scores within `KIND_MARGIN` of it. "How much will the extra buses cost each year?" found
    "pay for the extra buses from its reserve fund" 0.026 above Okafor's "$1.9 million a year"
    once another article using "cost" was published, and the kind rule declined it."""
    question = retrieval.searched
    kinds = spans.asked_kinds(question)
    candidates = retrieval.candidates
    if not kinds or not set(kinds) <= spans.RELIABLE or len(candidates) < 2:
        return retrieval
    text = index.sentence_text
    if spans.candidates(text(candidates[0].sentence_id), kinds, question):
        return retrieval
    floor = candidates[0].score - KIND_MARGIN
    for position in range(1, len(candidates)):
        if candidates[position].score < floor:
            break
        sentence = candidates[position].sentence_id
        if spans.candidates(text(sentence), kinds, question) and _says_enough_of(index, sentence, question):
            return replace(retrieval, candidates=candidates.with_first(position))
    return retrieval


def _says_enough_of(index: CorpusIndex, sentence: int, question: str) -> bool:
    """Whether `sentence` holds `KIND_SHARE` of the question's IDF weight: a time of day in a
    sentence about something else ("A neighbour reported the fire at 3:40 a.m." for "What time
    did the fire department arrive?") does not answer it."""
    tokens = _asked_words(question)
    if not tokens:
        return True
    lexical = index.sentence_lexical
    weights = lexical.idf(tokens)
    held = np.array([sentence in lexical.units_containing(token) for token in tokens])
    return float(weights[held].sum()) >= KIND_SHARE * float(weights.sum())


def _asked_words(question: str, aliased: frozenset[str] = frozenset()) -> list[str]:
    """The question's own words, once each, less those that ask for a kind ("how many") and those
    standing for a name it mentions under an alias."""
    return [t for t in dict.fromkeys(tokenize_question(spans.without_asking(question))) if t not in aliased]


def evidence(retrieval: Retrieval, index: CorpusIndex, signals: Signals) -> Evidence:
    candidates = retrieval.candidates
    best = candidates[0].sentence_id
    question = retrieval.searched
    tokens = _asked_words(question, retrieval.aliased_tokens)
    missing_peak = missing_share = missing_sentence = missing_document = name_absent = 0.0
    around = _neighbourhood(index, best)
    lexical = index.sentence_lexical
    for name in question_names(question):
        name_tokens = [t for t in tokenize_question(name) if t not in retrieval.aliased_tokens]
        if any(not _holds(lexical.units_containing(t), around) for t in name_tokens):
            name_absent = 1.0
    if tokens:
        weights = lexical.idf(tokens)
        holding = [lexical.units_containing(t) for t in tokens]
        absent = np.array([not _holds(units, around) for units in holding])
        alone = np.array([best not in units for units in holding])
        doc = index.sentence_doc_number[best]
        # Only a word absent around the best sentence can be absent from its article.
        elsewhere = np.array(
            [
                gone and not (index.sentence_doc_number[units] == doc).any()
                for gone, units in zip(absent, holding, strict=True)
            ]
        )
        peak = weights.max()
        missing_peak = float(weights[absent].max(initial=0.0) / peak)
        missing_share = float(weights[absent].sum() / weights.sum())
        missing_sentence = float(weights[alone].max(initial=0.0) / peak)
        missing_document = float(weights[elsewhere].max(initial=0.0) / peak)
    sentence = index.sentence_text(best)
    kinds = spans.asked_kinds(question)
    kind_absent = float(bool(kinds) and not spans.candidates(sentence, kinds, question))
    kind_unheld = bool(kind_absent) and not any(
        spans.candidates(index.sentence_text(n), kinds, question) for n in around.tolist() if n != best
    )
    negation = float(bool(_NEGATION.search(question)) and not _NEGATION.search(sentence))
    margin = candidates[0].score - candidates[1].score if len(candidates) > 1 else 1.0
    return Evidence(
        signals.score,
        signals.conversation_similarity,
        signals.coverage,
        missing_peak,
        missing_share,
        missing_sentence,
        missing_document,
        kind_absent,
        name_absent,
        negation,
        margin,
        kind_unheld,
        kind_unheld and set(kinds) <= spans.RELIABLE,
        spans.names_its_amount(question),
    )


def doubts_kind(found: Evidence) -> bool:
    """Whether the best sentence may not say what the question asks although the verifier
    passed it: neither it nor a neighbour holds a span of the kind asked, nor the question's most
    specific word. Patterns miss names, dates and counts written some other way, so this alone
    does not decline; the reader's words for it, when they do not read as that kind either
    ("number" for "How many students attend Lakeside high schools?"), do (`qa.answering`)."""
    return found.kind_unheld and found.missing_peak >= 1.0


@dataclass(frozen=True)
class Verifier:
    """A logistic model: the probability that the best sentence answers the question, one
    coefficient per `EVIDENCE` name. The intercept holds the operating point, moved from the fitted
    -1.92 to where SQuAD v1.1 part 1 keeps hit@3 >= 0.90 (README, Quality)."""

    coefficients: tuple[float, ...] = (0.76, 2.808, -0.455, -0.323, 1.033, -1.344, 0.241, -0.765, -1.065, -3.457, 0.346)
    intercept: float = 3.0

    def probability(self, found: Evidence) -> float:
        if found.kind_missing and (found.missing_peak >= 1.0 or found.kind_named):
            # Neither the amount, share or time asked for nor the question's most specific word
            # ("What time do elementary schools start?" against the high schools' new time), or
            # no amount where the question asks for one by name ("How much is in the reserve
            # fund?" against "pay for the extra buses from its reserve fund").
            return 0.0
        z = self.intercept + float(np.dot(self.coefficients, found.vector()))
        return 1.0 / (1.0 + math.exp(-z))

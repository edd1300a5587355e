"""BM25 across segments: what `LexicalIndex` remembers per token gives exactly what its postings do."""

from __future__ import annotations

import numpy as np
import pytest

from qa.lexical import LexicalIndex, LexicalPart, LexicalSegment, tokenize

TEXTS = [
    "The talks in Bangkok lasted more than seven hours.",
    "Blinken met Wang Yi in Bangkok on Friday.",
    "The two men discussed fentanyl, Taiwan and the talks' next round.",
    "Wang Yi said the talks were candid and constructive.",
    "Seven hours of talks ended without a joint statement.",
]


def _index() -> LexicalIndex:
    """Two segments; the second's middle unit is deleted (tombstoned)."""
    first, second = LexicalSegment.build(TEXTS[:2]), LexicalSegment.build(TEXTS[2:])
    return LexicalIndex([LexicalPart(first, 0, None), LexicalPart(second, 2, np.array([True, False, True]))])


def _reference_scores(index: LexicalIndex, tokens: list[str]) -> np.ndarray:
    """BM25 as computed before terms were remembered: straight from each part's postings."""
    scores = np.zeros(index.unit_count, dtype=np.float64)
    for token in tokens:
        found = [part.postings(token) for part in index.parts]
        frequency = sum(len(units) for units, _ in found)
        if not frequency:
            continue
        idf = float(index._idf(np.array([frequency], dtype=np.float64))[0])
        for part, norm, (units, counts) in zip(index.parts, index._norms, found, strict=True):
            if len(units):
                scores[part.offset + units] += idf * counts / (counts + norm[units])
    return scores


@pytest.mark.parametrize("question", ["How long did the talks last?", "Who met Wang Yi?", "What about zebras?"])
def test_remembered_terms_score_bit_for_bit_as_the_postings_do(question: str) -> None:
    index = _index()
    tokens = tokenize(question)
    for _ in range(2):  # the second time from what was remembered
        assert index.scores(tokens).tobytes() == _reference_scores(index, tokens).tobytes()


def test_units_and_idf_count_live_units_only() -> None:
    index = _index()
    assert index.units_containing("talk").tolist() == [0, 2, 4]  # unit 3 ("...talks were candid") is deleted
    assert index.units_containing("zebra").tolist() == []
    frequency = np.array([3, 0], dtype=np.float64)
    assert index.idf(["talk", "zebra"]).tobytes() == index._idf(frequency).tobytes()


def test_a_remembered_unit_list_cannot_be_changed_by_a_caller() -> None:
    units = _index().units_containing("talk")
    with pytest.raises(ValueError):
        units[0] = 7

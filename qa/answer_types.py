"""What kind of thing a question asks for (a duration, a date, a number, a person) and which
sentences hold that kind, so retrieval can favour them ("when" wants a date).

Sentence flags are computed once, when an index is built, and stored with it: scanning every
sentence with these patterns at start-up cost time that grew with the archive.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

_DURATION = re.compile(r"\b(second|minute|hour|day|week|month|year|decade|centur(y|ies))s?\b", re.I)
_TIME = re.compile(
    r"\b(1[0-9]{3}|20[0-9]{2})\b|\b(January|February|March|April|May|June|July|August|September"
    r"|October|November|December)\b"
)
_NUMBER = re.compile(
    r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|hundred|thousand|million|billion|dozen)\b", re.I
)
_NAME = re.compile(r"(?<!^)(?<![.!?]\s)\b[A-Z][a-z]+")

# Column order of the stored flags: one column per kind a sentence may hold.
KINDS = (_DURATION, _TIME, _NUMBER, _NAME)

# What a question asks for, in order of precedence, with the column of the kind that answers it.
_ASKS = (
    (re.compile(r"\bhow long\b", re.I), 0),
    (re.compile(r"\b(when|what (year|date|century|decade|month)|which (year|century|decade))\b", re.I), 1),
    (re.compile(r"\bhow (many|much|long|far|old|large|big|tall)\b|\bwhat (percentage|percent|number)\b", re.I), 2),
    (re.compile(r"\b(who|whom|whose)\b", re.I), 3),
)


def sentence_flags(sentences: Sequence[str]) -> np.ndarray:
    """`(len(sentences), len(KINDS))` booleans: whether each sentence holds each kind."""
    flags = np.zeros((len(sentences), len(KINDS)), dtype=bool)
    for column, pattern in enumerate(KINDS):
        flags[:, column] = [bool(pattern.search(text)) for text in sentences]
    return flags


def asked_kind(question: str) -> int | None:
    """The column of the kind `question` asks for, or None when it asks for none of them."""
    for asks, column in _ASKS:
        if asks.search(question):
            return column
    return None


def matching(question: str, flags: np.ndarray) -> np.ndarray:
    """1.0 for each sentence whose `flags` row holds the kind the question asks for, else 0.0."""
    column = asked_kind(question)
    if column is None:
        return np.zeros(len(flags))
    return flags[:, column].astype(float)

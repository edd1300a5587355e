"""Names that news copy uses interchangeably: a question about "North Korea" must find "the DPRK",
and one about "the author" must find the byline.

The dense model rarely links such pairs and BM25 never does, so each `Mention` in a question
carries its alternatives: retrieval embeds the question with them, and a sentence holding any
alternative counts as holding the mention. The alias list is deliberately small and generic to
international news (states and bodies routinely abbreviated), not fitted to any article; the
author's name comes from the articles' own metadata.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

# Abbreviations are written in capitals and match only in capitals ("UN", not "un-named").
ALIAS_GROUPS: tuple[tuple[str, ...], ...] = (
    # "U.S" matches "U.S." (a pattern ends at a word boundary, which a final period is not).
    ("united states", "US", "U.S", "USA"),
    ("north korea", "north korean", "DPRK", "democratic people's republic of korea"),
    ("south korea", "south korean", "ROK", "republic of korea"),
    ("china", "chinese", "PRC", "people's republic of china"),
    ("united kingdom", "UK", "britain", "british"),
    ("russia", "russian", "russian federation"),
    ("united nations", "UN"),
    ("european union", "EU"),
    ("chinese communist party", "CCP", "communist party of china", "CPC"),
    ("islamic revolutionary guard corps", "IRGC"),
    ("north atlantic treaty organization", "NATO"),
    ("united arab emirates", "UAE"),
    ("international monetary fund", "IMF"),
)


_AUTHOR = re.compile(
    r"\b(author|writer|reporter|journalist|correspondent|columnist|byline)s?\b|\bwho wrote\b", re.IGNORECASE
)


@dataclass(frozen=True)
class Mention:
    """Words of the question (`text`) that may appear in an article as any of `alternatives`."""

    text: str
    alternatives: tuple[str, ...]


def _pattern(name: str) -> re.Pattern[str]:
    return re.compile(r"\b" + re.escape(name) + r"\b", 0 if name.isupper() else re.IGNORECASE)


@lru_cache(maxsize=1)
def _patterns() -> list[tuple[tuple[re.Pattern[str], ...], tuple[str, ...]]]:
    return [(tuple(_pattern(name) for name in group), group) for group in ALIAS_GROUPS]


def mentions(question: str, authors: Sequence[str] = ()) -> list[Mention]:
    """Every alias-group name the question uses, and its reference to the author when `authors`
    (the bylines of the indexed articles) are known."""
    found: list[Mention] = []
    for patterns, group in _patterns():
        matches = [pattern.search(question) for pattern in patterns]
        used = [match.group() for match in matches if match]
        if used:
            found.append(Mention(" ".join(used), tuple(n for n, m in zip(group, matches, strict=True) if not m)))
    author = _AUTHOR.search(question)
    if author and authors:
        found.append(Mention(author.group(), tuple(authors)))
    return found

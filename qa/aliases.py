"""Names that news copy uses interchangeably: a question about "North Korea" must find "the DPRK".

The dense model rarely links such pairs and BM25 never does, so a question naming one form is
expanded with the others before retrieval. The list is deliberately small and generic to
international news (states and bodies routinely abbreviated), not fitted to any article.
"""

from __future__ import annotations

import re
from functools import lru_cache

# Abbreviations are written in capitals and match only in capitals ("UN", not "un-named").
ALIAS_GROUPS: tuple[tuple[str, ...], ...] = (
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


def _pattern(name: str) -> re.Pattern[str]:
    return re.compile(r"\b" + re.escape(name) + r"\b", 0 if name.isupper() else re.IGNORECASE)


@lru_cache(maxsize=1)
def _patterns() -> list[tuple[tuple[re.Pattern[str], ...], tuple[str, ...]]]:
    return [(tuple(_pattern(name) for name in group), group) for group in ALIAS_GROUPS]


def expansions(text: str) -> list[str]:
    """The other names of every alias group that `text` mentions."""
    extra: list[str] = []
    for patterns, group in _patterns():
        found = [bool(pattern.search(text)) for pattern in patterns]
        if any(found):
            extra.extend(name for name, present in zip(group, found) if not present)
    return extra

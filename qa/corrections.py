"""Correction notices: what an article says it got wrong is not what it says.

A newsroom corrects an article in place and says so at its end: "A previous version of this
article said the fire had burned 43,000 acres. The correct figure is 4,300 acres." The notice
repeats the question's words ("How many acres has the fire burned?") better than the sentence
holding the right figure, so it ranked first and its retracted "43,000" was the short answer, at
confidence 0.999. Such a notice is cited after every other candidate, unless the question asks
about the correction itself ("What was the earlier, wrong figure?").
"""

from __future__ import annotations

import re
from dataclasses import replace

from qa.retrieval import Retrieval
from qa.store import CorpusIndex

# What opens a notice of what an earlier version said: "Correction:" (not Wikipedia's
# "[clarification needed]", which opens a sentence of SQuAD's), "A previous (earlier,
# prior, original) version of this article (story, report) ...", "This story has been corrected
# ...", "An earlier story incorrectly (mistakenly, wrongly) ...".
_NOTICE = re.compile(
    r"^\W*(?:(?:corrections?|clarification)\s*[:—–-]"
    r"|(?:an?|the)\s+(?:previous|earlier|prior|original)\s+(?:version|edition)\s+of\s+this\s+(?:article|story|report|post)\b"
    r"|this\s+(?:article|story|report)\s+(?:has\s+been|was)\s+(?:corrected|amended)\b"
    r"|(?:an?|the)\s+(?:previous|earlier|prior)\s+(?:article|story|report)\s+(?:incorrectly|mistakenly|wrongly|erroneously)\b)",
    re.I,
)
# A question about the correction itself: then the notice is what answers it.
_ASKS_ABOUT_IT = re.compile(
    r"\b(?:correct(?:ion|ions|ed)|previous(?:ly)?|earlier version|original(?:ly)?|wrong(?:ly)?|incorrect(?:ly)?"
    r"|misstat\w*|mistak\w*|errors?|erroneous\w*|retract\w*|misspel\w*|amended|fixed)\b",
    re.I,
)
# How far down the candidates a notice is looked for: a notice further down is cited after
# better candidates anyway.
NOTICE_REACH = 5


def is_notice(sentence: str) -> bool:
    """Whether `sentence` opens a correction notice (what an earlier version of the article said)."""
    return bool(_NOTICE.match(sentence))


def with_notices_last(retrieval: Retrieval, index: CorpusIndex) -> Retrieval:
    """`retrieval` with the correction notices among its first `NOTICE_REACH` candidates after all
    the others, unless the question asks about a correction."""
    if _ASKS_ABOUT_IT.search(retrieval.searched):
        return retrieval
    candidates = retrieval.candidates
    notices = {
        position
        for position, sentence in enumerate(candidates.sentence_ids[:NOTICE_REACH])
        if is_notice(index.sentence_text(sentence))
    }
    return replace(retrieval, candidates=candidates.with_last(notices)) if notices else retrieval

"""Stage 2, chunking: sentence spans with exact offsets, grouped into overlapping retrieval chunks.

Why cut points rather than the splitter's strings: the splitter (pysbd) only decides *where*
sentences begin; each sentence is then the text between two cut points with its surrounding
whitespace trimmed. So `text[start:end] == sentence.text` holds by construction, sentences come
in order, nothing but whitespace falls between them, and a repeated sentence keeps its own
offsets because the text is never searched again.

Paragraphs (lines) are split first: news copy puts bylines and captions on lines of their own
without a full stop, and a sentence never runs across a line break in it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from typing import Any

log = logging.getLogger(__name__)

# Raised whenever the same text would be split differently, so indexes built before are stale.
# 2: a closing quotation mark followed by a capitalised word ends a sentence; clause cuts.
# 3: a paragraph over SPLIT_WINDOW characters is read a window at a time, which can cut it otherwise.
SPLITTER_VERSION = 3

_PARAGRAPH = re.compile(r"[^\r\n]+")


@dataclass(frozen=True)
class Sentence:
    doc_id: str
    position: int
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Chunk:
    """`sentences_per_chunk` neighbouring sentences: the context a sentence is retrieved with."""

    doc_id: str
    position: int
    start: int
    end: int
    first_sentence: int
    last_sentence: int
    text: str


@lru_cache(maxsize=1)
def _segmenter() -> Any:  # pysbd has no type hints
    import pysbd

    return pysbd.Segmenter(language="en", clean=False, char_span=True)


# A sentence end inside closing quotation marks, then whitespace: pysbd breaks after `.”` but not
# after `…”` or `.’` (the seed article's `...passive investment products…” According to`). Only
# a capitalised word after it makes it a break (checked in `_quote_ends`).
_QUOTE_END = re.compile(r"[.!?…][”\"’»]+\s+")

# Where a run-on sentence may be cut, strongest first; the cut falls right after the match.
_CLAUSE_ENDS = (
    re.compile(r";(?=\s)"),
    re.compile(r":(?=\s)"),
    re.compile(r",(?=\s)|[—–]|(?<=\s)-(?=\s)"),
)


def _quote_ends(paragraph: str) -> list[int]:
    ends = (m.end() for m in _QUOTE_END.finditer(paragraph))
    return [end for end in ends if end < len(paragraph) and paragraph[end].isupper()]


# pysbd's time grows much faster than a paragraph's length (a 100,000-character line took 26 s, a
# 200,000-character article on one line 50 s to publish), so it reads a longer paragraph a window
# at a time. Every paragraph of the evaluation sets is shorter (SQuAD's longest: 4,063), so their
# sentences are exactly as before; a longer one may be cut otherwise (SPLITTER_VERSION 3).
SPLIT_WINDOW = 5000
# Boundaries this close to a window's end are left to the next window, which starts at the last
# boundary kept, so pysbd sees what follows each one it reports.
_WINDOW_MARGIN = 200
# Sentences longer than this are cut (the default of `max_sentence_chars` in `qa.config` too).
MAX_SENTENCE_CHARS = 600


def _splitter_starts(paragraph: str) -> list[int]:
    """pysbd's sentence starts in `paragraph` (0 excluded), a window of `SPLIT_WINDOW` characters
    at a time: each window begins at the last boundary the one before it kept."""
    starts: list[int] = []
    offset = 0
    while len(paragraph) - offset > SPLIT_WINDOW:
        window = paragraph[offset : offset + SPLIT_WINDOW]
        found = [span.start for span in _segmenter().segment(window) if 0 < span.start <= len(window) - _WINDOW_MARGIN]
        starts += [offset + start for start in found]
        offset += found[-1] if found else len(window) - _WINDOW_MARGIN  # a run-on sentence: read on
    return starts + [offset + span.start for span in _segmenter().segment(paragraph[offset:]) if span.start > 0]


def _sentence_starts(paragraph: str) -> list[int]:
    """Where sentences begin: the splitter's boundaries plus quote ends it misses; one sentence if it fails."""
    try:
        starts = _splitter_starts(paragraph)
    except Exception:  # pysbd raises on some exotic input; a whole paragraph is still a valid span
        log.warning("sentence splitter failed on a paragraph of %d characters", len(paragraph))
        return [0]
    return [0] + [start for start in starts if start < len(paragraph)] + _quote_ends(paragraph)


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _cut_point(text: str, start: int, max_chars: int) -> int:
    """Where to end a piece of a run-on sentence starting at `start`: after the last clause boundary
    of the strongest kind that leaves a piece of at least a third of `max_chars` (a citation should
    read as a phrase, not stop mid-clause), else at the last whitespace, else inside a word."""
    shortest, limit = start + max_chars // 3, start + max_chars
    for pattern in _CLAUSE_ENDS:
        ends = [m.end() for m in pattern.finditer(text, start, limit + 1) if shortest <= m.end() <= limit]
        if ends:
            return ends[-1]
    return max((i for i in range(limit, start, -1) if text[i - 1].isspace()), default=limit)


def _cut_long(text: str, start: int, end: int, max_chars: int) -> Iterator[tuple[int, int]]:
    """Split a run-on span so no sentence exceeds `max_chars`."""
    while end - start > max_chars:
        cut = _cut_point(text, start, max_chars)
        piece = _trimmed(text, start, cut)
        if piece[0] < piece[1]:
            yield piece
        start, end = _trimmed(text, cut, end)
    if start < end:
        yield start, end


def sentence_spans(text: str, max_chars: int = MAX_SENTENCE_CHARS) -> list[tuple[int, int]]:
    """Half-open `(start, end)` of every sentence in `text`, whitespace excluded, in order."""
    spans: list[tuple[int, int]] = []
    for match in _PARAGRAPH.finditer(text):
        paragraph = match.group()
        cuts = [*sorted(set(_sentence_starts(paragraph))), len(paragraph)]
        for left, right in pairwise(cuts):
            start, end = _trimmed(text, match.start() + left, match.start() + right)
            spans.extend(_cut_long(text, start, end, max_chars))
    return spans


def split_sentences(doc_id: str, text: str, max_chars: int = MAX_SENTENCE_CHARS) -> list[Sentence]:
    return [
        Sentence(doc_id, position, start, end, text[start:end])
        for position, (start, end) in enumerate(sentence_spans(text, max_chars))
    ]


def group_into_chunks(text: str, sentences: Sequence[Sentence], size: int = 3, overlap: int = 1) -> list[Chunk]:
    """Windows of `size` sentences; consecutive windows share `overlap` sentences."""
    if size < 1 or not 0 <= overlap < size:
        raise ValueError("chunks need size >= 1 and 0 <= overlap < size")
    chunks: list[Chunk] = []
    step = size - overlap
    first = 0
    while first < len(sentences):
        last = min(first + size, len(sentences)) - 1
        head, tail = sentences[first], sentences[last]
        chunks.append(Chunk(head.doc_id, len(chunks), head.start, tail.end, first, last, text[head.start : tail.end]))
        if last == len(sentences) - 1:
            break
        first += step
    return chunks

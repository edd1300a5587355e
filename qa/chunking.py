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

log = logging.getLogger(__name__)

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
def _segmenter():  # type: ignore[no-untyped-def]
    import pysbd

    return pysbd.Segmenter(language="en", clean=False, char_span=True)


def _sentence_starts(paragraph: str) -> list[int]:
    """Where the splitter says sentences begin; falls back to one sentence if it fails."""
    try:
        spans = _segmenter().segment(paragraph)
    except Exception:  # pysbd raises on some exotic input; a whole paragraph is still a valid span
        log.warning("sentence splitter failed on a paragraph of %d characters", len(paragraph))
        return [0]
    return [0] + [span.start for span in spans if 0 < span.start < len(paragraph)]


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _cut_long(text: str, start: int, end: int, max_chars: int) -> Iterator[tuple[int, int]]:
    """Split a run-on span at whitespace so no sentence exceeds `max_chars`."""
    while end - start > max_chars:
        cut = start + max_chars
        space = max((i for i in range(cut, start, -1) if text[i - 1].isspace()), default=cut)
        piece = _trimmed(text, start, space)
        if piece[0] < piece[1]:
            yield piece
        start, end = _trimmed(text, space, end)
    if start < end:
        yield start, end


def sentence_spans(text: str, max_chars: int = 600) -> list[tuple[int, int]]:
    """Half-open `(start, end)` of every sentence in `text`, whitespace excluded, in order."""
    spans: list[tuple[int, int]] = []
    for match in _PARAGRAPH.finditer(text):
        paragraph = match.group()
        cuts = sorted(set(_sentence_starts(paragraph))) + [len(paragraph)]
        for left, right in zip(cuts, cuts[1:]):
            start, end = _trimmed(text, match.start() + left, match.start() + right)
            spans.extend(_cut_long(text, start, end, max_chars))
    return spans


def split_sentences(doc_id: str, text: str, max_chars: int = 600) -> list[Sentence]:
    return [
        Sentence(doc_id, position, start, end, text[start:end])
        for position, (start, end) in enumerate(sentence_spans(text, max_chars))
    ]


def group_into_chunks(
    text: str, sentences: Sequence[Sentence], size: int = 3, overlap: int = 1
) -> list[Chunk]:
    """Windows of `size` sentences; consecutive windows share `overlap` sentences."""
    if size < 1 or not 0 <= overlap < size:
        raise ValueError("chunks need size >= 1 and 0 <= overlap < size")
    chunks: list[Chunk] = []
    step = size - overlap
    first = 0
    while first < len(sentences):
        last = min(first + size, len(sentences)) - 1
        head, tail = sentences[first], sentences[last]
        chunks.append(
            Chunk(head.doc_id, len(chunks), head.start, tail.end, first, last, text[head.start : tail.end])
        )
        if last == len(sentences) - 1:
            break
        first += step
    return chunks

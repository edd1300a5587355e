"""Stage 5b, answering: turn ranked sentences into cited spans and a plain-language answer.

Every citation is a span of a document's own text, so `text[start:end] == quote` always holds.
Whether to answer at all is `qa.abstention`'s call; this module shapes what is cited: which
neighbouring sentences join a citation, and which citations the answer text quotes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from qa import spans
from qa.abstention import Calibration, signals
from qa.config import DEFAULT_MIN_CONFIDENCE
from qa.corrections import with_notices_last
from qa.reader import Reader, Reading
from qa.retrieval import (
    Candidate,
    Query,
    RankedCandidates,
    Retrieval,
    asks_for_author,
    bare_follow_up,
    resolved,
    wants_more,
)
from qa.store import CorpusIndex
from qa.verification import Evidence, Verifier, doubts_kind, evidence, with_kind_first


@dataclass(frozen=True)
class ShortAnswer:
    """The words that answer a fact question, inside its first citation: `text[start:end] == text`;
    `start_utf16`/`end_utf16` are the same offsets in UTF-16 units, as a citation's are."""

    text: str
    doc_id: str
    start: int
    end: int
    start_utf16: int
    end_utf16: int


@dataclass(frozen=True)
class Citation:
    """A span of one article: `text[start:end] == quote` in code points; `start_utf16`/`end_utf16`
    are the same span in UTF-16 code units, as JavaScript strings count (emoji count twice)."""

    id: int
    doc_id: str
    start: int
    end: int
    quote: str
    score: float
    title: str = ""
    url: str | None = None  # the article's `url` metadata, so a chatbot can link to it
    start_utf16: int = 0
    end_utf16: int = 0
    short_answer: ShortAnswer | None = None  # the first citation's, for a fact question


@dataclass(frozen=True)
class Answer:
    question: str
    answer: str
    answerable: bool
    confidence: float
    citations: list[Citation]
    took_ms: float = 0.0
    id: str | int | None = None
    generation: str = ""  # the index generation it was answered from


@dataclass(frozen=True)
class Widening:
    """How citations are widened to neighbouring sentences and which of them the answer quotes."""

    # A neighbouring sentence of the same paragraph joins a citation when its score is within
    # this margin of the cited sentence's (scores run about 1-2): the evidence then spans both.
    # Chosen on SQuAD dev part 1 to keep the median citation under 250 characters.
    extend_margin: float = 0.25
    # Two adjacent sentences whose second opens with a pronoun ("It was held at ...") or is a
    # quotation attributed to one ('"...," she said.') belong together: the first names what or
    # who the second is about. They join within this wider margin, so
    # a quote never leaves the reader asking what "it" is. On SQuAD dev part 1: hit@1 0.782 ->
    # 0.789, hit@3 0.892 -> 0.897, median citation 236 -> 248 characters.
    pronoun_margin: float = 0.7
    # Further citations are quoted in the answer when they score within this margin of the best.
    quote_margin: float = 0.1


_OPENS_WITH_PRONOUN = re.compile(r"\W*(he|she|it|they|this|these|those|his|her|its|their)\b", re.IGNORECASE)
# A quotation attributed to a pronoun ('"Teenagers who ...," she told the board.') leans on the
# sentence before it for who is speaking, as a sentence opening with a pronoun does.
_QUOTE_BY_PRONOUN = re.compile(
    r"\s*[\"“].+[,?!][\"”]\s*(he|she|they)\s+(said|says|told|added|wrote|argued|warned|explained)\b", re.I | re.S
)


# The reader's span is a short answer from this probability up (start's times end's): chosen on
# the SQuAD v1.1 dev part 1 articles the reader was not trained on (README, Quality).
SHORT_ANSWER_FLOOR = 0.22

NOT_COVERED = "The articles do not cover this: no passage in them answers the question."
NOT_A_QUESTION = "Ask a question about the articles: every answer cites the passages that say it."
# A turn that asks nothing ("Thanks!", "ok", "Hello"): a reader's courtesy in the chat. Its words
# alone matched "He thanked patients for their patience." and were answered with it.
_SMALL_TALK = re.compile(
    r"^(?!.*\?)\W*(?:(?:ok(?:ay)?|great|cool|nice|perfect|awesome|got it|good|sure|yes|no)\W+)?"
    r"(?:(?:many |much )?thanks?(?:[ -]?(?:you|u))?(?: (?:so|very) much| a lot| again| for (?:the|your) help)?"
    r"|thankyou|thx|ty|cheers|(?:much )?appreciated|appreciate it|ok(?:ay)?|great|cool|nice|perfect|awesome"
    r"|got it|yes|yep|no|nope|hi(?: there)?|hello(?: there)?|hey(?: there)?|good (?:morning|afternoon|evening|night)"
    r"|bye|goodbye|see you)(?:\W+(?:bye|goodbye))?\W*$|^[^\w?]+$",
    re.I,
)


# What a bare follow-up's own words ask for that its topic's sentence can answer: "Who said so?",
# "When?", "Where?". "How many?" or "Which ones?" does not say what it counts or picks.
_BARE_FACT_KINDS = frozenset({"name", "time"}) | spans.PLACE_KINDS


def _first_cited_first(retrieval: Retrieval, skipped: set[int]) -> Retrieval:
    """`retrieval` with the sentence the first citation was made from first: the best one not
    `skipped`. "Who else?" skips what was told, and its short answer was read from the best
    sentence, told already and not in the first citation ("Ray Okafor" again)."""
    ids = retrieval.candidates.sentence_ids
    position = next((i for i, sentence in enumerate(ids) if sentence not in skipped), 0)
    return retrieval if position == 0 else replace(retrieval, candidates=retrieval.candidates.with_first(position))


def _reads_short_answer(query: Query) -> bool:
    """Whether the question asks for a fact (the reader's short answer) it says enough about."""
    if not spans.asks_for_fact(query.question):
        return False
    kinds = spans.asked_kinds(query.question)
    return not bare_follow_up(query) or (bool(kinds) and set(kinds) <= _BARE_FACT_KINDS)


@dataclass(frozen=True)
class _BestRead:
    """The reader's words for one sentence, and whether they read as the kind of span asked."""

    sentence: int
    reading: Reading
    of_kind: bool


# How far down a "Who wrote ...?" question looks for its article's byline.
BYLINE_REACH = 5


class Answerer:
    def __init__(
        self,
        index: CorpusIndex,
        reader: Reader | None,
        min_confidence: float = DEFAULT_MIN_CONFIDENCE,
        calibration: Calibration | None = None,
        widening: Widening | None = None,
        verifier: Verifier | None = None,
        short_answer_floor: float = SHORT_ANSWER_FLOOR,
    ):
        self.index = index
        self.reader = reader
        self.min_confidence = min_confidence
        self.calibration = calibration or Calibration()
        self.widening = widening or Widening()
        self.verifier = verifier or Verifier()
        self.short_answer_floor = short_answer_floor

    def answer(self, retrieval: Retrieval) -> Answer:
        query = retrieval.query
        if _SMALL_TALK.match(query.question):
            return Answer(query.question, NOT_A_QUESTION, False, 0.0, [], id=query.id)
        retrieval = with_kind_first(with_notices_last(retrieval, self.index), self.index)
        confidence, found = self._confidence(retrieval)
        reading = None
        if confidence >= self.min_confidence and found is not None and doubts_kind(found):
            reading = self._reading_of_own_kind(retrieval)
            if reading is not None and not reading.of_kind:
                confidence = 0.0
        if confidence < self.min_confidence:
            return Answer(query.question, NOT_COVERED, False, round(confidence, 4), [], id=query.id)
        if asks_for_author(query.question):
            retrieval = self._byline_first(retrieval)
        told = self._told(retrieval) if wants_more(query) else set()
        # More of what was told is more of its articles: the rest of the archive only when they
        # have nothing left to say, and what was said again only when nothing has.
        passed_over: tuple[set[int], ...] = (told | self._elsewhere(retrieval, told), told, set())
        for skipped in passed_over:
            citations = self._citations(retrieval.candidates, query.top_k, query.question, skipped)
            if citations:
                break
        short = None
        if self.reader is not None and _reads_short_answer(query):
            short = self._short_answer(self.reader, _first_cited_first(retrieval, skipped), citations[0], reading)
        if short is not None:
            citations[0] = replace(citations[0], short_answer=short)
        best = citations[0].score
        quoted = [c for c in citations if c.score >= best - self.widening.quote_margin][:2]
        text = " ".join(f"{c.quote} [{c.id}]" for c in quoted)
        if short is not None and short.text != citations[0].quote:  # not "Tomas Reyes: Tomas Reyes [1]"
            text = f"{short.text}: {text}"
        return Answer(query.question, text, True, round(confidence, 4), citations, id=query.id)

    def _confidence(self, retrieval: Retrieval) -> tuple[float, Evidence | None]:
        """The lower of abstention's confidence (is the question about these articles at all?) and
        the verifier's (does the best sentence say what is asked?), with the verifier's evidence;
        the second is only read when the first passes."""
        if not retrieval.candidates:
            return 0.0, None
        read = signals(retrieval, self.index)
        confidence = self.calibration.confidence(read)
        if confidence < self.min_confidence:
            return confidence, None
        found = evidence(retrieval, self.index, read)
        return min(confidence, self.verifier.probability(found)), found

    def _reading_of_own_kind(self, retrieval: Retrieval) -> _BestRead | None:
        """The reader's words for the best sentence, for a fact question it reads as asked: None
        without a reader, for a bare follow-up (searched as another question) and for a question
        asking who wrote an article (its answer is a byline, cited after this)."""
        query = retrieval.query
        if (
            self.reader is None
            or not _reads_short_answer(query)
            or retrieval.searched != resolved(query)
            or asks_for_author(query.question)
        ):
            return None
        return self._read_best(self.reader, retrieval)

    def _read_best(self, reader: Reader, retrieval: Retrieval) -> _BestRead:
        return self._read(reader, resolved(retrieval.query), retrieval.candidates[0].sentence_id)

    def _read(self, reader: Reader, question: str, sentence: int) -> _BestRead:
        text = self.index.sentence_text(sentence)
        (reading,) = reader.read(question, [text])
        kinds = spans.asked_kinds(question)
        return _BestRead(sentence, reading, spans.reads_as(text[reading.answer_start : reading.answer_end], kinds))

    def _short_answer(
        self, reader: Reader, retrieval: Retrieval, citation: Citation, read: _BestRead | None
    ) -> ShortAnswer | None:
        """The words of the best sentence (the first citation's: `_first_cited_first`) that answer a fact
        question: its one span of the kind asked when it holds exactly one (`spans.lone_span`), or
        for a "who" question the name after its title (`spans.titled_name`); else the reader's
        words (`read`, when it read this sentence already) when it is sure enough of them (start
        and end probabilities' product at least the floor), they read as the kind asked
        (`spans.reads_as`; a place asked for by what it is, with a capital) and they are not the
        article's dateline (`spans.clear_of_dateline`)."""
        question = resolved(retrieval.query)
        sentence = self._holding_sentence(retrieval.candidates[0].sentence_id, citation, question)
        text = self.index.sentence_text(sentence)
        by_pattern = spans.lone_span(text, question) or spans.titled_name(text, question)
        if by_pattern is not None:
            first, last = by_pattern.start, by_pattern.end
        else:
            if read is None or read.sentence != sentence:
                read = self._read(reader, question, sentence)
            reading = read.reading
            first, last = reading.answer_start, reading.answer_end
            kinds = spans.asked_kinds(question)
            if (
                reading.answer_probability < self.short_answer_floor
                or not read.of_kind
                or not spans.names_a_place_if_asked(text[first:last], kinds)
                or not spans.clear_of_dateline(text, first, last, kinds)
            ):
                return None
        if spans.asks_for_several(question):
            last = spans.with_listed_names(text, first, last)
        offset = int(self.index.sentence_start[sentence])
        start, end = offset + first, offset + last
        return ShortAnswer(
            text[first:last],
            citation.doc_id,
            start,
            end,
            self.index.utf16_offset(citation.doc_id, start),
            self.index.utf16_offset(citation.doc_id, end),
        )

    def _holding_sentence(self, best: int, citation: Citation, question: str) -> int:
        """The sentence a short answer is read from: the best, or the neighbour the first citation
        was widened to for holding the kind asked where the best holds none ("How long did the talks
        last?" cited the opening with "...which lasted for more than seven hours", and the reader,
        given the opening only, found no duration in it)."""
        kinds = spans.asked_kinds(question)
        neighbour = self._neighbour_holding(best, kinds, question) if kinds[:1] == ("duration",) else None
        if neighbour is None:
            return best
        index = self.index
        inside = citation.start <= index.sentence_start[neighbour] and index.sentence_end[neighbour] <= citation.end
        return neighbour if inside and index.sentence_doc[neighbour] == citation.doc_id else best

    def _byline_first(self, retrieval: Retrieval) -> Retrieval:
        """The byline of the article the best candidate that is no byline is from (its author's
        name, alone or after "By"), cited first when it is among the first `BYLINE_REACH`
        candidates: "Who wrote the article about Blinken and Wang Yi?" cited the article's opening,
        which holds both names, above its byline, third. A byline shares no word of the question
        but "who wrote" wants a name: "Who wrote the wildfire article?" ranked the budget story's
        byline first and answered with its author, so bylines do not pick the article, and another
        article's byline is never cited first. Confidence is read before, off the sentences the
        question's words found."""
        candidates = retrieval.candidates
        reach = range(min(BYLINE_REACH, len(candidates)))
        bylines = [position for position in reach if self._is_byline(candidates.sentence_ids[position])]
        subject = next((position for position in reach if position not in bylines), 0)
        doc_id = self.index.sentence_doc[candidates.sentence_ids[subject]]
        own = next((p for p in bylines if self.index.sentence_doc[candidates.sentence_ids[p]] == doc_id), subject)
        return retrieval if own == 0 else replace(retrieval, candidates=candidates.with_first(own))

    def _is_byline(self, sentence: int) -> bool:
        """Whether `sentence` is its article's byline: the author's name, alone or after "By"."""
        author = self.index.documents[self.index.sentence_doc[sentence]].metadata.get("author")
        return bool(author) and self.index.sentence_text(sentence).strip() in {str(author), f"By {author}"}

    def _elsewhere(self, retrieval: Retrieval, told: set[int]) -> set[int]:
        """The candidate sentences from other articles than those `told` quotes."""
        if not told:
            return set()
        docs = self.index.sentence_doc_number
        told_docs = {docs[s] for s in told}
        return {s for s in retrieval.candidates.sentence_ids if docs[s] not in told_docs}

    def _told(self, retrieval: Retrieval) -> set[int]:
        """The candidate sentences the conversation already quotes (the replies it follows up)."""
        told = "\n".join((*retrieval.query.history, *retrieval.query.told))
        return {s for s in retrieval.candidates.sentence_ids if self.index.sentence_text(s) in told}

    def _citations(self, candidates: RankedCandidates, top_k: int, question: str, skipped: set[int]) -> list[Citation]:
        """The best `top_k` sentences not `skipped` (told already, or from other articles), each
        widened to its better neighbour if that scores about as well; the first also to a
        neighbour holding what a fact question asks for when it holds none."""
        score_of = candidates.score_by_sentence()
        kinds = spans.asked_kinds(question)
        used: set[int] = set(skipped)
        citations: list[Citation] = []
        for candidate in candidates:
            if len(citations) == top_k:
                break
            if candidate.sentence_id in used:
                continue
            first = last = candidate.sentence_id
            neighbour = self._close_neighbour(candidate, score_of, used)
            if neighbour is None and kinds and not citations:
                neighbour = self._neighbour_holding(candidate.sentence_id, kinds, question)
            if neighbour is not None:
                first, last = min(first, neighbour), max(last, neighbour)
            used.update(range(first, last + 1))
            citations.append(self._citation(len(citations) + 1, first, last, candidate.score))
        return citations

    def _close_neighbour(self, candidate: Candidate, score_of: dict[int, float], used: set[int]) -> int | None:
        """The better-scoring adjacent sentence of the same paragraph, if it scores about as well
        (or nearly as well, when the later of the two opens with a pronoun)."""
        sentence = candidate.sentence_id
        neighbours = [
            n
            for n in (sentence - 1, sentence + 1)
            if n in score_of
            and n not in used
            and self._same_paragraph(sentence, n)
            and score_of[n] >= candidate.score - self._margin(max(sentence, n))
        ]
        return max(neighbours, key=score_of.__getitem__, default=None)

    def _neighbour_holding(self, sentence: int, kinds: tuple[str, ...], question: str) -> int | None:
        """The adjacent sentence of the same paragraph (the next one first) that holds a span of
        `kinds` when `sentence` holds none ("...held talks. They lasted more than seven hours.")."""
        text = self.index.sentence_text
        if spans.candidates(text(sentence), kinds, question):
            return None
        for neighbour in (sentence + 1, sentence - 1):
            if self._same_paragraph(sentence, neighbour) and spans.candidates(text(neighbour), kinds, question):
                return neighbour
        return None

    def _margin(self, later: int) -> float:
        text = self.index.sentence_text(later)
        if _OPENS_WITH_PRONOUN.match(text) or _QUOTE_BY_PRONOUN.match(text):
            return self.widening.pronoun_margin
        return self.widening.extend_margin

    def _same_paragraph(self, sentence: int, neighbour: int) -> bool:
        index = self.index
        if not 0 <= neighbour < index.sentence_count or (
            index.sentence_doc_number[neighbour] != index.sentence_doc_number[sentence]
        ):
            return False
        first, second = sorted((sentence, neighbour))
        gap = index.documents[index.sentence_doc[first]].text[
            int(index.sentence_end[first]) : int(index.sentence_start[second])
        ]
        return "\n" not in gap and "\r" not in gap

    def _citation(self, marker: int, first: int, last: int, score: float) -> Citation:
        index = self.index
        doc_id = index.sentence_doc[first]
        start, end = int(index.sentence_start[first]), int(index.sentence_end[last])
        document = index.documents[doc_id]
        url = document.metadata.get("url")
        return Citation(
            marker,
            doc_id,
            start,
            end,
            document.text[start:end],
            round(score, 4),
            title=document.title,
            url=url if isinstance(url, str) and url else None,
            start_utf16=index.utf16_offset(doc_id, start),
            end_utf16=index.utf16_offset(doc_id, end),
        )

"""Stage 5a, retrieval: find the sentences most likely to answer a question.

Two steps, so the cost grows with the corpus only inside FAISS and BM25:
1. Candidate chunks (a sentence with its neighbours): the dense top chunks from FAISS and the
   lexical (BM25) top chunks, united.
2. Every sentence of those chunks is scored on its own from a handful of signals (`FEATURES`):
   dense and lexical similarity of the sentence, of its best chunk (the context it was found in),
   and of its document. The score is a weighted sum whose weights were chosen on SQuAD dev part 1.
Follow-up questions ("what did he say about Tibet?") are retrieved with the conversation's
earlier questions folded into both the query vector and the lexical query.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple, overload

import numpy as np

from qa import answer_types
from qa.aliases import mentions
from qa.embedding import Embedder
from qa.lexical import NOT_PLURAL, tokenize_question
from qa.limits import DEFAULT_TOP_K
from qa.store import CorpusIndex

FEATURES = (
    "dense_sentence",
    "dense_context",
    "lexical_sentence",
    "lexical_context",
    "dense_document",
    "lexical_document",
    "coverage_sentence",
    "coverage_context",
    "answer_type",
)

_COVERAGE = FEATURES.index("coverage_sentence")
# Chunks taken from FAISS and from BM25 each; their sentences are the candidates a question scores.
CANDIDATE_CHUNKS = 30
# Earlier questions of a conversation that a follow-up is retrieved with.
HISTORY_TURNS = 2


@dataclass(frozen=True)
class Query:
    question: str
    history: tuple[str, ...] = ()
    top_k: int = DEFAULT_TOP_K
    id: str | int | None = None
    # Answer from these articles only; empty: the whole archive.
    doc_ids: tuple[str, ...] = ()
    # The conversation's earlier replies (a chat's assistant messages): what a follow-up asking
    # for more has been told already, besides what `history` quotes.
    told: tuple[str, ...] = ()


@dataclass(frozen=True)
class Weights:
    """How signals combine into a sentence's score; tuned on SQuAD dev part 1 only (README).
    `history_weight` is how much a follow-up's earlier questions count in its query vector."""

    dense_sentence: float = 0.59
    dense_context: float = 0.19
    lexical_sentence: float = 0.0
    lexical_context: float = 0.08
    dense_document: float = 0.36
    lexical_document: float = 0.18
    coverage_sentence: float = 0.6
    coverage_context: float = 0.47
    answer_type: float = 0.18
    history_weight: float = 0.5

    def vector(self) -> np.ndarray:
        return np.array([getattr(self, name) for name in FEATURES])


class Candidate(NamedTuple):
    sentence_id: int
    score: float
    # Dense similarity to the whole conversation (the question alone when it is not a follow-up):
    # what abstention judges, since a follow-up's own words rarely say what it is about.
    conversation_similarity: float


class RankedCandidates(Sequence[Candidate]):
    """A question's candidate sentences, best first, each made into a `Candidate` only when read:
    a question has a hundred or more and the answer reads a handful (building them all took a
    quarter of a batched question's time)."""

    def __init__(self, sentence_ids: list[int], scores: list[float], conversation_similarity: list[float]):
        self.sentence_ids, self.scores = sentence_ids, scores
        self.conversation_similarity = conversation_similarity

    def __len__(self) -> int:
        return len(self.sentence_ids)

    @overload
    def __getitem__(self, position: int) -> Candidate: ...

    @overload
    def __getitem__(self, position: slice) -> list[Candidate]: ...

    def __getitem__(self, position: int | slice) -> Candidate | list[Candidate]:
        if isinstance(position, slice):
            similarity = self.conversation_similarity[position]
            return list(map(Candidate, self.sentence_ids[position], self.scores[position], similarity))
        return Candidate(self.sentence_ids[position], self.scores[position], self.conversation_similarity[position])

    def with_first(self, position: int) -> RankedCandidates:
        """The same candidates, the one at `position` first (cited first, whatever it scored)."""
        return self._in_order([position, *(p for p in range(len(self)) if p != position)])

    def with_last(self, positions: set[int]) -> RankedCandidates:
        """The same candidates, those at `positions` after all the others (in their order)."""
        kept = [p for p in range(len(self)) if p not in positions]
        return self._in_order([*kept, *sorted(positions)])

    def _in_order(self, order: list[int]) -> RankedCandidates:
        return RankedCandidates(
            [self.sentence_ids[p] for p in order],
            [self.scores[p] for p in order],
            [self.conversation_similarity[p] for p in order],
        )

    def score_by_sentence(self) -> dict[int, float]:
        return dict(zip(self.sentence_ids, self.scores, strict=True))


@dataclass(frozen=True)
class Retrieval:
    """A question's ranked candidate sentences, and what abstention reads besides them."""

    query: Query
    candidates: RankedCandidates
    # Question tokens that stand for a name the question mentions under an alias ("the author").
    aliased_tokens: frozenset[str] = frozenset()
    # The best sentence's `coverage_sentence` feature: the share of the question's IDF weight it holds.
    best_coverage: float = 0.0
    # What the question asks as retrieval read it (`searched`): what verification reads too.
    searched: str = ""


_FOLLOW_UP = re.compile(r"\b(he|she|it|they|him|her|his|hers|its|their|them|this|that|these|those|there)\b", re.I)


# A short question that is whole on its own: a question word, a verb, and a name ("Who is Roger
# Robinson?", "Where is Malaita?"), unlike "And Tibet?" or "What about Iran?".
_WHOLE_SHORT = re.compile(
    r"^\W*(?i:who|what|when|where|which|how)\s+(?i:is|are|was|were|did|does|do)\s+(?:the\s+)?[A-Z]"
)


def needs_history(query: Query) -> bool:
    """A question leans on the conversation when it refers back with a pronoun or is very short
    (and not a whole question naming what it asks about)."""
    if not query.history:
        return False
    if _FOLLOW_UP.search(query.question):
        return True
    return len(query.question.split()) <= 4 and not _WHOLE_SHORT.match(query.question)


_PERSON_PRONOUN = re.compile(r"\b(he|she|him|her|his)\b", re.I)
# A person's name as a question writes it: two or more capitalised words ("Carla Mendes").
_PERSON_NAME = re.compile(r"\b[A-Z][\w'’-]+(?:\s+[A-Z][\w'’-]+)+")


# Who wrote an article: "Who wrote this?", "Who wrote the article about ...?", "Who is the author?".
# Not "Who wrote the letter ...?" or "Who reported the fire?": a fact inside an article.
_ASKS_FOR_AUTHOR = re.compile(
    r"^\W*who\s+(?:wrote|authored|reported|is\s+the\s+(?:author|reporter|writer))"
    r"(?:\s+(?:this|that|it)\b|\s+(?:the|this|that)\s+(?:[\w-]+\s+){0,3}?(?:article|story|piece|report|column)s?\b"
    r"|\s+(?:of|about)\b|\W*$)",
    re.I,
)


def asks_for_author(question: str) -> bool:
    """Whether `question` asks who wrote an article: its answer is a byline."""
    return bool(_ASKS_FOR_AUTHOR.match(question))


_ASKS_WHO_DID = re.compile(r"^\W*who\s+(?!(is|was|are|were)\b)\w+", re.I)


_GROUP_PRONOUN = re.compile(r"\b(they|them|their)\b", re.I)
_AUXILIARY = r"(?:are|were|do|did|have|had|will|would|can|could|should|might|must)"
# The plural subject of a question: the words right after its auxiliary verb ("Were parents at
# the hearing ...?", "Why did the board members object?"), at most two and the last ending in a
# single s. "How many buses does the district need?" has none: its subject, the district, is singular.
_GROUP_SUBJECT = re.compile(
    rf"^\W*(?:(?:how|why|when|where|what|which)\s+(?:\w+\s+)??)?{_AUXILIARY}\s+"
    r"((?:the\s+)?(?:[a-z][\w-]*\s+)?[a-z][\w-]*[^s\W]s)\b",
    re.I,
)


def _group(history: Sequence[str]) -> str | None:
    """The plural subject of the latest earlier question (a turn ending in "?": in a chat the
    assistant's answer may come after it), if it has one."""
    question = next((turn for turn in reversed(history) if turn.rstrip().endswith("?")), "")
    found = _GROUP_SUBJECT.match(question)
    if found is None or found.group(1).split()[-1].lower() in NOT_PLURAL:
        return None
    return found.group(1)


def resolved(query: Query) -> str:
    """The question with he/she/him/her/his replaced by the person the conversation was last
    about ("What did she say?" after "Who is Carla Mendes?"; "the author" after "Who wrote ...?"),
    and they/them/their by the plural subject of the latest earlier question ("What were they
    worried about?" after "Were parents at the hearing in favour?"), so its own words find the
    sentences about them; the question itself when it has no such pronoun, when the last turn
    asked who did something (its answer is the person), or when no earlier turn names anyone."""
    if not needs_history(query):
        return query.question
    question = _resolve_group(query.question, query.history)
    if not _PERSON_PRONOUN.search(question):
        return question
    return _resolve_person(question, query.history, query.told[-1:])


def searched(query: Query) -> str:
    """What retrieval reads as the question's own words: `resolved`, and for a bare follow-up the
    latest earlier question that names something, since that is what it asks about (its own
    words, "more" or "which ones", would only count against the sentences that answer), followed
    by the follow-up when a noun of its own says what it asks for ("Which countries?")."""
    question = resolved(query)
    if not needs_history(query) or not _is_bare(question):
        return question
    history = query.history
    asked = [n for n, turn in enumerate(history) if turn.rstrip().endswith("?") and _names_something(turn)]
    if not asked:
        return question
    # That question as it was read in its turn, its own pronouns resolved ("What is his job?"
    # after "Who boasted about the tunnels?" is about Mohammad Bagheri): replies, when the
    # conversation has one per question, up to the one it followed.
    position = asked[-1]
    told = query.told[:position] if len(query.told) == len(history) else ()
    topic = resolved(Query(history[position], history[:position], told=told))
    # "Which countries?": the noun says what it asks about, within that question.
    return f"{topic} {question}" if _names_something(question) else topic


def bare_follow_up(query: Query) -> bool:
    """A follow-up whose words name nothing once its pronouns are resolved ("Why?", "Tell me
    more.", "Who said so?", "How many?"), or only what kind of thing it asks for ("Which
    countries?", "What year?")."""
    return needs_history(query) and _is_bare(resolved(query))


def _is_bare(question: str) -> bool:
    return not _names_something(question) or bool(_ASKS_ONLY_WHICH.match(question))


# A question that is only its asking words and a noun: "Which countries?", "What year?".
# ("How many buses?" asks about something new, "buses", and is searched as it is.)
_ASKS_ONLY_WHICH = re.compile(r"^\W*(?:which|what|whose)\s+[\w'’-]+\W*$", re.I)


_MORE = re.compile(r"\b(more|else|other|go on|continue|keep going)\b", re.I)


def wants_more(query: Query) -> bool:
    """A bare follow-up asking for more ("Tell me more.", "What else?"): what the conversation
    already quotes is no answer to it."""
    return bool(_MORE.search(query.question)) and bare_follow_up(query)


# Words a bare follow-up uses besides question words and pronouns ("Tell me more.", "What else?",
# "Which ones?", "Can you explain?"), as `tokenize_question` stems them.
_BARE = frozenset(
    """more els one about explain go next mean realli detail elabor further continu again exact
    mani much long old far often reason caus purpos topic subject quick soon result outcom""".split()
)


def _names_something(question: str) -> bool:
    return any(token not in _BARE for token in tokenize_question(question))


def _resolve_person(question: str, history: Sequence[str], reply: Sequence[str] = ()) -> str:
    """he/she/him/her/his replaced by whom the conversation was last about: the author after "Who
    wrote ...?"; after another "Who did ...?" the first name of its `reply` (a chat's answer to
    it), if any; else the first name of that reply or the latest of the questions before."""
    if _ASKS_FOR_AUTHOR.match(history[-1]):
        person = "the author"  # which retrieval reads as the articles' bylines
    else:
        # After "Who boasted about the tunnels?" the person is that turn's answer, not a name the
        # question mentions: only its reply can say whom.
        turns = reply if _ASKS_WHO_DID.match(history[-1]) else (*reply, *reversed(history))
        names = [found[0] for turn in turns if (found := _PERSON_NAME.findall(turn))]
        if not names:
            return question
        person = names[0]
    return _PERSON_PRONOUN.sub(lambda m: f"{person}'s" if m.group(1).lower() == "his" else person, question)


def _resolve_group(question: str, history: Sequence[str]) -> str:
    if not _GROUP_PRONOUN.search(question) or (group := _group(history)) is None:
        return question
    return _GROUP_PRONOUN.sub(lambda m: f"{group}'" if m.group(1).lower() == "their" else group, question)


def _scaled(values: np.ndarray) -> np.ndarray:
    top = float(values.max(initial=0.0))
    return values / top if top > 0 else np.zeros_like(values, dtype=np.float64)


def _best_by_group(groups: np.ndarray, values: np.ndarray) -> np.ndarray:
    """For each row, the largest value among rows of the same group."""
    unique, inverse = np.unique(groups, return_inverse=True)
    best = np.full(len(unique), -np.inf)
    np.maximum.at(best, inverse, values)
    return best[inverse]


@dataclass
class SentenceFeatures:
    """The candidate sentences of one query and their signals, one column per `FEATURES` name."""

    sentence_ids: np.ndarray
    matrix: np.ndarray
    # Dense similarity of each to the whole conversation; see `Candidate.conversation_similarity`.
    conversation_similarity: np.ndarray


@dataclass
class QueryForm:
    """A question as retrieval sees it. Its own words (and the alternatives of names it mentions)
    pick the sentence; for a follow-up, the earlier questions join in to find the context."""

    # What it asks, as retrieval reads it (`searched`): the kind of answer is read off it too.
    question: str
    own_vector: np.ndarray
    context_vector: np.ndarray
    own_tokens: list[str]
    context_tokens: list[str]
    # Each mention's own tokens, and the token lists of its alternatives.
    mentions: list[tuple[list[str], list[list[str]]]]

    @property
    def alternative_tokens(self) -> list[str]:
        """Every alternative's tokens, added to the BM25 query."""
        return [token for _, alternatives in self.mentions for alternative in alternatives for token in alternative]


class Retriever:
    def __init__(
        self,
        index: CorpusIndex,
        embedder: Embedder,
        weights: Weights | None = None,
        candidate_chunks: int = CANDIDATE_CHUNKS,
        history_turns: int = HISTORY_TURNS,
    ):
        self.index = index
        self.embedder = embedder
        self.weights = weights or Weights()
        self.candidate_chunks = candidate_chunks
        self.history_turns = history_turns
        self._authors = sorted(
            {str(d.metadata["author"]) for d in index.documents.values() if d.metadata.get("author")}
        )

    def retrieve(self, queries: Sequence[Query]) -> list[Retrieval]:
        if not queries:
            return []
        weights = self.weights.vector()
        results = []
        forms = self._forms(queries)
        for query, form, features in zip(queries, forms, self._features_of(queries, forms), strict=True):
            total = features.matrix @ weights
            order = np.argsort(-total, kind="stable")
            candidates = RankedCandidates(
                features.sentence_ids[order].tolist(),
                total[order].tolist(),
                features.conversation_similarity[order].tolist(),
            )
            coverage = float(features.matrix[order[0], _COVERAGE]) if len(order) else 0.0
            aliased = frozenset(t for mention_tokens, _ in form.mentions for t in mention_tokens)
            results.append(Retrieval(query, candidates, aliased, coverage, form.question))
        return results

    def features(self, queries: Sequence[Query]) -> list[SentenceFeatures]:
        return self._features_of(queries, self._forms(queries)) if queries else []

    def _features_of(self, queries: Sequence[Query], forms: list[QueryForm]) -> list[SentenceFeatures]:
        allowed = {row: self.index.chunks_of(q.doc_ids) for row, q in enumerate(queries) if q.doc_ids}
        vectors = np.stack([form.context_vector for form in forms])
        dense: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        whole_archive = [row for row in range(len(queries)) if row not in allowed]
        if whole_archive:  # one FAISS call for every question that is not scoped to articles
            scores, ids = self.index.search_chunks(vectors[whole_archive], self.candidate_chunks)
            dense.update((row, (scores[i], ids[i])) for i, row in enumerate(whole_archive))
        for row, chunk_ids in allowed.items():
            scores, ids = self.index.search_chunks(vectors[row : row + 1], self.candidate_chunks, chunk_ids)
            dense[row] = (scores[0], ids[0])
        return [
            self._features(query, form, *dense[row], allowed.get(row))
            for row, (query, form) in enumerate(zip(queries, forms, strict=True))
        ]

    def _forms(self, queries: Sequence[Query]) -> list[QueryForm]:
        """Embed every question (and every follow-up's history) of the batch in one call."""
        turns = self.history_turns
        histories = {row: " ".join(q.history[-turns:]) for row, q in enumerate(queries) if needs_history(q)}
        questions = [searched(q) for q in queries]
        found = [mentions(question, self._authors) for question in questions]
        own_texts = [
            f"{question} ({'; '.join(a for m in ms for a in m.alternatives)})" if ms else question
            for question, ms in zip(questions, found, strict=True)
        ]
        vectors = self.embedder.encode_queries(own_texts + list(histories.values()))
        history_vectors = dict(zip(histories, vectors[len(queries) :], strict=True))
        forms = []
        for row, question in enumerate(questions):
            own_vector, own_tokens = vectors[row], tokenize_question(question)
            context_vector, context_tokens = own_vector, own_tokens
            if row in history_vectors:
                mixed = own_vector + self.weights.history_weight * history_vectors[row]
                context_vector = mixed / np.linalg.norm(mixed)
                context_tokens = own_tokens + tokenize_question(histories[row])
            token_mentions = [
                (tokenize_question(m.text), [tokenize_question(a) for a in m.alternatives]) for m in found[row]
            ]
            forms.append(QueryForm(question, own_vector, context_vector, own_tokens, context_tokens, token_mentions))
        return forms

    def _features(
        self, query: Query, form: QueryForm, dense_scores: np.ndarray, dense_ids: np.ndarray, allowed: np.ndarray | None
    ) -> SentenceFeatures:
        index = self.index
        found = dense_ids >= 0
        dense_scores, dense_ids = dense_scores[found], dense_ids[found]

        chunk_lexical_all = index.chunk_lexical.scores(form.context_tokens + form.alternative_tokens)
        if allowed is not None:  # a scoped question: chunks of other articles score nothing
            scoped = np.zeros_like(chunk_lexical_all)
            scoped[allowed] = chunk_lexical_all[allowed]
            chunk_lexical_all = scoped
        lexical_top = np.argpartition(-chunk_lexical_all, min(self.candidate_chunks, len(chunk_lexical_all) - 1))
        lexical_top = lexical_top[: self.candidate_chunks]
        lexical_top = lexical_top[chunk_lexical_all[lexical_top] > 0]
        chunk_ids = np.unique(np.concatenate([dense_ids, lexical_top]))

        # Dense scores of chunks FAISS did not return are at most its lowest returned score.
        dense_by_chunk = dict(zip(dense_ids.tolist(), dense_scores.tolist(), strict=True))
        floor = float(dense_scores.min(initial=0.0))
        chunk_dense = np.array([dense_by_chunk.get(c, floor) for c in chunk_ids.tolist()])
        chunk_lexical = _scaled(chunk_lexical_all[chunk_ids])

        # Expand chunks to sentences; a sentence in two candidate chunks keeps the better context.
        first, last = index.chunk_first[chunk_ids], index.chunk_last[chunk_ids]
        lengths = last - first + 1
        owner = np.repeat(np.arange(len(chunk_ids)), lengths)
        position_in_chunk = np.arange(len(owner)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        sentence_ids = first[owner] + position_in_chunk
        context_dense = _best_by_group(sentence_ids, chunk_dense[owner])
        context_lexical = _best_by_group(sentence_ids, chunk_lexical[owner])
        sentence_ids, unique_rows = np.unique(sentence_ids, return_index=True)
        context_dense, context_lexical = context_dense[unique_rows], context_lexical[unique_rows]

        candidate_vectors = index.sentence_vectors[sentence_ids]
        sentence_dense = candidate_vectors @ form.own_vector
        sentence_lexical = _scaled(
            index.sentence_lexical.scores(form.own_tokens + form.alternative_tokens)[sentence_ids]
        )
        documents = index.sentence_doc_number[sentence_ids]
        coverage_sentence = self._coverage(form.own_tokens, form.mentions, sentence_ids, neighbours=False)
        coverage_context = self._coverage(form.context_tokens, form.mentions, sentence_ids, neighbours=True)
        matrix = np.column_stack(
            [
                sentence_dense,
                context_dense,
                sentence_lexical,
                context_lexical,
                _best_by_group(documents, context_dense),
                _best_by_group(documents, context_lexical),
                coverage_sentence,
                coverage_context,
                answer_types.matching(form.question, index.answer_types[sentence_ids]),
            ]
        )
        conversation_similarity = candidate_vectors @ form.context_vector
        return SentenceFeatures(sentence_ids, matrix, conversation_similarity)

    def _coverage(
        self,
        tokens: list[str],
        mentioned: list[tuple[list[str], list[list[str]]]],
        sentence_ids: np.ndarray,
        neighbours: bool,
    ) -> np.ndarray:
        """Share of the question's IDF weight present in each sentence (with `neighbours`: in it or
        an adjacent sentence of the same document). A mention's words also count as present where
        all the words of one of its alternatives are ("North Korean" in a sentence about the DPRK).

        Unlike BM25 this ignores repetition and length: an answer sentence is often long and names
        each question word once. Words the corpus never uses count fully against every sentence.
        """
        unique = list(dict.fromkeys(tokens))
        if not unique:
            return np.zeros(len(sentence_ids))
        weights = self.index.sentence_lexical.idf(unique)
        rows = self._neighbourhood(sentence_ids, neighbours)
        present = {token: self._holding(token, rows) for token in unique}
        for mention_tokens, alternatives in mentioned:
            via_alternative = np.zeros(len(sentence_ids), dtype=bool)
            for alternative in filter(None, alternatives):
                holds_all = np.ones(len(sentence_ids), dtype=bool)
                for token in alternative:
                    holds_all &= self._holding(token, rows)
                via_alternative |= holds_all
            for token in mention_tokens:
                if token in present:
                    present[token] = present[token] | via_alternative
        found = sum(weight * present[token] for token, weight in zip(unique, weights.tolist(), strict=True))
        return found / float(weights.sum())

    def _neighbourhood(self, sentence_ids: np.ndarray, neighbours: bool) -> list[np.ndarray]:
        """Rows of sentence ids whose words count for each candidate: itself, and its neighbours
        in the same document when asked (a neighbour in another document repeats the candidate)."""
        if not neighbours:
            return [sentence_ids]
        docs = self.index.sentence_doc_number
        rows = [sentence_ids]
        for step in (-1, 1):
            other = np.clip(sentence_ids + step, 0, self.index.sentence_count - 1)
            rows.append(np.where(docs[other] == docs[sentence_ids], other, sentence_ids))
        return rows

    def _holding(self, token: str, rows: list[np.ndarray]) -> np.ndarray:
        """Whether each candidate (or a sentence of its neighbourhood) contains `token`."""
        holds = np.zeros(self.index.sentence_count, dtype=bool)
        holds[self.index.sentence_lexical.units_containing(token)] = True
        result = np.zeros(len(rows[0]), dtype=bool)
        for row in rows:
            result |= holds[row]
        return result

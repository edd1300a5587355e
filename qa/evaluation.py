"""`qa eval`: measure how often the cited span covers the gold answer.

Two input formats (see ../shared/eval/README.md):
- seed-question JSONL: `id, question, history, answerable, gold: [{text, start, end}]` about the
  articles already in the index (a gold span names no document: the right one is the document
  whose text holds `gold.text` at the gold offsets);
- SQuAD JSON (v1.1 and v2.0): one document per article, paragraphs joined with "\\n\\n", gold
  offsets shifted by each paragraph's start; questions are asked against the whole corpus.

A question is answered at rank r when citation r (1-based) covers a gold span in the right
document: `citation.start <= gold.start and gold.end <= citation.end`.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import string
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from qa.answering import Answer
from qa.documents import Document
from qa.retrieval import Query

SQUAD_SEPARATOR = "\n\n"


@dataclass(frozen=True)
class GoldSpan:
    start: int
    end: int
    text: str
    doc_id: str | None = None  # None: any document holding `text` at these offsets


@dataclass(frozen=True)
class EvalQuestion:
    id: str
    question: str
    history: tuple[str, ...]
    answerable: bool
    gold: tuple[GoldSpan, ...]
    doc_id: str | None = None  # the article a SQuAD question was written about


@dataclass
class EvalSet:
    questions: list[EvalQuestion]
    documents: list[Document] = field(default_factory=list)  # empty: the seeds folder's articles


# --- reading --------------------------------------------------------------------------------


def read_seed_questions(path: Path) -> EvalSet:
    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            questions.append(
                EvalQuestion(
                    id=str(record["id"]),
                    question=record["question"],
                    history=tuple(record.get("history") or ()),
                    answerable=bool(record.get("answerable", True)),
                    gold=tuple(GoldSpan(g["start"], g["end"], g["text"]) for g in record.get("gold") or ()),
                )
            )
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: not a question record ({exc})") from exc
    return EvalSet(questions)


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "article"


def read_squad(path: Path) -> EvalSet:
    """One document per article; every question with its gold spans shifted into that document."""
    try:
        return _squad_evalset(json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{path}: not a SQuAD file ({type(exc).__name__}: {exc})") from exc


def _squad_evalset(data: Any) -> EvalSet:
    documents: list[Document] = []
    questions: list[EvalQuestion] = []
    for article in data["data"]:
        doc_id = _slug(article["title"])
        parts: list[str] = []
        offset = 0
        for paragraph in article["paragraphs"]:
            context = paragraph["context"]
            for qa in paragraph["qas"]:
                impossible = bool(qa.get("is_impossible", False))
                gold = (
                    ()
                    if impossible
                    else tuple(
                        GoldSpan(
                            offset + a["answer_start"], offset + a["answer_start"] + len(a["text"]), a["text"], doc_id
                        )
                        for a in qa["answers"]
                    )
                )
                questions.append(EvalQuestion(qa["id"], qa["question"], (), not impossible, gold, doc_id))
            parts.append(context)
            offset += len(context) + len(SQUAD_SEPARATOR)
        documents.append(Document(doc_id, SQUAD_SEPARATOR.join(parts), article["title"], {"source": "SQuAD"}))
    return EvalSet(questions, documents)


def read_eval_file(path: Path) -> EvalSet:
    """SQuAD when the file is one JSON object with `data`, seed questions (JSONL) otherwise; a file
    without a question is refused (its metrics would all read 0.0, like a service failing them)."""
    evalset = read_squad(path) if path.suffix == ".json" else read_seed_questions(path)
    if not evalset.questions:
        raise ValueError(f"{path}: no questions to evaluate")
    return evalset


# --- scoring --------------------------------------------------------------------------------


def covers(citation: Any, gold: GoldSpan, documents: dict[str, Document]) -> bool:
    if gold.doc_id is not None and citation.doc_id != gold.doc_id:
        return False
    text = documents[citation.doc_id].text
    return text[gold.start : gold.end] == gold.text and citation.start <= gold.start and gold.end <= citation.end


def answer_rank(answer: Answer, question: EvalQuestion, documents: dict[str, Document]) -> int | None:
    """1-based rank of the first citation covering a gold span, or None."""
    for rank, citation in enumerate(answer.citations, start=1):
        if any(covers(citation, gold, documents) for gold in question.gold):
            return rank
    return None


def _percentile(values: Sequence[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    return round(float(ordered[low] + (ordered[high] - ordered[low]) * (position - low)), 2)  # not 340.99999999999994


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in string.punctuation)
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def token_f1(prediction: str, gold: str) -> float:
    """SQuAD's F1: overlap of the normalised words, as a bag."""
    predicted, expected = normalize_answer(prediction).split(), normalize_answer(gold).split()
    common = sum((Counter(predicted) & Counter(expected)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


def short_answer_scores(pairs: Sequence[tuple[EvalQuestion, Answer]]) -> dict[str, float]:
    """Over answerable questions: the share given a short answer, and, where given, its SQuAD exact
    match and F1 against the best-matching gold text."""
    given = [
        (q, a.citations[0].short_answer.text)
        for q, a in pairs
        if a.citations and a.citations[0].short_answer is not None
    ]
    exact = sum(max(normalize_answer(t) == normalize_answer(g.text) for g in q.gold) for q, t in given)
    f1 = sum(max(token_f1(t, g.text) for g in q.gold) for q, t in given)
    count = max(1, len(given))
    return {
        "given": round(len(given) / max(1, len(pairs)), 4),
        "exact_match": round(exact / count, 4),
        "f1": round(f1 / count, 4),
    }


@dataclass(frozen=True)
class Miss:
    """A question the service got wrong, for whoever tunes it to read: an answerable one whose gold
    span is not in the first citation (`rank` where it is, None when declined or not cited), or an
    unanswerable one answered."""

    id: str
    question: str
    answerable: bool
    answered: bool
    confidence: float
    rank: int | None

    def describe(self) -> str:
        if not self.answerable:
            return f"answered (confidence {self.confidence:.2f}), though unanswerable"
        if not self.answered:
            return f"declined (confidence {self.confidence:.2f})"
        return f"gold at citation {self.rank}" if self.rank else "gold not cited"


@dataclass
class Report:
    questions: int
    hit_at_1: float
    hit_at_3: float
    mrr_at_10: float
    median_citation_chars: float
    p90_citation_chars: float
    abstention: dict[str, int]
    short_answer: dict[str, float]
    questions_per_second: float
    misses: list[Miss] = field(default_factory=list)

    def to_dict(self, misses: bool = False) -> dict[str, Any]:
        """The figures, and the misses one by one when asked (a SQuAD file has thousands)."""
        result = asdict(self)
        if not misses:
            del result["misses"]
        return result


def score(
    questions: Sequence[EvalQuestion], answers: Sequence[Answer], documents: dict[str, Document], seconds: float
) -> Report:
    """Retrieval metrics over answerable questions; abstention counts over all of them."""
    asked = list(zip(questions, answers, strict=True))
    every_rank = [answer_rank(a, q, documents) if q.answerable else None for q, a in asked]
    answerable = [(q, a) for q, a in asked if q.answerable]
    ranks = [rank for (q, _), rank in zip(asked, every_rank, strict=True) if q.answerable]
    cited = [c.end - c.start for a in answers for c in a.citations]
    count = max(1, len(answerable))
    return Report(
        questions=len(questions),
        hit_at_1=round(sum(r == 1 for r in ranks) / count, 4),
        hit_at_3=round(sum(r is not None and r <= 3 for r in ranks) / count, 4),
        mrr_at_10=round(sum(1 / r for r in ranks if r is not None and r <= 10) / count, 4),
        median_citation_chars=_percentile(cited, 0.5),
        p90_citation_chars=_percentile(cited, 0.9),
        abstention={
            "unanswerable": sum(not q.answerable for q in questions),
            "abstained_correctly": sum(not q.answerable and not a.answerable for q, a in asked),
            "answerable": len(answerable),
            "abstained_wrongly": sum(not a.answerable for _, a in answerable),
        },
        short_answer=short_answer_scores([(q, a) for q, a in answerable if q.gold]),
        questions_per_second=round(len(questions) / seconds, 2) if seconds > 0 else 0.0,
        misses=[
            Miss(q.id, q.question, q.answerable, a.answerable, a.confidence, rank)
            for (q, a), rank in zip(asked, every_rank, strict=True)
            if (rank != 1 if q.answerable else a.answerable)
        ],
    )


AskMany = Callable[[Sequence[Query]], list[Answer]]


def run(
    questions: Sequence[EvalQuestion],
    ask_many: AskMany,
    documents: dict[str, Document],
    top_k: int = 10,
    batch_size: int = 64,
    progress: Callable[[int], None] | None = None,
) -> Report:
    """Ask every question through `ask_many` (the service's own path) and score the answers."""
    answers: list[Answer] = []
    started = time.perf_counter()
    for first in range(0, len(questions), batch_size):
        batch = questions[first : first + batch_size]
        answers.extend(ask_many([Query(q.question, q.history, top_k, q.id) for q in batch]))
        if progress:
            progress(len(batch))
    return score(questions, answers, documents, time.perf_counter() - started)


def folds(documents: Sequence[Document], count: int) -> list[list[Document]]:
    """Split articles into `count` groups, round robin, so each group can be held out."""
    count = max(2, min(count, len(documents)))
    return [list(documents[i::count]) for i in range(count)]


def off_corpus_questions(questions: Iterable[EvalQuestion], held_out: Sequence[Document]) -> list[EvalQuestion]:
    """The questions about held-out articles, now unanswerable from the remaining corpus."""
    ids = {d.doc_id for d in held_out}
    return [EvalQuestion(q.id, q.question, q.history, False, (), q.doc_id) for q in questions if q.doc_id in ids]


# --- orchestration (what `qa eval` runs) -----------------------------------------------------


def default_index_dir(path: Path, settings: Any) -> Path:
    """Where `qa eval` keeps the index of what it evaluates: always under INDEX_DIR/eval, apart
    from the service's index, even for the service's own seeds folder: that archive may hold
    articles published since its seeds were imported, and an index over exactly the evaluated
    articles would replace them. A SQuAD file's index is named after the file; a seeds folder's
    after its name and a hash of its full path."""
    if path.suffix == ".json":
        return settings.index_dir / "eval" / path.stem
    seeds = settings.seeds_dir.resolve()
    digest = hashlib.sha256(str(seeds).encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return settings.index_dir / "eval" / f"{seeds.name}-{digest}"


def evaluate(
    evalset: EvalSet,
    service: Any,
    off_corpus: bool = False,
    fold_count: int = 4,
    limit: int | None = None,
    progress: bool = True,
    misses: bool = False,
) -> dict[str, Any]:
    """Ask `evalset` through `service.ask_many` (a service loaded over the set's articles) and score
    the answers; `off_corpus` (SQuAD only: it needs `evalset.documents`) also asks each article's
    questions of indexes without it, kept beside the service's; `misses` lists the questions it got
    wrong (in the articles' own index)."""
    from tqdm import tqdm

    questions = evalset.questions[:limit] if limit else evalset.questions
    corpus = service.index.documents
    with tqdm(total=len(questions), desc="questions", unit="q", disable=not progress) as bar:
        result = run(questions, service.ask_many, corpus, progress=bar.update).to_dict(misses)
    if off_corpus:
        result["off_corpus"] = _off_corpus(
            questions, evalset.documents, service, service.settings.index_dir, fold_count, progress
        )
    return result


def _off_corpus(
    questions: Sequence[EvalQuestion],
    documents: Sequence[Document],
    service: Any,
    index_dir: Path,
    fold_count: int,
    progress: bool,
) -> dict[str, Any]:
    """Ask each article's questions against an index built without it (articles held out in folds)."""
    from tqdm import tqdm

    abstained = asked = 0
    with tqdm(total=len(questions), desc="off-corpus", unit="q", disable=not progress) as bar:
        for held_out, fold_service in fold_services(service, documents, index_dir, fold_count):
            fold_questions = off_corpus_questions(questions, held_out)
            report = run(fold_questions, fold_service.ask_many, fold_service.index.documents, progress=bar.update)
            abstained += report.abstention["abstained_correctly"]
            asked += report.questions
    return {
        "questions": asked,
        "abstained": abstained,
        "folds": len(folds(documents, fold_count)),
        "abstention_rate": round(abstained / asked, 4) if asked else 0.0,
    }


def fold_services(
    service: Any, documents: Sequence[Document], index_dir: Path, fold_count: int
) -> Iterator[tuple[list[Document], Any]]:
    """For each fold: the articles it holds out, and a service (sharing `service`'s model) over an
    index of the others, kept in `index_dir/fold-N` so a later run reuses it."""
    from qa.service import Service

    for number, held_out in enumerate(folds(documents, fold_count)):
        kept = [d for d in documents if d not in held_out]
        fold_settings = service.settings.with_overrides(index_dir=index_dir / f"fold-{number}")
        yield held_out, Service(fold_settings, embedder=service.embedder).load(documents=kept)

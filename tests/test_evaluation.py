"""`qa eval`: the metrics on hand-made answers whose numbers are worked out by hand, the two input
formats, the off-corpus folds, and the command end to end with the real model."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from qa.answering import NOT_COVERED, Answer, Citation, ShortAnswer
from qa.config import Settings
from qa.documents import Document
from qa.evaluation import (
    EvalQuestion,
    GoldSpan,
    answer_rank,
    covers,
    folds,
    normalize_answer,
    off_corpus_questions,
    read_eval_file,
    read_seed_questions,
    read_squad,
    run,
    score,
)
from qa.retrieval import Query
from qa.service import Service
from tests.conftest import DEV_QUESTIONS, FENTANYL_GOLD, FENTANYL_QUESTION, SEED_TEXT, run_qa

# --- hand-made corpus and answers -------------------------------------------------------------

# Both documents start with the same 40 characters, so a span at those offsets holds the same text
# in either: only the gold's doc_id can tell them apart.
SHARED_START = "The harbour of Kelmouth faces the north."
LIGHTHOUSE = Document("lighthouse", SHARED_START + " The lamp was lit by Agnes Whitlow in 1874. It is 31 metres tall.")
BAKERY = Document("bakery", SHARED_START + " The bakery sells rye sourdough proofed for two days.")
CORPUS = {d.doc_id: d for d in (LIGHTHOUSE, BAKERY)}


def span(document: Document, text: str) -> tuple[int, int]:
    start = document.text.index(text)
    return start, start + len(text)


def gold(document: Document, text: str, doc_id: str | None = None) -> GoldSpan:
    return GoldSpan(*span(document, text), text, doc_id)


def citation(doc_id: str, start: int, end: int, marker: int = 1) -> Citation:
    return Citation(marker, doc_id, start, end, CORPUS[doc_id].text[start:end], 1.0)


def answer(*citations: Citation) -> Answer:
    cited = [Citation(n, c.doc_id, c.start, c.end, c.quote, c.score) for n, c in enumerate(citations, start=1)]
    if not cited:
        return Answer("q", NOT_COVERED, False, 0.1, [])
    return Answer("q", "an answer [1]", True, 0.9, cited)


def question(*golds: GoldSpan, answerable: bool = True, qid: str = "q") -> EvalQuestion:
    return EvalQuestion(qid, "q", (), answerable, tuple(golds))


WHITLOW = gold(LIGHTHOUSE, "Agnes Whitlow")  # seed style: no doc_id
WHITLOW_SENTENCE = citation("lighthouse", *span(LIGHTHOUSE, "The lamp was lit by Agnes Whitlow in 1874."))
HEIGHT_SENTENCE = citation("lighthouse", *span(LIGHTHOUSE, "It is 31 metres tall."))
BAKERY_SENTENCE = citation("bakery", *span(BAKERY, "The bakery sells rye sourdough proofed for two days."))


# --- covers and rank --------------------------------------------------------------------------


def test_a_citation_covering_the_gold_exactly_or_widely_counts() -> None:
    assert covers(citation("lighthouse", WHITLOW.start, WHITLOW.end), WHITLOW, CORPUS)
    assert covers(WHITLOW_SENTENCE, WHITLOW, CORPUS)
    assert covers(citation("lighthouse", 0, len(LIGHTHOUSE.text)), WHITLOW, CORPUS)


@pytest.mark.parametrize("start_shift, end_shift", [(1, 0), (0, -1), (1, -1), (-5, -1), (1, 5)])
def test_a_citation_covering_the_gold_only_partially_does_not_count(start_shift: int, end_shift: int) -> None:
    partial = citation("lighthouse", WHITLOW.start + start_shift, WHITLOW.end + end_shift)
    assert not covers(partial, WHITLOW, CORPUS)
    assert answer_rank(answer(partial), question(WHITLOW), CORPUS) is None


def test_a_citation_in_the_wrong_document_does_not_count_for_a_squad_gold() -> None:
    harbour = gold(LIGHTHOUSE, "Kelmouth", doc_id="lighthouse")
    in_bakery = citation("bakery", *span(BAKERY, SHARED_START))  # same offsets, same text, other article
    in_lighthouse = citation("lighthouse", *span(LIGHTHOUSE, SHARED_START))
    assert BAKERY.text[harbour.start : harbour.end] == harbour.text
    assert not covers(in_bakery, harbour, CORPUS)
    assert covers(in_lighthouse, harbour, CORPUS)
    assert answer_rank(answer(in_bakery, in_lighthouse), question(harbour), CORPUS) == 2


def test_a_seed_gold_counts_only_where_the_document_holds_its_text_at_its_offsets() -> None:
    # The bakery's text at Whitlow's offsets is something else, so a bakery citation there is no hit.
    assert BAKERY.text[WHITLOW.start : WHITLOW.end] != WHITLOW.text
    same_offsets_in_bakery = citation("bakery", WHITLOW.start - 5, WHITLOW.end + 5)
    assert not covers(same_offsets_in_bakery, WHITLOW, CORPUS)
    assert answer_rank(answer(same_offsets_in_bakery, WHITLOW_SENTENCE), question(WHITLOW), CORPUS) == 2
    # A seed gold at shared text counts in either document: the text decides, not the name.
    harbour = gold(LIGHTHOUSE, "Kelmouth")
    assert covers(citation("bakery", *span(BAKERY, SHARED_START)), harbour, CORPUS)
    assert covers(citation("lighthouse", *span(LIGHTHOUSE, SHARED_START)), harbour, CORPUS)


def test_the_rank_is_that_of_the_first_covering_citation() -> None:
    tall = gold(LIGHTHOUSE, "31 metres")
    assert answer_rank(answer(BAKERY_SENTENCE, HEIGHT_SENTENCE, WHITLOW_SENTENCE), question(tall), CORPUS) == 2
    # Several gold spans: whichever is covered first decides.
    assert answer_rank(answer(BAKERY_SENTENCE, WHITLOW_SENTENCE, HEIGHT_SENTENCE), question(tall, WHITLOW), CORPUS) == 2
    assert answer_rank(answer(HEIGHT_SENTENCE, WHITLOW_SENTENCE), question(WHITLOW, tall), CORPUS) == 1
    assert answer_rank(answer(BAKERY_SENTENCE), question(tall), CORPUS) is None
    assert answer_rank(answer(), question(tall), CORPUS) is None


# --- score ------------------------------------------------------------------------------------


def ranked(rank: int | None, length: int = 12) -> Answer:
    """An answer whose first covering citation (of WHITLOW) is at `rank`; misses cite the bakery."""
    covering = rank or length + 1
    return answer(*[WHITLOW_SENTENCE if n == covering else BAKERY_SENTENCE for n in range(1, length + 1)])


def test_hit_at_1_hit_at_3_and_mrr_at_10_from_ranks_1_2_none_4() -> None:
    answers = [ranked(1), ranked(2), ranked(None), ranked(4)]
    assert [answer_rank(a, question(WHITLOW), CORPUS) for a in answers] == [1, 2, None, 4]
    report = score([question(WHITLOW)] * 4, answers, CORPUS, seconds=2.0)
    assert report.questions == 4
    assert report.hit_at_1 == 0.25  # rank 1 only
    assert report.hit_at_3 == 0.5  # ranks 1 and 2
    assert report.mrr_at_10 == pytest.approx((1 + 1 / 2 + 1 / 4) / 4, abs=1e-4)  # 0.4375
    assert report.questions_per_second == 2.0


def test_mrr_at_10_ignores_a_hit_below_rank_10() -> None:
    answers = [ranked(10), ranked(11)]
    report = score([question(WHITLOW)] * 2, answers, CORPUS, seconds=1.0)
    assert report.hit_at_1 == 0.0 and report.hit_at_3 == 0.0
    assert report.mrr_at_10 == pytest.approx((1 / 10 + 0) / 2, abs=1e-4)


def test_median_and_p90_citation_characters_over_all_citations() -> None:
    # Lengths 10, 20, 30, 40 and 100, spread over three answers, one to an unanswerable question.
    answers = [
        answer(citation("lighthouse", 0, 10), citation("lighthouse", 10, 30)),
        answer(citation("bakery", 0, 30)),
        answer(citation("bakery", 0, 40), citation("lighthouse", 0, 100)),
    ]
    questions = [question(WHITLOW), question(WHITLOW), question(answerable=False)]
    report = score(questions, answers, CORPUS, seconds=1.0)
    assert report.median_citation_chars == 30.0
    # p90 of 5 sorted values: position 0.9 * 4 = 3.6, between 40 and 100: 40 + 0.6 * 60.
    assert report.p90_citation_chars == pytest.approx(76.0)


def test_a_percentile_is_rounded_to_hundredths() -> None:
    # p90 of 0, 7, 14 and 369: 14 + 0.7 * 355, which came out as 262.50000000000006 (the newsroom's
    # report showed 340.99999999999994 characters).
    report = score(
        [question(WHITLOW)] * 4, [answer(citation("lighthouse", 0, n)) for n in (0, 7, 14, 369)], CORPUS, 1.0
    )
    assert report.p90_citation_chars == 262.5


def test_abstention_counts_and_an_abstained_answerable_question_is_a_miss() -> None:
    questions = [
        question(answerable=False),  # abstained: right
        question(answerable=False),  # answered: wrong, but not an answerable miss
        question(WHITLOW),  # hit at 1
        question(WHITLOW),  # hit at 1
        question(WHITLOW),  # abstained: wrong, and a miss
    ]
    answers = [answer(), answer(BAKERY_SENTENCE), answer(WHITLOW_SENTENCE), answer(WHITLOW_SENTENCE), answer()]
    report = score(questions, answers, CORPUS, seconds=0.5)
    assert report.abstention == {"unanswerable": 2, "abstained_correctly": 1, "answerable": 3, "abstained_wrongly": 1}
    assert report.questions == 5
    assert report.hit_at_1 == pytest.approx(2 / 3, abs=1e-4)
    assert report.mrr_at_10 == pytest.approx(2 / 3, abs=1e-4)
    assert report.questions_per_second == 10.0
    # Cited lengths 52 (the bakery sentence, cited to an unanswerable question), 42 and 42: median 42.
    assert (BAKERY_SENTENCE.end - BAKERY_SENTENCE.start, WHITLOW_SENTENCE.end - WHITLOW_SENTENCE.start) == (52, 42)
    assert report.median_citation_chars == 42.0
    assert set(report.to_dict()) == REPORT_KEYS


def test_the_misses_are_the_answerable_questions_not_cited_first_and_the_unanswerable_answered() -> None:
    # Only totals were reported, so a tuner could not tell which questions failed.
    questions = [
        question(answerable=False, qid="declined"),  # right
        question(answerable=False, qid="answered"),  # wrong
        question(WHITLOW, qid="first"),  # right
        question(WHITLOW, qid="second"),  # gold at citation 2
        question(WHITLOW, qid="abstained"),  # wrongly declined
        question(WHITLOW, qid="uncited"),  # answered without the gold
    ]
    answers = [answer(), ranked(1), ranked(1), ranked(2), answer(), ranked(None)]
    report = score(questions, answers, CORPUS, seconds=1.0)
    assert [(m.id, m.answerable, m.answered, m.rank) for m in report.misses] == [
        ("answered", False, True, None),
        ("second", True, True, 2),
        ("abstained", True, False, None),
        ("uncited", True, True, None),
    ]
    assert [m.describe() for m in report.misses] == [
        "answered (confidence 0.90), though unanswerable",
        "gold at citation 2",
        "declined (confidence 0.10)",
        "gold not cited",
    ]
    assert "misses" not in report.to_dict()
    assert report.to_dict(misses=True)["misses"][1] == {
        "id": "second",
        "question": "q",
        "answerable": True,
        "answered": True,
        "confidence": 0.9,
        "rank": 2,
    }


def with_short(answered: Answer, text: str) -> Answer:
    first = answered.citations[0]
    start = first.quote.index(text) + first.start
    short = ShortAnswer(text, first.doc_id, start, start + len(text), start, start + len(text))  # ASCII: same offsets
    return Answer(
        "q", f"{text}: an answer [1]", True, 0.9, [replace(first, short_answer=short), *answered.citations[1:]]
    )


def test_short_answer_metrics_over_answerable_questions_where_given() -> None:
    year, lit_by = gold(LIGHTHOUSE, "1874"), gold(LIGHTHOUSE, "by Agnes Whitlow")
    questions = [question(year), question(lit_by), question(WHITLOW), question(WHITLOW), question(answerable=False)]
    answers = [
        with_short(answer(WHITLOW_SENTENCE), "1874"),  # exact: EM 1, F1 1
        with_short(answer(WHITLOW_SENTENCE), "Agnes Whitlow"),  # "by agnes whitlow": EM 0, F1 2*(1*2/3)/(1+2/3) = 0.8
        with_short(answer(WHITLOW_SENTENCE), "lit"),  # no word in common: EM 0, F1 0
        answer(WHITLOW_SENTENCE),  # none given
        with_short(answer(WHITLOW_SENTENCE), "1874"),  # unanswerable: not counted
    ]
    report = score(questions, answers, CORPUS, seconds=1.0)
    # Given for 3 of the 4 answerable; EM (1 + 0 + 0) / 3; F1 (1 + 0.8 + 0) / 3.
    assert report.short_answer == {"given": 0.75, "exact_match": 0.3333, "f1": 0.6}


def test_squad_normalisation_drops_case_punctuation_and_articles() -> None:
    assert normalize_answer("The  Lamp, lit in 1874!") == normalize_answer("lamp lit in 1874") == "lamp lit in 1874"


def test_no_answerable_questions_scores_zero_rather_than_dividing_by_zero() -> None:
    report = score([question(answerable=False)], [answer()], CORPUS, seconds=0.0)
    assert (report.hit_at_1, report.hit_at_3, report.mrr_at_10) == (0.0, 0.0, 0.0)
    assert report.median_citation_chars == 0.0 and report.questions_per_second == 0.0
    assert report.abstention == {"unanswerable": 1, "abstained_correctly": 1, "answerable": 0, "abstained_wrongly": 0}


def test_run_asks_every_question_in_batches_with_its_history_top_k_and_id() -> None:
    questions = [EvalQuestion(f"q{n}", f"question {n}", ("earlier",), True, (WHITLOW,)) for n in range(5)]
    batches: list[list[Query]] = []
    done: list[int] = []

    def ask_many(queries: Any) -> list[Answer]:
        batches.append(list(queries))
        return [answer(WHITLOW_SENTENCE) if int(q.id[1:]) % 2 == 0 else answer() for q in queries]

    report = run(questions, ask_many, CORPUS, top_k=7, batch_size=2, progress=done.append)
    assert [[q.id for q in batch] for batch in batches] == [["q0", "q1"], ["q2", "q3"], ["q4"]]
    assert batches[0][1] == Query("question 1", ("earlier",), 7, "q1")
    assert done == [2, 2, 1]
    assert report.hit_at_1 == 0.6  # q0, q2, q4 of five
    assert report.abstention["abstained_wrongly"] == 2


# --- reading SQuAD ----------------------------------------------------------------------------


def squad_qa(qid: str, text: str, context: str, *answers: str) -> dict[str, Any]:
    return {"id": qid, "question": text, "answers": [{"text": a, "answer_start": context.index(a)} for a in answers]}


def impossible_qa(qid: str, text: str, context: str, plausible: str) -> dict[str, Any]:
    return {
        "id": qid,
        "question": text,
        "answers": [],
        "is_impossible": True,
        "plausible_answers": [{"text": plausible, "answer_start": context.index(plausible)}],
    }


LIGHT_1 = (
    "The Gannet Point Lighthouse stands on a granite cliff above the northern harbour. "
    "It was built in 1874 by the engineer Agnes Whitlow. Its white tower is 31 metres tall."
)
LIGHT_2 = (
    "The lamp was converted to electricity in 1932. Since 1998 the lighthouse has been a museum run by volunteers."
)
BAKE_1 = (
    "The Morrow Street Bakery was opened in 1921 by the baker Tomas Reyes. "
    "It is famous for its rye sourdough, which is proofed for two days."
)
BAKE_2 = "Every morning the ovens are lit at four o'clock. The bakery sells about six hundred loaves on a Saturday."
CHESS_1 = (
    "The Harwick Chess Club meets every Tuesday evening in the town library. "
    "It was founded in 1957 by Irene Castell, a former schoolteacher."
)
CHESS_2 = "The club's junior team won the county championship in 2019."

SQUAD = {
    "version": "v2.0",
    "data": [
        {
            "title": "Gannet Point Lighthouse",
            "paragraphs": [
                {
                    "context": LIGHT_1,
                    "qas": [
                        squad_qa(
                            "l1",
                            "Who built the Gannet Point Lighthouse?",
                            LIGHT_1,
                            "Agnes Whitlow",
                            "the engineer Agnes Whitlow",
                        ),
                        {
                            **squad_qa("l2", "How tall is the lighthouse tower?", LIGHT_1, "31 metres"),
                            "is_impossible": False,
                        },
                    ],
                },
                {
                    "context": LIGHT_2,
                    "qas": [
                        squad_qa("l3", "When was the lamp converted to electricity?", LIGHT_2, "1932"),
                        impossible_qa("l4", "Who painted the lighthouse tower red?", LIGHT_2, "volunteers"),
                    ],
                },
            ],
        },
        {
            "title": "Morrow Street Bakery (Kelmouth)",  # v1.1 style: no is_impossible
            "paragraphs": [
                {
                    "context": BAKE_1,
                    "qas": [squad_qa("b1", "Who opened the Morrow Street Bakery?", BAKE_1, "Tomas Reyes")],
                },
                {
                    "context": BAKE_2,
                    "qas": [
                        squad_qa(
                            "b2",
                            "How many loaves does the bakery sell on a Saturday?",
                            BAKE_2,
                            "about six hundred loaves",
                        ),
                    ],
                },
            ],
        },
    ],
}
CHESS_ARTICLE = {
    "title": "Harwick Chess Club",
    "paragraphs": [
        {
            "context": CHESS_1,
            "qas": [squad_qa("c1", "When does the Harwick Chess Club meet?", CHESS_1, "every Tuesday evening")],
        },
        {
            "context": CHESS_2,
            "qas": [squad_qa("c2", "When did the junior team win the county championship?", CHESS_2, "2019")],
        },
    ],
}


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_read_squad_one_document_per_article_with_gold_offsets_shifted(tmp_path: Path) -> None:
    evalset = read_squad(write_json(tmp_path / "squad.json", SQUAD))
    lighthouse, bakery = evalset.documents
    assert (lighthouse.doc_id, bakery.doc_id) == ("gannet-point-lighthouse", "morrow-street-bakery-kelmouth")
    assert (lighthouse.title, bakery.title) == ("Gannet Point Lighthouse", "Morrow Street Bakery (Kelmouth)")
    assert lighthouse.text == LIGHT_1 + "\n\n" + LIGHT_2
    assert bakery.text == BAKE_1 + "\n\n" + BAKE_2
    questions = {q.id: q for q in evalset.questions}
    assert list(questions) == ["l1", "l2", "l3", "l4", "b1", "b2"]
    documents = {d.doc_id: d for d in evalset.documents}
    for q in evalset.questions:
        assert q.doc_id in documents and q.history == ()
        for g in q.gold:
            assert g.doc_id == q.doc_id
            assert documents[q.doc_id].text[g.start : g.end] == g.text
    # Second-paragraph answers move by the first paragraph and the separator.
    year = len(LIGHT_1) + 2 + LIGHT_2.index("1932")
    assert questions["l3"].gold == (GoldSpan(year, year + 4, "1932", "gannet-point-lighthouse"),)
    assert questions["b2"].gold[0].start == len(BAKE_1) + 2 + BAKE_2.index("about six hundred")
    assert [g.text for g in questions["l1"].gold] == ["Agnes Whitlow", "the engineer Agnes Whitlow"]
    assert questions["l1"].gold[0].start == LIGHT_1.index("Agnes Whitlow")  # first paragraph: no shift
    # SQuAD 2.0 unanswerable: no gold even though it has plausible answers.
    assert (questions["l4"].answerable, questions["l4"].gold, questions["l4"].doc_id) == (
        False,
        (),
        "gannet-point-lighthouse",
    )
    assert all(questions[i].answerable for i in ("l1", "l2", "l3", "b1", "b2"))


def test_read_eval_file_picks_the_format_by_suffix(tmp_path: Path) -> None:
    assert read_eval_file(write_json(tmp_path / "squad.json", SQUAD)).documents
    seeds = tmp_path / "seed.jsonl"
    seeds.write_text(json.dumps({"id": "s1", "question": "Who?", "gold": []}) + "\n", encoding="utf-8")
    evalset = read_eval_file(seeds)
    assert evalset.documents == [] and [q.id for q in evalset.questions] == ["s1"]


@pytest.mark.parametrize(
    "content",
    [
        '{"data": [',
        '{"questions": []}',
        "[1, 2]",
        '{"data": [{"title": "T"}]}',
        '{"data": [{"title": "T", "paragraphs": [{"context": "c", "qas": [{"id": "1"}]}]}]}',
    ],
)
def test_read_squad_names_a_file_that_is_not_squad(tmp_path: Path, content: str) -> None:
    path = tmp_path / "odd.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=f"^{path}: not a SQuAD file"):
        read_squad(path)


# --- reading seed questions -------------------------------------------------------------------


FENTANYL_START = 1060
CAPITAL_QUESTION = "What is the capital of Australia?"


def seed_lines() -> list[dict[str, Any]]:
    return [
        {
            "id": "f1",
            "question": FENTANYL_QUESTION,
            "history": [],
            "answerable": True,
            "gold": [{"text": FENTANYL_GOLD, "start": FENTANYL_START, "end": FENTANYL_START + len(FENTANYL_GOLD)}],
        },
        {"id": "c1", "question": CAPITAL_QUESTION, "history": [], "answerable": False, "gold": []},
    ]


def write_jsonl(path: Path, records: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_the_fentanyl_gold_is_at_its_offsets_in_the_seed_article() -> None:
    assert SEED_TEXT[FENTANYL_START : FENTANYL_START + len(FENTANYL_GOLD)] == FENTANYL_GOLD


def test_read_seed_questions_reads_every_field(tmp_path: Path) -> None:
    lines = seed_lines()
    lines.append({"id": 7, "question": "And then?", "history": ["Who met?", "Where?"], "gold": []})  # defaults
    path = write_jsonl(tmp_path / "seed.jsonl", lines)
    path.write_text(path.read_text(encoding="utf-8") + "\n   \n", encoding="utf-8")  # blank lines are skipped
    fentanyl, capital, follow_up = read_seed_questions(path).questions
    assert fentanyl == EvalQuestion(
        "f1",
        FENTANYL_QUESTION,
        (),
        True,
        (GoldSpan(FENTANYL_START, FENTANYL_START + len(FENTANYL_GOLD), FENTANYL_GOLD, None),),
    )
    assert (capital.answerable, capital.gold) == (False, ())
    assert (follow_up.id, follow_up.history, follow_up.answerable) == ("7", ("Who met?", "Where?"), True)


def test_the_shared_dev_questions_read_with_gold_at_their_offsets() -> None:
    questions = read_seed_questions(DEV_QUESTIONS).questions
    assert len(questions) > 10 and any(not q.answerable for q in questions)
    for q in questions:
        assert q.answerable == bool(q.gold)
        for g in q.gold:
            assert g.doc_id is None and SEED_TEXT[g.start : g.end] == g.text


@pytest.mark.parametrize(
    "bad_line",
    [
        "{not json",
        json.dumps({"id": "x"}),  # no question
        json.dumps({"id": "x", "question": "Who?", "gold": [{"text": "Wang Yi"}]}),  # gold without offsets
        json.dumps(["x", "Who?"]),
    ],
)
def test_read_seed_questions_names_the_bad_line(tmp_path: Path, bad_line: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(
        "\n".join([json.dumps(seed_lines()[0]), "", bad_line, json.dumps(seed_lines()[1])]) + "\n", encoding="utf-8"
    )
    with pytest.raises(ValueError, match=f"^{path}:3: "):
        read_seed_questions(path)


# --- folds and off-corpus questions -----------------------------------------------------------


def test_every_article_is_held_out_exactly_once() -> None:
    documents = [Document(f"d{n}", f"text {n}") for n in range(5)]
    for count, groups in [(2, 2), (3, 3), (5, 5), (9, 5), (1, 2)]:
        split = folds(documents, count)
        assert len(split) == groups
        held_out = [d.doc_id for group in split for d in group]
        assert sorted(held_out) == [d.doc_id for d in documents]  # each once, none lost
        assert all(split), "no empty fold"
    assert [[d.doc_id for d in g] for g in folds(documents, 2)] == [["d0", "d2", "d4"], ["d1", "d3"]]


def test_off_corpus_questions_are_the_held_out_articles_questions_made_unanswerable(tmp_path: Path) -> None:
    evalset = read_squad(write_json(tmp_path / "squad.json", SQUAD))
    lighthouse, bakery = evalset.documents
    moved = off_corpus_questions(evalset.questions, [lighthouse])
    assert [q.id for q in moved] == ["l1", "l2", "l3", "l4"]
    original = {q.id: q for q in evalset.questions}
    for q in moved:
        assert (q.answerable, q.gold) == (False, ())
        assert (q.question, q.history, q.doc_id) == (original[q.id].question, original[q.id].history, lighthouse.doc_id)
    assert original["l1"].answerable and original["l1"].gold  # the originals are left alone
    assert [q.id for q in off_corpus_questions(evalset.questions, [bakery])] == ["b1", "b2"]
    assert off_corpus_questions(evalset.questions, []) == []


# --- `qa eval` end to end, real model ---------------------------------------------------------

REPORT_KEYS = {
    "hit_at_1",
    "hit_at_3",
    "mrr_at_10",
    "median_citation_chars",
    "p90_citation_chars",
    "questions",
    "abstention",
    "short_answer",
    "questions_per_second",
}
ABSTENTION_KEYS = {"unanswerable", "abstained_correctly", "answerable", "abstained_wrongly"}


def qa_eval(env: dict[str, str], *args: str) -> Result:
    return run_qa(env, "eval", *args)


def json_report(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0, result.output
    assert result.stdout.count("\n") == 1, "one JSON object on one line, nothing else on stdout"
    report = json.loads(result.stdout)
    assert set(report) - {"off_corpus"} == REPORT_KEYS
    assert set(report["abstention"]) == ABSTENTION_KEYS
    for key in ("hit_at_1", "hit_at_3", "mrr_at_10"):
        assert 0.0 <= report[key] <= 1.0
    assert report["hit_at_1"] <= report["hit_at_3"]
    # Each question adds 1/rank: at most 1 for a hit at 1, 1/2 up to rank 3 and 1/4 below.
    hit_1, hit_3 = report["hit_at_1"], report["hit_at_3"]
    assert report["mrr_at_10"] <= hit_1 + (hit_3 - hit_1) / 2 + (1 - hit_3) / 4 + 1e-4
    assert 0 <= report["median_citation_chars"] <= report["p90_citation_chars"]
    assert report["questions_per_second"] > 0
    return report


def test_eval_seed_questions_json(
    tmp_path: Path, cli_env: dict[str, str], settings: Settings, service: Service
) -> None:
    path = write_jsonl(tmp_path / "seed.jsonl", seed_lines())
    result = qa_eval(cli_env, str(path), "--json", "--index-dir", str(settings.index_dir))
    report = json_report(result)
    assert "off_corpus" not in report
    assert report["questions"] == 2
    assert report["hit_at_1"] == 1.0 and report["hit_at_3"] == 1.0 and report["mrr_at_10"] == 1.0
    assert report["abstention"] == {
        "unanswerable": 1,
        "abstained_correctly": 1,
        "answerable": 1,
        "abstained_wrongly": 0,
    }
    # Only the fentanyl answer cites; its first citation holds the gold, so it is at least that long.
    assert report["median_citation_chars"] >= len(FENTANYL_GOLD)
    assert "questions" in result.stderr  # the progress bar goes to stderr


def test_eval_seed_questions_as_text_with_a_limit(tmp_path: Path, cli_env: dict[str, str], service: Service) -> None:
    path = write_jsonl(tmp_path / "seed.jsonl", seed_lines()[::-1])  # the unanswerable one first
    result = qa_eval(cli_env, str(path), "--limit", "1")  # index: QA_INDEX_DIR/eval/<seeds>-<hash>
    assert result.exit_code == 0, result.output
    lines = {key.strip(): value for key, value in (line.split(": ", 1) for line in result.stdout.splitlines())}
    assert set(lines) == REPORT_KEYS
    assert lines["questions"] == "1"
    # Read as text, not a Python dict's repr.
    assert lines["abstention"] == "unanswerable=1, abstained_correctly=1, answerable=0, abstained_wrongly=0"


def test_eval_lists_the_misses_when_asked(tmp_path: Path, cli_env: dict[str, str], service: Service) -> None:
    lines = seed_lines()
    unanswerable = next(line for line in lines if not line["answerable"])
    wrongly = {**unanswerable, "id": "wrong", "answerable": True, "gold": [{"text": "x", "start": 0, "end": 1}]}
    path = write_jsonl(tmp_path / "seed.jsonl", [*lines, wrongly])
    result = qa_eval(cli_env, str(path), "--misses")
    assert result.exit_code == 0, result.output
    *_, count, miss = result.stdout.splitlines()
    assert count == "                  misses: 1"  # the capital question, declined: right as c1, wrong here
    assert miss.startswith("  wrong: declined (confidence ") and miss.endswith(f": {unanswerable['question']}")
    report = json.loads(qa_eval(cli_env, str(path), "--misses", "--json").stdout)
    assert [(m["id"], m["answerable"], m["answered"], m["rank"]) for m in report["misses"]] == [
        ("wrong", True, False, None)
    ]


def test_eval_squad_with_off_corpus_folds(tmp_path: Path, cli_env: dict[str, str]) -> None:
    data = {**SQUAD, "data": [*SQUAD["data"], CHESS_ARTICLE]}
    path = write_json(tmp_path / "tiny-squad.json", data)
    index_dir = tmp_path / "eval-index"
    result = qa_eval(cli_env, str(path), "--json", "--index-dir", str(index_dir), "--off-corpus", "--folds", "2")
    report = json_report(result)
    assert report["questions"] == 8
    assert report["abstention"]["unanswerable"] == 1 and report["abstention"]["answerable"] == 7
    assert 0 <= report["abstention"]["abstained_correctly"] <= 1
    assert 0 <= report["abstention"]["abstained_wrongly"] <= 7
    off = report["off_corpus"]
    assert set(off) == {"questions", "abstained", "folds", "abstention_rate"}
    assert off["questions"] == 8 and off["folds"] == 2
    assert 0 <= off["abstained"] <= 8
    assert off["abstention_rate"] == pytest.approx(off["abstained"] / 8, abs=1e-4)
    # The whole-corpus index and one index per fold, all under --index-dir.
    assert (index_dir / "generations").is_dir()
    assert (index_dir / "fold-0" / "generations").is_dir() and (index_dir / "fold-1" / "generations").is_dir()
    assert "off-corpus" in result.stderr


def test_eval_of_a_missing_file_is_a_usage_error(tmp_path: Path, cli_env: dict[str, str]) -> None:
    result = qa_eval(cli_env, str(tmp_path / "nowhere.jsonl"))
    assert result.exit_code == 2
    assert "does not exist" in result.stderr and "Traceback" not in result.output
    assert result.stdout == ""


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("bad.jsonl", b'{"id": "x", "question": "Who?"}\n{broken\n', "bad.jsonl:2: not a question record"),
        ("latin1.jsonl", "caf\u00e9?\n".encode("latin-1"), "can't decode"),
        ("broken.json", b'{"data": [', "Expecting value"),
        ("not-squad.json", b'{"questions": []}', "not a SQuAD file"),
        (
            "bad-article.json",
            json.dumps({"data": [{"title": "T", "paragraphs": [{"qas": []}]}]}).encode(),
            "not a SQuAD file",
        ),
        # No questions: it reported every metric as 0.0 and exited 0, as if the service had failed them all.
        ("empty.jsonl", b"", "empty.jsonl: no questions to evaluate"),
        ("blank.jsonl", b"\n \n", "blank.jsonl: no questions to evaluate"),
        ("no-articles.json", b'{"data": []}', "no-articles.json: no questions to evaluate"),
    ],
)
def test_eval_of_an_unreadable_file_is_a_clean_error(
    tmp_path: Path, cli_env: dict[str, str], name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    result = qa_eval(cli_env, str(path), "--json")
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("Error: ") and message in result.stderr
    assert not isinstance(result.exception, (KeyError, TypeError)) and "Traceback" not in result.output
    assert result.stdout == ""


def test_eval_off_corpus_on_seed_questions_needs_a_squad_file(tmp_path: Path, cli_env: dict[str, str]) -> None:
    path = write_jsonl(tmp_path / "seed.jsonl", seed_lines())
    result = qa_eval(cli_env, str(path), "--json", "--off-corpus")
    assert result.exit_code == 1
    # Refused before the model loads or any question is asked: no progress bar precedes the error.
    assert result.stderr.startswith("Error: ") and "--off-corpus needs a SQuAD file" in result.stderr
    assert result.stdout == ""

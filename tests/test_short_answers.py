"""Issue 11: short answers at exact offsets inside the first citation (lone spans, the reader's
words read as the kind asked, a name after its title, bylines), with the real model on the
newsroom archive, and the span patterns they rest on."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from qa import spans
from qa.answering import Answerer
from qa.documents import Document, load_seeds
from qa.retrieval import Query, RankedCandidates, Retrieval
from qa.service import Service
from tests.newsroom import COUNCIL_VOTE, HILL_FIRE, LAKESIDE, NEWSROOM, QUESTIONS, ask

# Two articles a tester wrote to probe the answers (a budget vote, a wildfire).
TESTER = Path(__file__).resolve().parent / "data" / "tester"


def test_who_wrote_a_letter_is_not_asked_for_a_byline(local_news: Service) -> None:
    # Every "who wrote" question took the first byline among its candidates, another article's
    # author included ("Se Hoon Kim" for the letter in the fire story).
    answer = local_news.ask(Query("Who wrote the letter warning that the building was unsafe?"))
    assert answer.citations[0].doc_id == "fire" and "letter written by resident Paul Grant" in answer.citations[0].quote


def test_who_wrote_an_article_cites_its_by_line(local_news: Service) -> None:
    # The byline "By Liam O'Connor" is the author's name after "By" (the metadata has the name).
    answer = local_news.ask(Query("Who wrote this?", doc_ids=("ferry",)))
    first = answer.citations[0]
    assert (first.doc_id, first.quote) == ("ferry", "By Liam O'Connor")
    assert first.short_answer is not None and first.short_answer.text == "Liam O'Connor"


@pytest.fixture()
def corrected_and_signed(private_service: Service) -> Service:
    private_service.publish(
        [
            Document("hill-fire", HILL_FIRE, "Quarry Fire", {"author": "Marta Quinn"}),
            Document("council", COUNCIL_VOTE, "Library budget", {"author": "Jonah Reyes"}),
        ]
    )
    return private_service


def test_a_correction_notice_is_not_cited_for_the_figure_it_retracts(corrected_and_signed: Service) -> None:
    # The notice ("...said the fire had burned 16,000 acres") repeats the question's words and was
    # cited first, its retracted figure the short answer (a tester's wildfire story: "43,000" at 0.999).
    answer = corrected_and_signed.ask(Query("How many acres has the fire burned?", doc_ids=("hill-fire",)))
    short = answer.citations[0].short_answer
    assert short is not None and short.text == "1,600" and HILL_FIRE[short.start : short.end] == "1,600"
    assert answer.answer.startswith("1,600: ")
    # A question about the correction itself still finds it first.
    asked = corrected_and_signed.ask(Query("What figure did the previous version of the article give?"))
    assert asked.answerable and asked.citations[0].quote.startswith("A previous version of this article")


def test_who_wrote_an_article_never_gets_another_article_s_byline_first(corrected_and_signed: Service) -> None:
    """A byline shares no word of the question but answers "who wrote" with a name: a tester's
    "Who wrote the wildfire article?" ranked the budget story's byline first, and its author was
    the answer. Here the ranking is laid out so, on the real index and reader (confidence, read
    off the ranking's scores, is not what is tested: nothing is declined)."""
    pipeline = corrected_and_signed.pipeline
    index = pipeline.index
    answerer = Answerer(index, pipeline.answerer.reader, min_confidence=0.0)
    sentence = {index.sentence_text(n).strip(): n for n in range(index.sentence_count)}
    query = Query("Who wrote the brush fire article?")
    ranked = [sentence["Jonah Reyes"], sentence[HILL_FIRE.splitlines()[0]], sentence["Marta Quinn"]]
    retrieval = Retrieval(query, RankedCandidates(ranked, [1.2, 1.1, 0.9], [0.0] * 3), searched=query.question)
    first = answerer.answer(retrieval).citations[0]
    assert (first.doc_id, first.quote) == ("hill-fire", "Marta Quinn")
    assert first.short_answer is not None and first.short_answer.text == "Marta Quinn"
    # Without the article's own byline in reach, its best sentence is cited, not the other author.
    unsigned = RankedCandidates(ranked[:2], [1.2, 1.1], [0.0] * 2)
    first = answerer.answer(replace(retrieval, candidates=unsigned)).citations[0]
    assert first.doc_id == "hill-fire" and "Jonah Reyes" not in first.quote


def test_who_wrote_an_article_it_names_cites_its_byline_first(newsroom: Service) -> None:
    # The article's opening holds "Blinken" and "Wang Yi" and ranked first; the byline was third.
    answer = newsroom.ask(Query("Who wrote the article about Blinken and Wang Yi?"))
    assert answer.answerable
    first = answer.citations[0]
    assert (first.doc_id, first.quote) == ("blinken-wang-yi-talks", "Se Hoon Kim")
    assert first.short_answer is not None and first.short_answer.text == "Se Hoon Kim"


def test_a_fact_question_gets_a_short_answer_at_exact_offsets_inside_its_first_citation(newsroom: Service) -> None:
    _, answer = ask(newsroom, "a05")  # "How much will the extra buses cost each year?"
    first = answer.citations[0]
    short = first.short_answer
    assert short is not None and short.text == "$1.9 million"
    assert (short.doc_id, LAKESIDE[short.start : short.end]) == ("lakeside-school-start-times", short.text)
    assert first.start <= short.start < short.end <= first.end
    assert answer.answer.startswith(short.text)
    assert all(c.short_answer is None for c in answer.citations[1:])


@pytest.mark.parametrize(
    ("question_id", "expected"),
    [
        # The reader gave "3,400 families conducted in the spring found that 61 percent" (0.30).
        ("a06", "61 percent"),
        # The reader's words ("six additional buses, at a cost of about $1.9 million", 0.20) fell
        # under the floor: no short answer.
        ("a04", "14"),
    ],
)
def test_the_one_span_of_the_kind_asked_is_the_short_answer(newsroom: Service, question_id: str, expected: str) -> None:
    _, answer = ask(newsroom, question_id)
    short = answer.citations[0].short_answer
    assert short is not None and (short.text, LAKESIDE[short.start : short.end]) == (expected, expected)
    assert answer.citations[0].start <= short.start < short.end <= answer.citations[0].end


def test_the_readers_words_are_no_short_answer_when_they_do_not_read_as_the_kind_asked(newsroom: Service) -> None:
    # "When was Carla Mendes appointed superintendent?" had the short answer "year" (from "a
    # year-long review"): the reader's words, over its floor, but no date. (A neighbour holds a
    # time of day, so the question is still answered; see the next test.)
    _, answer = ask(newsroom, "n05")
    assert answer.citations and answer.citations[0].short_answer is None


@pytest.mark.parametrize(
    ("words", "question", "reads"),
    [
        ("number", "How many students attend?", False),
        ("numerous", "How many yards did Denver have?", False),
        ("14", "How many drivers were hired?", True),
        ("three", "How many color analysts were there?", True),
        # A day of the calendar counts nothing (a browser tester's "How many hours ...?").
        ("October 26-27", "How many hours did Blinken and Wang Yi talk?", False),
        ("26 October", "How many days did they meet?", False),
        ("1990", "How many people lived there in 1990?", True),
        ("year", "When was she appointed?", False),
        ("Super Bowl XX", "What day was the Super Bowl played on?", False),
        ("Monday", "What day was media day?", True),
        ("earlier this year", "When did China help broker the Iran-Saudi deal?", True),
        ("two days ago", "When did the fire start?", True),
        ("last week", "When was the hearing?", True),
        ("during the Roman Empire", "When did civil disobedience first occur?", True),
        ("the 17th century", "When did the population recover?", True),
        ("39", "Who is the oldest quarterback?", False),
        ("2015", "What city did Super Bowl 50 take place in?", False),
        ("paid professionals", "Who is most likely to be doing formal teaching?", True),
        ("Peyton Manning", "Who was the most valuable player?", True),
        ("a record", "What did the team set?", True),  # no kind asked: any words
        # "How long" is answered by spans of time too ("1870 to 1939", "since 2001" on SQuAD), not
        # by a day of the calendar alone: the sentence said "more than seven hours".
        ("October 26-27", "How long did Blinken and Wang Yi talk?", False),
        ("4 August 1915", "How long was Warsaw occupied by Germany?", False),
        ("from 4 August 1915 until November 1918", "How long was Warsaw occupied by Germany?", True),
        ("1870 to 1939", "How long did the empire last?", True),
        ("they may stay two weeks", "How long may visitors stay?", True),  # "may", no month
        ("more than seven hours", "How long did the talks last?", True),
        # The reader's words for "How long were the talks?" against a sentence that does not say.
        ("bilateral issues, the talks touched on regional and global matters", "How long were the talks?", False),
    ],
)
def test_words_read_as_the_kind_a_question_asks_for(words: str, question: str, reads: bool) -> None:
    assert spans.reads_as(words, spans.asked_kinds(question)) is reads


FERRY = (
    "PORT ELLIS — The Port Ellis city council voted 7-2 on Tuesday to close the Harbor Street ferry terminal "
    "on March 31 and move all crossings to the new Northside pier.\n"
    "The two councilmembers who voted no, Ben Carter and Alicia Gomez, argued that the city should repair "
    "the old terminal instead.\n"
)


@pytest.mark.parametrize(
    ("question", "asks"),
    [
        ("Which team won?", True),
        ("What year did it open?", True),
        ("What about the buses?", False),  # the reader's words were whatever it found
        ("What else?", False),
        ("What else contributes to the storms?", True),
        ("What if it rains?", False),
        ("What did she say?", False),
    ],
)
def test_what_about_or_what_else_asks_for_no_fact(question: str, asks: bool) -> None:
    assert spans.asks_for_fact(question) is asks


def test_a_count_counts_what_follows_it_before_another_number() -> None:
    # "How many buses?" had the short answer "one fleet of 62": "one" counted the buses too.
    fleet = "The district shares one fleet of 62 buses across all its schools."
    assert spans.lone_span(fleet, "How many buses does the district have?") == spans.Span(33, 35, "62")
    assert spans.lone_span(fleet, "How many fleets does the district have?") == spans.Span(20, 23, "one")


def test_the_dateline_is_no_short_answer_to_who(private_service: Service) -> None:
    # "Who voted against closing the terminal?" opened its answer with "PORT ELLIS", the dateline.
    private_service.publish([Document("ferry", FERRY)])
    answer = private_service.ask(Query("Who voted against closing the terminal?", doc_ids=("ferry",)))
    assert answer.answerable
    short = answer.citations[0].short_answer
    assert short is None or short.start >= len("PORT ELLIS — ")


@pytest.mark.parametrize(
    ("first", "last", "kinds", "clear"),
    [
        (0, 10, ("name",), False),  # "PORT ELLIS" for who
        (0, 10, ("place",), True),  # where the story was filed
        (0, 39, ("place",), False),  # "PORT ELLIS — The Port Ellis city council": past the dash
        (18, 35, ("name",), True),  # "Port Ellis city council", after the dateline
        (0, 10, (), False),
    ],
)
def test_words_of_the_dateline_answer_where_at_most(first: int, last: int, kinds: tuple[str, ...], clear: bool) -> None:
    assert spans.clear_of_dateline(FERRY, first, last, kinds) is clear
    assert spans.clear_of_dateline("The mayor — who was elected — said so.", 0, 9, ("name",))


TICKETS = "The festival returns in June. Ticket prices rose 15% compared with last year, the organisers said.\n"


@pytest.mark.parametrize("question", ["How much did ticket prices rise?", "By how much did ticket prices rise?"])
def test_how_much_an_amount_rose_is_answered_with_a_share(private_service: Service, question: str) -> None:
    # Declined before (confidence 0.0): "how much did" asked for money only, and a sentence without
    # an amount of money was ruled out.
    private_service.publish([Document("festival", TICKETS)])
    answer = private_service.ask(Query(question, doc_ids=("festival",)))
    assert answer.answerable
    short = answer.citations[0].short_answer
    assert short is not None and (short.doc_id, short.text) == ("festival", "15%")
    assert TICKETS[short.start : short.end] == "15%"


def test_how_much_asks_for_a_share_only_of_a_change() -> None:
    assert spans.asked_kinds("How much did ticket prices rise?") == ("money", "percent")
    assert spans.asked_kinds("By how much have sales fallen?") == ("money", "percent")
    assert spans.asked_kinds("How much is in the district's reserve fund?") == ("money",)
    assert spans.asked_kinds("How much money did the appeal raise?") == ("money",)
    assert spans.asked_kinds("How much higher did prices rise?") == ()  # a difference
    rise = "How much did prices rise?"  # a sentence holding both answers with the amount
    assert spans.candidates("Prices rose 15%, or $3 each.", spans.asked_kinds(rise), rise) == [spans.Span(20, 22, "$3")]
    # ... but a rate's change is a share: "$310,000" was a tester's short answer to "how much will
    # the property tax rate go up" ("go up" was no change either: money only).
    rate = "how much will the property tax rate go up"
    assert spans.asked_kinds(rate) == ("percent", "money")
    assert spans.asked_kinds("How much did prices go up?") == ("money", "percent")
    raised = "The budget raises the tax rate by 2.5 percent, which adds $310,000 a year."
    assert spans.lone_span(raised, rate) == spans.Span(34, 45, "2.5 percent")


def test_a_question_asking_for_several_names_gets_the_whole_list(private_service: Service) -> None:
    # "Dana Kowalski" was the tester's short answer (on the articles they wrote, tests/data/tester),
    # the first of the three who voted against.
    private_service.publish(load_seeds(TESTER).documents)
    answer = private_service.ask(Query("Which council members voted against the budget?"))
    short = answer.citations[0].short_answer
    listed = "Dana Kowalski, Luis Ortega and Priya Raman"
    assert short is not None and short.text == listed
    assert private_service.document(short.doc_id).text[short.start : short.end] == listed


@pytest.mark.parametrize(
    ("question", "several"),
    [
        ("Which council members voted against the budget?", True),
        ("What countries signed the treaty?", True),
        ("Who were the founders?", True),
        ("Which team won?", False),
        ("What was the vote?", False),  # "was" is no plural
        ("What does the report say?", False),
        ("Which is the biggest province?", False),
    ],
)
def test_a_question_asks_for_several_by_a_plural_or_who_were(question: str, several: bool) -> None:
    assert spans.asks_for_several(question) is several


def test_names_listed_after_a_name_are_taken_only_after_one_name() -> None:
    sentence = "Members Ann Ruiz, Bo Chen, and Cal Ford voted no, the clerk said."
    assert sentence[8 : spans.with_listed_names(sentence, 8, 16)] == "Ann Ruiz, Bo Chen, and Cal Ford"
    words = "Cal Ford voted no"  # not one name: nothing after it is taken
    start = sentence.index(words)
    assert spans.with_listed_names(sentence, start, start + len(words)) == start + len(words)


def test_how_much_later_asks_for_a_duration_not_money(newsroom: Service) -> None:
    # "How much later will high schools start?" asked for money or a share, and the rule that
    # declines a money question against a sentence holding none declined it (confidence 0.00).
    assert spans.asked_kinds("How much later will high schools start?") == ("duration",)
    assert spans.asked_kinds("How much earlier did the talks end?") == ("duration",)
    assert spans.asked_kinds("How much longer is the new bridge?") == ()  # a length, or a time
    answer = newsroom.ask(Query("How much later than today will high schools start?"))
    assert answer.answerable
    assert "55 minutes later" in answer.citations[0].quote


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        # The reader read the opening, where the talks are dated, and its "October 26-27" is no
        # duration: no short answer, though the citation was widened to "...lasted for more than
        # seven hours" for holding one.
        ("How long did the talks between Blinken and Wang Yi last?", "more than seven hours"),
        # The reader's words did not read as a duration: no short answer.
        ("How long was the public hearing?", "two-hour"),
    ],
)
def test_how_long_is_answered_with_the_duration_the_first_citation_holds(
    newsroom: Service, question: str, expected: str
) -> None:
    answer = newsroom.ask(Query(question))
    first = answer.citations[0]
    short = first.short_answer
    assert short is not None and short.text == expected
    text = newsroom.document(short.doc_id).text
    assert text[short.start : short.end] == expected and first.start <= short.start < short.end <= first.end
    assert answer.answer.startswith(f"{expected}: ")


def test_a_lone_span_only_for_kinds_written_one_way_and_only_when_alone() -> None:
    when = "When were the talks held?"
    held = "The talks were held on October 26-27, 2023 in Washington."
    assert spans.lone_span(held, when) == spans.Span(23, 42, "October 26-27, 2023")  # the range whole
    assert spans.lone_span("They met in March and again on May 4.", when) is None  # two dates: the reader picks
    assert spans.lone_span("Carla Mendes, the superintendent, agreed.", "Who agreed?") is None  # names: the reader
    # A duration with what bounds it ("more than"), and one written as a word ("two-hour", "year-long").
    assert spans.lone_span("It lasted more than seven hours.", "How long did it last?") == spans.Span(
        10, 31, "more than seven hours"
    )
    assert spans.lone_span("After a two-hour hearing it voted.", "How long was the hearing?") == spans.Span(
        8, 16, "two-hour"
    )
    assert spans.lone_span("It followed a year-long review.", "How long did the review take?") == spans.Span(
        12, 23, "a year-long"
    )
    assert spans.lone_span("The district hired 14 drivers.", "How many drivers were hired?") == spans.Span(19, 21, "14")


def test_with_the_reader_off_answers_cite_alike_without_short_answers(newsroom: Service) -> None:
    """`QA_READER=off` (the fast path without a model run beyond the encoder): the same citations
    and confidence, no short answer, and `/readyz` says so."""
    from qa.api import create_app

    off = Service(newsroom.settings.with_overrides(reader="off"), embedder=newsroom.embedder).load()
    _, with_reader = ask(newsroom, "a05")
    _, without = ask(off, "a05")
    assert with_reader.citations[0].short_answer is not None
    assert without.citations == [replace(c, short_answer=None) for c in with_reader.citations]
    assert without.confidence == with_reader.confidence
    assert without.answer == with_reader.answer.removeprefix(f"{with_reader.citations[0].short_answer.text}: ")
    assert create_app(off.settings, off).test_client().get("/readyz").get_json()["reader"] == "off"


def test_a_question_that_asks_for_no_kind_gets_no_short_answer(newsroom: Service) -> None:
    _, answer = ask(newsroom, "a03")  # "Why did the superintendent support a later start?"
    assert answer.citations and answer.citations[0].short_answer is None


def test_the_short_answer_is_in_the_api_answer(newsroom: Service, settings) -> None:
    from qa.api import create_app

    client = create_app(newsroom.settings, newsroom).test_client()
    body = client.post("/v1/ask", json={"question": QUESTIONS["a07"].question}).get_json()
    short = body["citations"][0]["short_answer"]  # "Who wrote the article about school start times?"
    assert short == {
        "text": "Tomas Reyes",
        "doc_id": "lakeside-school-start-times",
        "start": 1787,
        "end": 1798,
        "start_utf16": 1787,  # the article has no character outside the Basic Multilingual Plane
        "end_utf16": 1798,
    }
    assert LAKESIDE[1787:1798] == "Tomas Reyes"
    # The byline is the whole quote: the answer does not say the name twice ("Tomas Reyes: Tomas Reyes [1]").
    assert body["answer"] == "Tomas Reyes [1]"
    assert json.dumps(body)  # plain JSON all the way down


def test_a_count_must_count_what_the_question_counts() -> None:
    question = "How many students attend Lakeside high schools?"
    assert spans.candidates("The district runs four high schools and 62 buses.", ("number",), question) == []
    assert [s.text for s in spans.candidates("About 5,200 students attend.", ("number",), question)] == ["5,200"]


def test_who_holds_a_title_gets_the_name_after_it(newsroom: Service) -> None:
    # The reader gave "Antony J. Blinken", the opening sentence's first name, for China's foreign
    # minister; the name after the question's title words, "Foreign Minister", is the answer.
    answer = newsroom.ask(Query("Who is China's foreign minister?"))
    short = answer.citations[0].short_answer
    text = (NEWSROOM / "seeds" / "blinken-wang-yi-talks.txt").read_text(encoding="utf-8")
    assert short is not None and (short.text, text[short.start : short.end]) == ("Wang Yi", "Wang Yi")
    assert answer.answer.startswith("Wang Yi: ")


@pytest.mark.parametrize(
    ("sentence", "question", "name"),
    [
        (
            "He hired defensive coordinator Wade Phillips in 2015.",
            "Who was the defensive coordinator?",
            "Wade Phillips",
        ),
        ("The city's mayor Ed Lee's plan passed.", "Who is the mayor?", "Ed Lee"),  # a possessive dropped
        ("Administrator James E. Webb agreed.", "Who was NASA's administrator?", None),  # a capitalised title alone
        ("The coach Gary Kubiak said so.", "When did the coach speak?", None),  # not a who question
        ("Deputy Administrator Hugh L. Dryden said.", "Who was the deputy administrator?", "Hugh L. Dryden"),
        # A month's name is a person's when no day follows it: both were taken for dates.
        ("Prime Minister Theresa May resigned.", "Who was the prime minister?", "Theresa May"),
        ("White House correspondent April Ryan asked.", "Who is the White House correspondent?", "April Ryan"),
        ("Foreign Minister Wang Yi May 3 said so.", "Who is the foreign minister?", None),
    ],
)
def test_a_name_after_a_title_of_the_questions_words(sentence: str, question: str, name: str | None) -> None:
    found = spans.titled_name(sentence, question)
    assert (found.text if found else None) == name
    if found:
        assert sentence[found.start : found.end] == name


def test_a_time_said_relative_to_the_story_answers_when(service: Service) -> None:
    # "When did China help broker the Iran-Saudi deal?" was declined (confidence 0.0): the sentence
    # says "earlier this year", which no date pattern finds, and the reader's words for it were
    # not read as a time, so the check of the kind asked declined it.
    answer = service.ask(Query("When did China help broker the Iran-Saudi deal?"))
    short = answer.citations[0].short_answer if answer.citations else None
    assert answer.answerable and short is not None and short.text == "earlier this year"


@pytest.mark.parametrize(
    ("sentence", "question"),
    [
        ("Acme Toys Chief Executive Officer Jane Morrow said so.", "Who is the chief executive of Acme Toys?"),
        ("Hennepin County Sheriff's Office Spokesman Tom Reed said so.", "Who is the county sheriff?"),
        ("In the Prime Minister's New Year Address, Keir Starmer spoke.", "Who is the prime minister?"),
        ("The head coach New England Patriots Bill Belichick said so.", "Who is the head coach?"),
        ("The Foreign Minister Tuesday Evening issued a statement.", "Who is the foreign minister?"),
    ],
)
def test_no_name_is_taken_from_a_run_holding_more_title_a_body_or_a_time(sentence: str, question: str) -> None:
    # A tester's short answers: "Officer Jane Morrow", "Office Spokesman Tom Reed" (not the
    # sheriff), "New Year Address", "New England Patriots Bill", "Tuesday Evening". The reader
    # answers these instead.
    assert spans.titled_name(sentence, question) is None


HISTORY_TALK = (
    "RIVERTON — Historians met at the university on Monday to discuss empire.\n"
    "Theories of imperialism often take their model from colonization, the speakers said.\n"
    "Wrestler Neville, a former champion, grew up in a small town and was born in a terraced house.\n"
)


@pytest.mark.parametrize(
    ("question", "words_before"),
    [
        ("Theories of imperialism use which country as a model?", "colonization"),
        ("What city was Neville born in?", "terraced house"),
    ],
)
def test_a_place_asked_for_by_what_it_is_needs_a_name(
    private_service: Service, question: str, words_before: str
) -> None:
    # The reader's words were the short answer although no country or city is named; on SQuAD such
    # words without a capital matched none of 8 answers. The sentence is still cited.
    private_service.publish([Document("history", HISTORY_TALK)])
    answer = private_service.ask(Query(question, doc_ids=("history",)))
    assert answer.answerable and words_before in answer.citations[0].quote
    assert answer.citations[0].short_answer is None


@pytest.mark.parametrize(
    ("question", "kinds"),
    [
        ("Which country did it happen in?", ("named_place",)),
        ("Where was Genghis Khan likely born?", ("named_place",)),
        ("Where did the talks happen?", ("place",)),
        ("What place did he finish in?", ("place",)),
    ],
)
def test_a_place_is_asked_for_by_what_it_is_or_by_where(question: str, kinds: tuple[str, ...]) -> None:
    assert spans.asked_kinds(question) == kinds
    assert not spans.names_a_place_if_asked("along the coast", ("named_place",))
    assert spans.names_a_place_if_asked("along the coast", ("place",))


def test_a_follow_up_asking_for_more_reads_its_short_answer_from_its_first_citation(newsroom: Service) -> None:
    # "Who else?" skips what the conversation was told, so its first citation is another sentence;
    # the short answer was still read from the best sentence, the one told already: "Ray Okafor",
    # outside citation [1] (had the first citation come from another article, its offsets would
    # have pointed into the wrong one).
    first = "How many more bus drivers does the district need?"
    told = newsroom.ask(Query(first)).answer
    answer = newsroom.ask(Query("Who else?", (first,), told=(told,)))
    cited = answer.citations[0]
    assert "Ray Okafor" not in cited.quote
    short = cited.short_answer
    if short is not None:
        assert short.doc_id == cited.doc_id and cited.start <= short.start and short.end <= cited.end
        assert LAKESIDE[short.start : short.end] == short.text

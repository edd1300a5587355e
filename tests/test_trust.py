"""Issue 11 on the newsroom archive (a copy of ../shared/eval/newsroom in tests/data/newsroom), with
the real model: a near-topic question declined, a bare follow-up answered, a short answer at exact
offsets; and the typed spans and pronoun resolution those rest on."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from qa import spans
from qa.answering import NOT_A_QUESTION
from qa.documents import Document
from qa.evaluation import answer_rank, read_seed_questions
from qa.retrieval import Query, resolved, searched
from qa.service import Service

NEWSROOM = Path(__file__).resolve().parent / "data" / "newsroom"
QUESTIONS = {q.id: q for q in read_seed_questions(NEWSROOM / "questions.jsonl").questions}
LAKESIDE = (NEWSROOM / "seeds" / "lakeside-school-start-times.txt").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def newsroom(settings, service: Service, tmp_path_factory: pytest.TempPathFactory) -> Service:
    newsroom_settings = settings.with_overrides(
        seeds_dir=NEWSROOM / "seeds", index_dir=tmp_path_factory.mktemp("newsroom-index")
    )
    return Service(newsroom_settings, embedder=service.embedder).load()


def ask(newsroom: Service, question_id: str):
    question = QUESTIONS[question_id]
    return question, newsroom.ask(Query(question.question, question.history, 3, question.id))


POOL = (
    "The city pool will close in May for repairs. The repairs will cost about $400,000, the parks "
    "department said. The cost will be covered by the city's reserve fund.\n"
)


def test_publishing_another_article_about_a_cost_does_not_decline_a_cost_question(
    settings, service: Service, tmp_path: Path
) -> None:
    # With an article using "cost" three times published, "cost" weighed less and the reserve-fund
    # sentence (no sum) scored 0.03 above Okafor's "$1.9 million a year": the rule that a money
    # question needs a sum declined it at confidence 0.0.
    archive = settings.with_overrides(seeds_dir=NEWSROOM / "seeds", index_dir=tmp_path / "index", api_keys=("k" * 20,))
    newsroom = Service(archive, embedder=service.embedder).load()
    newsroom.publish([Document("pool", POOL)])
    answer = newsroom.ask(Query("How much will the extra buses cost each year?"))
    assert answer.answerable
    short = answer.citations[0].short_answer
    assert short is not None and (short.text, short.start, short.end) == ("$1.9 million", 1038, 1050)


STRIKE = "Nurses ratified the contract on Friday. The chief executive thanked patients for their patience.\n"


@pytest.mark.parametrize(
    "courtesy",
    ["Thanks!", "thank you so much", "OK, thanks.", "Hello", "ok", "thank-you", "Many thanks", "Good night", "👍"],
)
def test_a_courtesy_is_no_question_to_answer(private_service: Service, courtesy: str) -> None:
    # "Thanks!" matched "thanked patients for their patience" and was answered with it.
    private_service.publish([Document("strike", STRIKE)])
    answer = private_service.ask(Query(courtesy, ("Who ratified the contract?",), doc_ids=("strike",)))
    assert (answer.answerable, answer.answer, answer.citations) == (False, NOT_A_QUESTION, [])


@pytest.mark.parametrize(
    "question",
    ["Whom did he thank?", "Thanks to whom was it ratified?", "Hello Kitty sales?", "Nice?", "OK, who voted?"],
)
def test_a_question_with_a_courtesy_word_is_still_asked(question: str) -> None:
    from qa.answering import _SMALL_TALK

    assert _SMALL_TALK.match(question) is None


WAREHOUSE_FIRE = (
    "RIVERTON — A fire destroyed a vacant warehouse on Mill Road early Sunday, the Riverton fire department said.\n"
    "A neighbour, Ana Ruiz, reported the fire at 3:40 a.m., and 40 firefighters fought the blaze for five hours.\n"
    "Fire chief Gary Lund said damage was estimated at $650,000. No one was hurt; the cause is under investigation.\n"
    "Lund said a letter written by resident Paul Grant in 2024 had warned the city that the building was unsafe. "
    "The city did not respond to that letter, Grant said.\n"
    "The warehouse had been empty since the Mill Road Canning Company closed it in 2019.\n"
)
BAYVIEW_FERRY = (
    "BAYVIEW — A new ferry service between Bayview and Gull Island will begin on April 3, the transit authority said.\n"
    "A one-way ticket will cost $4.50. Transit director Hannah Brooks said the trip would take 25 minutes.\n"
    "By Liam O'Connor\n"
)


@pytest.fixture()
def local_news(private_service: Service) -> Service:
    """The seed article, a fire story with no author and a ferry story signed "By Liam O'Connor"."""
    ferry = Document("ferry", BAYVIEW_FERRY, metadata={"author": "Liam O'Connor"})
    private_service.publish([Document("fire", WAREHOUSE_FIRE), ferry])
    return private_service


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


def test_a_time_of_something_else_is_not_cited_first_for_the_time_asked(local_news: Service) -> None:
    # "reported the fire at 3:40 a.m." scored 0.008 below the best and was cited first for holding a
    # time of day: the question was answered (0.69) though the story never says when they arrived.
    assert not local_news.ask(Query("What time did the fire department arrive?")).answerable


def test_tell_me_more_stays_in_the_article_it_follows(local_news: Service) -> None:
    # After three "Tell me more." the fire story's untold sentences lost to other articles'.
    told: list[str] = []
    question = "How much damage did the fire cause?"
    for _ in range(4):
        answer = local_news.ask(Query(question, ("How much damage did the fire cause?",), told=tuple(told)))
        assert answer.citations[0].doc_id == "fire"
        told.append(answer.answer)
        question = "Tell me more."


def test_a_near_topic_question_is_declined(newsroom: Service) -> None:
    # "What time do Lakeside elementary schools start?": the article gives the high schools' and
    # middle schools' times and says elementary schools keep theirs, without saying it. Answered
    # before with confidence 1.0 from a sentence holding no time of day.
    _, answer = ask(newsroom, "n02")
    assert not answer.answerable and answer.citations == []


def test_a_question_naming_an_amount_is_declined_by_a_sentence_without_one(newsroom: Service) -> None:
    # "How much is in the district's reserve fund?": the article says the buses are paid "from its
    # reserve fund" and never how much it holds. Answered before at confidence 0.95, because the
    # sentence holds the question's most specific word.
    _, answer = ask(newsroom, "n04")
    assert not answer.answerable and answer.citations == []


@pytest.mark.parametrize(
    ("question", "named"),
    [
        ("How much is in the district's reserve fund?", True),
        ("How much did it cost to build the stadium?", True),
        ("What percentage of voters approved?", True),
        ("How much did San Francisco get for its services?", False),  # a sum, but not by name
        ("How much of Jacksonville is water?", False),
        ("How much gold did Victoria produce?", False),
    ],
)
def test_a_question_names_its_amount_by_money_words_or_percentage(question: str, named: bool) -> None:
    assert spans.names_its_amount(question) is named


def test_a_bare_follow_up_is_answered_about_the_person_of_the_previous_turn(newsroom: Service) -> None:
    # "What did he boast about?" after "Who is Mohammad Bagheri?": declined before (confidence 0.17).
    question, answer = ask(newsroom, "f04")
    assert answer.answerable
    assert answer_rank(answer, question, newsroom.index.documents) == 1


def test_a_bare_follow_up_is_answered_about_the_group_the_previous_question_asked_about(newsroom: Service) -> None:
    # "What were they worried about?" after "Were parents at the hearing in favour of the later
    # start?": declined before (confidence 0.42), though its sentence ranked first.
    question, answer = ask(newsroom, "f03")
    assert answer.answerable
    assert answer_rank(answer, question, newsroom.index.documents) == 1
    assert "others worried that after-school jobs" in answer.citations[0].quote


def test_a_follow_up_naming_nothing_is_asked_about_the_previous_question(newsroom: Service) -> None:
    # "Who said so?" after "How much will the extra buses cost each year?": its words name
    # nothing, and it was declined (confidence 0.04). Its short answer is read from its own words.
    answer = newsroom.ask(Query("Who said so?", ("How much will the extra buses cost each year?",)))
    assert answer.answerable
    first = answer.citations[0]
    assert "Transportation director Ray Okafor said" in first.quote
    short = first.short_answer
    assert short is not None and (short.text, short.start, short.end) == ("Ray Okafor", 923, 933)
    assert LAKESIDE[short.start : short.end] == "Ray Okafor"


def test_how_many_alone_is_answered_but_gets_no_short_answer(newsroom: Service) -> None:
    # "How many?" after "Does the district need more bus drivers?" was declined (0.17): "many"
    # named something. Its words do not say what it counts, and the reader read them as "six
    # additional buses, at a cost of about $1.9 million": no short answer, the sentence answers.
    answer = newsroom.ask(Query("How many?", ("Does the district need more bus drivers?",)))
    assert answer.answerable
    assert "hire 14 more drivers" in answer.citations[0].quote
    assert answer.citations[0].short_answer is None


def test_which_and_a_noun_alone_is_answered_from_the_previous_question_s_passage(newsroom: Service) -> None:
    # "Which countries?" after "What did China broker earlier this year?" was declined (0.49).
    answer = newsroom.ask(Query("Which countries?", ("What did China broker earlier this year?",)))
    assert answer.answerable
    assert "between Iran and Saudi Arabia" in answer.citations[0].quote


def test_when_alone_gets_the_date_as_its_short_answer(newsroom: Service) -> None:
    # "When?" asked for no kind (only "when" and a verb did), so it got no short answer.
    answer = newsroom.ask(Query("When?", ("Will voters be asked to approve a transportation levy?",)))
    short = answer.citations[0].short_answer
    assert short is not None and short.text == "2027" and LAKESIDE[short.start : short.end] == "2027"


def test_a_short_whole_question_after_another_article_is_not_a_follow_up(newsroom: Service) -> None:
    # "Who is Roger Robinson?" after a turn about Carla Mendes, as a chat sends it: four words, so
    # it was read as a follow-up, its context mixed with hers, and it was declined (in the chat)
    # or cited her sentences second and third.
    history = ("Who is Carla Mendes?", "Superintendent Carla Mendes said the decision followed a year-long review.")
    answer = newsroom.ask(Query("Who is Roger Robinson?", history))
    assert answer.answerable
    assert "Roger Robinson, Founder and Chairman" in answer.citations[0].quote
    assert {c.doc_id for c in answer.citations} == {"blinken-wang-yi-talks"}


def test_who_is_a_named_person_gets_no_name_for_a_short_answer(newsroom: Service) -> None:
    # "Who is Wang Yi?" opened its answer with "Antony J. Blinken", the other name in the sentence:
    # it asks what he is, which the sentence says.
    answer = newsroom.ask(Query("Who is Wang Yi?"))
    assert answer.answerable and "Foreign Minister Wang Yi" in answer.citations[0].quote
    assert answer.citations[0].short_answer is None
    assert spans.asked_kinds("Who is the superintendent?") == ("name",)


@pytest.mark.parametrize(
    ("follow_up", "question", "answerable"),
    [
        # The kind of answer was read off the follow-up's own words, so it ranked other sentences
        # than its question did: answered at 0.99 after a question declined (near-topic n02) ...
        ("Who said so?", "What time do Lakeside elementary schools start?", False),
        # ... and declined (0.35, 0.0) after questions that are answered.
        ("When?", "How long did the talks last?", True),
        ("When?", "How much will the extra buses cost each year?", True),
    ],
)
def test_a_bare_follow_up_is_declined_where_its_question_is(
    newsroom: Service, follow_up: str, question: str, answerable: bool
) -> None:
    assert newsroom.ask(Query(question)).answerable is answerable
    assert newsroom.ask(Query(follow_up, (question,))).answerable is answerable


def test_why_alone_is_answered_from_the_previous_question_s_passage(newsroom: Service) -> None:
    # "Why?" after "Did the school board approve the later start?" was declined (confidence 0.015).
    answer = newsroom.ask(Query("Why?", ("Did the school board approve the later start?",)))
    assert answer.answerable
    assert answer.citations[0].quote.startswith("The board voted 5-0 for the change")
    assert any("year-long review of research on adolescent sleep" in c.quote for c in answer.citations)


@pytest.mark.parametrize(
    ("question", "history", "expected"),
    [
        ("Why?", ("Did the board approve it?",), "Did the board approve it?"),
        ("Tell me more.", ("Who is Carla Mendes?", "Carla Mendes said ..."), "Who is Carla Mendes?"),
        # The latest question that names something: "Why?" itself names nothing.
        ("And then?", ("Who is Ray Okafor?", "Why?"), "Who is Ray Okafor?"),
        ("How long?", ("When was the hearing?",), "When was the hearing?"),
        # Only its asking words and the kind of thing asked for.
        ("Which countries?", ("What did China broker?",), "What did China broker? Which countries?"),
        ("How many buses?", ("How many schools are there?",), "How many buses?"),
        ("Which students and scholars?", ("What did China broker?",), "Which students and scholars?"),
        # Words of its own, or a pronoun resolved to a name: asked as it is.
        ("What about the buses?", ("How much will it cost?",), "What about the buses?"),
        ("What did she say?", ("Who is Carla Mendes?",), "What did Carla Mendes say?"),
        ("Why?", (), "Why?"),
        # Short, but whole: a question word, a verb and a name (it was read as a follow-up).
        ("Who is Roger Robinson?", ("Who is Carla Mendes?",), "Who is Roger Robinson?"),
    ],
)
def test_a_follow_up_naming_nothing_is_searched_as_the_question_it_follows(
    question: str, history: tuple[str, ...], expected: str
) -> None:
    assert searched(Query(question, history)) == expected


def test_who_wrote_an_article_it_names_cites_its_byline_first(newsroom: Service) -> None:
    # The article's opening holds "Blinken" and "Wang Yi" and ranked first; the byline was third.
    answer = newsroom.ask(Query("Who wrote the article about Blinken and Wang Yi?"))
    assert answer.answerable
    first = answer.citations[0]
    assert (first.doc_id, first.quote) == ("blinken-wang-yi-talks", "Se Hoon Kim")
    assert first.short_answer is not None and first.short_answer.text == "Se Hoon Kim"


def test_a_quotation_is_cited_with_the_sentence_that_names_its_speaker(newsroom: Service) -> None:
    # "What did she say about it?" after "Who is Carla Mendes?": the first citation stopped at
    # "Superintendent Carla Mendes said the decision followed ..." and the quote that follows it
    # ('"Teenagers who ...," she told the board.') came second (rank 2).
    question, answer = ask(newsroom, "f01")
    assert answer_rank(answer, question, newsroom.index.documents) == 1
    first = answer.citations[0].quote
    assert first.startswith("Superintendent Carla Mendes said") and first.endswith("she told the board.")


def test_a_follow_up_to_who_wrote_the_article_is_about_its_author(newsroom: Service) -> None:
    # "Where is he a columnist?" after "Who wrote the article about Blinken and Wang Yi?": "he"
    # was read as Wang Yi, the name in that question, and the author's bio came second.
    question, answer = ask(newsroom, "f05")
    assert answer_rank(answer, question, newsroom.index.documents) == 1
    assert answer.citations[0].quote.endswith("He is also a columnist for the Sunday Guardian.")


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


def test_a_question_is_declined_when_neither_patterns_nor_the_reader_find_the_kind_asked(
    newsroom: Service,
) -> None:
    # "How many students attend Lakeside high schools?" was answered (confidence 0.95) with "a
    # growing number of districts": no count in the sentence or its neighbours, no "students" or
    # "attend" in them, and the reader's best words, "number", are no count either.
    _, answer = ask(newsroom, "n01")
    assert (answer.answerable, answer.confidence, answer.citations) == (False, 0.0, [])


def test_where_a_thing_ranks_asks_for_no_place() -> None:
    # SQuAD's "Where does Warsaw rank ...?" is answered "9th": read as asking for a place, the
    # reader's words were no place, which would now decline it.
    assert spans.asked_kinds("Where does Warsaw rank in terms of population in the EU?") == ()
    assert spans.asked_kinds("Where did Super Bowl 50 take place?") == ("place",)


@pytest.mark.parametrize(
    ("words", "question", "reads"),
    [
        ("number", "How many students attend?", False),
        ("numerous", "How many yards did Denver have?", False),
        ("14", "How many drivers were hired?", True),
        ("three", "How many color analysts were there?", True),
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


def test_how_much_later_asks_for_a_duration_not_money(newsroom: Service) -> None:
    # "How much later will high schools start?" asked for money or a share, and the rule that
    # declines a money question against a sentence holding none declined it (confidence 0.00).
    assert spans.asked_kinds("How much later will high schools start?") == ("duration",)
    assert spans.asked_kinds("How much earlier did the talks end?") == ("duration",)
    assert spans.asked_kinds("How much longer is the new bridge?") == ()  # a length, or a time
    answer = newsroom.ask(Query("How much later than today will high schools start?"))
    assert answer.answerable
    assert "55 minutes later" in answer.citations[0].quote


def test_a_lone_span_only_for_kinds_written_one_way_and_only_when_alone() -> None:
    when = "When were the talks held?"
    held = "The talks were held on October 26-27, 2023 in Washington."
    assert spans.lone_span(held, when) == spans.Span(23, 42, "October 26-27, 2023")  # the range whole
    assert spans.lone_span("They met in March and again on May 4.", when) is None  # two dates: the reader picks
    assert spans.lone_span("Carla Mendes, the superintendent, agreed.", "Who agreed?") is None  # names: the reader
    assert spans.lone_span("It lasted more than seven hours.", "How long did it last?") is None  # durations too
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


def chat_replies(newsroom: Service, questions: list[str]) -> list[dict]:
    """The chat's reply to each of `questions`, asked in turn, each after the replies before it."""
    from qa.api import create_app

    client = create_app(newsroom.settings, newsroom).test_client()
    messages: list[dict[str, str]] = []
    replies = []
    for question in questions:
        messages.append({"role": "user", "content": question})
        reply = client.post("/v1/chat/completions", json={"messages": messages}).get_json()["choices"][0]["message"]
        messages.append({"role": "assistant", "content": reply["content"]})
        replies.append(reply)
    return replies


def test_a_chat_reply_s_words_do_not_make_the_next_question_look_covered(newsroom: Service) -> None:
    # A reply (the article's own words) was history: "What about Iran?" after the reply about
    # Israel was declined, and "How many teachers are there?" after two replies about Lakeside
    # was answered with the vote sentence, where /v1/ask declined it (0.11).
    *_, iran = chat_replies(newsroom, ["What did the U.S. say about Israel?", "What about Iran?"])
    assert iran["answerable"] and "between Iran and Saudi Arabia" in iran["citations"][0]["quote"]
    lakeside = ["How many students attend Lakeside high schools?", "Who said so?", "How many teachers are there?"]
    *_, teachers = chat_replies(newsroom, lakeside)
    assert not teachers["answerable"]


def test_a_count_must_count_what_the_question_counts() -> None:
    question = "How many students attend Lakeside high schools?"
    assert spans.candidates("The district runs four high schools and 62 buses.", ("number",), question) == []
    assert [s.text for s in spans.candidates("About 5,200 students attend.", ("number",), question)] == ["5,200"]


@pytest.mark.parametrize(
    ("question", "history", "expected"),
    [
        ("What did she say about it?", ("Who is Carla Mendes?",), "What did Carla Mendes say about it?"),
        ("What was his plan?", ("Who is Ray Okafor?",), "What was Ray Okafor's plan?"),
        ("What did she say about it?", (), "What did she say about it?"),  # no conversation
        ("Why?", ("Who is Carla Mendes?",), "Why?"),  # no pronoun to resolve
        # The person of "Who wrote/won ...?" is its answer, not a name it mentions.
        ("Where is he a columnist?", ("Who wrote the article about Wang Yi?",), "Where is the author a columnist?"),
        ("How old is he?", ("Who replaced Roger Goodell?",), "How old is he?"),
        # they/them/their: the plural subject of the latest earlier question, if it has one.
        ("What were they worried about?", ("Were parents at the hearing?",), "What were parents worried about?"),
        ("What is their plan?", ("Why did the board members object?",), "What is the board members' plan?"),
        # In a chat the assistant's answer follows the question it resolves against.
        ("Why did they?", ("Do teachers support it?", "Most do [1]"), "Why did teachers?"),
        # "the district" is singular: "they" is left as it is.
        ("How will they pay for it?", ("How many buses does the district need?",), "How will they pay for it?"),
        ("What did they say?", ("Did this matter?",), "What did they say?"),
        ("Did she tell them?", ("Were parents there?", "Who is Carla Mendes?"), "Did Carla Mendes tell them?"),
    ],
)
def test_a_pronoun_resolves_to_whom_the_conversation_was_about(
    question: str, history: tuple[str, ...], expected: str
) -> None:
    assert resolved(Query(question, history)) == expected


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
    ("earlier", "follow_up", "gold"),
    [
        (
            "What did Reuters report about Chinese companies?",
            "What was the reason?",
            "support for the Russian military",
        ),
        (
            "What did Roger Robinson say should happen to non-compliant Chinese companies?",
            "How quickly?",
            "no more than 180 days",
        ),
    ],
)
def test_a_follow_up_asking_only_for_a_reason_or_a_speed_is_about_the_question_before(
    newsroom: Service, earlier: str, follow_up: str, gold: str
) -> None:
    # Both were declined (0.02, 0.01): "reason" and "quick" counted as words naming a subject, so
    # the follow-ups were searched by their own words, which the article does not use.
    answer = newsroom.ask(Query(follow_up, (earlier,)))
    assert answer.answerable
    assert any(gold in c.quote for c in answer.citations[:1]), answer.citations[0].quote


FIRE = (
    "HARBOR CITY — A fire at the Pierce Street warehouse on Christmas Eve forced the evacuation of a handful "
    "of nearby homes, fire officials said.\n"
    "Firefighters battled the blaze overnight and brought it under control at dawn.\n"
    "A couple of firefighters were treated for smoke inhalation.\n"
    "The warehouse stored about a million plastic toys for the holidays.\n"
    "Crews remained at the scene for a fortnight to clear debris.\n"
    "Officials met over the weekend to discuss safety inspections.\n"
)


@pytest.mark.parametrize(
    ("question", "cited"),
    [
        ("How many firefighters were hurt?", "A couple of firefighters"),
        ("When did officials meet?", "Officials met over the weekend"),
        ("How long did crews stay?", "Crews remained at the scene for a fortnight"),
    ],
)
def test_counts_and_times_written_in_words_are_read_as_such(
    private_service: Service, question: str, cited: str
) -> None:
    # A tester's article: each was declined (confidence 0.0) by the check of the kind asked, as
    # the reader's words ("couple", "over the weekend", "a fortnight ...") did not read as a
    # count, a time or a duration; they had been answered with these sentences.
    private_service.publish([Document("fire", FIRE)])
    answer = private_service.ask(Query(question, doc_ids=("fire",)))
    assert answer.answerable and answer.citations[0].quote.startswith(cited)


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

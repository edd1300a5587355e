"""Issue 11: what the articles do not say is declined (near-topic questions, an amount or a kind
of span the best sentence lacks, a courtesy that asks nothing), on the newsroom archive and
small articles of testers, with the real model."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa import spans
from qa.answering import NOT_A_QUESTION
from qa.documents import Document
from qa.retrieval import Query
from qa.service import Service
from tests.newsroom import NEWSROOM, ask

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


def test_a_time_of_something_else_is_not_cited_first_for_the_time_asked(local_news: Service) -> None:
    # "reported the fire at 3:40 a.m." scored 0.008 below the best and was cited first for holding a
    # time of day: the question was answered (0.69) though the story never says when they arrived.
    assert not local_news.ask(Query("What time did the fire department arrive?")).answerable


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

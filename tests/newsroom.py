"""The newsroom archive the trust tests ask (a copy of ../shared/eval/newsroom in
tests/data/newsroom) and the small articles testers wrote."""

from __future__ import annotations

from pathlib import Path

from qa.evaluation import read_seed_questions
from qa.retrieval import Query
from qa.service import Service

NEWSROOM = Path(__file__).resolve().parent / "data" / "newsroom"


QUESTIONS = {q.id: q for q in read_seed_questions(NEWSROOM / "questions.jsonl").questions}


LAKESIDE = (NEWSROOM / "seeds" / "lakeside-school-start-times.txt").read_text(encoding="utf-8")


def ask(newsroom: Service, question_id: str):
    question = QUESTIONS[question_id]
    return question, newsroom.ask(Query(question.question, question.history, 3, question.id))


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

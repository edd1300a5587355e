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


# A corrected article (its notice repeats the question's words better than the right figure does)
# and a signed one beside it, each with its byline on a line of its own.
HILL_FIRE = (
    "ASHFORD — About 2,100 residents left their homes on Sunday as a brush fire spread east of Ashford.\n"
    "The Quarry Fire started near Old Mill Road and had grown to 1,600 acres by Monday morning, fire officials said.\n"
    "Fire chief Dora Lindqvist said crews expected to contain it by Thursday.\n"
    "A previous version of this article said the fire had burned 16,000 acres. The correct figure is 1,600 acres.\n"
    "Marta Quinn\n"
)
COUNCIL_VOTE = (
    "ASHFORD — The Ashford town council approved a new library budget on Tuesday by a vote of 5-2.\n"
    "The budget adds evening hours at the main branch and buys a second book bus.\n"
    "Jonah Reyes\n"
)

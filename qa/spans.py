"""Typed spans: what kind of short answer a fact question asks for (a person, a date, an amount...)
and the spans of that kind in a sentence, found with patterns at query time on the few sentences
an answer cites.

Their readers: the verifier (a "how many" question whose best sentence holds no number it did
not itself mention is rarely answered by it) and the citations (a "when" question's citation
widens to the next sentence when only that one holds a date). The short answer itself is the
reader's (`qa.reader`), which picks the words far better than patterns near the question's.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from qa.lexical import NOT_PLURAL, STOPWORDS, composed, tokenize

_MONTH = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December"
    r"|Jan\.|Feb\.|Aug\.|Sept?\.|Oct\.|Nov\.|Dec\.)"
)
_WEEKDAY = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_NUMBER_WORD = (
    r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen"
    r"|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety"
    r"|hundred|thousand|dozen|dozens|hundreds|thousands|millions)"
)
_DIGITS = r"\d+(?:[.,]\d+)*"
_SCALE = r"(?:\s(?:thousand|million|billion|trillion))?"
_QUANTITY = rf"(?:{_DIGITS}{_SCALE}|{_NUMBER_WORD}(?:[\s-]{_NUMBER_WORD})*{_SCALE})"
_UNIT_OF_TIME = r"(?:second|minute|hour|day|week|month|year|decade|century|centuries)s?"

_NAME = r"\b[A-Z][\w'’.-]*[\w](?:\s(?:(?:of|de|du|da|van|von|the|and|for|al|bin)\s)?[A-Z][\w'’.-]*[\w])*"

# Patterns of each kind of span, most specific first within a kind.
_KIND_PATTERNS: dict[str, re.Pattern[str]] = {
    "money": re.compile(
        rf"[$€£¥]\s?{_DIGITS}{_SCALE}|\b{_DIGITS}{_SCALE}\s(?:dollars|euros|pounds|yen|yuan|lira|francs|marks|rupees)\b",
        re.I,
    ),
    "percent": re.compile(rf"\b{_QUANTITY}\s?(?:%|percent\b|per cent\b)", re.I),
    "clock": re.compile(r"\b\d{1,2}(?::\d{2})?\s?[ap]\.m\.|\b\d{1,2}:\d{2}\b|\b(?:noon|midnight)\b", re.I),
    "time": re.compile(
        rf"\b\d{{1,2}}(?::\d{{2}})?\s?[ap]\.m\.|\b{_MONTH}\s\d{{1,2}}(?:[-–]\d{{1,2}})?(?:,\s\d{{4}})?\b(?!\d)|\b\d{{1,2}}\s{_MONTH}(?:\s\d{{4}})?"
        rf"|\b{_MONTH}\s\d{{4}}\b|\b{_MONTH}(?!\w)|\b{_WEEKDAY}\b|\b(?:1[0-9]|20)\d{{2}}s?\b"
        rf"|\b\d{{1,2}}(?:st|nd|rd|th)\scentury\b"
    ),
    "duration": re.compile(
        rf"\b(?:(?:more than|less than|fewer than|nearly|almost|about|around|over|under|at least|up to|roughly)\s)?"
        rf"(?:{_QUANTITY}|a|an|several|few)[\s-]+(?:more\s)?{_UNIT_OF_TIME}(?:-long)?\b",
        re.I,
    ),
    "number": re.compile(rf"(?<![\w$€£¥.,]){_QUANTITY}(?![\w%])", re.I),
    # Runs of capitalised words, "of"/"de"/"the" allowed inside: people, organisations, places.
    "name": re.compile(_NAME),
    # A name after "in", "at", "near" or "from": where something is.
    "place": re.compile(r"(?:(?<=\bin )|(?<=\bat )|(?<=\bnear )|(?<=\bfrom ))" + _NAME),
}
# A place asked for by what it is ("which country", "what city", "where was she born"): it has a name.
_KIND_PATTERNS["named_place"] = _KIND_PATTERNS["place"]
PLACE_KINDS = frozenset({"place", "named_place"})

_AUX = r"(is|are|was|were|will|would|does|do|did|has|have|had|can|could|should|might|may)"

# Kinds whose patterns rarely miss an answer: a sentence without one does not say it. (Numbers,
# names and dates are written too many ways: on SQuAD v1.1 their absence cost answered questions.)
RELIABLE = frozenset({"money", "percent", "clock"})

# "How much more/higher/longer...": a difference, which no kind of span answers alone.
_NOT_COMPARED = r"(?! (?:more|less|higher|lower|larger|smaller|greater|bigger|longer|shorter|later|earlier|sooner)\b)"
# Verbs of a change in an amount ("rose", "has fallen", "increased"): a share says how much too.
_CHANGE = (
    r"(?:ris(?:e|es|en|ing)|rose|f[ae]ll(?:s|en|ing)?|(?:in|de)creas(?:e|es|ed|ing)|gr[eo]wn?|grows|growing"
    r"|(?:drop|climb|jump|gain)(?:s|ped|ed|ping|ing)?|declin(?:e|es|ed|ing)|shr[iau]nk(?:s|ing)?"
    r"|(?:go(?:es|ing)?|went|gone)\s(?:up|down))"
)

# What a question asks for, in order of precedence: (pattern, kinds whose spans answer it).
_ASKS: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = (
    # "How much later/earlier/sooner": a difference in time, said as a duration ("55 minutes later").
    (re.compile(r"\bhow (long|much time|much (later|earlier|sooner))\b", re.I), ("duration",)),
    # "How much did prices rise?": an amount or a share (money first, so a sentence holding both
    # answers with the amount); "how much is in the fund?", "how much money": an amount of money.
    # ... but a rate's or a share's change is a share first ("How much will the tax rate go up?":
    # "2.5 percent", not the "$310,000" the same sentence holds).
    (
        re.compile(rf"\bhow much{_NOT_COMPARED}(?=.*\b(?:rates?|share|proportion|percentage)\b.*\b{_CHANGE}\b)", re.I),
        ("percent", "money"),
    ),
    (re.compile(rf"\bhow much{_NOT_COMPARED}(?=.*\b{_CHANGE}\b)", re.I), ("money", "percent")),
    (
        re.compile(r"\bhow much(?= (is|are|was|were|will|would|does|do|did|has|have|had|money|funding)\b)", re.I),
        ("money",),
    ),
    (re.compile(rf"\bhow much\b{_NOT_COMPARED}", re.I), ("money", "percent")),
    (re.compile(r"\b(what|which) (percentage|percent|share|proportion|fraction)\b", re.I), ("percent",)),
    (re.compile(r"\bhow (many|old)\b|\bwhat (number|amount)\b", re.I), ("number",)),
    (re.compile(r"\b(what|which|at what) time\b", re.I), ("clock",)),
    (
        re.compile(
            rf"^\W*when(\s+{_AUX}\b|\W*$)|\b(what|which|in what|on what) (year|date|day|month|century|decade|period)\b",
            re.I,
        ),
        ("time",),
    ),
    (re.compile(r"^\W*(who|whom|whose)\b|\b(by|to|with|for) whom\b", re.I), ("name",)),
    # "Where does Warsaw rank in terms of population?" asks for a rank ("9th"), not a place.
    (
        re.compile(
            rf"\b(what|which|in what) (city|country|state|town|region|county)\b"
            rf"|^\W*where\s+{_AUX}\b.*\bborn\b",
            re.I,
        ),
        ("named_place",),
    ),
    (
        re.compile(rf"^\W*where(\s+{_AUX}\b(?!.*\branks?\b)|\W*$)|\b(what|which|in what) place\b", re.I),
        ("place",),
    ),
    (
        re.compile(
            r"\b(what|which) (team|company|organi[sz]ation|university|school|party|group|newspaper|agency)\b", re.I
        ),
        ("name",),
    ),
)

# A question that names the kind of amount it asks for ("How much is in the reserve fund?", "how
# much did it cost", "what percentage"): its answer is written as that kind, a sum or a share.
_NAMES_ITS_AMOUNT = re.compile(
    r"\b(percent|percentage)\b|\bhow much\b.*\b(costs?|costing|pa(y|ys|id)|spen(d|ds|t)|charge[sd]?|earn(s|ed)?"
    r"|worth|price[sd]?|funds?|funding|budget|money|salar(y|ies)|fees?|fined?|dollars|revenue|s(ell|old)|owed?|bill)\b",
    re.I,
)


def names_its_amount(question: str) -> bool:
    """Whether `question` asks for a sum of money or a share in so many words (cost, pay, fund,
    percentage...), so that a sentence without one does not answer it, however close its words."""
    return bool(_NAMES_ITS_AMOUNT.search(question))


# Kinds whose one span in a sentence is the short answer as it stands: where the best sentence of
# a SQuAD v1.1 dev part 1 question held exactly one date, count, share or amount, it matched the
# answer as often as the reader's words or more, and for more questions (README, Quality), so the
# reader is not run for it; so did a duration, once its pattern took what bounds it ("more than
# seven hours", not "seven hours"). Not names and places: a sentence's one capitalised run is less
# often the one asked for.
LONE_KINDS = frozenset({"time", "number", "percent", "money", "clock", "duration"})

_WORD = re.compile(r"\w+")
_NAME_WORD = re.compile(r"[\w'’.-]*\w")
# "How many more bus drivers...": the words after it name what is counted ("bus", "drivers").
# What a "how many" question counts: the words up to its verb ("more bus drivers" does), else one.
_HOW_MANY = re.compile(
    r"\bhow many\s+((?:[\w'-]+\s+){0,2}?[\w'-]+)"
    r"(?=\s+(is|are|was|were|will|would|does|do|did|has|have|had|can|could)\b)"
    r"|\bhow many\s+([\w'-]+)",
    re.I,
)
_NOT_COUNTED = frozenset({"more", "different", "total", "people"})
# A count names what it counts within this many words after it ("14 more drivers").
COUNT_REACH = 4
# Words a short answer may hold besides the question's: glue and articles never make it new.
_GLUE = frozenset("a an the of in on at to and or for by from with about some more than".split())


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    text: str


@lru_cache(maxsize=256)
def asked_kinds(question: str) -> tuple[str, ...]:
    """The kinds of span that answer `question`, or () for a question that asks for none. Cached:
    the verifier, the citations and the short answer of one answer each ask it of the question."""
    if _WHO_IS_NAMED.match(question):
        return ()
    for asks, kinds in _ASKS:
        if asks.search(question):
            return kinds
    return ()


# "Who is Wang Yi?" asks what a named person is (a role, a description), not for a name: the reader
# gave the other name in the sentence ("Antony J. Blinken"). "Who is the superintendent?" does ask
# for one.
_WHO_IS_NAMED = re.compile(r"^\W*(?i:who)\s+(?i:is|was|are|were)\s+(?:[A-Z][\w.'’-]*\s*)+\W*$")


# "Which team", "what year": a thing asked for by name. "What about the buses?", "What else?" and
# "what if" ask for no thing: the reader's words for them were whatever it found ("a federal
# port-safety grant" for "What about repairs?").
_WHICH_OR_WHAT_THING = re.compile(rf"^\W*(which|what)\s+(?!{_AUX}\b|about\b|else\W*$|if\b)\w+", re.I)


def asks_for_fact(question: str) -> bool:
    """Who, when, where, how many, how much, what year, which or what X...: a question a few
    words answer (the reader's short answer), whether or not it asks for a kind of span."""
    return bool(asked_kinds(question)) or bool(_WHICH_OR_WHAT_THING.match(question))


def without_asking(question: str) -> str:
    """`question` less the words that ask for a kind ("how many", "what year"): they name what
    is asked, not what the answer's sentence must say."""
    for asks, _ in _ASKS:
        if asks.search(question):
            return asks.sub(" ", question, count=1)
    return question


@lru_cache(maxsize=256)
def _words(text: str) -> frozenset[str]:
    return frozenset(w.lower() for w in _WORD.findall(composed(text)))


def _new(span: str, question_words: frozenset[str]) -> bool:
    """Whether `span` says something the question does not: a word neither glue nor the question's."""
    return bool(_words(span) - question_words - _GLUE)


def _opens_sentence(text: str, start: int) -> bool:
    """Whether `start` is the first word of a sentence of `text` (capitalised for that alone)."""
    before = text[max(0, start - 3) : start].rstrip()
    return (not before and not text[:start].strip()) or before[-1:] in {".", "!", "?", ":", '"', "“"}


@lru_cache(maxsize=256)
def _counted(question: str) -> frozenset[str]:
    """Stems of what a "how many" question counts; empty for any other question."""
    match = _HOW_MANY.search(composed(question))
    return frozenset(tokenize(match.group(1) or match.group(3), _NOT_COUNTED)) if match else frozenset()


def _counts(sentence: str, end: int, counted: frozenset[str]) -> bool:
    """Whether a number ending at `end` is followed closely by one of the `counted` words, before
    another number ("one fleet of 62 buses": the 62 counts the buses, the one a fleet)."""
    if not counted:
        return True
    following = sentence[end:].split()[:COUNT_REACH]
    before_next = list(itertools.takewhile(lambda word: not _STARTS_A_NUMBER.match(word), following))
    return bool(counted & set(tokenize(" ".join(before_next))))


_STARTS_A_NUMBER = re.compile(rf"\W*(?:\d|{_NUMBER_WORD}\b)", re.I)


def _trimmed(span: Span, question_words: frozenset[str]) -> Span:
    """A name less the question's words at its ends and a possessive ("NFL Commissioner Roger
    Goodell's" for "Who was the NFL Commissioner?": "Roger Goodell")."""
    words = list(_NAME_WORD.finditer(span.text))
    while words and words[0].group(0).lower() in question_words | _GLUE:
        words.pop(0)
    while words and words[-1].group(0).lower() in question_words | _GLUE:
        words.pop()
    if not words:
        return Span(span.start, span.start, "")
    start, end = words[0].start(), words[-1].end()
    text = _without_possessive(span.text[start:end])
    return Span(span.start + start, span.start + start + len(text), text)


def candidates(sentence: str, kinds: tuple[str, ...], question: str) -> list[Span]:
    """Spans of `kinds` in `sentence` that are not made of the question's own words; a name
    opening a sentence is kept only if it runs over more than one word ("These" is no name) and
    loses the question's words at its ends, a number is kept only if it is followed by what a
    "how many" question counts."""
    question_words = _words(question)
    counted = _counted(question)
    found: list[Span] = []
    for kind in kinds:
        for match in _KIND_PATTERNS[kind].finditer(sentence):
            span = Span(match.start(), match.end(), match.group(0))
            if kind == "name" or kind in PLACE_KINDS:
                span = _trimmed(span, question_words)
                if " " not in span.text and (_opens_sentence(sentence, span.start) or span.text.lower() in STOPWORDS):
                    continue
            if kind == "number" and not _counts(sentence, span.end, counted):
                continue
            if _new(span.text, question_words):
                found.append(span)
        if found:  # the first kind that occurs answers ("how much": money before a bare number)
            break
    return found


def lone_span(sentence: str, question: str) -> Span | None:
    """The span of `sentence` that answers `question` when the question asks for a kind of
    `LONE_KINDS` and the sentence holds exactly one span of it (`candidates`), else None."""
    kinds = asked_kinds(question)
    if not kinds or not set(kinds) <= LONE_KINDS:
        return None
    found = candidates(sentence, kinds, question)
    return found[0] if len(found) == 1 else None


# A person's name as news and reference copy write it after a title: capitalised words ("Wang",
# "María") and initials ("J."), up to four.
_TITLE_TOKEN = re.compile(r"[A-Z]\.|[\w'’-]+")
_PERSON_WORD = re.compile(r"[A-Z][a-zà-ÿ'’-]+|[A-Z]\.")
MAX_NAME_WORDS = 4
# Capitalised words that are no part of a person's name: more of a title, a body or a time ("Chief
# Executive Officer Jane Morrow", "Sheriff's Office Spokesman Tom Reed", "the Prime Minister's New
# Year Address", "The Foreign Minister Tuesday Evening"). A run holding one is not taken as a name.
_NOT_NAME_WORDS = frozenset(
    """officer office spokesman spokeswoman spokesperson agency headquarters board department council
    committee ministry minister bureau service administration administrator address university company
    corporation inc corp group association commission secretary director chief executive president
    governor mayor senator representative general commissioner chairman chairwoman chair judge justice
    police sheriff coach manager editor the of and for to in on at new year day eve morning afternoon
    evening night""".split()
)


def titled_name(sentence: str, question: str) -> Span | None:
    """For a "who" question, the name of two to four words that directly follows its title in
    `sentence`: two or more of the question's words ("Foreign Minister Wang Yi" for "Who is
    China's foreign minister?") or one in lower case ("defensive coordinator Wade Phillips"); the
    longest such title wins, and a run that may be more title, a body or a time is none. The
    reader gave "Antony J. Blinken", the sentence's first name, for that question; on SQuAD v1.1
    dev part 1 such names matched the answer for 33 of the 42 questions they were found for, the
    reader's words for 22 of the 32 it was sure of."""
    if asked_kinds(question) != ("name",):
        return None
    asked = frozenset(tokenize(without_asking(question)))
    tokens = list(_TITLE_TOKEN.finditer(sentence))
    in_question = [bool(asked & set(tokenize(token.group(0)))) for token in tokens]
    best: tuple[int, Span] | None = None
    for position, token in enumerate(tokens):
        if not in_question[position]:
            continue
        title = 1
        while position - title >= 0 and in_question[position - title]:
            title += 1
        if title < 2 and not token.group(0)[0].islower():
            continue
        name = list(itertools.islice(_name_after(sentence, tokens, in_question, position), MAX_NAME_WORDS + 1))
        if (
            not 2 <= len(name) <= MAX_NAME_WORDS  # a longer run is a body's name or a title and a name
            or name[-1].group(0).endswith(".")
            or any(_no_part_of_a_name(sentence, word) for word in name)
        ):
            continue
        text = _without_possessive(sentence[name[0].start() : name[-1].end()])
        if best is None or title > best[0]:
            best = (title, Span(name[0].start(), name[0].start() + len(text), text))
    return best[1] if best else None


_WEEKDAY_NAME = re.compile(_WEEKDAY, re.I)
_MONTH_NAME = re.compile(_MONTH, re.I)
_DAY_OF_MONTH = re.compile(r"\s+\d")
_POSSESSIVE = re.compile(r"['’]s$")


def _without_possessive(text: str) -> str:
    """`text` less a final "'s" ("Goodell's": "Goodell")."""
    return _POSSESSIVE.sub("", text)


def _no_part_of_a_name(sentence: str, token: re.Match[str]) -> bool:
    """Whether a capitalised word is a title's, a body's or a time's ("Sheriff's", "Office",
    "Tuesday", "May 3"), not a person's. A month's name with no day after it is a person's:
    "Theresa May", "April Ryan"."""
    word = _without_possessive(token.group(0))
    if word.lower() in _NOT_NAME_WORDS or _WEEKDAY_NAME.fullmatch(word):
        return True
    return bool(_MONTH_NAME.fullmatch(word)) and bool(_DAY_OF_MONTH.match(sentence, token.end()))


def _name_after(
    sentence: str, tokens: list[re.Match[str]], in_question: list[bool], position: int
) -> Iterator[re.Match[str]]:
    """The words of a person's name right after `tokens[position]`, one space apart, none of them
    the question's own."""
    for following in range(position + 1, len(tokens)):
        token = tokens[following]
        if (
            in_question[following]
            or not _PERSON_WORD.fullmatch(token.group(0))
            or sentence[tokens[following - 1].end() : token.start()] != " "
        ):
            return
        yield token


# What words of each kind read as, at the least: the reader's words for a "how many" question say a
# number, for a "when" question a date, a day or a time of history, and for a "who" or "where"
# question more than a number ("39" does not say who). On SQuAD v1.1 dev part 1 the reader's
# words that fail this matched SQuAD's answer once in 23 (README, Quality).
# Counts news copy writes in words: "a couple of firefighters", "a handful of homes", "a million
# toys", "nobody". (A tester found "How many firefighters were hurt?" declined for want of them.)
_COUNT_WORDS = (
    r"several|few|many|half|both|single|once|twice|thrice|million|billion|trillion|couple|handful|scores?"
    r"|pair|majority|minority|nobody|none|no one|zero|dozen|dozens|hundreds|thousands|millions"
)
_READS_AS_COUNT = re.compile(rf"\d|\b{_NUMBER_WORD}\b|\b(?:{_COUNT_WORDS})\b", re.I)
_READS_AS_TIME = re.compile(
    rf"\d|\b{_MONTH}|\b{_WEEKDAY}\b|\b(?:spring|summer|autumn|fall|winter|centur(?:y|ies)|decades?|era|age|war)\b"
    r"|^\W*(?:during|after|before|while|since|until|following|prior|early|late|in the|at the|by the|when|once)\b"
    # A time said relative to the story: "earlier this year", "last week", "two days ago", "today".
    r"|\b(?:this|last|next|that|the previous|the following)\s(?:year|month|week|day|decade|century|morning"
    r"|afternoon|evening|night|weekend|spring|summer|autumn|fall|winter)\b|\bago\b"
    r"|^\W*(?:earlier|later|lately|recently|shortly|today|yesterday|tomorrow|tonight|overnight)\b"
    # A time of day or a day named for an occasion: "at dawn", "Christmas Eve", "New Year's Day".
    r"|\b(?:dawn|dusk|noon|midnight|sunrise|sunset|morning|afternoon|evening|night|overnight|weekend|holidays?"
    r"|eve|christmas|easter|thanksgiving|new year(?:'s|’s)?(?: day| eve)?|election day|independence day)\b"
    r"|\brecent\s(?:days|weeks|months|years)\b",
    re.I,
)
_READS_AS_NAME = re.compile(r"[A-Z]|^[^\d]*$")
# A duration says a number or a unit of time; "1870 to 1939" and "since 2001" do too (a unit alone
# was required once, and it dropped those right answers on SQuAD).
_READS_AS_DURATION = re.compile(
    rf"{_READS_AS_COUNT.pattern}|\b(?:{_UNIT_OF_TIME}|era|age|lifetime|while|long|short|brief|fortnight|overnight"
    r"|night|morning|afternoon|evening|generation|season|term|weekend)\b",
    re.I,
)
# A day of the calendar without the other end of a span ("October 26-27", "4 August 1915") says
# when, not how long: the reader gave "October 26-27" for "How long did Blinken and Wang Yi talk?"
# from the sentence saying "more than seven hours"; on SQuAD such words matched no answer
# ("from 4 August 1915 until November 1918" is one).
_DATE_NOT_SPAN = re.compile(
    # The month in its capital ("They may stay ..." names none); the words of a span in any case.
    rf"^(?!.*\b(?:from|until|till|to|through|between|since)\b).*\b(?-i:{_MONTH}|{_WEEKDAY}\b)",
    re.I,
)


# A day of the calendar ("October 26-27", "4 August") counts nothing: the reader gave "October
# 26-27" for "How many hours did Blinken and Wang Yi talk?".
_CALENDAR_DAY = re.compile(rf"\b{_MONTH}\s\d|\b\d{{1,2}}\s{_MONTH}")


def _reads_as_count(words: str) -> bool:
    return not _CALENDAR_DAY.search(words) and bool(_READS_AS_COUNT.search(words))


def _reads_as_duration(words: str) -> bool:
    return not _DATE_NOT_SPAN.search(words) and bool(_READS_AS_DURATION.search(words))


_READS_AS: dict[str, Callable[[str], object]] = {
    "number": _reads_as_count,
    "time": _READS_AS_TIME.search,
    "duration": _reads_as_duration,
    "name": _READS_AS_NAME.search,
    "place": _READS_AS_NAME.search,
    "named_place": _READS_AS_NAME.search,
}


def names_a_place_if_asked(words: str, kinds: tuple[str, ...]) -> bool:
    """Whether `words` may be the short answer to a question asking for a place by what it is
    ("which country", "what city", "where was he born"): only with a capital. On SQuAD v1.1 and
    2.0 dev part 1 none of the reader's words without one matched such an answer (8 of 8 wrong:
    "city", "imperialism"), where those for other "where" questions matched 18 of 29 ("along the
    coast"). Not a reason to decline: the sentence may still name the place the reader missed."""
    return not kinds or kinds[0] != "named_place" or any(c.isupper() for c in words)


def reads_as(words: str, kinds: tuple[str, ...]) -> bool:
    """Whether `words` can be an answer of the first of `kinds` (any words can when there is none):
    a short answer "number" to "How many students attend?" or "year" to "When was she appointed?"
    tells a reader the service misread, not what it found."""
    return not kinds or kinds[0] not in _READS_AS or bool(_READS_AS[kinds[0]](words))


# A dateline: the place, in capitals, that opens an article before a dash ("LAKESIDE — ",
# "Washington, DC — ").
_DATELINE = re.compile(r"^[A-Z][\w.'’]*(?:,?\s[A-Z][\w.'’]*){0,4}\s[—–-]{1,2}\s")


def clear_of_dateline(sentence: str, first: int, last: int, kinds: tuple[str, ...]) -> bool:
    """Whether words `sentence[first:last]` may answer a question asking for `kinds`, as far as the
    dateline opening the sentence goes: words in it name where the story was filed, which answers
    "where" at most ("PORT ELLIS" was the short answer to "Who voted against closing the
    terminal?"), and never when they run on past its dash ("PORT ELLIS — The Port Ellis city
    council" for "Where is the new terminal?")."""
    found = _DATELINE.match(sentence)
    if found is None or first >= found.end():
        return True
    return bool(PLACE_KINDS.intersection(kinds)) and last <= found.end()


# The next name of a list: ", Name", ", and Name", " and Name" (names as `_NAME` has them).
_LISTED_NAME = re.compile(r"(?:,\s(?:and\s)?|\sand\s)(" + _NAME + ")")


# A question asking for several: "Which council members ...?", "What countries ...?", "Who were ...?".
_ASKS_FOR_SEVERAL = re.compile(
    r"^\W*(?:(?:which|what)\s+(?:[a-z][\w-]*\s+){0,2}?([a-z][\w-]*[^s\W']s)\b(?!\s(?:is|was|has|does)\b)"
    r"|who\s+(?:were|are)\b)",
    re.I,
)


def asks_for_several(question: str) -> bool:
    found = _ASKS_FOR_SEVERAL.match(question)
    return found is not None and (found.group(1) or "").lower() not in NOT_PLURAL


def with_listed_names(sentence: str, first: int, last: int) -> int:
    """Where words `sentence[first:last]` end once the names listed after them are taken too,
    when those words are one name: "Dana Kowalski, Luis Ortega and Priya Raman" for a question
    whose answer is the three ("Dana Kowalski" was a tester's short answer)."""
    if _KIND_PATTERNS["name"].fullmatch(sentence, first, last) is None:
        return last
    while (found := _LISTED_NAME.match(sentence, last)) is not None:
        last = found.end()
    return last

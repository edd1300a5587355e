"""Stage 2, chunking: sentence spans are exact slices of the text, whatever the text is.

The property tests feed the splitter arbitrary Unicode (emoji, combining marks, CRLF, repeated
sentences, whitespace-only and very long run-on text) and check the invariants every citation
relies on; the example tests pin offsets that a reader can check by hand.
"""

from __future__ import annotations

import time
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qa.chunking import Sentence, group_into_chunks, split_sentences
from tests.conftest import SEED_ID, SEED_TEXT

WHITESPACE = " \t\r\n\u00a0\u2028\u3000\x0b\x0c"
FRAGMENTS = [
    "The talks lasted seven hours.",
    "Blinken met Wang Yi in Washington.",
    "Dr. Smith arrived at 3 p.m.",
    "U.S. officials said so!",
    "Why?",
    "...",
    "“Quoted,” he said.",
    "😀",
    "👩‍👩‍👧",
    "e\u0301",
    "\u0308",
    "Ça va? Très bien.",
    "東京で会談した。",
    "مرحبا.",
    " ",
    "  ",
    "\t",
    "\n",
    "\r\n",
    "\r\n\r\n",
    "\r",
    "\u00a0",
    "\u2028",
    "\ufeff",
]
REPEATED = st.sampled_from(["The talks went well. ", "Yes. ", "No!\r\n"]).flatmap(
    lambda sentence: st.integers(2, 30).map(lambda count: sentence * count)
)
RUN_ON = st.lists(
    st.sampled_from(["talks", "Wang", "Yi", "😀", "naïve", "e\u0301t\u00e9", "a" * 40]), min_size=100, max_size=700
).map(" ".join)
TEXTS = st.one_of(
    st.text(max_size=300),
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=12)), max_size=60).map("".join),
    st.text(alphabet=WHITESPACE, max_size=50),
    REPEATED,
    RUN_ON,
)
PROPERTY = settings(max_examples=200, deadline=None)


def assert_exact_sentences(text: str, sentences: list[Sentence], max_chars: int) -> None:
    """The contract of `split_sentences` that citations depend on."""
    for position, sentence in enumerate(sentences):
        assert sentence.position == position
        assert text[sentence.start : sentence.end] == sentence.text
        assert sentence.text, "no empty sentence"
        assert sentence.text == sentence.text.strip(), "no leading or trailing whitespace"
        assert len(sentence.text) <= max_chars
    bounds = [0] + [offset for s in sentences for offset in (s.start, s.end)] + [len(text)]
    assert bounds == sorted(bounds), "sentences are in order and do not overlap"
    gaps = "".join(text[left:right] for left, right in zip(bounds[::2], bounds[1::2], strict=True))
    assert gaps.strip() == "", f"only whitespace may fall between sentences, lost {gaps!r}"
    assert len(gaps) + sum(len(s.text) for s in sentences) == len(text)


@PROPERTY
@given(text=TEXTS, max_chars=st.sampled_from([1, 7, 40, 600]))
def test_sentences_are_exact_ordered_trimmed_spans(text: str, max_chars: int) -> None:
    assert_exact_sentences(text, split_sentences("doc", text, max_chars), max_chars)


@PROPERTY
@given(text=TEXTS, size=st.integers(1, 5), data=st.data())
def test_chunks_are_windows_of_size_sharing_overlap(text: str, size: int, data: st.DataObject) -> None:
    overlap = data.draw(st.integers(0, size - 1), label="overlap")
    sentences = split_sentences("doc", text, 40)
    chunks = group_into_chunks(text, sentences, size, overlap)
    if not sentences:
        assert chunks == []
        return
    step = size - overlap
    assert [c.first_sentence for c in chunks] == list(range(0, step * len(chunks), step))
    for position, chunk in enumerate(chunks):
        assert (chunk.doc_id, chunk.position) == ("doc", position)
        assert chunk.last_sentence == min(chunk.first_sentence + size, len(sentences)) - 1
        assert chunk.start == sentences[chunk.first_sentence].start
        assert chunk.end == sentences[chunk.last_sentence].end
        assert text[chunk.start : chunk.end] == chunk.text
    for before, after in pairwise(chunks):
        assert before.last_sentence - after.first_sentence + 1 == overlap
    assert chunks[-1].last_sentence == len(sentences) - 1, "every sentence is in a chunk"
    if len(chunks) > 1:
        assert chunks[-2].last_sentence < len(sentences) - 1, "no window after the one that ends the text"


def test_repeated_identical_sentences_keep_their_own_offsets() -> None:
    text = "The talks went well. " * 3
    sentences = split_sentences("doc", text)
    assert [(s.start, s.end) for s in sentences] == [(0, 20), (21, 41), (42, 62)]
    assert {s.text for s in sentences} == {"The talks went well."}


def test_an_article_on_one_long_line_is_split_in_time_linear_in_its_length() -> None:
    # A feed that strips line breaks sends a whole article as one paragraph; pysbd's time grows much
    # faster than its length: this 200,000-character line took 43 s (an article like it, 50 s to publish).
    line = " ".join(SEED_TEXT.split())
    text = " ".join([line] * (200_000 // len(line) + 1))
    started = time.perf_counter()
    sentences = split_sentences("doc", text)
    assert time.perf_counter() - started < 10
    assert all(text[s.start : s.end] == s.text == s.text.strip() for s in sentences)
    assert all(before.end < after.start for before, after in pairwise(sentences))
    # The windows find the sentences of the article as it is split alone, every time it repeats.
    alone = [s.text for s in split_sentences("doc", line)]
    assert [s.text for s in sentences][: 3 * len(alone)] == alone * 3


def test_crlf_line_endings_stay_outside_sentences() -> None:
    text = "First line.\r\nSecond line.\r\n"
    assert [(s.start, s.end, s.text) for s in split_sentences("doc", text)] == [
        (0, 11, "First line."),
        (13, 25, "Second line."),
    ]


def test_whitespace_only_and_empty_text_have_no_sentences() -> None:
    assert split_sentences("doc", "") == []
    assert split_sentences("doc", " \r\n\t\u00a0\r\n") == []


def test_run_on_text_is_cut_at_whitespace_under_max_chars() -> None:
    text = " ".join(["abcd"] * 30)
    sentences = split_sentences("doc", text, max_chars=12)
    assert [s.text for s in sentences] == ["abcd abcd"] * 15
    assert [s.start for s in sentences] == list(range(0, 150, 10))


def test_a_word_longer_than_max_chars_is_cut_inside_the_word() -> None:
    assert [(s.start, s.end) for s in split_sentences("doc", "x" * 25, max_chars=10)] == [(0, 10), (10, 20), (20, 25)]


@pytest.mark.parametrize(
    ("text", "pieces"),
    [
        (
            "The envoy spoke for hours; the minister answered briefly, then the talks ended at dusk",
            ["The envoy spoke for hours;", "the minister answered briefly, then the talks ended at dusk"],
        ),
        (
            "He named three aims: trade, security and the climate, and one more thing to come",
            ["He named three aims:", "trade, security and the climate, and one more thing to come"],
        ),
        (
            "The envoy spoke for many hours, and the minister answered him briefly at dusk",
            ["The envoy spoke for many hours,", "and the minister answered him briefly at dusk"],
        ),
        (
            "The envoy spoke for many hours — the minister answered him briefly at dusk",
            ["The envoy spoke for many hours —", "the minister answered him briefly at dusk"],
        ),
        (
            "The envoy spoke for many hours—the minister answered him briefly at dusk",
            ["The envoy spoke for many hours—", "the minister answered him briefly at dusk"],
        ),
    ],
    ids=["semicolon", "colon", "comma", "spaced-dash", "dash"],
)
def test_a_long_sentence_is_cut_at_a_clause_boundary(text: str, pieces: list[str]) -> None:
    sentences = split_sentences("doc", text, max_chars=60)
    assert [s.text for s in sentences] == pieces
    assert_exact_sentences(text, sentences, 60)


def test_a_semicolon_wins_over_a_later_comma_and_an_early_boundary_over_none() -> None:
    text = "Talks went on, and on; the minister, tired, left early, and the envoy stayed on"
    assert [s.text for s in split_sentences("doc", text, max_chars=60)] == [
        "Talks went on, and on;",
        "the minister, tired, left early, and the envoy stayed on",
    ]


def test_a_clause_boundary_near_the_start_is_not_used_for_a_tiny_piece() -> None:
    text = "Yes, the envoy spoke for many hours and the minister answered him briefly at dusk"
    assert [s.text for s in split_sentences("doc", text, max_chars=60)] == [
        "Yes, the envoy spoke for many hours and the minister",
        "answered him briefly at dusk",
    ]


def test_a_closing_quote_after_an_ellipsis_ends_the_sentence_before_a_capital() -> None:
    text = "He said, “…Americans should be barred from holding them…” According to Reuters, 42 were listed."
    assert [s.text for s in split_sentences("doc", text)] == [
        "He said, “…Americans should be barred from holding them…”",
        "According to Reuters, 42 were listed.",
    ]


@pytest.mark.parametrize(
    "text",
    [
        "“Wait,” Blinken said.",  # a comma inside the quote: the sentence goes on
        "He called it “a first step” At the end.",  # no full stop before the quote
        "“Stop.” he said.",  # no capital after the quote
    ],
)
def test_a_closing_quote_without_a_sentence_end_and_a_capital_does_not_cut(text: str) -> None:
    assert [s.text for s in split_sentences("doc", text)] == [text]


def test_seed_article_robinson_quote_is_whole_and_the_reuters_sentence_starts_at_according() -> None:
    sentences = split_sentences(SEED_ID, SEED_TEXT)
    quote = next(s for s in sentences if "Roger Robinson" in s.text)
    assert quote.text.startswith("In a recent Congressional hearing")
    assert quote.text.endswith("via ETFs, mutual funds, and other passive investment products…”")
    reuters = sentences[quote.position + 1]
    assert reuters.text == (
        "According to a Reuters report, 42 Chinese companies were added on the governmental "
        "export control list for their support for the Russian military."
    )
    assert (quote.start, quote.end, reuters.start) == (2086, 2671, 2672)


def test_seed_article_fentanyl_sentence_offsets() -> None:
    sentences = split_sentences(SEED_ID, SEED_TEXT)
    fentanyl = [s for s in sentences if "fentanyl" in s.text]
    assert [(s.start, s.end) for s in fentanyl] == [(921, 1115)]
    assert fentanyl[0].text.startswith("The talks covered a broad spectrum of issues")
    assert fentanyl[0].text.endswith("particularly those contributing to the fentanyl crisis.")
    assert_exact_sentences(SEED_TEXT, sentences, 600)


def test_seed_article_chunks_are_three_sentences_sharing_one() -> None:
    sentences = split_sentences(SEED_ID, SEED_TEXT)
    chunks = group_into_chunks(SEED_TEXT, sentences, 3, 1)
    assert len(sentences) == 30
    assert [(c.first_sentence, c.last_sentence) for c in chunks] == [(i, i + 2) for i in range(0, 28, 2)] + [(28, 29)]


@pytest.mark.parametrize(("size", "overlap"), [(0, 0), (3, 3), (3, -1), (2, 5)])
def test_invalid_chunk_settings_are_rejected(size: int, overlap: int) -> None:
    with pytest.raises(ValueError, match="chunks need size >= 1 and 0 <= overlap < size"):
        group_into_chunks("A. B.", split_sentences("doc", "A. B."), size, overlap)

"""Questions scoped to some articles (`doc_ids`), and what a citation says about its article:
title, link, and offsets a JavaScript page can use (UTF-16 code units)."""

from __future__ import annotations

import json
import shutil
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from qa.abstention import unknown_names
from qa.api import create_app
from qa.documents import Document
from qa.lexical import tokenize
from qa.retrieval import Query
from qa.service import Service
from qa.vectors import build_vector_index, search
from tests.conftest import FENTANYL_QUESTION, SEED_ID, SEEDS, run_qa
from tests.contracts import as_sent_on

HARBOUR_ID = "harbour"
# Astral characters (two UTF-16 code units each) before the sentence that answers.
HARBOUR = (
    "Harbour news 😀🚢 from 𝕏-town.\n\nThe new harbour bridge opened on Monday. It cost 40 million dollars to build.\n"
)
BRIDGE_QUESTION = "How much did the new harbour bridge cost to build?"
# Accents typed as combining marks (NFD: "e" + U+0301), as some editors and macOS file names write them.
DECOMPOSED = "Ame\u0301lie Poulain opened a cafe\u0301 in Paris in 2001."


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory, service: Service) -> Service:
    """The seed article and a short harbour article with emoji and a link, one index."""
    root = tmp_path_factory.mktemp("two-articles")
    seeds = root / "seeds"
    shutil.copytree(SEEDS, seeds)
    (seeds / f"{HARBOUR_ID}.txt").write_text(HARBOUR, encoding="utf-8")
    (seeds / f"{HARBOUR_ID}.json").write_text(
        json.dumps({"title": "Bridge opens", "url": "https://news.example/b"}), encoding="utf-8"
    )
    settings = service.settings.with_overrides(seeds_dir=seeds, index_dir=root / "index")
    return Service(settings, embedder=service.embedder).load()


def cited_documents(service: Service, query: Query) -> set[str]:
    return {citation.doc_id for citation in service.ask(query).citations}


def test_a_question_is_answered_from_the_articles_it_is_scoped_to(archive: Service) -> None:
    assert cited_documents(archive, Query(FENTANYL_QUESTION)) == {SEED_ID}
    scoped_away = Query(FENTANYL_QUESTION, doc_ids=(HARBOUR_ID,), top_k=5)
    assert not archive.ask(scoped_away).answerable, "the harbour article says nothing about fentanyl"
    # With abstention off, what is cited at all comes from the harbour article only.
    unguarded = Service(archive.settings.with_overrides(min_confidence=0.0), embedder=archive.embedder).load()
    assert unguarded.status()["index"] == archive.status()["index"]
    assert cited_documents(unguarded, scoped_away) == {HARBOUR_ID}
    assert cited_documents(archive, Query(BRIDGE_QUESTION, doc_ids=(HARBOUR_ID,))) == {HARBOUR_ID}
    assert cited_documents(archive, Query(BRIDGE_QUESTION, doc_ids=(SEED_ID,), top_k=5)) <= {SEED_ID}


def test_scoped_and_unscoped_questions_in_one_batch_keep_their_own_scope(archive: Service) -> None:
    answers = archive.ask_many(
        [
            Query(BRIDGE_QUESTION, doc_ids=(SEED_ID,), top_k=5),
            Query(BRIDGE_QUESTION),
            Query(FENTANYL_QUESTION, doc_ids=(SEED_ID, HARBOUR_ID)),
        ]
    )
    assert {c.doc_id for c in answers[0].citations} <= {SEED_ID}
    assert answers[1].citations[0].doc_id == HARBOUR_ID
    assert answers[2].citations[0].doc_id == SEED_ID


def test_citations_carry_the_title_the_link_and_utf16_offsets(archive: Service) -> None:
    (citation,) = archive.ask(Query(BRIDGE_QUESTION, doc_ids=(HARBOUR_ID,), top_k=1)).citations
    assert (citation.title, citation.url) == ("Bridge opens", "https://news.example/b")
    assert HARBOUR[citation.start : citation.end] == citation.quote and "40 million" in citation.quote
    as_javascript = HARBOUR.encode("utf-16-le")  # two bytes a code unit
    assert citation.start_utf16 == citation.start + 3, "three astral characters come before the span"
    assert as_javascript[2 * citation.start_utf16 : 2 * citation.end_utf16].decode("utf-16-le") == citation.quote
    short = citation.short_answer  # the same offsets for the words a page highlights first
    assert short is not None and HARBOUR[short.start : short.end] == short.text and "40 million" in short.text
    assert short.start_utf16 == short.start + 3
    assert as_javascript[2 * short.start_utf16 : 2 * short.end_utf16].decode("utf-16-le") == short.text


def test_an_article_without_astral_characters_has_equal_offsets_and_no_link(archive: Service) -> None:
    citation = archive.ask(Query(FENTANYL_QUESTION)).citations[0]
    assert (citation.start_utf16, citation.end_utf16) == (citation.start, citation.end)
    assert citation.url is None and citation.title


@pytest.fixture()
def archive_client(archive: Service):
    return create_app(archive.settings, archive).test_client()


UNKNOWN = {
    "code": "unknown_documents",
    "message": "The archive holds no document with the ids 'nope', 'gone'.",
    "fields": {"doc_ids": ["No document has the id 'nope'.", "No document has the id 'gone'."]},
}


def test_ask_scoped_to_unknown_articles_is_a_400_naming_them(archive_client) -> None:
    response = archive_client.post(
        "/v1/ask", json={"question": BRIDGE_QUESTION, "doc_ids": ["nope", HARBOUR_ID, "gone", "nope"]}
    )
    assert response.status_code == 400 and response.get_json() == {"error": UNKNOWN}
    too_many = archive_client.post("/v1/ask", json={"question": BRIDGE_QUESTION, "doc_ids": ["x"] * 101})
    assert too_many.status_code == 400 and "doc_ids" in too_many.get_json()["error"]["fields"]


def test_an_empty_scope_is_a_400_not_the_whole_archive(archive_client) -> None:
    # "doc_ids": [] answered from every article: a client that narrowed its list to nothing got
    # answers from the articles it meant to leave out.
    empty = {"doc_ids": ["Name at least one article, or leave doc_ids out to answer from all of them."]}
    asked = archive_client.post("/v1/ask", json={"question": BRIDGE_QUESTION, "doc_ids": []})
    assert asked.status_code == 400
    assert asked.get_json()["error"]["code"] == "invalid_request" and asked.get_json()["error"]["fields"] == empty
    chat = archive_client.post(
        "/v1/chat/completions", json={"messages": [{"role": "user", "content": BRIDGE_QUESTION}], "doc_ids": []}
    )
    assert chat.status_code == 400 and chat.get_json()["error"]["fields"] == empty
    batch = archive_client.post(
        "/v1/ask/batch", json={"questions": [{"id": "none", "question": BRIDGE_QUESTION, "doc_ids": []}]}
    )
    (result,) = batch.get_json()["results"]
    assert result["error"]["fields"] == empty
    # Leaving the field out still answers from every article, in each route.
    assert archive_client.post("/v1/ask", json={"question": BRIDGE_QUESTION}).status_code == 200
    chat = archive_client.post(
        "/v1/chat/completions", json={"messages": [{"role": "user", "content": BRIDGE_QUESTION}]}
    )
    assert chat.status_code == 200


def test_ask_batch_and_chat_answer_within_their_scope(archive_client) -> None:
    asked = archive_client.post("/v1/ask", json={"question": BRIDGE_QUESTION, "doc_ids": [HARBOUR_ID], "top_k": 1})
    (citation,) = asked.get_json()["citations"]
    assert citation["doc_id"] == HARBOUR_ID and citation["url"] == "https://news.example/b"
    batch = archive_client.post(
        "/v1/ask/batch",
        json={
            "questions": [
                {"id": "in", "question": FENTANYL_QUESTION, "doc_ids": [SEED_ID]},
                {"id": "out", "question": FENTANYL_QUESTION, "doc_ids": ["nope", "gone"]},
                {"id": "harbour", "question": FENTANYL_QUESTION, "doc_ids": [HARBOUR_ID]},
            ]
        },
    ).get_json()["results"]
    assert batch[0]["citations"][0]["doc_id"] == SEED_ID
    assert batch[1] == {"id": "out", "error": UNKNOWN}
    assert batch[2]["answerable"] is False and batch[2]["citations"] == []
    chat = archive_client.post(
        "/v1/chat/completions",
        json={"messages": [{"role": "user", "content": BRIDGE_QUESTION}], "doc_ids": [HARBOUR_ID], "top_k": 1},
    )
    assert chat.get_json()["choices"][0]["message"]["citations"][0]["doc_id"] == HARBOUR_ID
    unknown = archive_client.post(
        "/v1/chat/completions",
        json={"messages": [{"role": "user", "content": BRIDGE_QUESTION}], "doc_ids": ["nope", "gone"]},
    )
    expected = as_sent_on("/v1/chat/completions", {"error": UNKNOWN}, param="doc_ids")
    assert unknown.status_code == 400 and unknown.get_json() == expected


def archive_env(archive: Service) -> dict[str, str]:
    return {"QA_SEEDS_DIR": str(archive.settings.seeds_dir), "QA_INDEX_DIR": str(archive.settings.index_dir)}


def test_qa_ask_doc_id_scopes_the_question_as_the_api_does(archive: Service, archive_client) -> None:
    """`qa ask` had no way to name the articles `POST /v1/ask` scopes to with `doc_ids`."""
    body = {"question": FENTANYL_QUESTION, "doc_ids": [HARBOUR_ID, SEED_ID, HARBOUR_ID], "top_k": 2}
    from_api = archive_client.post("/v1/ask", json=body).get_json()
    args = ["--doc-id", HARBOUR_ID, "--doc-id", SEED_ID, "--doc-id", HARBOUR_ID, "--top-k", "2", "--json"]
    result = run_qa(archive_env(archive), "ask", FENTANYL_QUESTION, *args)
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["citations"] and {k: v for k, v in printed.items() if k != "took_ms"} == {
        k: v for k, v in from_api.items() if k != "took_ms"
    }
    scoped_away = run_qa(archive_env(archive), "ask", FENTANYL_QUESTION, "--doc-id", HARBOUR_ID, "--json")
    assert scoped_away.exit_code == 0, scoped_away.output
    assert json.loads(scoped_away.stdout)["answerable"] is False, "the harbour article says nothing about fentanyl"


def test_qa_ask_doc_id_the_archive_lacks_is_a_usage_error_in_the_apis_words(archive: Service) -> None:
    args = ["--doc-id", "nope", "--doc-id", HARBOUR_ID, "--doc-id", "gone"]
    result = run_qa(archive_env(archive), "ask", BRIDGE_QUESTION, *args)
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.endswith(f"\nError: Invalid value for '--doc-id': {UNKNOWN['message']}\n")
    assert "Traceback" not in result.stderr


def test_qa_ask_doc_id_the_api_refuses_is_a_usage_error_before_loading(archive_client, tmp_path: Path) -> None:
    """Checked by the API's schema, with its messages, before any index is opened."""
    too_long = "x" * 129
    refused = archive_client.post("/v1/ask", json={"question": BRIDGE_QUESTION, "doc_ids": [HARBOUR_ID, too_long]})
    assert refused.status_code == 400
    message = " ".join(refused.get_json()["error"]["fields"]["doc_ids"]["1"])
    nowhere = {"QA_SEEDS_DIR": str(tmp_path / "no-seeds"), "QA_INDEX_DIR": str(tmp_path / "no-index")}
    result = run_qa(nowhere, "ask", BRIDGE_QUESTION, "--doc-id", HARBOUR_ID, "--doc-id", too_long)
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.endswith(f"\nError: Invalid value for '--doc-id': item 2: {message}\n")
    assert not (tmp_path / "no-index").exists()


@pytest.mark.parametrize("index_type", ["flat", "hnsw"])
def test_a_scoped_vector_search_finds_the_exact_best_of_the_allowed_chunks(index_type: str) -> None:
    """On HNSW an id-filtered graph walk misses most chunks of one article among thousands."""
    rng = np.random.default_rng(7)
    count = 20_000  # a filtered HNSW walk found 4-8 of the 10 best here (efSearch 256)
    vectors = rng.normal(size=(count, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = build_vector_index(vectors, np.arange(count), index_type)
    allowed = rng.choice(count, size=15, replace=False)
    queries = vectors[rng.choice(count, size=5)]
    scores, ids = search(index, queries, 10, allowed)
    exact = allowed[np.argsort(-(queries @ vectors[allowed].T), axis=1, kind="stable")[:, :10]]
    assert ids.tolist() == exact.tolist()
    assert np.allclose(scores, np.take_along_axis(queries @ vectors.T, ids, axis=1), atol=1e-5)


def test_a_name_only_another_article_mentions_counts_as_unknown_in_a_scoped_question(archive: Service) -> None:
    question = "What did Blinken say about the harbour bridge?"
    assert unknown_names(question, archive.index) == 0  # the seed article names Blinken
    assert unknown_names(question, archive.index, doc_ids=(SEED_ID,)) == 0
    assert unknown_names(question, archive.index, doc_ids=(HARBOUR_ID,)) == 1


def test_a_word_with_a_combining_accent_is_the_word_with_the_composed_letter() -> None:
    composed = unicodedata.normalize("NFC", DECOMPOSED)
    assert composed != DECOMPOSED
    # Before: ['ame', 'lie', 'poulain', 'open', 'cafe', 'pari', '2001'] for the decomposed text.
    assert tokenize(DECOMPOSED) == tokenize(composed) == ["améli", "poulain", "open", "café", "pari", "2001"]


def test_an_article_with_combining_accents_answers_a_question_typed_with_composed_letters(
    private_service: Service,
) -> None:
    # Declined before (confidence 0.32): the question's "Amélie" and "café" were not the article's words.
    private_service.publish([Document("amelie", DECOMPOSED)])
    answer = private_service.ask(Query("Where did Amélie open a café?", doc_ids=("amelie",)))
    assert answer.answerable
    first = answer.citations[0]
    assert (first.doc_id, first.start, first.end, first.quote) == ("amelie", 0, len(DECOMPOSED), DECOMPOSED)
    short = first.short_answer
    assert short is not None and (short.text, DECOMPOSED[short.start : short.end]) == ("Paris", "Paris")

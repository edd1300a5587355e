"""The HTTP API through Flask's test client, on the session's real index: answers whose citations
are exact spans, and every error of the README's table with its exact JSON body."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import marshmallow as ma
import pytest
from flask import Flask
from openapi_spec_validator import validate

from qa.api import create_app
from qa.api.batch import BatchAnswerSchema
from qa.config import Settings
from qa.documents import DocumentError
from qa.limits import DEFAULT_TOP_K
from qa.retrieval import Query
from qa.schemas import AnswerSchema
from qa.service import Service
from tests.conftest import FENTANYL_QUESTION as FENTANYL
from tests.conftest import FENTANYL_SPAN, SEED_ID, SEED_TEXT, assert_valid_answer
from tests.contracts import span

INVALID = "The request is not valid; see fields."
LENGTH = "Length must be between 1 and 1000."
BLANK = "Must contain more than whitespace."
TOP_K = "Must be greater than or equal to 1 and less than or equal to 20."
NOT_FOUND = (
    "The requested URL was not found on the server. If you entered the URL manually please check "
    "your spelling and try again."
)


def error_body(code: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if fields is not None:
        body["fields"] = fields
    return {"error": body}


def json_of(response: Any, status: int) -> Any:
    """The JSON body of a response that must have `status`; an error page is never HTML."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert b"<html" not in response.data.lower() and b"Traceback" not in response.data
    return response.get_json()


def ask(client: Any, **body: Any) -> Any:
    return client.post("/v1/ask", json=body)


# --- answers --------------------------------------------------------------------------------


def test_fentanyl_question_cites_the_fentanyl_sentence(client: Any) -> None:
    body = json_of(ask(client, question=FENTANYL), 200)
    citations = assert_valid_answer(body, FENTANYL)
    assert body["answerable"] is True
    assert span(citations[0]) == FENTANYL_SPAN
    assert citations[0]["quote"] in body["answer"]


def test_a_question_the_article_does_not_cover_is_not_answered(client: Any) -> None:
    question = "What is the capital of Australia?"
    body = json_of(ask(client, question=question), 200)
    assert_valid_answer(body, question)
    assert body["answerable"] is False and body["citations"] == []


@pytest.mark.parametrize("top_k", [1, 2, 5])
def test_top_k_sets_how_many_citations(client: Any, top_k: int) -> None:
    """The seed article holds more than five related sentences: `top_k` is exactly what is cited."""
    body = json_of(ask(client, question=FENTANYL, top_k=top_k), 200)
    citations = assert_valid_answer(body, FENTANYL, top_k)
    assert len(citations) == top_k
    assert span(citations[0]) == FENTANYL_SPAN


def test_top_k_20_cites_more_than_the_default_and_at_most_20(client: Any) -> None:
    body = json_of(ask(client, question=FENTANYL, top_k=20), 200)
    citations = assert_valid_answer(body, FENTANYL, 20)
    assert DEFAULT_TOP_K < len(citations) <= 20


def test_follow_up_is_answered_from_its_history(client: Any) -> None:
    """Alone, "And what about Tibet?" names nothing the article covers; with its history it is
    answered from the human-rights sentence that names Tibet."""
    question = "And what about Tibet?"
    history = ["What human rights concerns did Blinken raise?"]
    alone = json_of(ask(client, question=question), 200)
    assert alone["answerable"] is False
    body = json_of(ask(client, question=question, history=history), 200)
    citations = assert_valid_answer(body, question)
    assert body["answerable"] is True
    assert "Tibet" in citations[0]["quote"] and "Human rights" in citations[0]["quote"]


# --- request errors -------------------------------------------------------------------------

ERRORS = {
    "missing-question": (
        {"json": {}},
        400,
        "invalid_request",
        INVALID,
        {"question": ["Missing data for required field."]},
    ),
    "empty-question": ({"json": {"question": ""}}, 400, "invalid_request", INVALID, {"question": [LENGTH, BLANK]}),
    "blank-question": ({"json": {"question": " \t\n "}}, 400, "invalid_request", INVALID, {"question": [BLANK]}),
    "long-question": ({"json": {"question": "x" * 1001}}, 400, "invalid_request", INVALID, {"question": [LENGTH]}),
    "question-not-string": (
        {"json": {"question": 5}},
        400,
        "invalid_request",
        INVALID,
        {"question": ["Not a valid string."]},
    ),
    "top-k-0": ({"json": {"question": "Why?", "top_k": 0}}, 400, "invalid_request", INVALID, {"top_k": [TOP_K]}),
    "top-k-21": ({"json": {"question": "Why?", "top_k": 21}}, 400, "invalid_request", INVALID, {"top_k": [TOP_K]}),
    "top-k-text": (
        {"json": {"question": "Why?", "top_k": "many"}},
        400,
        "invalid_request",
        INVALID,
        {"top_k": ["Not a valid integer."]},
    ),
    "top-k-fraction": (
        {"json": {"question": "Why?", "top_k": 3.5}},
        400,
        "invalid_request",
        INVALID,
        {"top_k": ["Not a valid integer."]},
    ),
    "top-k-float": (
        {"json": {"question": "Why?", "top_k": 3.0}},
        400,
        "invalid_request",
        INVALID,
        {"top_k": ["Not a valid integer."]},
    ),
    "top-k-boolean": (
        {"json": {"question": "Why?", "top_k": True}},
        400,
        "invalid_request",
        INVALID,
        {"top_k": ["Not a valid integer."]},
    ),
    "top-k-numeric-string": (
        {"json": {"question": "Why?", "top_k": "3"}},
        400,
        "invalid_request",
        INVALID,
        {"top_k": ["Not a valid integer."]},
    ),
    "unknown-field": (
        {"json": {"question": "Why?", "colour": "red"}},
        400,
        "invalid_request",
        INVALID,
        {"colour": ["Unknown field."]},
    ),
    "history-not-list": (
        {"json": {"question": "Why?", "history": "earlier"}},
        400,
        "invalid_request",
        INVALID,
        {"history": ["Not a valid list."]},
    ),
    "history-blank-item": (
        {"json": {"question": "Why?", "history": ["ok", " "]}},
        400,
        "invalid_request",
        INVALID,
        {"history": {"1": [BLANK]}},
    ),
    "history-too-long": (
        {"json": {"question": "Why?", "history": ["q"] * 21}},
        400,
        "invalid_request",
        INVALID,
        {"history": ["Longer than maximum length 20."]},
    ),
    "several-fields": (
        {"json": {"question": "", "top_k": 50}},
        400,
        "invalid_request",
        INVALID,
        {"question": [LENGTH, BLANK], "top_k": [TOP_K]},
    ),
    "body-is-list": (
        {"json": [{"question": "Why?"}]},
        400,
        "invalid_request",
        INVALID,
        {"_schema": ["Invalid input type."]},
    ),
    "malformed-json": (
        {"data": '{"question": "Why?",', "content_type": "application/json"},
        400,
        "invalid_json",
        "The request body is not valid JSON.",
        None,
    ),
    "empty-body": (
        {"data": "", "content_type": "application/json"},
        400,
        "invalid_json",
        "The request body is not valid JSON.",
        None,
    ),
    "null-body": (
        {"data": "null", "content_type": "application/json"},
        400,
        "invalid_request",
        "The request is not valid; see fields.",
        {"_schema": ["Invalid input type."]},
    ),
    "text-plain": (
        {"data": '{"question": "Why?"}', "content_type": "text/plain"},
        415,
        "unsupported_media_type",
        "Send a JSON body with Content-Type: application/json.",
        None,
    ),
    "form-body": (
        {"data": {"question": "Why?"}},
        415,
        "unsupported_media_type",
        "Send a JSON body with Content-Type: application/json.",
        None,
    ),
}


@pytest.mark.parametrize("case", ERRORS.values(), ids=ERRORS.keys())
def test_ask_errors_have_exact_json_bodies(client: Any, case: tuple[dict[str, Any], int, str, str, Any]) -> None:
    request, status, code, message, fields = case
    assert json_of(client.post("/v1/ask", **request), status) == error_body(code, message, fields)


@pytest.mark.parametrize("path", ["/nope", "/v1/asks", "/v1/documents/a/b", "/v2/ask"])
def test_unknown_route_is_a_json_404(client: Any, path: str) -> None:
    assert json_of(client.get(path), 404) == error_body("not_found", NOT_FOUND)


@pytest.mark.parametrize(
    ("method", "path", "body", "fields"),
    [
        # A parameter the route does not take was ignored: the answer had the default citations.
        (
            "POST",
            "/v1/ask?top_k=3",
            {"question": "What did Blinken say about fentanyl?"},
            {"top_k": ["Unknown field."]},
        ),
        ("POST", "/v1/ask/batch?group=2", {"questions": [{"question": "Why?"}]}, {"group": ["Unknown field."]}),
        ("GET", "/v1/documents/blinken-wang-yi-talks?fields=text", None, {"fields": ["Unknown field."]}),
        ("HEAD", "/v1/documents/blinken-wang-yi-talks?x", None, {"x": ["Unknown field."]}),
        # A parameter given twice was read as its first value.
        ("GET", "/v1/documents?limit=1&limit=500", None, {"limit": ["Given more than once."]}),
        (
            "GET",
            "/v1/documents?limit=1&limt=5&cursor=a&cursor=b",
            None,
            {"limt": ["Unknown field."], "cursor": ["Given more than once."]},
        ),
    ],
)
def test_a_query_parameter_a_route_does_not_take_or_given_twice_is_400(
    client: Any, method: str, path: str, body: Any, fields: dict[str, Any]
) -> None:
    response = client.open(path, method=method, json=body)
    if method == "HEAD":  # no body to read: the status says it
        assert response.status_code == 400 and response.mimetype == "application/json"
        return
    assert json_of(response, 400) == error_body("invalid_request", INVALID, fields)


def test_the_openai_routes_take_the_query_parameters_openai_clients_add(client: Any) -> None:
    """An Azure-style client adds `?api-version=...` to every call: the chat and models routes
    answer it (the README said only the chat route did)."""
    response = client.post(
        "/v1/chat/completions?api-version=2024-02-01",
        json={"model": "article-qa", "messages": [{"role": "user", "content": "What did Blinken say about fentanyl?"}]},
    )
    assert json_of(response, 200)["choices"][0]["message"]["content"]
    assert json_of(client.get("/v1/models?api-version=2024-02-01"), 200)["data"][0]["id"] == "article-qa"
    assert json_of(client.get("/v1/models/article-qa?api-version=2024-02-01"), 200)["id"] == "article-qa"


def test_unknown_document_is_document_not_found(client: Any) -> None:
    assert json_of(client.get("/v1/documents/no-such-article"), 404) == error_body(
        "document_not_found", "No document has the id 'no-such-article'."
    )


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("get", "/v1/ask", {"POST", "OPTIONS"}),
        ("put", "/v1/ask", {"POST", "OPTIONS"}),
        ("delete", "/v1/documents", {"GET", "HEAD", "OPTIONS", "POST"}),
        ("post", "/v1/documents/x", {"GET", "HEAD", "OPTIONS", "PUT", "DELETE"}),
        ("post", "/healthz", {"GET", "HEAD", "OPTIONS"}),
    ],
)
def test_wrong_method_is_405_with_allow_header(client: Any, method: str, path: str, allow: set[str]) -> None:
    response = getattr(client, method)(path)
    assert json_of(response, 405) == error_body(
        "method_not_allowed", "The method is not allowed for the requested URL."
    )
    assert set(response.headers["Allow"].split(", ")) == allow


def test_body_over_the_limit_is_413(settings: Settings, service: Service) -> None:
    client = create_app(settings.with_overrides(max_body_bytes=100), service).test_client()
    assert json_of(client.post("/v1/ask", json={"question": "Why? " * 20}), 413) == error_body(
        "payload_too_large", "The request body is larger than the limit of 100 bytes."
    )
    json_of(client.post("/v1/ask", json={"question": FENTANYL}), 200)


def test_unexpected_exception_is_a_json_500_without_traceback(settings: Settings, service: Service) -> None:
    app = create_app(settings, service)

    def broken() -> str:
        raise RuntimeError("secret internal detail")

    app.add_url_rule("/boom", view_func=broken)
    response = app.test_client().get("/boom")
    assert json_of(response, 500) == error_body("internal_error", "The server failed to answer; the error was logged.")
    assert b"secret internal detail" not in response.data


# --- documents, probes, OpenAPI -------------------------------------------------------------

TITLE = "Blinken and Wang Yi hold seven hours of talks on the U.S.-China relationship"
SEED_METADATA = {"author": "Se Hoon Kim", "source": "Global Strat View"}


def test_documents_are_listed_with_metadata(client: Any) -> None:
    assert json_of(client.get("/v1/documents"), 200) == {
        "documents": [
            {"doc_id": SEED_ID, "title": TITLE, "metadata": SEED_METADATA, "length": len(SEED_TEXT)},
        ],
        "next_cursor": None,
    }


def test_document_has_its_verbatim_text(client: Any) -> None:
    body = json_of(client.get(f"/v1/documents/{SEED_ID}"), 200)
    assert body == {
        "doc_id": SEED_ID,
        "title": TITLE,
        "metadata": SEED_METADATA,
        "length": len(SEED_TEXT),
        "text": SEED_TEXT,
    }


def test_health_and_readiness_of_a_loaded_service(client: Any, service: Service) -> None:
    assert json_of(client.get("/healthz"), 200) == {"status": "ok"}
    assert json_of(client.get("/readyz"), 200) == {
        "ready": True,
        "index": service.index.path.name,
        "generation": service.index.path.name,
        "documents": 1,
        "sentences": 30,
        "chunks": 15,
        "question_embedding": "onnxruntime-int8",
        "reader": "onnxruntime-int8",
        "warnings": [],
        "worker": os.getpid(),
    }


@pytest.fixture()
def unloaded_app(settings: Settings) -> Flask:
    """An app whose service has not loaded its index (yet)."""
    return create_app(settings, Service(settings))


def test_before_loading_readiness_is_503_and_requests_say_not_ready(unloaded_app: Flask) -> None:
    client = unloaded_app.test_client()
    assert json_of(client.get("/healthz"), 200) == {"status": "ok"}
    assert json_of(client.get("/readyz"), 503) == {
        "ready": False,
        "reason": "the index is loading",
        "warnings": [],
        "worker": os.getpid(),
    }
    for response in (
        client.post("/v1/ask", json={"question": FENTANYL}),
        client.get("/v1/documents"),
        client.get(f"/v1/documents/{SEED_ID}"),
    ):
        assert json_of(response, 503) == error_body("not_ready", "the index is still loading; retry shortly")
        assert response.headers["Retry-After"] == "1"


def test_a_failed_load_is_reported_by_readiness_and_requests(settings: Settings, tmp_path: Path) -> None:
    # An empty archive imports the seeds folder; a missing one cannot be imported.
    service = Service(settings.with_overrides(seeds_dir=tmp_path / "missing", index_dir=tmp_path / "empty"))
    with pytest.raises(DocumentError):
        service.load()
    client = create_app(settings, service).test_client()
    reason = "the index could not be loaded; the server's log says why"  # no server paths for clients
    assert json_of(client.get("/readyz"), 503) == {
        "ready": False,
        "reason": reason,
        "warnings": [],
        "worker": os.getpid(),
    }
    assert json_of(client.post("/v1/ask", json={"question": FENTANYL}), 503) == error_body("not_ready", reason)


def test_openapi_document_is_valid_and_describes_the_routes(client: Any) -> None:
    spec = json_of(client.get("/openapi.json"), 200)
    validate(spec)
    assert {"/v1/ask", "/v1/documents", "/v1/documents/{doc_id}", "/healthz", "/readyz"} <= set(spec["paths"])
    assert "400" in spec["paths"]["/v1/ask"]["post"]["responses"]


def test_the_planned_answer_dump_is_marshmallows_to_the_byte(service: Service) -> None:
    """`AnswerSchema.dump` follows a plan made from its fields; on real answers (answered and
    declined, with and without a short answer, with a null url) it gives what marshmallow gives."""
    questions = [FENTANYL, "Who is Roger Robinson?", "When did Blinken arrive?", "What is the capital of Australia?"]
    answers = service.ask_many([Query(question=q) for q in questions])
    assert {a.answerable for a in answers} == {True, False}
    assert any(c.short_answer is not None for a in answers for c in a.citations)
    schema = AnswerSchema()
    for answer in answers:
        planned, walked = schema.dump(answer), ma.Schema.dump(schema, answer)
        assert json.dumps(planned) == json.dumps(walked)
    assert schema.dump(answers, many=True) == [ma.Schema.dump(schema, a) for a in answers]
    batch_schema = BatchAnswerSchema()  # its `id` field is not one the plan knows: marshmallow dumps it
    assert batch_schema._plan is None and batch_schema.dump(answers[0])["id"] is None

"""Strings that are not Unicode text: JSON may spell a lone surrogate (`"\\ud800"`), which Python
decodes into a `str` that no tokenizer and no UTF-8 encoder accepts. Every string the API takes
(question, history items, batch item ids, chat message content, chat model) answers 400 with
`fields`; in a batch the item gets its own error object and the others are answered."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from tests.conftest import FENTANYL_QUESTION as FENTANYL
from tests.contracts import ndjson_lines, sse_data

SURROGATE = "fentanyl \ud800"  # a high surrogate with no low one after it
NOT_TEXT = "Must be valid Unicode text (no lone surrogate code points)."
INVALID = "The request is not valid; see fields."
NDJSON = {"Accept": "application/x-ndjson"}


def raw_json(body: Any) -> bytes:
    """The body as a client sends it: ASCII JSON, the surrogate as a `\\ud800` escape."""
    return json.dumps(body).encode("ascii")


ASK_CASES = {
    "question": ({"question": SURROGATE}, {"question": [NOT_TEXT]}),
    "history": ({"question": FENTANYL, "history": ["ok", SURROGATE]}, {"history": {"1": [NOT_TEXT]}}),
}


@pytest.mark.parametrize("body, fields", ASK_CASES.values(), ids=ASK_CASES.keys())
def test_ask_rejects_a_lone_surrogate_with_fields(client, body: dict[str, Any], fields: Any) -> None:
    response = client.post("/v1/ask", data=raw_json(body), content_type="application/json")
    assert response.status_code == 400
    assert response.get_json() == {"error": {"code": "invalid_request", "message": INVALID, "fields": fields}}


BATCH = [
    {"id": "bad-question", "question": SURROGATE},
    {"id": "ok", "question": FENTANYL},
    {"id": "bad-history", "question": FENTANYL, "history": [SURROGATE]},
    {"id": SURROGATE, "question": FENTANYL},
]


def assert_batch_results(results: list[dict[str, Any]]) -> None:
    bad_question, ok, bad_history, bad_id = results
    item_error = "The question is not valid; see fields."
    assert bad_question == {
        "id": "bad-question",
        "error": {"code": "invalid_request", "message": item_error, "fields": {"question": [NOT_TEXT]}},
    }
    assert ok["id"] == "ok" and ok["answerable"] is True
    assert bad_history["error"]["fields"] == {"history": {"0": [NOT_TEXT]}}
    # An id that is not text is never echoed: the item takes its position as id.
    assert bad_id == {
        "id": 3,
        "error": {"code": "invalid_request", "message": item_error, "fields": {"id": [NOT_TEXT]}},
    }


@pytest.mark.parametrize("headers", [{}, NDJSON], ids=["json", "ndjson"])
def test_a_batch_item_with_a_lone_surrogate_gets_its_own_error(client, headers: dict[str, str]) -> None:
    response = client.post(
        "/v1/ask/batch", data=raw_json({"questions": BATCH}), content_type="application/json", headers=headers
    )
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert_batch_results(ndjson_lines(text) if headers else json.loads(text)["results"])


def test_unknown_field_names_that_are_not_text_are_still_sent_as_valid_json(client) -> None:
    """A field name is echoed in `fields`; the stream must stay valid UTF-8 even then."""
    body = {"questions": [{"question": FENTANYL, SURROGATE: 1}, {"question": FENTANYL}]}
    response = client.post("/v1/ask/batch", data=raw_json(body), content_type="application/json", headers=NDJSON)
    first, second = ndjson_lines(response.get_data().decode("utf-8"))
    assert first["error"]["fields"] == {SURROGATE: ["Unknown field."]}
    assert second["answerable"] is True


CHAT_CASES = {
    "question": ([{"role": "user", "content": SURROGATE}], {"messages": {"0": {"content": [NOT_TEXT]}}}),
    "history": (
        [{"role": "user", "content": SURROGATE}, {"role": "user", "content": FENTANYL}],
        {"messages": {"0": {"content": [NOT_TEXT]}}},
    ),
    "system": (
        [{"role": "system", "content": SURROGATE}, {"role": "user", "content": FENTANYL}],
        {"messages": {"0": {"content": [NOT_TEXT]}}},
    ),
    "content-part": (
        [{"role": "user", "content": [{"type": "text", "text": SURROGATE}]}],
        {"messages": {"0": {"content": [NOT_TEXT]}}},
    ),
}


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("messages, fields", CHAT_CASES.values(), ids=CHAT_CASES.keys())
def test_chat_rejects_a_lone_surrogate_with_fields(
    client,
    messages: list[Any],
    fields: Any,
    stream: bool,
) -> None:
    body = {"model": "m", "messages": messages, "stream": stream}
    response = client.post("/v1/chat/completions", data=raw_json(body), content_type="application/json")
    assert response.status_code == 400
    where = "messages.0.content"  # OpenAI's `param`, the message naming its problem
    message = INVALID.replace("see fields.", f"{where}: {NOT_TEXT}")
    error = {"code": "invalid_request", "message": message, "fields": fields}
    assert response.get_json() == {"error": {**error, "type": "invalid_request_error", "param": where}}


def test_chat_rejects_a_model_name_that_is_not_text(client) -> None:
    body = {"model": SURROGATE, "messages": [{"role": "user", "content": FENTANYL}]}
    response = client.post("/v1/chat/completions", data=raw_json(body), content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"]["fields"] == {"model": [NOT_TEXT]}


@pytest.mark.slow
def test_gunicorn_answers_lone_surrogates_with_json_errors(live_server: str) -> None:
    """Through the real server: JSON 400s, and a complete NDJSON stream, never an HTML 500."""

    def post(path: str, body: Any, headers: dict[str, str] | None = None) -> requests.Response:
        return requests.post(
            f"{live_server}{path}",
            data=raw_json(body),
            timeout=60,
            headers={"Content-Type": "application/json", **(headers or {})},
        )

    ask = post("/v1/ask", {"question": SURROGATE})
    assert (ask.status_code, ask.json()["error"]["fields"]) == (400, {"question": [NOT_TEXT]})
    chat = post("/v1/chat/completions", {"messages": [{"role": "user", "content": SURROGATE}], "stream": True})
    assert chat.status_code == 400 and chat.headers["Content-Type"] == "application/json"
    assert chat.json()["error"]["fields"] == {"messages": {"0": {"content": [NOT_TEXT]}}}
    whole = post("/v1/ask/batch", {"questions": BATCH})
    assert whole.status_code == 200
    assert_batch_results(whole.json()["results"])
    streamed = post("/v1/ask/batch", {"questions": BATCH}, NDJSON)
    assert streamed.status_code == 200 and streamed.headers["Content-Type"].startswith("application/x-ndjson")
    assert_batch_results(ndjson_lines(streamed.content.decode("utf-8")))
    fine = post("/v1/chat/completions", {"messages": [{"role": "user", "content": FENTANYL}], "stream": True})
    assert sse_data(fine.text)[-1] == "[DONE]"

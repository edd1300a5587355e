"""POST /v1/ask/batch: ordered results with ids, per-item errors, limits, NDJSON streaming, and
questions embedded together rather than one by one."""

from __future__ import annotations

import json
import re
import socket
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from qa.api import batch as batch_module
from qa.api import create_app
from qa.api.batch import STREAM_CHUNK
from qa.config import Settings
from qa.service import Service
from tests.conftest import FENTANYL_QUESTION as FENTANYL
from tests.conftest import ROBINSON_QUESTION as ROBINSON
from tests.conftest import assert_valid_answer
from tests.contracts import assert_exact_citations, ndjson_lines, without_timing
from tests.servers import Client, start_server

NDJSON = {"Accept": "application/x-ndjson"}
ITEM_INVALID = "The question is not valid; see fields."


def same_answer(batched: dict[str, Any], single: dict[str, Any]) -> None:
    """Exactly the answer the question gets alone, to the last digit of every score: with the int8
    query encoder (the default) a batch's questions are embedded one by one like a lone question."""
    assert without_timing({key: value for key, value in batched.items() if key != "id"}) == without_timing(single)


def test_results_are_full_answers_in_order_with_their_ids(client) -> None:
    questions = [
        {"id": "fentanyl", "question": FENTANYL},
        {"question": ROBINSON, "top_k": 1},
        {"id": 42, "question": "What is the capital of Australia?"},
    ]
    response = client.post("/v1/ask/batch", json={"questions": questions})
    assert response.status_code == 200
    results = response.get_json()["results"]
    assert [r["id"] for r in results] == ["fentanyl", 1, 42]  # an item without an id takes its position
    for item, result in zip(questions, results, strict=True):
        single = client.post("/v1/ask", json={k: v for k, v in item.items() if k != "id"}).get_json()
        same_answer(result, single)
        answer = {key: value for key, value in result.items() if key != "id"}
        assert_valid_answer(answer, item["question"], item.get("top_k", 3))
    assert len(results[1]["citations"]) == 1
    assert results[0]["answerable"] is True and results[2]["answerable"] is False


def test_a_bad_item_gets_an_error_object_and_the_rest_are_answered(client) -> None:
    questions: list[Any] = [
        {"id": "blank", "question": "   "},
        {"id": "ok", "question": FENTANYL},
        "not an object",
        {"id": "k", "question": FENTANYL, "top_k": 99, "colour": "red"},
        {"id": ["not", "an", "id"], "question": FENTANYL},
    ]
    response = client.post("/v1/ask/batch", json={"questions": questions})
    assert response.status_code == 200
    blank, ok, not_object, bad_fields, bad_id = response.get_json()["results"]
    assert blank == {
        "id": "blank",
        "error": {
            "code": "invalid_request",
            "message": blank["error"]["message"],
            "fields": {"question": ["Must contain more than whitespace."]},
        },
    }
    assert ok["id"] == "ok" and ok["answerable"] is True
    assert not_object["id"] == 2 and not_object["error"]["code"] == "invalid_request"
    assert set(bad_fields["error"]["fields"]) == {"top_k", "colour"}
    assert bad_id["id"] == 4 and set(bad_id["error"]["fields"]) == {"id"}


@pytest.mark.parametrize("headers", [{}, NDJSON], ids=["json", "ndjson"])
def test_a_batch_of_only_invalid_items_answers_an_error_each(client, headers: dict[str, str]) -> None:
    questions = [{"id": "blank", "question": " "}, {"question": 7}]
    response = client.post("/v1/ask/batch", json={"questions": questions}, headers=headers)
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    results = ndjson_lines(text) if headers else json.loads(text)["results"]
    assert results == [
        {
            "id": "blank",
            "error": {
                "code": "invalid_request",
                "message": ITEM_INVALID,
                "fields": {"question": ["Must contain more than whitespace."]},
            },
        },
        {
            "id": 1,
            "error": {
                "code": "invalid_request",
                "message": ITEM_INVALID,
                "fields": {"question": ["Not a valid string."]},
            },
        },
    ]


def test_a_stream_group_of_only_invalid_items_does_not_cut_the_stream(client) -> None:
    group = batch_module.STREAM_CHUNK
    valid = [{"question": f"{ROBINSON} ({n})"} for n in range(group)]
    questions = valid + [{"question": ""}] * group + valid
    response = client.post("/v1/ask/batch", json={"questions": questions}, headers=NDJSON)
    assert response.status_code == 200
    results = ndjson_lines(response.get_data(as_text=True))
    assert [r["id"] for r in results] == list(range(3 * group))
    assert [("error" in r) for r in results] == [False] * group + [True] * group + [False] * group


@pytest.mark.parametrize(
    "item, fields",
    [
        (None, {"_schema": ["Invalid input type."]}),
        (1, {"_schema": ["Invalid input type."]}),
        ({"question": FENTANYL, "top_k": 3.5}, {"top_k": ["Not a valid integer."]}),
        ({"question": FENTANYL, "top_k": True}, {"top_k": ["Not a valid integer."]}),
        ({"question": FENTANYL, "top_k": "3"}, {"top_k": ["Not a valid integer."]}),
    ],
)
def test_an_item_of_the_wrong_type_gets_its_own_error_slot(client, item: Any, fields: Any) -> None:
    response = client.post("/v1/ask/batch", json={"questions": [item, {"question": FENTANYL}]})
    assert response.status_code == 200
    failed, answered = response.get_json()["results"]
    assert failed == {"id": 0, "error": {"code": "invalid_request", "message": ITEM_INVALID, "fields": fields}}
    assert answered["id"] == 1 and answered["answerable"] is True


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "questions"),
        ({"questions": []}, "questions"),
        ({"questions": "What?"}, "questions"),
        ({"questions": [{"question": "q"}], "extra": 1}, "extra"),
    ],
)
def test_a_malformed_batch_is_rejected_as_a_whole(client, body: dict[str, Any], field: str) -> None:
    response = client.post("/v1/ask/batch", json=body)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_request"
    assert field in response.get_json()["error"]["fields"]


def test_more_questions_than_the_limit_is_413(settings: Settings, service: Service) -> None:
    client = create_app(settings.with_overrides(max_batch_questions=3), service).test_client()
    assert client.post("/v1/ask/batch", json={"questions": [{"question": FENTANYL}] * 3}).status_code == 200
    response = client.post("/v1/ask/batch", json={"questions": [{"question": FENTANYL}] * 4})
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "too_many_questions"


@pytest.mark.parametrize("headers", [{}, NDJSON], ids=["json", "ndjson"])
def test_a_batch_over_its_character_budget_is_413(
    settings: Settings, service: Service, headers: dict[str, str]
) -> None:
    """Questions and history count; invalid items do not (they cost no work)."""
    budget = 2 * len(FENTANYL) + len(ROBINSON)
    client = create_app(settings.with_overrides(max_batch_chars=budget), service).test_client()
    at_budget = [{"question": FENTANYL}, {"question": FENTANYL, "history": [ROBINSON]}, {"question": "x" * 5000}]
    answered = client.post("/v1/ask/batch", json={"questions": at_budget}, headers=headers)
    assert answered.status_code == 200
    assert len(answered.get_data(as_text=True).strip().splitlines()) == (3 if headers else 1)
    over = client.post("/v1/ask/batch", json={"questions": [*at_budget, {"question": "?"}]}, headers=headers)
    assert over.status_code == 413
    assert over.get_json() == {
        "error": {
            "code": "batch_too_large",
            "message": f"A batch holds at most {budget} characters of questions and history; "
            f"this one has {budget + 1}. "
            "Split it into smaller batches.",
        }
    }


@pytest.mark.slow
def test_the_default_budget_answers_1000_questions_of_100_characters(client) -> None:
    questions = [{"id": n, "question": f"{FENTANYL} {n:04d} " + "x" * (100 - len(FENTANYL) - 6)} for n in range(1000)]
    assert {len(q["question"]) for q in questions} == {100}
    response = client.post("/v1/ask/batch", json={"questions": questions})
    assert response.status_code == 200
    assert [r["id"] for r in response.get_json()["results"]] == list(range(1000))
    questions[-1]["question"] += "?"
    over = client.post("/v1/ask/batch", json={"questions": questions})
    assert over.status_code == 413 and over.get_json()["error"]["code"] == "batch_too_large"


def test_the_default_limit_is_1000_questions(client) -> None:
    response = client.post("/v1/ask/batch", json={"questions": [{"question": "q"}] * 1001})
    assert response.status_code == 413
    assert "1000" in response.get_json()["error"]["message"]


def test_a_batch_is_embedded_in_one_call_not_one_by_one(client, service: Service, monkeypatch) -> None:
    """One call, which spreads the questions over the embedding threads."""
    sizes: list[int] = []
    encode = service.embedder.encode_queries

    def counting_encode(texts, *args, **kwargs):
        sizes.append(len(texts))
        return encode(texts, *args, **kwargs)

    monkeypatch.setattr(service.embedder, "encode_queries", counting_encode)
    questions = [{"question": f"{FENTANYL} ({n})"} for n in range(40)]
    assert client.post("/v1/ask/batch", json={"questions": questions}).status_code == 200
    assert sizes == [40]


def test_ndjson_streams_the_same_results_one_line_each(client) -> None:
    body = {"questions": [{"id": "a", "question": FENTANYL}, {"id": "b", "question": ""}, {"question": ROBINSON}]}
    streamed = client.post("/v1/ask/batch", json=body, headers=NDJSON)
    assert streamed.status_code == 200
    assert streamed.mimetype == "application/x-ndjson"
    lines = ndjson_lines(streamed.get_data(as_text=True))
    whole = client.post("/v1/ask/batch", json=body).get_json()["results"]
    assert [without_timing(line) for line in lines] == [without_timing(result) for result in whole]
    assert lines[1]["error"]["code"] == "invalid_request"


def test_ndjson_lines_are_sent_as_each_group_is_answered(app, service: Service, monkeypatch) -> None:
    calls: list[int] = []
    ask_many = service.ask_many

    def counting_ask_many(queries, pipeline=None):
        calls.append(len(queries))
        return ask_many(queries, pipeline)

    monkeypatch.setattr(service, "ask_many", counting_ask_many)
    count = batch_module.STREAM_CHUNK * 2 + 3
    questions = [{"id": n, "question": f"{ROBINSON} ({n})"} for n in range(count)]
    response = app.test_client().post("/v1/ask/batch", json={"questions": questions}, headers=NDJSON, buffered=False)
    lines = iter(response.response)
    assert next(lines).startswith(b'{"id": 0,')
    assert calls == [batch_module.STREAM_CHUNK]  # only the first group was answered so far
    rest = b"".join(lines).decode()
    response.close()
    assert calls == [batch_module.STREAM_CHUNK, batch_module.STREAM_CHUNK, 3]
    assert [line["id"] for line in ndjson_lines(rest)] == list(range(1, count))


@pytest.mark.parametrize("headers", [{}, NDJSON])
def test_a_batch_before_the_index_is_loaded_is_503(settings: Settings, headers: dict[str, str]) -> None:
    client = create_app(settings, Service(settings)).test_client()  # never loaded
    response = client.post("/v1/ask/batch", json={"questions": [{"question": FENTANYL}]}, headers=headers)
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "not_ready"


def test_a_batch_body_must_be_json(client) -> None:
    response = client.post("/v1/ask/batch", data="questions=1", content_type="text/plain")
    assert response.status_code == 415


@pytest.mark.slow
def test_ndjson_batch_through_gunicorn(live_server: str) -> None:
    questions = [{"id": n, "question": q} for n, q in enumerate([FENTANYL, "", ROBINSON] * 30)]
    with requests.post(
        f"{live_server}/v1/ask/batch", json={"questions": questions}, headers=NDJSON, stream=True, timeout=120
    ) as response:
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("application/x-ndjson")
        assert response.headers.get("Transfer-Encoding") == "chunked"
        lines = [line for line in response.iter_lines() if line]
    results = [json.loads(line) for line in lines]
    assert [r["id"] for r in results] == list(range(90))
    assert all(("error" in r) == (n % 3 == 1) for n, r in enumerate(results))
    for result in results[::3]:
        assert_exact_citations(result["citations"])


@pytest.mark.slow
def test_a_streamed_batch_stops_soon_after_its_client_goes_away(
    settings: Settings, service: Service, tmp_path: Path
) -> None:
    """gunicorn drops what is sent to a client that has gone without telling the app, so a streamed
    batch went on answering after its client left: until gunicorn cancelled the request 3 s later,
    or to its end. It now stops after the group being answered when the client leaves."""
    count = 8000  # far more than a group a second answers, so going on would show
    limits = {"QA_MAX_BATCH_QUESTIONS": str(count), "QA_MAX_BATCH_CHARS": "2000000", "QA_MAX_BODY_BYTES": "4000000"}
    log_path = tmp_path / "serve.log"
    server = start_server(settings.seeds_dir, settings.index_dir, env=limits, log_path=log_path, verbose=True)
    try:
        questions = [{"id": n, "question": f"{q} ({n})"} for n, q in enumerate([FENTANYL, ROBINSON] * (count // 2))]
        body = json.dumps({"questions": questions}).encode()
        head = (
            "POST /v1/ask/batch HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            f"Accept: application/x-ndjson\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        with socket.create_connection(("127.0.0.1", server.port), timeout=120) as sock:
            sock.sendall(head.encode() + body)
            received = b""
            while b"\n" not in received.partition(b"\r\n\r\n")[2]:  # the first line of answers
                chunk = sock.recv(65536)
                assert chunk, received
                received += chunk
        assert received.startswith(b"HTTP/1.1 200 ")
        deadline = time.monotonic() + 60
        while not (stopped := STOPPED.search(server.log())):
            assert time.monotonic() < deadline, server.log()[-3000:]
            time.sleep(0.1)
        sent, total = int(stopped[1]), int(stopped[2])
        assert total == count
        # The group whose line was read, the one answered meanwhile, and the one the client left during.
        assert 1 <= sent <= 3 * STREAM_CHUNK, sent
        status, answer = Client(server.base_url).request("POST", "/v1/ask", {"question": FENTANYL})
        assert status == 200 and json.loads(answer)["answerable"] is True
    finally:
        server.stop()


STOPPED = re.compile(r"a streamed batch stopped after (\d+) of (\d+) results: the client went away")

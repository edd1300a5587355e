"""The write API over HTTP: `PUT`, `DELETE` and bulk `POST /v1/documents` behind bearer keys,
the paginated listing, and what a write changes in the answers.

Writes go to private archives (a module-wide one where each test uses its own ids, and a fresh one
per test where the order of writes matters: `private_service`), never to the session's shared index; the session's
service only serves requests that must change nothing."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient

from qa.api import create_app
from qa.config import Settings
from qa.documents import Document, InvalidCursor, page_documents
from qa.schemas import DOC_ID_RULE, NOT_TEXT
from qa.service import Service
from tests.conftest import API_KEY, FENTANYL_QUESTION, FENTANYL_SPAN, SEED_ID, SEED_TEXT, SEEDS, run_qa
from tests.contracts import as_sent_on
from tests.servers import start_server
from tests.test_api import BLANK, INVALID, error_body, json_of
from tests.test_openapi import errors_against, item_schema, resolve

KEY = API_KEY
OTHER_KEY = "k-second"
AUTH = {"Authorization": f"Bearer {KEY}"}
NDJSON = "application/x-ndjson"
UNAUTHORIZED = error_body("unauthorized", "Send a valid API key: Authorization: Bearer <key>.")
WRITES_DISABLED = error_body(
    "writes_disabled", "Writes are off: the server has no API key configured (QA_API_KEYS or QA_API_KEYS_FILE)."
)
NOT_AN_ARTICLE = "Not a valid article; see fields."
SEED_RECORD = json.loads((SEEDS / f"{SEED_ID}.json").read_text(encoding="utf-8"))

FLOOD = {
    "title": "Council approves flood barrier",
    "text": "The Lakeside council approved a flood barrier on Tuesday. The barrier will cost 12 million dollars.\n"
    "Mayor Carla Mendes said construction starts in May.",
    "metadata": {"author": "Desk", "url": "https://news.example/flood", "published_at": "2026-12-01T09:30:00Z"},
}
# The same article updated: a new opening sentence shifts every offset, one figure changed.
FLOOD_V2 = {
    **FLOOD,
    "text": "Update: the vote was close. The Lakeside council approved a flood barrier on Tuesday. "
    "The barrier will cost 15 million dollars.\nMayor Carla Mendes said construction starts in May.",
}
COST_QUESTION = "How much will the flood barrier cost?"


def article(n: int, **metadata: Any) -> dict[str, Any]:
    return {"title": f"Brief {n}", "text": f"Brief number {n} reports that bridge {n} reopened.", "metadata": metadata}


def generation(service: Service) -> str:
    return str(service.status()["generation"])


@pytest.fixture(scope="module")
def writable(settings: Settings, service: Service, tmp_path_factory: pytest.TempPathFactory) -> Service:
    """A private archive of the seed article, with two keys; its tests each write their own ids."""
    private = settings.with_overrides(index_dir=tmp_path_factory.mktemp("writable"), api_keys=(KEY, OTHER_KEY))
    return Service(private, service.embedder).load()


def client_of(service: Service, **overrides: Any) -> FlaskClient:
    """An app on `service` whose settings (keys, limits) are the service's with `overrides`."""
    return create_app(service.settings.with_overrides(**overrides), service).test_client()


@pytest.fixture()
def keyed(writable: Service) -> FlaskClient:
    return client_of(writable)


# --- keys -----------------------------------------------------------------------------------

WRITE_REQUESTS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "put": ("PUT", "/v1/documents/auth-probe", {"json": FLOOD}),
    "delete": ("DELETE", f"/v1/documents/{SEED_ID}", {}),
    "bulk-json": ("POST", "/v1/documents", {"json": [{"id": "auth-probe", **FLOOD}]}),
    "bulk-ndjson": (
        "POST",
        "/v1/documents",
        {"data": json.dumps({"id": "auth-probe", **FLOOD}), "content_type": NDJSON},
    ),
}
WRONG_CREDENTIALS = {
    "missing": {},
    "wrong-key": {"Authorization": "Bearer not-the-key"},
    "prefix-of-the-key": {"Authorization": f"Bearer {KEY[:-1]}"},
    "key-then-more": {"Authorization": f"Bearer {KEY}x"},
    "basic-scheme": {"Authorization": f"Basic {KEY}"},
    "no-scheme": {"Authorization": KEY},
    "empty-bearer": {"Authorization": "Bearer "},
}


@pytest.mark.parametrize("credentials", WRONG_CREDENTIALS.values(), ids=WRONG_CREDENTIALS.keys())
@pytest.mark.parametrize("write", WRITE_REQUESTS.values(), ids=WRITE_REQUESTS.keys())
def test_a_write_without_a_valid_key_is_401_and_changes_nothing(
    writable: Service, keyed: FlaskClient, write: tuple[str, str, dict[str, Any]], credentials: dict[str, str]
) -> None:
    method, path, body = write
    before = generation(writable)
    response = keyed.open(path, method=method, headers=credentials, **body)
    assert json_of(response, 401) == UNAUTHORIZED
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="article-qa"'
    assert KEY.encode() not in response.data
    assert generation(writable) == before and writable.document(SEED_ID).text == SEED_TEXT


@pytest.mark.parametrize("credentials", [{}, AUTH], ids=["no-key", "a-key"])
@pytest.mark.parametrize("write", WRITE_REQUESTS.values(), ids=WRITE_REQUESTS.keys())
def test_with_no_key_configured_every_write_is_403(
    writable: Service, write: tuple[str, str, dict[str, Any]], credentials: dict[str, str]
) -> None:
    method, path, body = write
    before = generation(writable)
    response = client_of(writable, api_keys=()).open(path, method=method, headers=credentials, **body)
    assert json_of(response, 403) == WRITES_DISABLED
    assert generation(writable) == before


def test_reads_stay_open_without_a_key(writable: Service, keyed: FlaskClient) -> None:
    assert json_of(keyed.get(f"/v1/documents/{SEED_ID}"), 200)["text"] == SEED_TEXT
    assert json_of(keyed.post("/v1/ask", json={"question": FENTANYL_QUESTION}), 200)["answerable"] is True


@pytest.mark.parametrize("key", [KEY, OTHER_KEY])
def test_put_creates_then_replaces_with_any_configured_key(writable: Service, keyed: FlaskClient, key: str) -> None:
    doc_id = f"put-{key}"
    headers = {"Authorization": f"Bearer {key}"}
    created = json_of(keyed.put(f"/v1/documents/{doc_id}", json=FLOOD, headers=headers), 201)
    assert created == {
        "doc_id": doc_id,
        "title": FLOOD["title"],
        "metadata": FLOOD["metadata"],
        "length": len(FLOOD["text"]),
        "generation": generation(writable),
    }
    replaced = json_of(keyed.put(f"/v1/documents/{doc_id}", json=FLOOD_V2, headers=headers), 200)
    assert replaced["length"] == len(FLOOD_V2["text"]) and replaced["generation"] > created["generation"]
    assert json_of(keyed.get(f"/v1/documents/{doc_id}"), 200)["text"] == FLOOD_V2["text"]


def test_an_unchanged_article_put_again_is_200_in_the_same_generation(keyed: FlaskClient) -> None:
    first = json_of(keyed.put("/v1/documents/put-twice", json=FLOOD, headers=AUTH), 201)
    assert json_of(keyed.put("/v1/documents/put-twice", json=FLOOD, headers=AUTH), 200) == first


def test_title_and_metadata_are_optional_as_documented(keyed: FlaskClient) -> None:
    """The title is required; metadata defaults to {}."""
    body = json_of(keyed.put("/v1/documents/bare", json={"title": "Bare", "text": "Only text."}, headers=AUTH), 201)
    assert body["metadata"] == {}


def test_delete_is_204_then_the_article_is_gone(writable: Service, keyed: FlaskClient) -> None:
    json_of(keyed.put("/v1/documents/to-delete", json=FLOOD, headers=AUTH), 201)
    response = keyed.delete("/v1/documents/to-delete", headers=AUTH)
    assert response.status_code == 204 and response.data == b""
    assert json_of(keyed.get("/v1/documents/to-delete"), 404)["error"]["code"] == "document_not_found"
    assert "to-delete" not in {d.doc_id for d in writable.documents()}


def test_deleting_an_unknown_article_is_404_and_changes_nothing(writable: Service, keyed: FlaskClient) -> None:
    before = generation(writable)
    assert json_of(keyed.delete("/v1/documents/no-such-article", headers=AUTH), 404) == error_body(
        "document_not_found", "No document has the id 'no-such-article'."
    )
    assert generation(writable) == before


def test_the_last_article_cannot_be_deleted(private_service: Service) -> None:
    before = generation(private_service)
    assert json_of(client_of(private_service).delete(f"/v1/documents/{SEED_ID}", headers=AUTH), 409) == error_body(
        "last_document", "the archive must keep at least one article: publish another before deleting the last"
    )
    assert generation(private_service) == before and private_service.document(SEED_ID).text == SEED_TEXT


def test_writes_before_the_index_is_loaded_are_503(settings: Settings) -> None:
    keyed_settings = settings.with_overrides(api_keys=(KEY,))
    client = create_app(keyed_settings, Service(keyed_settings)).test_client()
    not_ready = error_body("not_ready", "the index is still loading; retry shortly")
    for response in (
        client.put("/v1/documents/early", json=FLOOD, headers=AUTH),
        client.delete(f"/v1/documents/{SEED_ID}", headers=AUTH),
        client.post("/v1/documents", json=[{"id": "early", **FLOOD}], headers=AUTH),
    ):
        assert json_of(response, 503) == not_ready and response.headers["Retry-After"] == "1"
    assert json_of(client.put("/v1/documents/early", json=FLOOD), 401) == UNAUTHORIZED  # the key comes first


def test_writes_to_an_archive_another_configuration_rebuilt_are_503_not_500(private_service: Service) -> None:
    """`qa ask` run with another QA_SENTENCES_PER_CHUNK on the server's index folder re-embeds the
    archive for its own settings; the server keeps answering from what it loaded, but every write
    then failed with a 500 "internal_error" (an unhandled IndexUnavailable)."""
    client = create_app(private_service.settings, private_service).test_client()
    other = private_service.settings.with_overrides(sentences_per_chunk=4)
    Service(other, private_service.embedder).load()  # a rebuild for other settings, as `qa ask` does
    auth = {"Authorization": f"Bearer {API_KEY}"}
    for response in (
        client.put("/v1/documents/late", json=FLOOD, headers=auth),
        client.delete(f"/v1/documents/{SEED_ID}", headers=auth),
        client.post("/v1/documents", json=[{"id": "late", **FLOOD}], headers=auth),
    ):
        body = json_of(response, 503)
        assert body["error"]["code"] == "archive_unavailable", body
        assert str(private_service.settings.index_dir) not in body["error"]["message"], "no paths to a client"
    assert json_of(client.post("/v1/ask", json={"question": FENTANYL_QUESTION}), 200)["answerable"]


# --- what a PUT refuses ---------------------------------------------------------------------

NOT_FINITE = "Must hold no NaN or infinite number (JSON has none)."
TOO_DEEP = "Must not nest lists and objects more than 20 levels deep."


def nested(levels: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(levels - 1):
        value = [value]
    return value


LONE_SURROGATE_TEXT = '{"title": "T", "text": "a \\ud800 b"}'
PUT_ERRORS: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "empty-text": ("ok-id", {"json": {"title": "T", "text": ""}}, {"text": [BLANK]}),
    "blank-text": ("ok-id", {"json": {"title": "T", "text": " \n\t "}}, {"text": [BLANK]}),
    "missing-text": ("ok-id", {"json": {"title": "T"}}, {"text": ["Missing data for required field."]}),
    "text-not-string": ("ok-id", {"json": {"title": "T", "text": 5}}, {"text": ["Not a valid string."]}),
    "lone-surrogate": (
        "ok-id",
        {"data": LONE_SURROGATE_TEXT, "content_type": "application/json"},
        {"text": [NOT_TEXT]},
    ),
    "missing-title": ("ok-id", {"json": {"text": "Words."}}, {"title": ["Missing data for required field."]}),
    "title-not-string": ("ok-id", {"json": {"title": 5, "text": "Words."}}, {"title": ["Not a valid string."]}),
    "blank-title": ("ok-id", {"json": {"title": " \u3000\n", "text": "Words."}}, {"title": [BLANK]}),
    "metadata-not-object": (
        "ok-id",
        {"json": {"title": "T", "text": "Words.", "metadata": ["a"]}},
        {"metadata": ["Not a valid mapping type."]},
    ),
    "published-at-not-iso": (
        "ok-id",
        {"json": {"title": "T", "text": "Words.", "metadata": {"published_at": "yesterday"}}},
        {"metadata": {"published_at": ["Must be an ISO 8601 date or date and time, e.g. 2026-12-04T09:30:00Z."]}},
    ),
    "published-at-number": (
        "ok-id",
        {"json": {"title": "T", "text": "Words.", "metadata": {"published_at": 20261204}}},
        {"metadata": {"published_at": ["Must be an ISO 8601 date or date and time, e.g. 2026-12-04T09:30:00Z."]}},
    ),
    "url-not-string": (
        "ok-id",
        {"json": {"title": "T", "text": "Words.", "metadata": {"url": 5}}},
        {"metadata": {"url": ["Must be a string."]}},
    ),
    "metadata-lone-surrogate": (
        "ok-id",
        {"data": '{"title": "T", "text": "Words.", "metadata": {"a": "\\udfff"}}', "content_type": "application/json"},
        {"metadata": [NOT_TEXT]},
    ),
    # Python's JSON reads NaN, Infinity and 1e999 (infinite); echoed back, they made every listing invalid JSON.
    "metadata-nan": (
        "ok-id",
        {"data": '{"title": "T", "text": "Words.", "metadata": {"score": NaN}}', "content_type": "application/json"},
        {"metadata": {"score": [NOT_FINITE]}},
    ),
    "metadata-nested-infinity": (
        "ok-id",
        {"data": '{"title": "T", "text": "W.", "metadata": {"x": [{"y": 1e999}]}}', "content_type": "application/json"},
        {"metadata": {"x": [NOT_FINITE]}},
    ),
    # Nested ~960 levels (JSON's parser takes ~980), the metadata's checks recursed past Python's
    # limit: a 500. Nesting is bounded well short of that.
    "metadata-nested-deep": (
        "ok-id",
        {"json": {"title": "T", "text": "W.", "metadata": {"a": nested(21), "b": nested(20)}}},
        {"metadata": {"a": [TOO_DEEP]}},
    ),
    "unknown-field": ("ok-id", {"json": {"title": "T", "text": "Words.", "id": "x"}}, {"id": ["Unknown field."]}),
    "body-not-object": ("ok-id", {"json": ["T", "Words."]}, {"_schema": ["Must be a JSON object."]}),
    "id-with-space": ("a%20b", {"json": FLOOD}, {"doc_id": [DOC_ID_RULE]}),
    "id-dot": (".", {"json": FLOOD}, {"doc_id": [DOC_ID_RULE]}),
    "id-dot-dot": ("%2E%2E", {"json": FLOOD}, {"doc_id": [DOC_ID_RULE]}),
    "id-trailing-newline": ("abc%0A", {"json": FLOOD}, {"doc_id": [DOC_ID_RULE]}),
    "id-not-ascii": ("caf%C3%A9", {"json": FLOOD}, {"doc_id": [DOC_ID_RULE]}),
    "id-too-long": ("x" * 129, {"json": FLOOD}, {"doc_id": [DOC_ID_RULE]}),
    "id-and-body": ("a%20b", {"json": {"title": "T", "text": ""}}, {"doc_id": [DOC_ID_RULE], "text": [BLANK]}),
}


@pytest.mark.parametrize("case", PUT_ERRORS.values(), ids=PUT_ERRORS.keys())
def test_an_invalid_put_is_400_with_its_fields_and_changes_nothing(
    writable: Service, keyed: FlaskClient, case: tuple[str, dict[str, Any], dict[str, Any]]
) -> None:
    doc_id, body, fields = case
    before = generation(writable)
    response = keyed.put(f"/v1/documents/{doc_id}", headers=AUTH, **body)
    assert json_of(response, 400) == error_body("invalid_request", INVALID, fields)
    assert generation(writable) == before


def test_metadata_nested_as_deep_as_the_parser_allows_is_a_400_not_a_500(writable: Service, keyed: FlaskClient) -> None:
    # A fuzzer's finding: metadata nested 961-976 levels deep (JSON's parser takes ~980 under
    # gunicorn) made the checks recurse past Python's limit, a 500 for a PUT and for a whole bulk
    # POST. Where the parser stops depends on the stack, so every depth up to past it is tried.
    before = generation(writable)
    for depth in range(900, 1000, 4):
        body = '{"title": "T", "text": "W.", "metadata": {"a": ' + "[" * depth + "]" * depth + "}}"
        for method, path, data in (("PUT", "/v1/documents/deep", body), ("POST", "/v1/documents", f"[{body}]")):
            response = keyed.open(path, method=method, data=data, content_type="application/json", headers=AUTH)
            said = response.get_data(as_text=True)  # a PUT's 400, or a bulk POST's item error
            refused = "Must not nest" in said or "invalid_json" in said
            assert response.status_code in (200, 400) and refused, (depth, method, response.status_code)
    assert generation(writable) == before


def test_ids_at_the_edges_of_the_rule_are_accepted(keyed: FlaskClient) -> None:
    for doc_id in ("x" * 128, "a.b_c-D9", "..."):
        assert json_of(keyed.put(f"/v1/documents/{doc_id}", json=FLOOD, headers=AUTH), 201)["doc_id"] == doc_id


def test_text_over_the_limit_is_400(writable: Service) -> None:
    client = client_of(writable, max_document_chars=20)
    fields = {"text": ["Longer than the 20 characters an article may hold."]}
    body = {"title": "T", "text": "x" * 21}
    assert json_of(client.put("/v1/documents/long", json=body, headers=AUTH), 400) == error_body(
        "invalid_request", INVALID, fields
    )
    assert json_of(client.put("/v1/documents/long", json={**body, "text": "x" * 20}, headers=AUTH), 201)


def test_put_bodies_are_json_and_bounded(writable: Service, keyed: FlaskClient) -> None:
    line = json.dumps(FLOOD)
    unsupported = error_body("unsupported_media_type", "Send a JSON body with Content-Type: application/json.")
    assert json_of(keyed.put("/v1/documents/media", data=line, content_type=NDJSON, headers=AUTH), 415) == unsupported
    assert json_of(keyed.put("/v1/documents/media", data=line, content_type="text/plain", headers=AUTH), 415)
    assert json_of(keyed.put("/v1/documents/media", data=line[:-1], content_type="application/json", headers=AUTH), 400)
    small = client_of(writable, max_body_bytes=100)
    assert json_of(small.put("/v1/documents/media", json=FLOOD, headers=AUTH), 413) == error_body(
        "payload_too_large", "The request body is larger than the limit of 100 bytes."
    )


# --- bulk -----------------------------------------------------------------------------------


def test_a_bulk_publishes_the_good_items_in_one_generation_and_reports_the_bad_ones(
    writable: Service, keyed: FlaskClient
) -> None:
    items = [
        {"id": "bulk-a", **article(1)},
        {"id": "bad id", **article(2)},
        5,
        {"id": "bulk-b", "title": "T", "text": " "},
        {"title": "No id", "text": "Words."},
        {"id": "bulk-c", **article(3)},
    ]
    body = json_of(keyed.post("/v1/documents", json=items, headers=AUTH), 200)
    assert body == {
        "generation": generation(writable),
        "results": [
            {"id": "bulk-a", "status": "created"},
            error_item("bad id", {"id": [DOC_ID_RULE]}),
            error_item(None, {"_schema": ["Must be a JSON object."]}),
            error_item("bulk-b", {"text": [BLANK]}),
            error_item(None, {"id": ["Missing data for required field."]}),
            {"id": "bulk-c", "status": "created"},
        ],
    }
    assert json_of(keyed.get("/v1/documents/bulk-c"), 200)["text"] == article(3)["text"]
    assert json_of(keyed.get("/v1/documents/bulk-b"), 404)
    again = json_of(keyed.post("/v1/documents", json=[{"id": "bulk-a", **article(4)}], headers=AUTH), 200)
    assert again["results"] == [{"id": "bulk-a", "status": "replaced"}]


def error_item(doc_id: str | None, fields: dict[str, Any], code: str = "invalid_request") -> dict[str, Any]:
    return {"id": doc_id, "error": {"code": code, "message": NOT_AN_ARTICLE, "fields": fields}}


def test_an_id_given_twice_in_a_bulk_the_later_wins(keyed: FlaskClient) -> None:
    items = [{"id": "twice", **article(1)}, {"id": "twice", **article(2)}, {"id": "twice", "title": "T", "text": ""}]
    body = json_of(keyed.post("/v1/documents", json=items, headers=AUTH), 200)
    assert body["results"][:2] == [{"id": "twice", "status": "created"}] * 2
    assert body["results"][2]["error"]["fields"] == {"text": [BLANK]}
    assert json_of(keyed.get("/v1/documents/twice"), 200)["text"] == article(2)["text"]


def test_an_ndjson_bulk_after_a_utf8_byte_order_mark_reads_its_first_line(keyed: FlaskClient) -> None:
    body = b"\xef\xbb\xbf" + json.dumps({"id": "bom-first", **article(1)}).encode() + b"\n"
    response = keyed.post("/v1/documents", data=body, content_type=NDJSON, headers=AUTH)
    assert json_of(response, 200)["results"] == [{"id": "bom-first", "status": "created"}]


def test_an_ndjson_bulk_reads_lines_not_unicode_line_breaks(keyed: FlaskClient) -> None:
    """Lines end at "\\n" (CRLF too); U+2028 and U+0085 inside a JSON string stay in the text; a line
    that is not JSON (or not UTF-8, or nested too deeply) gets its own error and the others go on."""
    text = "Line one\u2028still line one\x85and more. The bridge reopened on Monday."
    lines = [
        json.dumps({"id": "nd-a", "title": "A", "text": text}, ensure_ascii=False).encode(),
        b"",
        b"not json",
        json.dumps({"id": "nd-b", **article(5)}).encode() + b"\r",
        b'{"id": "nd-c", "title": "C", "text": "caf\xe9"}',
        b"[" * 100_000,
    ]
    response = keyed.post("/v1/documents", data=b"\n".join(lines) + b"\n", content_type=NDJSON, headers=AUTH)
    not_json = [
        {"id": None, "error": {"code": "invalid_json", "message": f"Line {n} of the NDJSON body is not JSON."}}
        for n in (3, 5, 6)
    ]
    assert json_of(response, 200)["results"] == [
        {"id": "nd-a", "status": "created"},
        not_json[0],
        {"id": "nd-b", "status": "created"},
        *not_json[1:],
    ]
    assert json_of(keyed.get("/v1/documents/nd-a"), 200)["text"] == text


def test_a_bulk_with_no_valid_item_publishes_nothing(writable: Service, keyed: FlaskClient) -> None:
    before = generation(writable)
    body = json_of(keyed.post("/v1/documents", json=[{"id": "x"}, None], headers=AUTH), 200)
    assert body["generation"] is None and all("error" in result for result in body["results"])
    assert json_of(keyed.post("/v1/documents", json=[], headers=AUTH), 200) == {"generation": None, "results": []}
    assert generation(writable) == before


@pytest.mark.parametrize(
    "body",
    [{"json": {"id": "x", **FLOOD}}, {"json": "articles"}, {"data": "null", "content_type": "application/json"}],
    ids=["object", "string", "null"],
)
def test_a_bulk_body_that_is_not_an_array_is_400(keyed: FlaskClient, body: dict[str, Any]) -> None:
    assert json_of(keyed.post("/v1/documents", headers=AUTH, **body), 400) == error_body(
        "invalid_request", "Send a JSON array of articles (or NDJSON)."
    )


def test_bulk_limits_and_media_types(writable: Service, keyed: FlaskClient) -> None:
    before = generation(writable)
    client = client_of(writable, max_batch_documents=2)
    items = [{"id": f"limit-{n}", **article(n)} for n in range(3)]
    assert json_of(client.post("/v1/documents", json=items, headers=AUTH), 413) == error_body(
        "batch_too_large", "At most 2 articles in one request."
    )
    ndjson = "\n".join(json.dumps(item) for item in items)
    assert json_of(client.post("/v1/documents", data=ndjson, content_type=NDJSON, headers=AUTH), 413)
    assert json_of(
        keyed.post("/v1/documents", data=ndjson, content_type="text/plain", headers=AUTH), 415
    ) == error_body(
        "unsupported_media_type",
        "Send a JSON array (Content-Type: application/json) or NDJSON (Content-Type: application/x-ndjson).",
    )
    assert json_of(client_of(writable, max_body_bytes=100).post("/v1/documents", json=items, headers=AUTH), 413)
    assert generation(writable) == before


# --- pages ----------------------------------------------------------------------------------


def doc(doc_id: str, published_at: Any = None) -> Document:
    return Document(doc_id, "Text.", doc_id, {} if published_at is None else {"published_at": published_at})


# Newest first by instant (a "Z", an offset, a date alone, a time without zone read as UTC), those
# without a usable published_at after them by id.
ORDERED = [
    doc("e", "2026-12-04T12:00:00Z"),
    doc("a", "2026-12-04T13:30:00+02:00"),  # 11:30 UTC
    doc("c", "2026-12-04T11:30:00"),  # the same instant: by id
    doc("b", "2026-12-04"),
    doc("d", "2025-01-01T00:00:00.123456Z"),
    doc("f"),
    doc("g", "not a date"),  # read from a seed file, never validated: unordered
    doc("h", 5),
]


def walk(documents: list[Document], limit: int) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        page, cursor = page_documents(documents, limit, cursor)
        pages.append([d.doc_id for d in page])
        if cursor is None:
            return pages


@pytest.mark.parametrize("limit", [1, 2, 3, 7, 8, 50])
def test_pages_walk_every_article_once_newest_first(limit: int) -> None:
    pages = walk(list(reversed(ORDERED)), limit)
    assert [doc_id for page in pages for doc_id in page] == [d.doc_id for d in ORDERED]
    assert all(0 < len(page) <= limit for page in pages) and len(pages) == -(-len(ORDERED) // limit)


def test_a_page_after_writes_neither_repeats_nor_skips_what_stayed() -> None:
    _, cursor = page_documents(ORDERED, 3, None)
    changed = [d for d in ORDERED if d.doc_id not in {"e", "b"}] + [
        doc("new-old", "2000-01-01"),
        doc("z-newest", "2030-01-01"),
    ]
    rest, cursor = page_documents(changed, 50, cursor)
    assert [d.doc_id for d in rest] == ["d", "new-old", "f", "g", "h"]
    assert cursor is None


@pytest.mark.parametrize(
    "cursor",
    [
        "not base64!",
        base64.urlsafe_b64encode(b"[1]").decode(),
        base64.urlsafe_b64encode(b'{"a": 1}').decode(),
        "\u00e9",
    ],
)
def test_a_cursor_not_handed_out_is_invalid(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        page_documents(ORDERED, 2, cursor)


def test_the_listing_walks_pages_over_http(private_service: Service) -> None:
    client = client_of(private_service)
    moment = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    items = [{"id": f"day-{n}", **article(n, published_at=(moment - timedelta(days=n)).isoformat())} for n in range(7)]
    json_of(client.post("/v1/documents", json=[*reversed(items), {"id": "undated", **article(9)}], headers=AUTH), 200)
    seen: list[str] = []
    query = "/v1/documents?limit=3"
    while query:
        body = json_of(client.get(query), 200)
        assert len(body["documents"]) <= 3
        seen += [d["doc_id"] for d in body["documents"]]
        assert body["next_cursor"] is None or re.fullmatch(r"[A-Za-z0-9_-]+", body["next_cursor"]), "URL-safe as is"
        query = body["next_cursor"] and f"/v1/documents?limit=3&cursor={body['next_cursor']}"
    assert seen == [f"day-{n}" for n in range(7)] + [SEED_ID, "undated"]
    summary = json_of(client.get("/v1/documents?limit=1"), 200)["documents"][0]
    length = len(article(0)["text"])
    assert summary == {"doc_id": "day-0", "title": "Brief 0", "metadata": items[0]["metadata"], "length": length}


LIMIT_RANGE = "Must be greater than or equal to 1 and less than or equal to 1000."


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ("limit=0", {"limit": [LIMIT_RANGE]}),
        ("limit=1001", {"limit": [LIMIT_RANGE]}),
        ("limit=many", {"limit": ["Not a valid integer."]}),
        ("limit=2.5", {"limit": ["Not a valid integer."]}),
        ("limit=-1", {"limit": [LIMIT_RANGE]}),
        # Python's int() reads all of these; a query string's integer is ASCII digits.
        ("limit=%EF%BC%91", {"limit": ["Not a valid integer."]}),  # fullwidth 1
        ("limit=%D9%A5", {"limit": ["Not a valid integer."]}),  # Arabic-Indic 5
        ("limit=%2B1", {"limit": ["Not a valid integer."]}),  # +1
        ("limit=%201", {"limit": ["Not a valid integer."]}),  # " 1"
        ("limit=1_0", {"limit": ["Not a valid integer."]}),
        ("limit=", {"limit": ["Not a valid integer."]}),
        # An unknown parameter is refused, as an unknown body field is: `limt` was read as no limit.
        ("limt=5", {"limt": ["Unknown field."]}),
        ("limit=5&Limit=5&x", {"Limit": ["Unknown field."], "x": ["Unknown field."]}),
        ("cursor=bm90IGEgY3Vyc29y", {"cursor": ["not a cursor this service handed out"]}),
        ("cursor=%21%21", {"cursor": ["not a cursor this service handed out"]}),
    ],
)
def test_a_bad_limit_or_cursor_is_400_with_fields(client: FlaskClient, query: str, fields: dict[str, Any]) -> None:
    message = "The cursor is not valid." if "cursor" in fields else INVALID
    assert json_of(client.get(f"/v1/documents?{query}"), 400) == error_body("invalid_request", message, fields)


@pytest.mark.parametrize(
    "key",
    [
        '[0, NaN, "y"]',
        '[0, 1e400, "y"]',
        '[0, -Infinity, "y"]',
        '[true, 1.0, "y"]',
        "[0, 1.0, 5]",
        '[0, 1, "y"]',  # the service writes its moments as floats
        '[1, 5.0, "y"]',  # undated articles all sit at 0.0: this one would skip them all
        '[2, 1.0, "y"]',
        '[0.0, 1.0, "y"]',
        '[0, 1.0, "y", 1]',
        '{"a": 0, "b": 1.0, "c": "y"}',
        '"abc"',
    ],
)
def test_a_forged_cursor_is_400(client: FlaskClient, key: str) -> None:
    """A cursor must be one the service could have made, not any JSON its parts can be coerced from."""
    cursor = base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")
    fields = {"cursor": ["not a cursor this service handed out"]}
    expected = error_body("invalid_request", "The cursor is not valid.", fields)
    assert json_of(client.get(f"/v1/documents?cursor={cursor}"), 400) == expected


def test_limit_1000_is_accepted(client: FlaskClient) -> None:
    assert json_of(client.get("/v1/documents?limit=1000"), 200)["next_cursor"] is None


# --- keys for reads, keys from a file -------------------------------------------------------

CLOSED_READS: dict[str, tuple[str, str, Any]] = {
    "ask": ("POST", "/v1/ask", {"question": FENTANYL_QUESTION}),
    "batch": ("POST", "/v1/ask/batch", {"questions": [{"question": FENTANYL_QUESTION}]}),
    "chat": ("POST", "/v1/chat/completions", {"messages": [{"role": "user", "content": FENTANYL_QUESTION}]}),
    "list": ("GET", "/v1/documents", None),
    "document": ("GET", f"/v1/documents/{SEED_ID}", None),
    "demo-page": ("GET", f"/demo/{SEED_ID}", None),  # it shows the article's text
}
OPEN_PATHS = ["/healthz", "/readyz", "/openapi.json", "/docs", "/", "/widget.js", "/assets/page.css"]


@pytest.fixture()
def reads_need_a_key(settings: Settings, service: Service) -> FlaskClient:
    return create_app(settings.with_overrides(api_keys=(KEY,), read_requires_key=True), service).test_client()


@pytest.mark.parametrize("read", CLOSED_READS.values(), ids=CLOSED_READS.keys())
def test_with_read_requires_key_every_read_needs_a_key(
    reads_need_a_key: FlaskClient, read: tuple[str, str, Any]
) -> None:
    method, path, body = read
    for credentials in ({}, {"Authorization": "Bearer wrong"}):
        response = reads_need_a_key.open(path, method=method, json=body, headers=credentials)
        assert json_of(response, 401) == as_sent_on(path, UNAUTHORIZED, "authentication_error")
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="article-qa"'
    assert reads_need_a_key.open(path, method=method, json=body, headers=AUTH).status_code == 200


def test_with_read_requires_key_the_description_says_which_operations_need_one(reads_need_a_key: FlaskClient) -> None:
    spec = json_of(reads_need_a_key.get("/openapi.json"), 200)
    assert spec["security"] == [{"bearerAuth": []}]
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            expected = [] if path in ("/healthz", "/readyz") else [{"bearerAuth": []}]
            assert operation.get("security", spec["security"]) == expected, (path, method)


@pytest.mark.parametrize("path", OPEN_PATHS)
def test_with_read_requires_key_probes_docs_and_page_assets_stay_open(reads_need_a_key: FlaskClient, path: str) -> None:
    assert reads_need_a_key.get(path).status_code == 200


def test_read_requires_key_without_a_key_fails_at_start(tmp_path: Path) -> None:
    message = "QA_READ_REQUIRES_KEY=1 needs a key: set QA_API_KEYS or QA_API_KEYS_FILE"
    with pytest.raises(ValueError, match=message):
        Settings.from_env({"QA_READ_REQUIRES_KEY": "1"})
    result = run_qa({"QA_READ_REQUIRES_KEY": "1", "QA_INDEX_DIR": str(tmp_path)}, "serve")
    assert result.exit_code == 2 and message in result.output


def test_keys_come_from_both_variables_and_never_show(tmp_path: Path) -> None:
    keys_file = tmp_path / "keys"
    keys_file.write_text("# rotated 2026-12-01\n\n  k-file-1  \nk-file-2\n   # old: k-retired\n", encoding="utf-8")
    settings = Settings.from_env({"QA_API_KEYS": "k-env-1, k-env-2,", "QA_API_KEYS_FILE": str(keys_file)})
    assert settings.api_keys == ("k-env-1", "k-env-2", "k-file-1", "k-file-2")
    assert "k-" not in repr(settings)
    assert Settings.from_env({"QA_API_KEYS_FILE": str(keys_file)}).api_keys == ("k-file-1", "k-file-2")


def test_a_keys_file_saved_with_a_byte_order_mark_reads_its_first_key(tmp_path: Path) -> None:
    """An editor's UTF-8 with BOM made the first key "\ufeffk-1": `qa serve` refused to start with
    "QA_API_KEYS: a key must be printable ASCII", naming neither the file nor the mark."""
    keys_file = tmp_path / "keys"
    keys_file.write_bytes(b"\xef\xbb\xbfk-file-1\r\nk-file-2\r\n")
    assert Settings.from_env({"QA_API_KEYS_FILE": str(keys_file)}).api_keys == ("k-file-1", "k-file-2")


def test_a_bad_key_in_the_keys_file_is_named_by_the_file_and_its_line(tmp_path: Path) -> None:
    """`bad key` in QA_API_KEYS_FILE stopped `qa serve` (and a SIGHUP reload) with "QA_API_KEYS: a
    key must be ...": the other variable, so the operator looked for the key where it was not."""
    keys_file = tmp_path / "keys"
    # Line 4 as an editor numbers it: a form feed is no line break (splitlines took it for one).
    keys_file.write_text("# rotated\r\nk-good\f\r\n\r\nbad key\r\n", encoding="utf-8")
    message = (
        f"QA_API_KEYS_FILE='{keys_file}', line 4: a key must be printable ASCII without spaces (its value is not shown)"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        Settings.from_env({"QA_API_KEYS": "k-env", "QA_API_KEYS_FILE": str(keys_file)})
    result = run_qa({"QA_API_KEYS_FILE": str(keys_file), "QA_INDEX_DIR": str(tmp_path)}, "serve")
    assert result.exit_code == 2 and result.stderr.endswith(f"\nError: {message}\n"), result.output
    # A bad key in the variable is still named as the variable's, with a good keys file beside it.
    keys_file.write_text("k-good\n", encoding="utf-8")
    env = {"QA_API_KEYS": "k-env,bad key", "QA_API_KEYS_FILE": str(keys_file), "QA_INDEX_DIR": str(tmp_path)}
    result = run_qa(env, "serve")
    assert result.exit_code == 2
    assert result.stderr.endswith(
        "\nError: QA_API_KEYS: a key must be printable ASCII without spaces (its value is not shown)\n"
    )
    with pytest.raises(ValueError, match=r"^api_keys: a key must be printable ASCII"):  # keys given in code
        Settings.from_env({}, api_keys=("bad key",))


def test_a_key_from_the_file_may_write(writable: Service, tmp_path: Path) -> None:
    keys_file = tmp_path / "keys"
    keys_file.write_text("k-from-file\n", encoding="utf-8")
    client = client_of(writable, api_keys=Settings.from_env({"QA_API_KEYS_FILE": str(keys_file)}).api_keys)
    assert json_of(
        client.put("/v1/documents/from-file", json=FLOOD, headers={"Authorization": "Bearer k-from-file"}), 201
    )
    assert json_of(client.put("/v1/documents/from-file", json=FLOOD, headers=AUTH), 401) == UNAUTHORIZED


@pytest.mark.parametrize("kind", ["missing", "a-folder", "not-utf-8"])
def test_an_unreadable_keys_file_fails_at_start(tmp_path: Path, kind: str) -> None:
    path = {"missing": tmp_path / "nope", "a-folder": tmp_path, "not-utf-8": tmp_path / "latin1"}[kind]
    if kind == "not-utf-8":
        path.write_bytes(b"k\xe9y\n")
    with pytest.raises(ValueError, match=re.escape(f"QA_API_KEYS_FILE='{path}' cannot be read")):
        Settings.from_env({"QA_API_KEYS_FILE": str(path)})
    result = run_qa({"QA_API_KEYS_FILE": str(path), "QA_INDEX_DIR": str(tmp_path)}, "serve")
    assert result.exit_code == 2 and "QA_API_KEYS_FILE" in result.output and "cannot be read" in result.output


# --- what a write changes in the answers ----------------------------------------------------


def top_citation(client: FlaskClient, question: str) -> dict[str, Any]:
    body = json_of(client.post("/v1/ask", json={"question": question}), 200)
    assert body["answerable"] is True, body
    return {**body["citations"][0], "generation": body["generation"]}


def test_a_put_article_is_cited_at_exact_offsets_and_a_replacement_at_new_ones(private_service: Service) -> None:
    client = client_of(private_service)
    for version, status, quote in (
        (FLOOD, 201, "The barrier will cost 12 million dollars."),
        (FLOOD_V2, 200, "The barrier will cost 15 million dollars."),
    ):
        written = json_of(client.put("/v1/documents/flood-barrier", json=version, headers=AUTH), status)
        text = version["text"]
        cited = top_citation(client, COST_QUESTION)
        start = text.index(quote)
        assert (cited["doc_id"], cited["start"], cited["end"]) == ("flood-barrier", start, start + len(quote))
        assert text[cited["start"] : cited["end"]] == cited["quote"] == quote
        assert (cited["title"], cited["url"]) == (FLOOD["title"], "https://news.example/flood")
        assert cited["generation"] == written["generation"] == json_of(client.get("/readyz"), 200)["generation"]


def test_deleting_the_seed_declines_its_question_and_putting_it_back_answers_it(private_service: Service) -> None:
    client = client_of(private_service)
    json_of(client.put("/v1/documents/flood-barrier", json=FLOOD, headers=AUTH), 201)
    assert client.delete(f"/v1/documents/{SEED_ID}", headers=AUTH).status_code == 204
    declined = json_of(client.post("/v1/ask", json={"question": FENTANYL_QUESTION}), 200)
    assert declined["answerable"] is False and declined["citations"] == []
    seed = {
        "title": SEED_RECORD["title"],
        "text": (SEEDS / f"{SEED_ID}.txt").read_bytes().decode("utf-8"),  # as stored, no newline translation
        "metadata": {k: v for k, v in SEED_RECORD.items() if k not in ("id", "title")},
    }
    json_of(client.put(f"/v1/documents/{SEED_ID}", json=seed, headers=AUTH), 201)
    cited = top_citation(client, FENTANYL_QUESTION)
    assert (cited["doc_id"], cited["start"], cited["end"]) == (SEED_ID, *FENTANYL_SPAN)
    assert SEED_TEXT[cited["start"] : cited["end"]] == cited["quote"]


# --- conditional writes (ETag, If-Match, If-None-Match) ---------------------------------------


def test_two_editors_of_one_article_cannot_overwrite_each_other_with_if_match(private_service: Service) -> None:
    """Writes ignored If-Match: two editors who read the same version could each replace the
    article, and the later silently undid the earlier (a lost update). An article's version is its
    `ETag`; a write sent with `If-Match` of a version that is no longer live is a 412."""
    keyed = client_of(private_service)
    url = "/v1/documents/flood"
    created = keyed.put(url, json=FLOOD, headers=AUTH)
    assert created.status_code == 201
    read = keyed.get(url)
    version = read.headers["ETag"]
    assert version == created.headers["ETag"] and version.startswith('"')
    assert keyed.get(url, headers={"If-None-Match": version}).status_code == 304

    first = keyed.put(url, json=FLOOD_V2, headers={**AUTH, "If-Match": version})  # editor A
    assert first.status_code == 200 and first.headers["ETag"] != version
    second = keyed.put(url, json={**FLOOD, "title": "Barrier"}, headers={**AUTH, "If-Match": version})  # editor B
    assert second.status_code == 412, second.get_json()
    assert second.get_json()["error"]["code"] == "precondition_failed"
    assert keyed.get(url).get_json()["text"] == FLOOD_V2["text"]  # A's version stands
    stale_delete = keyed.delete(url, headers={**AUTH, "If-Match": version})
    assert stale_delete.status_code == 412 and keyed.get(url).status_code == 200

    # Create only: `If-None-Match: *` is a 412 once the id is taken.
    assert keyed.put(url, json=FLOOD, headers={**AUTH, "If-None-Match": "*"}).status_code == 412
    assert keyed.put("/v1/documents/fresh", json=FLOOD, headers={**AUTH, "If-None-Match": "*"}).status_code == 201
    # The live version, or any (`*`), may be replaced and deleted.
    assert keyed.put(url, json=FLOOD, headers={**AUTH, "If-Match": first.headers["ETag"]}).status_code == 200
    assert keyed.delete(url, headers={**AUTH, "If-Match": "*"}).status_code == 204
    assert keyed.put(url, json=FLOOD, headers={**AUTH, "If-Match": "*"}).status_code == 412  # no version to match
    spec = keyed.get("/openapi.json").get_json()
    for method in ("put", "delete"):
        schema = item_schema(spec, "/v1/documents/{doc_id}", method, 412, "application/json")
        assert errors_against(spec, schema, second.get_json()) == []


# --- the OpenAPI description ----------------------------------------------------------------


def test_write_routes_document_their_key_and_errors(client: FlaskClient) -> None:
    spec = client.get("/openapi.json").get_json()
    assert spec["components"]["securitySchemes"] == {"bearerAuth": {"type": "http", "scheme": "bearer"}}
    operations = {("/v1/documents", "post"), ("/v1/documents/{doc_id}", "put"), ("/v1/documents/{doc_id}", "delete")}
    for path, method in operations:
        operation = spec["paths"][path][method]
        assert operation["security"] == [{"bearerAuth": []}], (path, method)
        assert {"401", "403", "503"} <= set(operation["responses"]), (path, method)
    assert {"200", "201", "400", "413", "415"} <= set(spec["paths"]["/v1/documents/{doc_id}"]["put"]["responses"])
    assert {"204", "404", "409"} <= set(spec["paths"]["/v1/documents/{doc_id}"]["delete"]["responses"])
    assert "security" not in spec and "security" not in spec["paths"]["/v1/documents"]["get"]
    bulk = spec["paths"]["/v1/documents"]["post"]["requestBody"]["content"]
    assert set(bulk) == {"application/json", NDJSON}
    assert bulk[NDJSON]["x-item-schema"] == {"$ref": "#/components/schemas/DocumentRecord"}
    record = resolve(spec, bulk[NDJSON]["x-item-schema"])
    assert errors_against(spec, record, {"id": "..", "title": "T", "text": "x"})
    assert not errors_against(spec, record, {"id": "a.b", "title": "T", "text": "x", "metadata": {"url": "u"}})


def test_real_write_responses_match_the_description(private_service: Service, client: FlaskClient) -> None:
    spec = client.get("/openapi.json").get_json()
    keyed = client_of(private_service)
    item = f"/v1/documents/{SEED_ID}"
    exchanges: list[tuple[str, str, Callable[[], Any]]] = [
        ("/v1/documents/{doc_id}", "put", lambda: keyed.put("/v1/documents/new", json=FLOOD, headers=AUTH)),
        ("/v1/documents/{doc_id}", "put", lambda: keyed.put("/v1/documents/new", json=FLOOD_V2, headers=AUTH)),
        ("/v1/documents/{doc_id}", "put", lambda: keyed.put("/v1/documents/new", json={}, headers=AUTH)),
        ("/v1/documents/{doc_id}", "put", lambda: keyed.put("/v1/documents/new", data="x", headers=AUTH)),
        ("/v1/documents/{doc_id}", "put", lambda: keyed.put("/v1/documents/new", json=FLOOD)),
        ("/v1/documents/{doc_id}", "put", lambda: client.put("/v1/documents/new", json=FLOOD)),
        ("/v1/documents", "post", lambda: keyed.post("/v1/documents", json=[{"id": "n2", **FLOOD}, 1], headers=AUTH)),
        ("/v1/documents", "post", lambda: keyed.post("/v1/documents", json={}, headers=AUTH)),
        ("/v1/documents", "get", lambda: keyed.get("/v1/documents?limit=1")),
        ("/v1/documents", "get", lambda: keyed.get("/v1/documents?cursor=x")),
        ("/v1/documents/{doc_id}", "delete", lambda: keyed.delete("/v1/documents/nope", headers=AUTH)),
        ("/v1/documents/{doc_id}", "delete", lambda: keyed.delete(item, headers=AUTH)),
        ("/v1/documents/{doc_id}", "delete", lambda: keyed.delete("/v1/documents/new", headers=AUTH)),
        ("/v1/documents/{doc_id}", "delete", lambda: keyed.delete("/v1/documents/n2", headers=AUTH)),
    ]
    statuses = []
    for path, method, send in exchanges:
        response = send()
        statuses.append(response.status_code)
        assert str(response.status_code) in spec["paths"][path][method]["responses"], (path, method, response.status)
        if response.status_code != 204:
            schema = item_schema(spec, path, method, response.status_code, "application/json")
            assert errors_against(spec, schema, response.get_json()) == [], (path, method, response.get_json())
    assert statuses == [201, 200, 400, 415, 401, 403, 200, 400, 200, 400, 404, 204, 204, 409]


# --- a real server --------------------------------------------------------------------------


@pytest.mark.slow
def test_a_server_publishes_answers_and_deletes_without_logging_the_key(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    server = start_server(SEEDS, tmp_path / "index", env={"QA_API_KEYS": KEY}, log_path=log)
    url = f"{server.base_url}/v1/documents/flood-barrier"
    try:
        refused = requests.put(url, json=FLOOD, headers={"Authorization": "Bearer wrong"}, timeout=60)
        assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == 'Bearer realm="article-qa"'
        written = requests.put(url, json=FLOOD, headers=AUTH, timeout=60)
        assert written.status_code == 201, written.text
        answer = requests.post(f"{server.base_url}/v1/ask", json={"question": COST_QUESTION}, timeout=60).json()
        top = answer["citations"][0]
        assert top["doc_id"] == "flood-barrier" and FLOOD["text"][top["start"] : top["end"]] == top["quote"]
        assert answer["generation"] == written.json()["generation"]
        assert requests.delete(url, headers=AUTH, timeout=60).status_code == 204
        assert requests.get(url, timeout=60).status_code == 404
    finally:
        stopped = server.stop()
    assert stopped == 0
    assert "PUT /v1/documents/flood-barrier" in server.log()
    assert KEY not in server.log()

"""The edges of the HTTP API: what arrives before Flask or around it. Malformed and oversized
requests get the README's JSON error shape (also those gunicorn refuses itself, checked with raw
sockets on a real server), every response carries an `X-Request-Id`, slow clients do not starve
the others, and the access log says how long each request took and under which id."""

from __future__ import annotations

import gzip
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from qa.api import create_app
from qa.config import Settings
from qa.service import Service
from tests.conftest import API_KEY, ROBINSON_QUESTION
from tests.contracts import as_sent_on
from tests.servers import Client, Server, start_server

NOT_FOUND = (
    "The requested URL was not found on the server. If you entered the URL manually please check "
    "your spelling and try again."
)
INVALID_JSON = {"error": {"code": "invalid_json", "message": "The request body is not valid JSON."}}
GENERATED_ID = re.compile(r"[0-9a-f]{32}")
POST_ROUTES = ["/v1/ask", "/v1/ask/batch", "/v1/chat/completions"]
QUESTION_BODIES = [
    ("/v1/ask", {"question": ROBINSON_QUESTION}),
    ("/v1/ask/batch", {"questions": [{"question": ROBINSON_QUESTION}]}),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": ROBINSON_QUESTION}]}),
]
BOM = b"\xef\xbb\xbf"


# --- in the app (Flask's test client) ----------------------------------------------------------


@pytest.mark.parametrize(("path", "body"), QUESTION_BODIES)
def test_a_json_body_after_a_utf8_byte_order_mark_is_read(client: Any, path: str, body: dict[str, Any]) -> None:
    """RFC 8259 lets a parser ignore a leading BOM, and the document routes always did: so do the others."""
    response = client.post(path, data=BOM + json.dumps(body).encode(), content_type="application/json")
    assert response.status_code == 200, response.get_json()


def test_an_article_after_a_utf8_byte_order_mark_is_read(private_service: Service) -> None:
    client = create_app(private_service.settings, private_service).test_client()
    article = json.dumps({"title": "Bridge", "text": "The bridge reopened on Monday."}).encode()
    headers = {"Authorization": f"Bearer {API_KEY}"}
    response = client.put("/v1/documents/bridge", data=BOM + article, content_type="application/json", headers=headers)
    assert response.status_code == 201, response.get_json()
    assert client.get("/v1/documents/bridge").get_json()["text"] == "The bridge reopened on Monday."


@pytest.mark.parametrize("path", POST_ROUTES)
def test_json_nested_too_deeply_is_invalid_json_not_a_server_error(client: Any, path: str) -> None:
    response = client.post(path, data="[" * 100_000, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json() == as_sent_on(path, INVALID_JSON)


UNSUPPORTED_ENCODING = {
    "error": {
        "code": "unsupported_media_type",
        "message": "The body's Content-Encoding is not supported: send it uncompressed (identity).",
    }
}


@pytest.mark.parametrize(("path", "body"), QUESTION_BODIES)
def test_a_compressed_body_is_415_with_accept_encoding_not_invalid_json(
    client: Any, path: str, body: dict[str, Any]
) -> None:
    """A gzip body (`Content-Encoding: gzip`, as HTTP clients and pipelines compress uploads) was
    read as it came, and answered 400 "not valid JSON" though it was: RFC 9110 (12.5.3) has a
    server answer an encoding it does not decode with 415 and say what it accepts."""
    compressed = gzip.compress(json.dumps(body).encode())
    response = client.post(path, data=compressed, content_type="application/json", headers={"Content-Encoding": "gzip"})
    assert response.status_code == 415
    assert response.get_json() == as_sent_on(path, UNSUPPORTED_ENCODING)
    assert response.headers["Accept-Encoding"] == "identity"
    plain = {"Content-Encoding": "identity"}  # says the body is not encoded: read as usual
    assert client.post(path, json=body, headers=plain).status_code == 200


def test_a_compressed_bulk_publish_is_415_not_an_item_error_per_line(private_service: Service) -> None:
    client = create_app(private_service.settings, private_service).test_client()
    line = json.dumps({"id": "bridge", "title": "Bridge", "text": "The bridge reopened on Monday."})
    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Encoding": "gzip"}
    for content_type in ("application/x-ndjson", "application/json"):
        body = gzip.compress((line if content_type != "application/json" else f"[{line}]").encode())
        response = client.post("/v1/documents", data=body, content_type=content_type, headers=headers)
        assert response.status_code == 415, response.get_json()
        assert response.get_json() == UNSUPPORTED_ENCODING
    put = client.put(
        "/v1/documents/bridge", data=gzip.compress(line.encode()), content_type="application/json", headers=headers
    )
    assert put.status_code == 415 and put.get_json() == UNSUPPORTED_ENCODING
    assert "bridge" not in {d.doc_id for d in private_service.documents()}


# Charsets as clients write them (quoted, any case), each a name Python can encode the body with.
OTHER_CHARSETS = ["latin-1", "ISO-8859-1", '"windows-1252"', "UTF-16"]
UTF8_CHARSETS = ["utf-8", "UTF-8", '"utf-8"', "utf8", "us-ascii", "ascii"]


def in_charset(charset: str) -> tuple[str, str]:
    """The charset as the server names it (unquoted), and the Content-Type declaring it."""
    return charset.strip('"'), f"application/json; charset={charset}"


def unsupported_charset(charset: str) -> dict[str, Any]:
    message = f"The body's charset {charset!r} is not supported: the body must be UTF-8, as JSON is (RFC 8259)."
    return {"error": {"code": "unsupported_media_type", "message": message}}


@pytest.mark.parametrize(("path", "body"), QUESTION_BODIES)
def test_a_body_in_a_charset_other_than_utf8_is_415_not_read_as_utf8(
    client: Any, path: str, body: dict[str, Any]
) -> None:
    """`charset=latin-1` was read as UTF-8 all the same: answered as if it were, or a 400 "not
    valid JSON" for a body that was, in the charset it said. JSON is UTF-8."""
    for charset in OTHER_CHARSETS:
        name, content_type = in_charset(charset)
        response = client.post(path, data=json.dumps(body).encode(name), content_type=content_type)
        assert response.status_code == 415, (charset, response.get_json())
        assert response.get_json() == as_sent_on(path, unsupported_charset(name))
    for charset in UTF8_CHARSETS:
        _, content_type = in_charset(charset)
        assert client.post(path, data=json.dumps(body), content_type=content_type).status_code == 200, charset


def test_an_article_in_another_charset_is_415_and_nothing_is_written(private_service: Service) -> None:
    client = create_app(private_service.settings, private_service).test_client()
    line = json.dumps({"id": "bridge", "title": "Bridge", "text": "The bridge reopened on Monday."})
    headers = {"Authorization": f"Bearer {API_KEY}"}
    latin = "; charset=latin-1"
    for content_type, body in (("application/x-ndjson", line), ("application/json", f"[{line}]")):
        response = client.post(
            "/v1/documents", data=body.encode("latin-1"), content_type=content_type + latin, headers=headers
        )
        assert response.status_code == 415 and response.get_json() == unsupported_charset("latin-1")
    put = client.put(
        "/v1/documents/bridge", data=line.encode("latin-1"), content_type="application/json" + latin, headers=headers
    )
    assert put.status_code == 415 and put.get_json() == unsupported_charset("latin-1")
    assert "bridge" not in {d.doc_id for d in private_service.documents()}
    utf8 = "application/x-ndjson; charset=UTF-8"
    published = client.post("/v1/documents", data=line, content_type=utf8, headers=headers)
    assert published.get_json()["results"] == [{"id": "bridge", "status": "created"}]


@pytest.mark.parametrize("path", [*POST_ROUTES, "/v1/documents", "/healthz"])
def test_options_answers_allow_and_no_body_not_an_html_page(client: Any, path: str) -> None:
    response = client.options(path)
    assert response.status_code == 200 and response.data == b"" and "OPTIONS" in response.allow
    assert "Content-Type" not in response.headers


def test_a_double_slash_inside_a_path_is_a_json_404_not_a_redirect(client: Any) -> None:
    response = client.get("/v1//documents")
    assert response.status_code == 404
    assert response.get_json() == {"error": {"code": "not_found", "message": NOT_FOUND}}


def test_a_sane_request_id_is_echoed(client: Any) -> None:
    for supplied in ("abc-123", "0f8fad5b-d9cb-469f-a165-70867728950e", "x" * 128):
        assert client.get("/healthz", headers={"X-Request-Id": supplied}).headers["X-Request-Id"] == supplied


def test_a_request_id_is_made_when_none_is_sent(client: Any) -> None:
    first, second = (client.get("/healthz").headers["X-Request-Id"] for _ in range(2))
    assert GENERATED_ID.fullmatch(first) and GENERATED_ID.fullmatch(second) and first != second


@pytest.mark.parametrize("insane", ["x" * 129, "has space", 'quote"d', "semi;colon", "caf\u00e9", ""])
def test_an_insane_request_id_is_replaced(client: Any, insane: str) -> None:
    response = client.get("/healthz", headers={"X-Request-Id": insane})
    assert GENERATED_ID.fullmatch(response.headers["X-Request-Id"])


@pytest.mark.parametrize("sent", [{"X-Request-Id": "report-42"}, {}], ids=["client-id", "generated-id"])
def test_an_unhandled_error_is_logged_under_the_request_id_the_client_got(
    settings: Settings, service: Service, caplog: pytest.LogCaptureFixture, sent: dict[str, str]
) -> None:
    """The traceback of a 500 was logged without the request's id, which is all the client has to
    report it with ("the error was logged"): among concurrent requests no one could tell which
    traceback was theirs. It now names the id the response carries."""
    app = create_app(settings, service)

    def broken() -> str:
        raise RuntimeError("a bug")

    app.add_url_rule("/boom", view_func=broken)
    with caplog.at_level("ERROR", logger="qa.api.errors"):
        response = app.test_client().get("/boom", headers=sent)
    assert response.status_code == 500
    (record,) = [r for r in caplog.records if r.exc_info]
    assert f"request id {response.headers['X-Request-Id']}" in record.getMessage()
    if sent:
        assert response.headers["X-Request-Id"] == "report-42"


def test_error_responses_carry_a_request_id_too(client: Any) -> None:
    response = client.post("/v1/ask", data="{", content_type="application/json", headers={"X-Request-Id": "e-1"})
    assert response.status_code == 400 and response.headers["X-Request-Id"] == "e-1"


SERVER_TIMING = re.compile(r"app;dur=(\d+\.\d{3})(?:, pipeline;dur=(\d+\.\d{3}))?")


def server_timing(header: str | None) -> tuple[float, float | None]:
    """`app` and `pipeline` (None when absent) from a Server-Timing header, in ms."""
    match = SERVER_TIMING.fullmatch(header or "")
    assert match, header
    return float(match[1]), None if match[2] is None else float(match[2])


@pytest.mark.parametrize(("path", "body"), QUESTION_BODIES)
def test_answers_say_what_the_pipeline_and_the_app_took(client: Any, path: str, body: dict[str, Any]) -> None:
    response = client.post(path, json=body)
    assert response.status_code == 200
    app, pipeline = server_timing(response.headers.get("Server-Timing"))
    assert pipeline is not None and 0 < pipeline <= app


@pytest.mark.parametrize("method, path", [("GET", "/healthz"), ("POST", "/v1/ask"), ("GET", "/nowhere")])
def test_other_responses_and_errors_say_what_the_app_took(client: Any, method: str, path: str) -> None:
    response = client.open(path, method=method, data="{", content_type="application/json")
    assert response.status_code in (200, 400, 404)
    app, pipeline = server_timing(response.headers.get("Server-Timing"))
    assert app > 0 and pipeline is None


def test_a_streamed_batch_says_only_what_the_app_took_before_it_began(client: Any) -> None:
    """NDJSON results are answered as they stream, after the headers are sent."""
    body = {"questions": [{"question": ROBINSON_QUESTION}]}
    response = client.post("/v1/ask/batch", json=body, headers={"Accept": "application/x-ndjson"})
    assert response.status_code == 200 and response.mimetype == "application/x-ndjson"
    assert server_timing(response.headers.get("Server-Timing"))[1] is None


def test_a_streamed_chat_answer_is_answered_before_it_streams(client: Any) -> None:
    body = {"messages": [{"role": "user", "content": ROBINSON_QUESTION}], "stream": True}
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    app, pipeline = server_timing(response.headers.get("Server-Timing"))
    assert pipeline is not None and 0 < pipeline <= app


def test_request_threads_search_faiss_on_one_openmp_thread() -> None:
    """libgomp keeps `omp_set_num_threads` per thread: a request thread (not the one that set the
    budget) searched FAISS with a team of one thread per core, and waited for a busy core."""
    probe = (
        "import qa, faiss, threading\n"
        "from qa.embedding import set_thread_budget\n"
        "set_thread_budget()\n"
        "seen = []\n"
        "thread = threading.Thread(target=lambda: seen.append(faiss.omp_get_max_threads()))\n"
        "thread.start(); thread.join()\n"
        "print(faiss.omp_get_max_threads(), seen[0])\n"
    )
    environment = {key: value for key, value in os.environ.items() if key != "OMP_NUM_THREADS"}
    result = subprocess.run([sys.executable, "-c", probe], env=environment, capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["1", "1"]


# --- on a real gunicorn server ------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(settings: Settings, service: Service, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server of its own, so its log holds only this module's requests; one origin may call it
    (requests without an Origin, as the others send, see no difference)."""
    log_path = tmp_path_factory.mktemp("log") / "serve.log"
    env = {"QA_CORS_ORIGINS": WIDGET_ORIGIN}
    running = start_server(settings.seeds_dir, settings.index_dir, log_path=log_path, env=env)
    try:
        yield running
    finally:
        running.stop()


WIDGET_ORIGIN = "https://widget.example"


def exchange(port: int, raw: bytes, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    """Send `raw` bytes on a new connection; the status, headers (lower-case) and body of the answer,
    read until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(raw)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return parse_response(received)


def parse_response(received: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, value in (line.split(":", 1) for line in header_lines)}
    return int(status_line.split()[1]), headers, body


def assert_json_error(answer: tuple[int, dict[str, str], bytes], status: int, code: str, message: str) -> None:
    got_status, headers, body = answer
    assert got_status == status, body
    assert headers["content-type"] == "application/json"
    assert int(headers["content-length"]) == len(body)
    assert GENERATED_ID.fullmatch(headers["x-request-id"])
    assert json.loads(body) == {"error": {"code": code, "message": message}}


@pytest.mark.slow
def test_a_url_over_the_limit_is_a_json_414(server: Server) -> None:
    answer = exchange(server.port, b"GET /v1/documents/" + b"a" * 4100 + b" HTTP/1.1\r\nHost: t\r\n\r\n")
    assert_json_error(answer, 414, "uri_too_long", "The URL is too long (Request line is too large).")


@pytest.mark.slow
@pytest.mark.parametrize(
    "headers, detail",
    [
        (b"X-Big: " + b"a" * 9000 + b"\r\n", "Request header field is too large"),
        (b"".join(b"X-Many-%d: v\r\n" % i for i in range(120)), "Too many headers"),
    ],
)
def test_headers_over_the_limits_are_a_json_431(server: Server, headers: bytes, detail: str) -> None:
    answer = exchange(server.port, b"GET /healthz HTTP/1.1\r\nHost: t\r\n" + headers + b"\r\n")
    assert_json_error(answer, 431, "headers_too_large", f"The request headers are too many or too large ({detail}).")


@pytest.mark.slow
@pytest.mark.parametrize(
    "request_line, detail",
    [
        (b"GARBAGE", "Invalid request line"),
        (b"GET / HTTP/9.9", "HTTP/9.9"),
        (b"G@T / HTTP/1.1", "G@T"),
    ],
)
def test_a_malformed_request_line_is_a_json_400(server: Server, request_line: bytes, detail: str) -> None:
    answer = exchange(server.port, request_line + b"\r\nHost: t\r\n\r\n")
    assert_json_error(answer, 400, "invalid_request", f"The request is not valid HTTP ({detail}).")


@pytest.mark.slow
def test_options_has_no_content_type_on_the_server(server: Server) -> None:
    status, headers, body = exchange(server.port, b"OPTIONS /v1/ask HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert (status, body) == (200, b"") and "content-type" not in headers
    assert {method.strip() for method in headers["allow"].split(",")} == {"OPTIONS", "POST"}


@pytest.mark.slow
def test_a_double_slash_inside_a_path_is_a_json_404_on_the_server(server: Server) -> None:
    request = b"GET /v1//documents HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    status, headers, body = exchange(server.port, request)
    assert status == 404 and headers["content-type"] == "application/json"
    assert json.loads(body) == {"error": {"code": "not_found", "message": NOT_FOUND}}


def post_ask(body_framing: bytes, body: bytes) -> bytes:
    return (
        b"POST /v1/ask HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nConnection: close\r\n"
        + body_framing
        + b"\r\n"
        + body
    )


def chunked(body: bytes, size: int = 65536) -> bytes:
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"


@pytest.mark.slow
def test_a_chunked_body_over_the_limit_is_413_payload_too_large(server: Server) -> None:
    body = json.dumps({"question": ROBINSON_QUESTION, "padding": " " * 2_000_000}).encode()
    status, headers, payload = exchange(server.port, post_ask(b"Transfer-Encoding: chunked\r\n", chunked(body)))
    assert status == 413 and headers["content-type"] == "application/json"
    assert json.loads(payload) == {
        "error": {"code": "payload_too_large", "message": "The request body is larger than the limit of 2000000 bytes."}
    }


@pytest.mark.slow
def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_sent(server: Server) -> None:
    status, _, payload = exchange(server.port, post_ask(b"Content-Length: 2000001\r\n", b"{"))
    assert status == 413 and json.loads(payload)["error"]["code"] == "payload_too_large"


@pytest.mark.slow
@pytest.mark.parametrize("framing", ["declared", "chunked"])
def test_a_body_too_large_from_an_allowed_origin_carries_the_app_s_cors_headers(server: Server, framing: str) -> None:
    """The ASGI layer's 413 had no CORS headers, so a widget on an allowed origin saw a network
    error instead of the JSON error; it now has those the app gives that origin."""
    cors = {"access-control-allow-origin", "access-control-expose-headers", "vary"}
    origin = b"Origin: " + WIDGET_ORIGIN.encode() + b"\r\n"
    body = json.dumps({"question": ROBINSON_QUESTION, "padding": " " * 2_000_000}).encode()
    too_large = (
        post_ask(origin + b"Content-Length: 2000001\r\n", b"{")
        if framing == "declared"
        else post_ask(origin + b"Transfer-Encoding: chunked\r\n", chunked(body))
    )
    status, headers, payload = exchange(server.port, too_large)
    assert status == 413 and json.loads(payload)["error"]["code"] == "payload_too_large"
    assert headers["access-control-allow-origin"] == WIDGET_ORIGIN
    _, from_flask, _ = exchange(server.port, post_ask(origin + b"Content-Length: 2\r\n", b"{}"))  # Flask's 400
    assert {name: headers[name] for name in cors if name in headers} == {
        name: from_flask[name] for name in cors if name in from_flask
    }
    assert "X-Request-Id" in headers["access-control-expose-headers"]
    other = post_ask(b"Origin: https://elsewhere.example\r\nContent-Length: 2000001\r\n", b"{")
    status, headers, _ = exchange(server.port, other)
    assert status == 413 and "access-control-allow-origin" not in headers


@pytest.mark.slow
def test_a_chunked_body_within_the_limit_is_answered(server: Server) -> None:
    body = json.dumps({"question": ROBINSON_QUESTION}).encode()
    status, _, payload = exchange(server.port, post_ask(b"Transfer-Encoding: chunked\r\n", chunked(body, size=7)))
    assert status == 200 and json.loads(payload)["question"] == ROBINSON_QUESTION


@pytest.mark.slow
@pytest.mark.parametrize(
    "transfer_encoding, coding",
    [
        (b"gzip, chunked", "gzip"),
        (b"Deflate, chunked", "Deflate"),
        (b"compress, chunked", "compress"),
        (b"identity, chunked", "identity"),
        (b"gzip\r\nTransfer-Encoding: chunked", "gzip"),  # the same list over two fields
        (b"foo, chunked", "foo"),
        (b"foo", "foo"),
    ],
)
def test_a_transfer_coding_other_than_chunked_is_a_json_501_never_read_as_the_body(
    server: Server, transfer_encoding: bytes, coding: str
) -> None:
    """gunicorn knows gzip, deflate and compress as transfer codings but does not decode them: it
    only undoes the chunking, so a gzip body reached Flask compressed and was answered 400
    `invalid_json`. A transfer coding the server does not decode is refused like an unknown one."""
    body = json.dumps({"question": ROBINSON_QUESTION}).encode()
    if coding.lower() == "gzip":
        body = gzip.compress(body)
    answer = exchange(server.port, post_ask(b"Transfer-Encoding: " + transfer_encoding + b"\r\n", chunked(body)))
    message = f"The server does not implement this transfer coding ({coding})."
    assert_json_error(answer, 501, "not_implemented", message)


@pytest.mark.slow
@pytest.mark.parametrize(
    "framing, detail",
    [
        (b"Transfer-Encoding: gzip\r\n", "Transfer-Encoding does not end with chunked"),
        (b"Transfer-Encoding: chunked, gzip\r\n", "Invalid Transfer-Encoding after chunked"),
        (b"Transfer-Encoding: chunked, chunked\r\n", "Stacked chunked encoding"),
        (b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", "Content-Length with Transfer-Encoding"),
    ],
)
def test_a_transfer_encoding_that_frames_no_body_is_a_json_400(server: Server, framing: bytes, detail: str) -> None:
    answer = exchange(server.port, post_ask(framing, chunked(b"{}")))
    assert_json_error(answer, 400, "invalid_request", f"The request is not valid HTTP ({detail}).")


class SlowClient:
    """A connection that sends its request a byte at a time; `finish` sends the rest and reads the answer."""

    def __init__(self, port: int, head: bytes, trickle: bytes, rest: bytes):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.sendall(head)
        self.trickle, self.rest = trickle, rest

    def send_a_byte(self) -> None:
        if self.trickle:
            self.sock.sendall(self.trickle[:1])
            self.trickle = self.trickle[1:]

    def finish(self) -> int:
        self.sock.sendall(self.trickle + self.rest)
        received = b""
        while chunk := self.sock.recv(65536):
            received += chunk
        self.sock.close()
        return parse_response(received)[0]


def slow_clients(port: int, count: int) -> list[SlowClient]:
    """Half trickle their headers, half their JSON body: each has bytes for well over a minute."""
    body = b"{" + b" " * 400 + json.dumps({"question": ROBINSON_QUESTION}).encode()[1:]  # whitespace is valid JSON
    clients = []
    for i in range(count):
        if i % 2:
            clients.append(
                SlowClient(
                    port, b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: ", b"a" * 400, b"\r\nConnection: close\r\n\r\n"
                )
            )
        else:
            head = post_ask(b"Content-Length: %d\r\n" % len(body), b"")
            clients.append(SlowClient(port, head, body[:-1], body[-1:]))
    return clients


@pytest.mark.slow
def test_slow_clients_do_not_hold_back_the_others(server: Server) -> None:
    """50 clients trickle their requests while /healthz and /v1/ask keep answering; then the slow
    ones complete their requests and are answered too. (gthread workers gave each slow client a
    thread: four of them held /healthz for minutes.)"""
    clients = slow_clients(server.port, 50)
    probing = threading.Event()
    probing.set()

    def trickle() -> None:
        held_since = time.monotonic()
        while probing.is_set() or time.monotonic() - held_since < 5:  # held for 5 s at least
            for client in clients:
                client.send_a_byte()
            time.sleep(0.2)

    trickler = threading.Thread(target=trickle)
    trickler.start()
    try:
        probe = Client(server.base_url, timeout=10)
        for _ in range(5):
            assert probe.request("GET", "/healthz")[0] == 200
            status, body = probe.request("POST", "/v1/ask", {"question": ROBINSON_QUESTION})
            assert status == 200 and json.loads(body)["answerable"] is True
        probe.close()
    finally:
        probing.clear()
        trickler.join()
    assert [client.finish() for client in clients] == [200] * 50


def wait_for_log(server: Server, text: str) -> str:
    """The server's log once it holds `text` (the worker writes its access line after answering)."""
    deadline = time.monotonic() + 10
    while text not in (log := server.log()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return log


@pytest.mark.slow
def test_the_access_log_names_the_request_id_and_the_duration(server: Server) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request("GET", "/v1/documents", headers={"X-Request-Id": "trace-42"})
    response = connection.getresponse()
    response.read()
    connection.close()
    assert response.status == 200 and response.headers["X-Request-Id"] == "trace-42"
    generated = Client(server.base_url)
    assert generated.request("POST", "/v1/ask", {"question": ROBINSON_QUESTION})[0] == 200
    generated.close()
    log = wait_for_log(server, "id=trace-42")
    assert re.search(r'"GET /v1/documents HTTP/1.1" 200 .* \d+\.\d{6}s id=trace-42$', log, re.MULTILINE), log
    assert re.search(r'"POST /v1/ask HTTP/1.1" 200 .* \d+\.\d{6}s id=[0-9a-f]{32}$', log, re.MULTILINE), log


@pytest.mark.slow
def test_the_server_sends_server_timing_through_gunicorn(server: Server) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    began = time.perf_counter()
    connection.request(
        "POST", "/v1/ask", json.dumps({"question": ROBINSON_QUESTION}), {"Content-Type": "application/json"}
    )
    response = connection.getresponse()
    response.read()
    took_ms = (time.perf_counter() - began) * 1000
    connection.close()
    app, pipeline = server_timing(response.headers["Server-Timing"])
    assert response.status == 200 and pipeline is not None and 0 < pipeline <= app < took_ms


def test_flask_decides_once_per_function_whether_it_is_a_coroutine_and_keeps_no_view_objects(client: Any) -> None:
    """`QaFlask.ensure_sync` remembers its decision per function, weakly, under bound methods: a
    method view is bound to a new object at every request, which must not pile up."""
    app = client.application
    for _ in range(30):
        assert client.post("/v1/ask", json={"question": ROBINSON_QUESTION}).status_code == 200
    remembered = len(app._coroutine)
    for _ in range(30):
        assert client.post("/v1/ask", json={"question": ROBINSON_QUESTION}).status_code == 200
    assert 0 < len(app._coroutine) == remembered

    async def coroutine() -> None:
        pass

    with pytest.raises(RuntimeError, match=r"Install Flask with the 'async' extra"):
        app.ensure_sync(coroutine)  # still recognised as a coroutine function, as Flask does


def test_a_request_line_in_absolute_form_is_served_by_its_path(server: Server) -> None:
    """RFC 9112 (3.2.2): a server must accept the absolute form a client sends through a proxy
    (`GET http://host/path`); it was a 404."""
    request = b"GET http://t/v1/documents?limit=1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    status, headers, body = exchange(server.port, request)
    assert status == 200 and headers["content-type"] == "application/json"
    assert len(json.loads(body)["documents"]) == 1
    status, headers, _ = exchange(server.port, b"GET http://t HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert status == 200 and headers["content-type"].startswith("text/html")  # no path: "/", the page

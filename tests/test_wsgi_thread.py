"""`call_wsgi`: a WSGI app run on a pool thread, its response handed to a real event loop. A
response of declared length arrives as one start and one final body; a stream arrives chunk by
chunk as it is made; a client that goes away stops the app's thread."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from qa.wsgi_thread import Message, call_wsgi

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def serve(app: Callable[[dict[str, Any], StartResponse], Any], send_fails_after: int | None = None) -> list[Message]:
    """Run `app` through `call_wsgi` on a fresh loop; the messages its `send` received."""
    sent: list[Message] = []

    async def send(message: Message) -> None:
        if send_fails_after is not None and len(sent) >= send_fails_after:
            raise ConnectionResetError("the client went away")
        sent.append(message)

    async def main() -> None:
        with ThreadPoolExecutor(1) as executor:
            await call_wsgi(app, {}, send, executor)

    asyncio.run(main())
    return sent


def test_a_response_of_declared_length_is_one_start_and_one_final_body() -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "11")])
        return [b'{"a": ', b"true}"]

    sent = serve(app)
    assert sent[0] == {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"11")],
    }
    assert sent[1:] == [
        {"type": "http.response.body", "body": b'{"a": ', "more_body": True},
        {"type": "http.response.body", "body": b"true}", "more_body": False},  # the end, with the last bytes
    ]


def test_bytes_beyond_the_declared_length_are_not_sent() -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok", b"and more"]

    sent = serve(app)
    assert [m.get("body") for m in sent] == [None, b"ok"] and sent[-1]["more_body"] is False


def test_a_stream_is_sent_chunk_by_chunk_as_it_is_made() -> None:
    first_sent = threading.Event()

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "application/x-ndjson")])
        yield b"first\n"
        # The next line is made only once the first has reached the client.
        assert first_sent.wait(timeout=10), "the first chunk was held back"
        yield b"second\n"

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)
        if message.get("body") == b"first\n":
            first_sent.set()

    async def main() -> None:
        with ThreadPoolExecutor(1) as executor:
            await call_wsgi(app, {}, send, executor)

    asyncio.run(main())
    assert [(m["type"], m.get("body"), m.get("more_body")) for m in sent] == [
        ("http.response.start", None, None),
        ("http.response.body", b"first\n", True),
        ("http.response.body", b"second\n", True),
        ("http.response.body", b"", False),
    ]


class EndlessStream:
    """A stream as the service makes one, an answer at a time, each taking a moment, that would go
    on far past any test: `made` counts its chunks, `closed` is set once its generator is closed."""

    CHUNKS = 2_000

    def __init__(self) -> None:
        self.closed = threading.Event()
        self.made = 0

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "application/x-ndjson")])
        try:
            for _ in range(self.CHUNKS):
                self.made += 1
                time.sleep(0.001)
                yield b"{}\n"
        finally:
            self.closed.set()


def test_a_client_gone_mid_stream_stops_the_apps_thread() -> None:
    stream = EndlessStream()
    serve(stream, send_fails_after=3)
    assert stream.closed.wait(timeout=10) and stream.made < EndlessStream.CHUNKS


def serve_watched(app: Callable[[dict[str, Any], StartResponse], Any], leaves_after: int) -> int:
    """Run `app` as gunicorn does after a client has gone: `send` never fails (it drops what comes),
    and `receive` answers `http.disconnect` once `leaves_after` body chunks were sent. How many
    times `receive` was called."""
    chunks = 0
    gone = asyncio.Event()
    calls = 0

    async def send(message: Message) -> None:
        nonlocal chunks
        chunks += message["type"] == "http.response.body"
        if chunks >= leaves_after:
            gone.set()

    async def receive() -> Message:
        nonlocal calls
        calls += 1
        await gone.wait()
        return {"type": "http.disconnect"}

    async def main() -> None:
        with ThreadPoolExecutor(1) as executor:
            await call_wsgi(app, {}, send, executor, receive)

    asyncio.run(main())
    return calls


def test_a_stream_whose_client_has_gone_stops_though_sending_still_succeeds() -> None:
    """gunicorn drops what is sent to a client that has gone, without an error: a stream went on
    being made (a batch answered to its last question) until gunicorn cancelled the request."""
    stream = EndlessStream()
    assert serve_watched(stream, leaves_after=1) == 1
    assert stream.closed.wait(timeout=10) and stream.made < 100, stream.made


def test_a_response_of_declared_length_does_not_wait_for_the_client_to_leave() -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    assert serve_watched(app, leaves_after=10) == 0, "only a stream watches for the client leaving"


def test_a_body_before_start_response_is_an_error() -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        return [b"no status"]

    with pytest.raises(RuntimeError, match="before calling start_response"):
        serve(app)

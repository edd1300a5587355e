"""The Flask app as gunicorn's asyncio worker serves it: whole requests first, then a thread.

gunicorn's gthread worker gives a connection a thread as soon as its first byte arrives, so a
client that trickles its headers or body holds that thread: four slow clients held all four and
`/healthz` timed out for minutes. Under the asyncio worker gunicorn's parser reads headers on the
event loop, and `BufferedWsgi` reads the body there too; only a complete request reaches Flask,
on one of `threads` threads (`qa.wsgi_thread`). A slow client costs a socket and a buffer, never a
thread. Reading the body here is also where its size limit holds for every framing: a chunked
body has no Content-Length for Flask to check, so it is counted as it arrives and refused with
413 once it passes `QA_MAX_BODY_BYTES`.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
from collections.abc import Callable, Mapping, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from a2wsgi.wsgi import build_environ

from qa.api.errors import body_too_large_message, error_document
from qa.api.request_id import HEADER as REQUEST_ID_HEADER
from qa.api.request_id import request_id
from qa.wsgi_thread import Receive, Send, call_wsgi

Scope = MutableMapping[str, Any]
# The CORS headers for a request's headers and method (`qa.api.cors.headers_for`).
CorsHeaders = Callable[[Mapping[str, str], str], list[tuple[str, str]]]

_FRAMING_HEADERS = (b"content-length", b"transfer-encoding")


class _BodyTooLarge(Exception):
    pass


class _ClientGone(Exception):
    pass


class BufferedWsgi:
    """An ASGI app around a WSGI app: bodies buffered (at most `max_body_bytes`), the app run on
    `threads` threads, and `on_shutdown` called when the worker stops (ASGI lifespan). An error
    written here carries `cors_headers`, the app's own CORS rule, so another origin can read it."""

    def __init__(
        self,
        wsgi_app: Any,
        threads: int,
        max_body_bytes: int,
        on_shutdown: Callable[[], None],
        cors_headers: CorsHeaders = lambda _headers, _method: [],
    ):
        self._wsgi = wsgi_app
        self._threads = ThreadPoolExecutor(threads, thread_name_prefix="qa-http")
        self._max_body_bytes = max_body_bytes
        self._on_shutdown = on_shutdown
        self._cors_headers = cors_headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)
        else:  # websocket: not served
            await send({"type": "websocket.close", "code": 1000})

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            body = await self._read_body(scope, receive)
        except _ClientGone:
            return
        except _BodyTooLarge:
            await self._refuse_too_large(scope, send)
            return
        environ = build_environ(_with_length(_origin_form(scope), len(body)), io.BytesIO(body))  # type: ignore[arg-type]
        await call_wsgi(self._wsgi, dict(environ), send, self._threads, receive)

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self._max_body_bytes:
            raise _BodyTooLarge  # refused before a byte of it is read
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._max_body_bytes:
                raise _BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _refuse_too_large(self, scope: Scope, send: Send) -> None:
        supplied = _header(scope, REQUEST_ID_HEADER.lower().encode())
        body = json.dumps(error_document("payload_too_large", body_too_large_message(self._max_body_bytes)))
        payload = body.encode("utf-8")
        request_headers = {bytes(k).decode("latin-1"): bytes(v).decode("latin-1") for k, v in scope["headers"]}
        cors = [
            (k.lower().encode("latin-1"), v.encode("latin-1"))
            for k, v in self._cors_headers(request_headers, scope["method"])
        ]
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    (REQUEST_ID_HEADER.lower().encode(), request_id(supplied).encode()),
                    # The rest of the body is never read, so the connection cannot carry another request.
                    (b"connection", b"close"),
                    *cors,
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                # Off the loop: a request still streaming needs the loop to finish and free its thread.
                await asyncio.to_thread(self._close)
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _close(self) -> None:
        self._threads.shutdown(wait=True)
        self._on_shutdown()


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


_SCHEME_AND_HOST = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/]*")


def _origin_form(scope: Scope) -> Scope:
    """The scope of a request line in absolute form (`GET http://host/path`, as a client sends it
    through a proxy) with the path alone: RFC 9112 (3.2.2) has servers accept that form, and
    gunicorn passes the whole URL on as the path, which no route matched."""
    found = _SCHEME_AND_HOST.match(scope["path"])
    if found is None:
        return scope
    raw = bytes(scope.get("raw_path") or b"")
    raw_found = _SCHEME_AND_HOST.match(raw.decode("latin-1"))
    raw_path = raw[raw_found.end() :] if raw_found else raw
    return {**scope, "path": scope["path"][found.end() :] or "/", "raw_path": raw_path or b"/"}


def _with_length(scope: Scope, length: int) -> Scope:
    """The scope with the buffered body's real length as its only framing header, so Flask reads
    exactly that body whether it came with Content-Length or chunked."""
    headers = [(key, value) for key, value in scope["headers"] if key not in _FRAMING_HEADERS]
    headers.append((b"content-length", str(length).encode()))
    return {**scope, "headers": headers}

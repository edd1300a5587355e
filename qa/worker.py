"""gunicorn's asyncio worker, answering in the API's JSON error shape even before Flask runs.

gunicorn itself refuses a request it cannot parse (a malformed request line, a URL over its
limit, too many or too large headers, a transfer coding it does not know) and writes those
answers in text/plain. `JsonErrorProtocol` writes them as `{"error": {"code", "message"}}` with an
`X-Request-Id`, like every other error.

It also refuses the transfer codings gunicorn knows but does not decode. gunicorn's parser takes
`gzip`, `deflate`, `compress` (and `identity`) before `chunked` as valid, but only undoes the
chunking: the app got a gzip body still compressed and answered 400 `invalid_json`. The server
decodes no transfer coding but `chunked`, so any other is answered 501, as an unknown one is.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

from gunicorn.asgi.parser import UnsupportedTransferCoding
from gunicorn.asgi.protocol import ASGIProtocol
from gunicorn.workers import gasgi

from qa.api.errors import CODES, error_document
from qa.api.request_id import HEADER as REQUEST_ID_HEADER
from qa.api.request_id import request_id


class JsonErrorProtocol(ASGIProtocol):
    def _on_headers_complete(self) -> bool:
        """Refuse a transfer coding other than `chunked` before the request reaches the app.

        gunicorn's parser calls this once it has checked the headers (the list ends with
        `chunked`, which is not stacked); the exception raised here ends its parse as its own
        unknown coding does, with a 501 and the connection closed, before any of the body is read."""
        parser = self._callback_parser
        headers = getattr(parser, "asgi_headers", None) or parser.headers
        coding = _undecoded_coding(headers)
        if coding is not None:
            raise UnsupportedTransferCoding(coding)
        return bool(super()._on_headers_complete())

    def _send_error_response(self, status: int, message: str, extra_headers: Iterable[tuple[str, str]] = ()) -> None:
        """gunicorn's own error answer, in JSON. The parser failed, so the client's request id is unknown."""
        document = error_document(CODES.get(status, "invalid_request"), _explained(status, message))
        body = json.dumps(document).encode("utf-8")
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            (REQUEST_ID_HEADER, request_id(None)),
            *extra_headers,
            ("Connection", "close"),
        ]
        head = "".join(f"{name}: {value}\r\n" for name, value in headers)
        self._safe_write(f"HTTP/1.1 {status} {_reason(status)}\r\n{head}\r\n".encode("latin-1"))
        self._safe_write(body)


def _undecoded_coding(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The first transfer coding in the request's `Transfer-Encoding` fields
    other than `chunked`, the only one the server decodes; None if there is none."""
    for name, value in headers:
        if bytes(name).lower() != b"transfer-encoding":
            continue
        for coding in bytes(value).split(b","):
            coding = coding.strip(b" \t")
            if coding.lower() != b"chunked":
                return coding.decode("latin-1")
    return None


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


# What each of gunicorn's refusals means; its own message ("Invalid request line", "HTTP/9.9",
# "Too many headers") follows in parentheses.
_MEANINGS = {
    400: "The request is not valid HTTP",
    414: "The URL is too long",
    431: "The request headers are too many or too large",
    500: "The server failed to answer",
    501: "The server does not implement this transfer coding",  # gunicorn's only 501
}


def _explained(status: int, detail: str) -> str:
    meaning = _MEANINGS.get(status, "The request could not be served")
    detail = detail.strip().rstrip(".")[:200]  # it can quote the request
    return f"{meaning} ({detail})." if detail else f"{meaning}."


class QaWorker(gasgi.ASGIWorker):
    """The asyncio worker with JSON error answers (see `qa.asgi` for why this worker)."""

    def init_process(self) -> Any:
        # ASGIWorker builds its connections with the module's `ASGIProtocol`; this process's
        # worker is the only user of that name, so it is pointed at the JSON-answering subclass.
        gasgi.ASGIProtocol = JsonErrorProtocol
        return super().init_process()

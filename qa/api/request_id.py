"""`X-Request-Id`: one id per request, in the response header and the access log line, so a
client's report and the server's log meet. A client's own id is kept when it is sane (short,
HTTP token characters only); anything else could forge or break log lines, so it is replaced."""

from __future__ import annotations

import re
import uuid

from flask import Flask, Response, g, request

HEADER = "X-Request-Id"
MAX_LENGTH = 128
_SANE = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1," + str(MAX_LENGTH) + "}")


def request_id(supplied: str | None) -> str:
    """The client's id if it is sane, else a new random one (32 hex digits)."""
    if supplied is not None and _SANE.fullmatch(supplied):
        return supplied
    return uuid.uuid4().hex


def current_request_id() -> str:
    """The id of the request being served, chosen once: the header sent back and every log line
    written about the request (a traceback, a refused write) name the same one."""
    if "request_id" not in g:
        g.request_id = request_id(request.headers.get(HEADER))
    return str(g.request_id)


def register(app: Flask) -> None:
    @app.after_request
    def _set_request_id(response: Response) -> Response:
        response.headers[HEADER] = current_request_id()
        return response

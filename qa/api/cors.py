"""Cross-origin access: one rule, from `QA_CORS_ORIGINS`, for what the Flask app answers and for
the errors the ASGI layer writes before a request reaches it (a 413 for a body too large), so a
widget on an allowed origin reads the JSON error rather than a network error."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from flask_cors import CORS
from flask_cors.core import get_cors_headers, get_cors_options
from werkzeug.datastructures import Headers

from qa.api import request_id
from qa.config import Settings

# The methods the routes answer (flask-cors would also advertise PATCH, which none does).
METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"]
# Response headers a page on an allowed origin may read: the request id to quote in a report, an
# article's version for a conditional write, the timings, and when to retry a 503. Only CORS's
# safelisted ones (Content-Type...) are readable there unless exposed.
EXPOSED_HEADERS = [request_id.HEADER, "ETag", "Server-Timing", "Retry-After"]


def _options(settings: Settings) -> dict[str, Any]:
    return {"origins": list(settings.cors_origins), "methods": METHODS, "expose_headers": EXPOSED_HEADERS}


def register(app: Flask, settings: Settings) -> None:
    """flask-cors on every route, when origins are configured (none by default: no cross-origin access)."""
    if settings.cors_origins:
        CORS(app, **_options(settings))


def headers_for(app: Flask, request_headers: Mapping[str, str], method: str) -> list[tuple[str, str]]:
    """The CORS headers `app` gives an answer to this request, for an error written outside it."""
    settings: Settings = app.config["QA_SETTINGS"]
    if not settings.cors_origins:
        return []
    computed = get_cors_options(app, _options(settings))  # the app's options, as flask-cors reads them
    return [
        (name, str(value))
        for name, value in get_cors_headers(computed, Headers(request_headers), method).items(multi=True)
    ]

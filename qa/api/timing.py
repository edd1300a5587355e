"""`Server-Timing`: what a response cost inside the server, in the header browsers' developer tools
and any client can read. `app` runs from the first of Flask's hooks to the last (validation,
the view, serialization); `pipeline` is the part spent answering (`timed`). A client's own
latency minus `app` is what the HTTP layer below Flask costs (gunicorn, the event loop, the
thread hand-off); `app` minus `pipeline` is what Flask and the schemas cost. A streamed batch
(NDJSON) answers after its headers are sent, so it carries `app` alone.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, Response, g

HEADER = "Server-Timing"


@contextmanager
def timed(name: str) -> Iterator[None]:
    """Add the time spent in the block to this request's `name` entry."""
    began = time.perf_counter()
    try:
        yield
    finally:
        timings: dict[str, float] = g.setdefault("qa_timings", {})
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - began


def register(app: Flask) -> None:
    """Start the clock before any other hook (app hooks run before blueprints'), stop it after."""

    @app.before_request
    def _start() -> None:
        g.qa_started = time.perf_counter()

    @app.after_request
    def _header(response: Response) -> Response:
        began = g.get("qa_started")
        if began is not None:
            entries = {"app": time.perf_counter() - began, **g.get("qa_timings", {})}
            response.headers[HEADER] = ", ".join(f"{name};dur={s * 1000:.3f}" for name, s in entries.items())
        return response

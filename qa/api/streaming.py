"""What the batch and chat routes share: an operation that answers in JSON, or as a stream of
another media type (NDJSON, server-sent events) when asked, documented as both."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import marshmallow as ma
from flask import Response, stream_with_context
from flask_smorest import Blueprint

from qa.schemas import ErrorSchema


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def json_or_stream(blueprint: Blueprint, body: type[ma.Schema], response: type[ma.Schema], stream_type: str,
                   stream_schema: dict[str, Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Validate the JSON body with `body` (400 on failure); document 200 as `response` in JSON or
    `stream_schema` items in `stream_type`, and 503 while the index loads."""
    decorators = [
        blueprint.arguments(body, error_status_code=400),
        blueprint.response(200, response),
        blueprint.doc(responses={200: {"content": {stream_type: {"schema": stream_schema}}}}),
        blueprint.alt_response(503, schema=ErrorSchema, description="The index is still loading."),
    ]

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        for decorator in reversed(decorators):
            view = decorator(view)
        return view

    return decorate


def streamed(chunks: Iterator[str], mimetype: str) -> Response:
    """Send each chunk as soon as it is made (no proxy buffering), in the request's context."""
    return Response(stream_with_context(chunks), mimetype=mimetype,
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

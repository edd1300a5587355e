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


def ndjson_media(line_schema: dict[str, Any]) -> dict[str, Any]:
    """An NDJSON body as OpenAPI 3.0 can say it: text, whose lines `x-item-schema` describes (the
    `itemSchema` of OpenAPI 3.2, which 3.0 lacks)."""
    return {
        "schema": {"type": "string", "description": "One JSON object a line, each as `x-item-schema` says."},
        "x-item-schema": line_schema,
    }


def event_stream_media(data_schema: dict[str, Any]) -> dict[str, Any]:
    """A server-sent event stream: `schema` describes one event, as OpenAPI before 3.2 reads it
    for `text/event-stream` (and schemathesis checks it); each event's `data` is the JSON that
    `x-data-schema` describes, and the last one is `[DONE]`."""
    event = {
        "type": "object",
        "required": ["data"],
        "properties": {
            "data": {
                "type": "string",
                "pattern": r"^(\{.*\}|\[DONE\])$",
                "description": "One JSON object as `x-data-schema` says; `[DONE]` in the last event.",
            }
        },
        "description": "One event, `data: <payload>` and a blank line.",
    }
    return {"schema": event, "x-data-schema": data_schema}


def json_or_stream(
    blueprint: Blueprint,
    body: type[ma.Schema],
    response: type[ma.Schema],
    stream_type: str,
    stream_media: dict[str, Any],
    invalid: str,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Validate the JSON body with `body` (400, described as `invalid`, on failure); document 200
    as `response` in JSON or `stream_media` in `stream_type`, and 503 while the index loads."""
    decorators = [
        blueprint.arguments(body(), error_status_code=400),
        blueprint.alt_response(400, schema=ErrorSchema, description=invalid),
        blueprint.response(200, response),
        blueprint.doc(responses={200: {"content": {stream_type: stream_media}}}),
        blueprint.alt_response(503, schema=ErrorSchema, description="The index is still loading."),
    ]

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        for decorator in reversed(decorators):
            view = decorator(view)
        return view

    return decorate


def streamed(chunks: Iterator[str], mimetype: str) -> Response:
    """Send each chunk as soon as it is made (no proxy buffering), in the request's context."""
    return Response(
        stream_with_context(chunks), mimetype=mimetype, headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )

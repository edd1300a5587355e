"""`POST /v1/ask/batch`: many questions in one request, embedded together, answered in order.

Each item is validated on its own with the `/v1/ask` schema (so the limits live in one place):
a bad item becomes an error object in its slot and never fails the batch. The CLI's `qa batch`
uses the same item parsing and answering, so a line of a file and an item of a request agree.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Any

import marshmallow as ma
from flask import current_app, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate

from qa.api.errors import ApiError
from qa.api.routes import require_json_body, service
from qa.api.schemas import AnswerSchema, AskRequestSchema, ErrorBodySchema, ErrorSchema, answer_to_dict
from qa.api.streaming import json_or_stream, ref, streamed
from qa.retrieval import Query
from qa.service import Service

NDJSON = "application/x-ndjson"
# Questions answered (and embedded) together before their NDJSON lines are sent.
STREAM_CHUNK = 32


class ItemId(fields.Field):
    """A caller's id for an item, a string or an integer, echoed back unchanged."""

    default_error_messages = {"invalid": "Must be a string (at most 200 characters) or an integer."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        too_long = isinstance(value, str) and len(value) > 200
        if isinstance(value, bool) or not isinstance(value, (str, int)) or too_long:
            raise self.make_error("invalid")
        return value


def id_field(description: str, **kwargs: Any) -> ItemId:
    return ItemId(metadata={"oneOf": [{"type": "string", "maxLength": 200}, {"type": "integer"}],
                            "description": description}, **kwargs)


class BatchQuestionSchema(AskRequestSchema):
    """One item of a batch: a `/v1/ask` request plus an optional id."""

    id = id_field("Your id for this question, echoed in its result; default: its position, from 0.")

    @ma.post_load
    def to_query(self, data: dict[str, Any], **kwargs: Any) -> Query:
        return replace(super().to_query(data, **kwargs), id=data.get("id"))


class BatchRequestSchema(ma.Schema):
    # Items are only checked to be a list here; each is validated on its own by `parse_item`.
    questions = fields.List(
        fields.Raw(metadata={"allOf": [ref("BatchQuestion")]}),
        required=True,
        validate=validate.Length(min=1),
        metadata={"description": "At most QA_MAX_BATCH_QUESTIONS (default 1000) items; 413 beyond."},
    )


class BatchAnswerSchema(AnswerSchema):
    id = id_field("The item's id.", required=True)


class BatchErrorSchema(ma.Schema):
    id = id_field("The item's id.", required=True)
    error = fields.Nested(ErrorBodySchema, required=True)


RESULT = {"oneOf": [ref("BatchAnswer"), ref("BatchError")]}


class BatchResponseSchema(ma.Schema):
    results = fields.List(
        fields.Raw(metadata=RESULT),
        required=True,
        metadata={"description": "One per question, in the order asked: an answer or an error object."},
    )


_ITEM_SCHEMA = BatchQuestionSchema()


def parse_item(raw: Any, default_id: str | int) -> Query | dict[str, Any]:
    """A `Query` carrying its id, or the error object that takes the item's place in the results."""
    given = raw.get("id") if isinstance(raw, dict) else None
    try:
        query: Query = _ITEM_SCHEMA.load(raw)
    except ma.ValidationError as exc:
        echoed = given if isinstance(given, (str, int)) and not isinstance(given, bool) else default_id
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        return {"id": echoed, "error": {"code": "invalid_request", "message": "The question is not valid; see fields.",
                                        "fields": messages}}
    return query if query.id is not None else replace(query, id=default_id)


def answer_items(
    service: Service, items: Sequence[Query | dict[str, Any]], chunk: int | None = None
) -> Iterator[dict[str, Any]]:
    """Results in the order of `items`; the questions of each chunk are embedded in one call."""
    size = chunk or max(1, len(items))
    for start in range(0, len(items), size):
        part = items[start : start + size]
        answers = iter(service.ask_many([item for item in part if isinstance(item, Query)]))
        for item in part:
            yield {"id": item.id, **answer_to_dict(next(answers))} if isinstance(item, Query) else item


def ndjson(results: Iterable[dict[str, Any]]) -> Iterator[str]:
    for result in results:
        yield json.dumps(result, ensure_ascii=False) + "\n"


batch = Blueprint("batch", __name__, url_prefix="/v1", description="Many questions in one request.")
batch.before_request(require_json_body)


@batch.route("/ask/batch")
class AskBatch(MethodView):
    @json_or_stream(batch, BatchRequestSchema, BatchResponseSchema, NDJSON, RESULT)
    @batch.alt_response(413, schema=ErrorSchema, description="More questions than QA_MAX_BATCH_QUESTIONS.")
    def post(self, body: dict[str, Any]) -> Any:
        """Answer many questions at once, in order.

        Each result is a full `/v1/ask` answer with the item's `id`, or, for an invalid item,
        `{"id", "error": {"code", "message", "fields"}}`. With `Accept: application/x-ndjson` the
        results stream as one JSON object a line, in order, as each group of questions is answered.
        """
        raw_items = body["questions"]
        limit = current_app.config["QA_SETTINGS"].max_batch_questions
        if len(raw_items) > limit:
            raise ApiError(413, "too_many_questions",
                           f"A batch holds at most {limit} questions; this one has {len(raw_items)}.")
        items = [parse_item(raw, position) for position, raw in enumerate(raw_items)]
        answering = service()
        answering.index  # raises NotReady (503) before a streamed response has begun
        if request.accept_mimetypes.best_match(["application/json", NDJSON]) == NDJSON:
            lines = ndjson(answer_items(answering, items, STREAM_CHUNK))
            return streamed(lines, NDJSON)
        return {"results": list(answer_items(answering, items))}


COMPONENTS = {"BatchQuestion": BatchQuestionSchema, "BatchAnswer": BatchAnswerSchema, "BatchError": BatchErrorSchema}

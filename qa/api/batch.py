"""`POST /v1/ask/batch`: many questions in one request, embedded together, answered in order.

Each item is validated on its own with the `/v1/ask` schema (so the limits live in one place):
a bad item becomes an error object in its slot and never fails the batch. The CLI's `qa batch`
uses the same item parsing and answering, so a line of a file and an item of a request agree.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from typing import Any

import marshmallow as ma
from flask import current_app, request
from flask.views import MethodView
from marshmallow import fields, validate

from qa.api.errors import ApiError
from qa.api.keys import require_read_key
from qa.api.routes import Blueprint, refuse_stray_query, require_json_body, service
from qa.api.streaming import json_or_stream, ndjson_media, ref, streamed
from qa.api.timing import timed
from qa.batching import answer_items, parse_item, text_size
from qa.schemas import AnswerSchema, BatchQuestionSchema, ErrorBodySchema, ErrorSchema, id_field

log = logging.getLogger(__name__)

NDJSON = "application/x-ndjson"
# Questions answered (and embedded) together before their NDJSON lines are sent.
STREAM_CHUNK = 32


class BatchRequestSchema(ma.Schema):
    # Items are only checked to be a list here; each is validated on its own by `parse_item`, so
    # any JSON value (null included) is accepted as an item and an invalid one gets an error slot.
    questions = fields.List(
        fields.Raw(
            allow_none=True,
            metadata={
                "anyOf": [
                    ref("BatchQuestion"),
                    {"description": "Any other JSON value is accepted too, answered with a BatchError in its slot."},
                ]
            },
        ),
        required=True,
        validate=validate.Length(min=1),
        metadata={
            "description": "At most QA_MAX_BATCH_QUESTIONS (default 1000) items, and at most "
            "QA_MAX_BATCH_CHARS (default 100000) characters of questions and history "
            "in the valid ones; 413 beyond."
        },
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


def ndjson(results: Iterable[dict[str, Any]], total: int = 0) -> Iterator[str]:
    """One JSON object a line, ASCII-escaped like the JSON responses: a client's field name is
    echoed in an error's `fields` and may be no valid text, yet the stream must encode as UTF-8.
    Closed early, the server stopped the stream because its client went away: said in the log,
    as the access log shows a 200 either way."""
    sent = 0
    try:
        for result in results:
            yield json.dumps(result) + "\n"
            sent += 1
    except GeneratorExit:
        log.info("a streamed batch stopped after %d of %d results: the client went away", sent, total)
        raise


batch = Blueprint("batch", __name__, url_prefix="/v1", description="Many questions in one request.")
batch.before_request(require_read_key)
batch.before_request(refuse_stray_query)
batch.before_request(require_json_body)


@batch.route("/ask/batch")
class AskBatch(MethodView):
    @json_or_stream(
        batch,
        BatchRequestSchema,
        BatchResponseSchema,
        NDJSON,
        ndjson_media(RESULT),
        "The body is not a list of questions (`invalid_request`) or not JSON (`invalid_json`); "
        "an invalid item does not fail the batch but gets an error object in its slot.",
    )
    @batch.alt_response(
        413,
        schema=ErrorSchema,
        description="A body over QA_MAX_BODY_BYTES (`payload_too_large`), "
        "more questions than QA_MAX_BATCH_QUESTIONS (`too_many_questions`) or more characters "
        "than QA_MAX_BATCH_CHARS (`batch_too_large`).",
    )
    def post(self, body: dict[str, Any]) -> Any:
        """Answer many questions at once, in order.

        Each result is a full `/v1/ask` answer with the item's `id`, or, for an invalid item,
        `{"id", "error": {"code", "message", "fields"}}`. With `Accept: application/x-ndjson` the
        results stream as one JSON object a line, in order, as each group of questions is answered.
        """
        raw_items = body["questions"]
        settings = current_app.config["QA_SETTINGS"]
        if len(raw_items) > settings.max_batch_questions:
            raise ApiError(
                413,
                "too_many_questions",
                f"A batch holds at most {settings.max_batch_questions} questions; this one has {len(raw_items)}.",
            )
        items = [parse_item(raw, position) for position, raw in enumerate(raw_items)]
        size = text_size(items)
        if size > settings.max_batch_chars:
            raise ApiError(
                413,
                "batch_too_large",
                f"A batch holds at most {settings.max_batch_chars} characters of questions and history; "
                f"this one has {size}. Split it into smaller batches.",
            )
        answering = service()
        answering.pipeline  # noqa: B018 (raises NotReady, a 503, before a streamed response has begun)
        if request.accept_mimetypes.best_match(["application/json", NDJSON]) == NDJSON:
            lines = ndjson(answer_items(answering, items, STREAM_CHUNK), len(items))
            return streamed(lines, NDJSON)
        with timed("pipeline"):
            results = list(answer_items(answering, items))
        return {"results": results}


COMPONENTS = {"BatchQuestion": BatchQuestionSchema, "BatchAnswer": BatchAnswerSchema, "BatchError": BatchErrorSchema}

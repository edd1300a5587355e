"""marshmallow schemas for every request and response; they also generate the OpenAPI document.

Limits live here, next to the fields they limit, so validation and documentation agree. They
import nothing of the web layer: the command line validates a file's questions with them too.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from qa.answering import Answer
from qa.retrieval import Query

MAX_QUESTION_CHARS = 1000
MAX_HISTORY_TURNS = 20
MAX_TOP_K = 20
DEFAULT_TOP_K = Query.top_k


# A character that is not whitespace, by Python's definition, which is also what a Python JSON
# Schema validator applies to the `pattern` documented from it: the server and the document agree.
NOT_BLANK = r"\S"
_NOT_BLANK = re.compile(NOT_BLANK)
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
NOT_TEXT = "Must be valid Unicode text (no lone surrogate code points)."


def _not_blank(value: str) -> None:
    if not _NOT_BLANK.search(value):
        raise ma.ValidationError("Must contain more than whitespace.")


def is_text(value: str) -> bool:
    """False for a string holding a lone surrogate: JSON can spell one (`"\\ud800"`), but no
    tokenizer reads it and no UTF-8 encoder writes it back, so it must stop at validation."""
    return not _LONE_SURROGATE.search(value)


def unicode_text(value: str) -> None:
    if not is_text(value):
        raise ma.ValidationError(NOT_TEXT)


class Text(fields.String):
    """A string that is valid Unicode text; every string field of a request is one."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        unicode_text(text)
        return text


class StrictInteger(fields.Integer):
    """An integer as JSON spells one: 3.5, 3.0, "3" and true are refused, never rounded or cast."""

    def __init__(self, **kwargs: Any):
        super().__init__(strict=True, **kwargs)


class StrictBoolean(fields.Boolean):
    """`true` or `false`; marshmallow's Boolean would also take 1, "yes" or "on"."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


def question_field(**kwargs: Any) -> Text:
    return Text(
        validate=[validate.Length(1, MAX_QUESTION_CHARS), _not_blank],
        metadata={"example": "What did Blinken say about fentanyl?", "pattern": NOT_BLANK},
        **kwargs,
    )


MAX_DOC_IDS = 100


def doc_ids_field(description: str) -> fields.List:
    return fields.List(
        Text(validate=validate.Length(1, 128)),
        load_default=list,
        validate=validate.Length(max=MAX_DOC_IDS),
        metadata={"description": description},
    )


class AskRequestSchema(ma.Schema):
    question = question_field(required=True)
    top_k = StrictInteger(
        load_default=DEFAULT_TOP_K,
        validate=validate.Range(1, MAX_TOP_K),
        metadata={"description": "How many citations at most."},
    )
    history = fields.List(
        question_field(),
        load_default=list,
        validate=validate.Length(max=MAX_HISTORY_TURNS),
        metadata={"description": "Earlier questions of the conversation, oldest first."},
    )
    doc_ids = doc_ids_field(
        f"Answer from these articles only (at most {MAX_DOC_IDS} `doc_id`s); default: all. An id the archive "
        "does not hold is a 400 `unknown_documents` naming it."
    )

    @ma.post_load
    def to_query(self, data: dict[str, Any], **_: Any) -> Query:
        return Query(
            question=data["question"],
            history=tuple(data["history"]),
            top_k=data["top_k"],
            doc_ids=tuple(dict.fromkeys(data["doc_ids"])),
        )


class ShortAnswerSchema(ma.Schema):
    text = fields.String(required=True, metadata={"description": "Exactly document_text[start:end]."})
    doc_id = fields.String(required=True)
    start = fields.Integer(required=True, metadata={"description": "Code-point offset, inclusive."})
    end = fields.Integer(required=True, metadata={"description": "Code-point offset, exclusive."})


class CitationSchema(ma.Schema):
    id = fields.Integer(required=True, metadata={"description": "The [n] marker used in the answer."})
    doc_id = fields.String(required=True)
    start = fields.Integer(required=True, metadata={"description": "Code-point offset, inclusive."})
    end = fields.Integer(required=True, metadata={"description": "Code-point offset, exclusive."})
    quote = fields.String(required=True, metadata={"description": "Exactly document_text[start:end]."})
    score = fields.Float(required=True)
    title = fields.String(required=True, metadata={"description": "The cited article's title."})
    url = fields.String(
        required=True, allow_none=True, metadata={"description": "The article's `url` metadata, null when it has none."}
    )
    start_utf16 = fields.Integer(
        required=True,
        metadata={"description": "`start` in UTF-16 code units, as JavaScript strings count (an emoji is two)."},
    )
    end_utf16 = fields.Integer(required=True, metadata={"description": "`end` in UTF-16 code units."})
    short_answer = fields.Nested(
        ShortAnswerSchema,
        required=True,
        allow_none=True,
        metadata={
            "description": "In the first citation of a fact question (who, when, how many...): the words "
            "that answer it, which the answer text opens with; null otherwise."
        },
    )


class AnswerSchema(ma.Schema):
    question = fields.String(required=True)
    answer = fields.String(required=True)
    answerable = fields.Boolean(
        required=True, metadata={"description": "False when the articles do not cover the question."}
    )
    confidence = fields.Float(required=True, metadata={"description": "Calibrated, in [0, 1]."})
    citations = fields.List(fields.Nested(CitationSchema), required=True)
    took_ms = fields.Float(required=True)


_ANSWER_SCHEMA = AnswerSchema()  # built once: a schema's construction cost more than its dump


def answer_to_dict(answer: Answer) -> dict[str, Any]:
    return _ANSWER_SCHEMA.dump(answer)


class DocumentSummarySchema(ma.Schema):
    doc_id = fields.String(required=True)
    title = fields.String(required=True)
    metadata = fields.Dict(required=True, metadata={"description": "author, source and other fields."})
    length = fields.Integer(required=True, metadata={"description": "Characters (code points) of text."})


class DocumentSchema(DocumentSummarySchema):
    text = fields.String(required=True, metadata={"description": "Verbatim text; citations index into it."})


class DocumentListSchema(ma.Schema):
    documents = fields.List(fields.Nested(DocumentSummarySchema), required=True)


class ErrorBodySchema(ma.Schema):
    code = fields.String(required=True, metadata={"example": "invalid_request"})
    message = fields.String(required=True)
    fields_ = fields.Dict(data_key="fields", metadata={"description": "Field name to its messages."})


class ErrorSchema(ma.Schema):
    error = fields.Nested(ErrorBodySchema, required=True)


class HealthSchema(ma.Schema):
    status = fields.String(required=True)


class ReadinessSchema(ma.Schema):
    ready = fields.Boolean(required=True)
    index = fields.String()
    reason = fields.String()
    documents = fields.Integer()
    sentences = fields.Integer()
    chunks = fields.Integer()
    question_embedding = fields.String(
        metadata={
            "description": "What embeds one question: onnxruntime-int8 (the checked int8 export), onnxruntime "
            "(float32: QA_QUERY_ENCODER=fp32, or int8 failed its check), or torch (about 2x slower) without the export."
        }
    )
    warnings = fields.List(fields.String(), metadata={"description": "Seed files skipped or loaded with defaults."})


class ItemId(fields.Field):
    """A caller's id for an item, a string or an integer, echoed back unchanged."""

    default_error_messages = {  # noqa: RUF012 (marshmallow reads the class attribute)
        "invalid": "Must be a string (at most 200 characters) or an integer.",
        "not_text": NOT_TEXT,
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        too_long = isinstance(value, str) and len(value) > 200
        if isinstance(value, bool) or not isinstance(value, (str, int)) or too_long:
            raise self.make_error("invalid")
        if isinstance(value, str) and not is_text(value):
            raise self.make_error("not_text")
        return value


def id_field(description: str, **kwargs: Any) -> ItemId:
    return ItemId(
        metadata={"oneOf": [{"type": "string", "maxLength": 200}, {"type": "integer"}], "description": description},
        **kwargs,
    )


class BatchQuestionSchema(AskRequestSchema):
    """One item of a batch: a `/v1/ask` request plus an optional id."""

    id = id_field("Your id for this question, echoed in its result; default: its position, from 0.")

    @ma.post_load
    def to_query(self, data: dict[str, Any], **kwargs: Any) -> Query:
        return replace(super().to_query(data, **kwargs), id=data.get("id"))

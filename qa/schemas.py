"""marshmallow schemas for every request and response; they also generate the OpenAPI document.

Limits live here, next to the fields they limit, so validation and documentation agree (top_k's
come from `qa.limits`, which `qa ask --top-k` states too). They import nothing of the web layer:
the command line validates a file's questions with them too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from qa.answering import Answer
from qa.documents import (
    DOC_ID_PATTERN,
    DOC_ID_RULE,
    MAX_METADATA_DEPTH,
    NOT_TEXT,
    Document,
    is_doc_id,
    is_text,
    metadata_problems,
    nesting_depth,
)
from qa.limits import DEFAULT_TOP_K, MAX_TOP_K
from qa.retrieval import Query

MAX_QUESTION_CHARS = 1000
MAX_HISTORY_TURNS = 20


# A character that is not whitespace, by Python's definition, which is also what a Python JSON
# Schema validator applies to the `pattern` documented from it: the server and the document agree.
NOT_BLANK = r"\S"
_NOT_BLANK = re.compile(NOT_BLANK)
_UNDECODABLE = re.compile("[\udc80-\udcff]")  # what surrogateescape makes of bytes that are not UTF-8
NOT_UTF8 = "not valid UTF-8"


def _not_blank(value: str) -> None:
    if not _NOT_BLANK.search(value):
        raise ma.ValidationError("Must contain more than whitespace.")


def is_undecodable(value: str) -> bool:
    """True for text read with `errors="surrogateescape"` (a file's lines; Python's command-line
    arguments) that held bytes which are not UTF-8: `is_text` refuses it too, but "not valid UTF-8"
    is what a person who typed or saved those bytes can act on."""
    return _UNDECODABLE.search(value) is not None


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


class StrictNumber(fields.Float):
    """A number as JSON spells one: "0.7" and true are refused, never cast."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid", input=value)
        return super()._deserialize(value, attr, data, **kwargs)


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


# An empty list scopes to nothing: answering from the whole archive instead would leak what a
# client that narrowed its list to nothing meant to leave out.
NO_DOC_IDS = "Name at least one article, or leave doc_ids out to answer from all of them."


def doc_ids_field(description: str) -> fields.List:
    return fields.List(
        Text(validate=validate.Length(1, 128)),
        load_default=list,
        validate=[validate.Length(min=1, error=NO_DOC_IDS), validate.Length(max=MAX_DOC_IDS)],
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
        f"Answer from these articles only (1 to {MAX_DOC_IDS} `doc_id`s); leave it out to answer from all. An id "
        "the archive does not hold is a 400 `unknown_documents` naming it."
    )

    @ma.post_load
    def to_query(self, data: dict[str, Any], **_: Any) -> Query:
        return Query(
            question=data["question"],
            history=tuple(data["history"]),
            top_k=data["top_k"],
            doc_ids=tuple(dict.fromkeys(data["doc_ids"])),
        )


Dump = Callable[[Any], Any]
_PLAIN: dict[type[fields.Field], Dump] = {
    fields.String: str,
    fields.Integer: int,
    fields.Float: float,
    fields.Boolean: bool,
}


class PlannedDump(ma.Schema):
    """A schema whose `dump` follows a plan made once from its own fields.

    marshmallow walks each field's machinery at every dump, ~1.3 us a field, and an answer has ~40:
    about a sixth of what Flask cost a question. The plan reads the same attributes into the same
    keys with the same conversions, so the schema stays the one description of the response (and of
    the OpenAPI document); a schema with a field or hook the plan does not know dumps as marshmallow
    does (tests compare both on real answers).
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._plan = _plan(self)

    def dump(self, obj: Any, *, many: bool | None = None) -> Any:
        many = self.many if many is None else many
        if self._plan is None:
            return super().dump(obj, many=many)
        return [self._plan(item) for item in obj] if many else self._plan(obj)


def _plan(schema: ma.Schema) -> Dump | None:
    if schema._hooks or schema.only or schema.exclude:  # hooks would change what a dump gives
        return None
    steps = []
    for name, field in schema.dump_fields.items():
        convert = _converter(field)
        if convert is None:
            return None
        steps.append((field.data_key or name, field.attribute or name, convert))
    return lambda obj: {key: convert(getattr(obj, attribute)) for key, attribute, convert in steps}


def _converter(field: fields.Field) -> Dump | None:
    inner: Dump | None
    if isinstance(field, fields.Nested) and isinstance(field.schema, ma.Schema) and not field.schema.many:
        inner = _plan(field.schema)
    elif isinstance(field, fields.List):
        item = _converter(field.inner)
        inner = None if item is None else (lambda values: [item(value) for value in values])
    else:
        inner = _PLAIN.get(type(field))  # the exact type: a subclass may serialize otherwise
    if inner is None:
        return None
    plain = inner
    return lambda value: None if value is None else plain(value)


class ShortAnswerSchema(ma.Schema):
    text = fields.String(required=True, metadata={"description": "Exactly document_text[start:end]."})
    doc_id = fields.String(required=True)
    start = fields.Integer(required=True, metadata={"description": "Code-point offset, inclusive."})
    end = fields.Integer(required=True, metadata={"description": "Code-point offset, exclusive."})
    start_utf16 = fields.Integer(
        required=True,
        metadata={"description": "`start` in UTF-16 code units, as JavaScript strings count (an emoji is two)."},
    )
    end_utf16 = fields.Integer(required=True, metadata={"description": "`end` in UTF-16 code units."})


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


class AnswerSchema(PlannedDump):
    question = fields.String(required=True)
    answer = fields.String(required=True)
    answerable = fields.Boolean(
        required=True, metadata={"description": "False when the articles do not cover the question."}
    )
    confidence = fields.Float(required=True, metadata={"description": "Calibrated, in [0, 1]."})
    citations = fields.List(fields.Nested(CitationSchema), required=True)
    took_ms = fields.Float(required=True)
    generation = fields.String(
        required=True, metadata={"description": "The index generation the answer came from (as /readyz names it)."}
    )


_ANSWER_SCHEMA = AnswerSchema()  # built once: a schema's construction costs more than its dump


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
    next_cursor = fields.String(
        required=True, allow_none=True, metadata={"description": "Pass as `cursor` for the next page; null: last."}
    )


MAX_PAGE = 1000


_QUERY_INTEGER = re.compile(r"-?[0-9]+")


class QueryInteger(fields.Integer):
    """An integer in a query string, which is text: "50" is 50 (StrictInteger would refuse every
    value), spelt in ASCII digits with at most a minus sign before them. Python's `int` also reads
    "+5", " 5", "5_0" and other scripts' digits (fullwidth, Arabic-Indic...), which a client
    sending this API a number never means."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if not isinstance(value, str) or not _QUERY_INTEGER.fullmatch(value):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class DocumentPageArgsSchema(ma.Schema):
    """The query string of `GET /v1/documents`; another parameter is refused (`unknown` is RAISE,
    as in the body schemas), so a misspelt `limt=5` is a 400 rather than a silent default."""

    limit = QueryInteger(load_default=50, validate=validate.Range(1, MAX_PAGE))
    cursor = Text(load_default=None, validate=validate.Length(1, 1000))


def _doc_id(value: str) -> None:
    if not is_doc_id(value):
        raise ma.ValidationError(DOC_ID_RULE)


def _metadata_fields(value: Any) -> None:
    problems = metadata_problems(value)
    if problems:
        raise ma.ValidationError({name: [problem] for name, problem in problems.items()})


def _metadata_text(value: Any) -> None:
    if nesting_depth(value) > MAX_METADATA_DEPTH:
        return  # `_check_metadata` names the field; writing it out here would recurse that deep
    if not is_text(json.dumps(value, ensure_ascii=False, default=str)):
        raise ma.ValidationError(NOT_TEXT)


class DocumentWriteSchema(ma.Schema):
    """The body of `PUT /v1/documents/<doc_id>`."""

    title = Text(required=True, validate=[validate.Length(1, 1000), _not_blank], metadata={"pattern": NOT_BLANK})
    text = Text(required=True, validate=_not_blank, metadata={"pattern": NOT_BLANK})
    metadata = fields.Dict(
        load_default=dict,
        validate=_metadata_text,
        metadata={"description": "author, source, url, published_at (ISO 8601) and any other fields."},
    )

    @ma.validates("metadata")
    def _check_metadata(self, value: dict[str, Any], **_: Any) -> None:
        # Here rather than among the field's validators, which would wrap the messages in a list:
        # a client reads `fields.metadata.published_at`.
        _metadata_fields(value)


class DocumentRecordSchema(DocumentWriteSchema):
    """One article of `POST /v1/documents` (and of a `qa ingest` .jsonl file)."""

    id = Text(required=True, validate=_doc_id, metadata={"pattern": DOC_ID_PATTERN})


_RECORD, _WRITE = DocumentRecordSchema(), DocumentWriteSchema()


def parse_document(record: Any, doc_id: str | None = None, max_chars: int = 1_000_000) -> Document:
    """A valid article from a request body or a file record (`doc_id` given: the body of a PUT, which
    names it in the path); `ma.ValidationError` with a field-to-messages dict otherwise."""
    if not isinstance(record, dict):
        raise ma.ValidationError({"_schema": ["Must be a JSON object."]})
    errors: dict[str, Any] = {}
    if doc_id is not None and not is_doc_id(doc_id):
        errors["doc_id"] = [DOC_ID_RULE]
    try:
        data = (_WRITE if doc_id is not None else _RECORD).load(record)
    except ma.ValidationError as exc:
        errors.update(exc.normalized_messages())
        raise ma.ValidationError(errors) from None
    if len(data["text"]) > max_chars:
        errors["text"] = [f"Longer than the {max_chars:,} characters an article may hold."]
    if errors:
        raise ma.ValidationError(errors)
    return Document(doc_id if doc_id is not None else data["id"], data["text"], data["title"], data["metadata"])


def field_problems(messages: Any, where: str = "") -> Iterator[tuple[str, list[str]]]:
    """Each field marshmallow's `messages` find fault with (a field-to-messages dict, nested for a
    field's own fields or items, as an error body's `fields`), as a dotted path (`metadata.url`)
    with its messages; what is said of a whole record or object is said of its parent ("")."""
    if isinstance(messages, dict):
        for name, value in messages.items():
            inner = where if name == ma.exceptions.SCHEMA else f"{where}.{name}" if where else str(name)
            yield from field_problems(value, inner)
    else:
        yield where, list(map(str, messages)) if isinstance(messages, list) else [str(messages)]


def messages_text(messages: Any) -> str:
    """Marshmallow's messages on one line for a person: `text: Missing data for required field.;
    metadata.url: Must be a string.`."""
    return "; ".join(
        f"{where}: {' '.join(texts)}" if where else " ".join(texts) for where, texts in field_problems(messages)
    )


class PublishedSchema(DocumentSummarySchema):
    generation = fields.String(required=True, metadata={"description": "The index generation that serves it."})


class ErrorBodySchema(ma.Schema):
    code = fields.String(required=True, metadata={"example": "invalid_request"})
    message = fields.String(required=True)
    # `attribute` too: without it a dump (a bulk write's per-item errors) looks for `fields_` and drops them.
    fields_ = fields.Dict(
        data_key="fields", attribute="fields", metadata={"description": "Field name to its messages."}
    )
    # OpenAI's, which its clients read: on the chat route and /v1/models only.
    type = fields.String(
        metadata={"description": "On `/v1/chat/completions` and `/v1/models` only: OpenAI's error type."}
    )
    param = fields.String(
        allow_none=True,
        metadata={"description": "On those routes only: the first field at fault (`messages.0.content`), or null."},
    )


class ErrorSchema(ma.Schema):
    error = fields.Nested(ErrorBodySchema, required=True)


class BulkItemResultSchema(ma.Schema):
    id = fields.Raw(allow_none=True, metadata={"description": "The item's id, when it had a usable one."})
    status = fields.String(metadata={"enum": ["created", "replaced"]})
    error = fields.Nested(ErrorBodySchema)


class BulkResultSchema(ma.Schema):
    generation = fields.String(
        required=True, allow_none=True, metadata={"description": "The generation serving them; null: none was valid."}
    )
    results = fields.List(fields.Nested(BulkItemResultSchema), required=True)


class HealthSchema(ma.Schema):
    status = fields.String(required=True)


class ReadinessSchema(ma.Schema):
    ready = fields.Boolean(required=True)
    index = fields.String()
    generation = fields.String(metadata={"description": "The index generation served (the same as `index`)."})
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
    reader = fields.String(
        metadata={
            "description": "What reads a fact question's best sentences for its short answer: onnxruntime-int8 "
            "(the checked int8 export), onnxruntime (float32: QA_READER=fp32, or int8 failed its check), "
            "or off (QA_READER=off: no short answers)."
        }
    )
    warnings = fields.List(fields.String(), metadata={"description": "Seed files skipped or loaded with defaults."})
    worker = fields.Integer(
        required=True,
        metadata={
            "description": "The process id of the server worker that answered: each worker loads and follows the "
            "index on its own, so with several workers each says its own state."
        },
    )


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

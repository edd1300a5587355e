"""HTTP routes: thin views over the shared `Service`; all logic lives in the pipeline."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import flask_smorest
import marshmallow as ma
from flask import Request, Response, current_app, request
from flask.views import MethodView
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import BadRequest

from qa.api.errors import INVALID_FIELDS, ApiError, error_document
from qa.api.keys import NO_KEY, WRITE_SECURITY, require_read_key, require_write_key
from qa.api.streaming import ndjson_media, ref
from qa.api.timing import timed
from qa.documents import Document, InvalidCursor, document_hash, page_documents
from qa.indexing import ANY_VERSION, Expected
from qa.retrieval import Query
from qa.schemas import (
    AnswerSchema,
    AskRequestSchema,
    BulkResultSchema,
    DocumentListSchema,
    DocumentPageArgsSchema,
    DocumentRecordSchema,
    DocumentSchema,
    DocumentWriteSchema,
    ErrorSchema,
    HealthSchema,
    PublishedSchema,
    ReadinessSchema,
    parse_document,
)
from qa.service import Service


class BodyParser(FlaskParser):
    """webargs taking the JSON body Flask parsed (and `require_json_body` checked) instead of parsing
    the raw bytes again, more strictly: every route reads one JSON, a leading UTF-8 BOM ignored.
    Unknown query parameters are for the schema to decide, as unknown body fields are (webargs
    would drop them): a misspelt parameter is refused, never silently replaced by its default."""

    DEFAULT_UNKNOWN_BY_LOCATION: dict[str, str | None] = {  # noqa: RUF012 (webargs reads the class attribute)
        **FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION,
        "query": None,
        "querystring": None,
    }

    def _raw_load_json(self, req: Request) -> Any:
        return req.get_json()


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's blueprint validating request bodies with `BodyParser`."""

    ARGUMENTS_PARSER = BodyParser()


ask = Blueprint("ask", __name__, url_prefix="/v1", description="Questions answered with cited spans.")
documents = Blueprint("documents", __name__, url_prefix="/v1", description="The indexed articles.")
health = Blueprint("health", __name__, description="Liveness and readiness probes.")


def service() -> Service:
    return current_app.extensions["qa.service"]


def refuse_encoded_body() -> None:
    """A body with a `Content-Encoding` (gzip, br...) is not decoded: 415 with `Accept-Encoding:
    identity`, as RFC 9110 (12.5.3) says, rather than reading compressed bytes as JSON (a 400
    "not valid JSON" for a body that is)."""
    codings = {c.strip().lower() for c in request.headers.get("Content-Encoding", "").split(",")} - {"", "identity"}
    if codings:
        raise ApiError(
            415,
            "unsupported_media_type",
            "The body's Content-Encoding is not supported: send it uncompressed (identity).",
            headers={"Accept-Encoding": "identity"},
        )


# Charsets a JSON body may be declared in: JSON is UTF-8 (RFC 8259, 8.1), and ASCII is UTF-8 too.
# "utf8" is no registered name, but clients send it, meaning UTF-8.
UTF8_CHARSETS = {"utf-8", "utf8", "us-ascii", "ascii"}


def refuse_other_charset() -> None:
    """A body declared in another charset (`charset=latin-1`) is a 415 naming it, rather than read
    as UTF-8 all the same: its text garbled, or a 400 "not valid JSON" for JSON that was."""
    charset = request.mimetype_params.get("charset")
    if charset is not None and charset.lower() not in UTF8_CHARSETS:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"The body's charset {charset!r} is not supported: the body must be UTF-8, as JSON is (RFC 8259).",
        )


def require_json_body() -> None:
    """POST and PUT bodies must be JSON: 415 for another media type, a compressed body or one in
    another charset than UTF-8, 400 for malformed JSON, including JSON nested too deeply for the
    parser (`[` x 100,000 raises RecursionError, not ValueError)."""
    if request.method not in ("POST", "PUT"):
        return
    refuse_encoded_body()
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "Send a JSON body with Content-Type: application/json.")
    refuse_other_charset()
    try:
        request.get_json()
    except (BadRequest, RecursionError):
        raise ApiError(400, "invalid_json", "The request body is not valid JSON.") from None


NDJSON = "application/x-ndjson"


def require_article_body() -> None:
    """Article bodies are JSON; only the bulk `POST /v1/documents` also takes NDJSON (a PUT sent as
    NDJSON is a 415, not an article missing every field)."""
    if request.method == "POST" and request.mimetype == NDJSON:
        refuse_encoded_body()
        refuse_other_charset()
        return
    if request.method == "POST" and not request.is_json:
        raise ApiError(
            415,
            "unsupported_media_type",
            "Send a JSON array (Content-Type: application/json) or NDJSON (Content-Type: application/x-ndjson).",
        )
    require_json_body()


# What a route takes in its query string; every other route takes nothing there.
_QUERY_PARAMETERS = {("GET", "/v1/documents"): frozenset(DocumentPageArgsSchema().fields)}
_UNKNOWN = "Unknown field."  # marshmallow's word for a body field no schema has
_REPEATED = "Given more than once."


def refuse_stray_query() -> None:
    """A query parameter a route does not take is a 400, as an unknown body field is, and so is
    one given twice: `POST /v1/ask?top_k=3` answered with the default citations, silently,
    `GET /v1/documents/<id>?fields=text` ignored its `fields`, and `?limit=5&limit=500` read the
    first. (The OpenAI-compatible routes, chat and models, are left alone: OpenAI-style clients may
    add their own, such as an `api-version`.)"""
    method = "GET" if request.method == "HEAD" else request.method
    rule = request.url_rule.rule if request.url_rule is not None else ""
    taken = _QUERY_PARAMETERS.get((method, rule), frozenset())
    stray = {
        name: [_UNKNOWN if name not in taken else _REPEATED]
        for name, values in request.args.lists()
        if name not in taken or len(values) > 1
    }
    if stray:
        raise ApiError(400, "invalid_request", INVALID_FIELDS, stray)


ask.before_request(require_read_key)
ask.before_request(refuse_stray_query)
ask.before_request(require_json_body)
documents.before_request(require_read_key)
documents.before_request(require_write_key)
documents.before_request(refuse_stray_query)
documents.before_request(require_article_body)


@ask.route("/ask")
class Ask(MethodView):
    # Schema instances, not classes, here and in `json_or_stream`: given a class, webargs builds a
    # schema (deep-copying its fields) at every request, ~15% of what Flask costs a question.
    @ask.arguments(AskRequestSchema(), error_status_code=400)
    @ask.response(200, AnswerSchema)
    @ask.alt_response(503, schema=ErrorSchema, description="The index is still loading.")
    def post(self, query: Query) -> Any:
        """Answer one question, citing the sentences that carry the answer.

        Every citation satisfies `document_text[start:end] == quote`. When the articles do not
        cover the question, `answerable` is false and `citations` is empty.
        """
        with timed("pipeline"):
            return service().ask(query)


def _summary(document: Document) -> dict[str, Any]:
    return {
        "doc_id": document.doc_id,
        "title": document.title,
        "metadata": document.metadata,
        "length": len(document.text),
    }


class NotJson:
    """An NDJSON line that is not JSON: its item gets an `invalid_json` error, the others go on."""

    def __init__(self, line: int):
        self.line = line


def _ndjson_items(body: bytes) -> list[Any]:
    """One item per non-blank line. Lines end at "\n" only: `str.splitlines` would also cut at
    U+2028 or U+0085, which JSON strings may hold raw. Each line is strict UTF-8 (a replaced byte
    would silently change an article's text), and JSON nested too deeply is not JSON either."""
    items: list[Any] = []
    for number, line in enumerate(body.split(b"\n"), 1):
        if line.strip():
            try:
                items.append(json.loads(line.decode("utf-8")))
            except (ValueError, RecursionError):
                items.append(NotJson(number))
    return items


def _bulk_items() -> list[Any]:
    """The items of a bulk body: a JSON array, or NDJSON (one JSON object a line)."""
    if request.mimetype == NDJSON:  # a leading UTF-8 BOM is ignored, as on the JSON routes
        return _ndjson_items(request.get_data().removeprefix(b"\xef\xbb\xbf"))
    body = request.get_json()
    if not isinstance(body, list):
        raise ApiError(400, "invalid_request", "Send a JSON array of articles (or NDJSON).")
    return body


Route = TypeVar("Route", bound=Callable[..., Any])
LOADING = "The index is still loading."


def write_route(body: bool) -> Callable[[Route], Route]:
    """What every write route documents: its key, and the errors any write may answer."""
    errors = {
        401: "`unauthorized`: no key, or a wrong one.",
        403: "`writes_disabled`: no key is configured on the server.",
        503: "`not_ready`: the index is still loading; or `archive_unavailable`: the archive on disk cannot be "
        "written by this server (rebuilt with other settings or another model, or damaged).",
    }
    if body:
        errors[415] = (
            "The body is not JSON (nor NDJSON, where accepted), is compressed (`Content-Encoding`) "
            "or is declared in a charset other than UTF-8."
        )

    def document(route: Route) -> Route:
        for status, description in errors.items():
            route = documents.alt_response(status, schema=ErrorSchema, description=description)(route)
        return documents.doc(security=WRITE_SECURITY)(route)

    return document


BULK_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "array",
                "items": {
                    "anyOf": [
                        ref("DocumentRecord"),
                        {"description": "Any other JSON value is accepted too, answered with an error in its slot."},
                    ]
                },
                "description": "At most QA_MAX_BATCH_DOCUMENTS (default 1000) articles; 413 beyond.",
            }
        },
        NDJSON: ndjson_media(ref("DocumentRecord")),
    },
}
COMPONENTS = {"DocumentRecord": DocumentRecordSchema}


@documents.route("/documents")
class Documents(MethodView):
    @documents.arguments(DocumentPageArgsSchema(), location="query", error_status_code=400)
    @documents.response(200, DocumentListSchema)
    @documents.alt_response(503, schema=ErrorSchema, description=LOADING)
    def get(self, args: dict[str, Any]) -> Any:
        """List the archive's articles, newest first by `metadata.published_at` (those without one
        after them, then by id), a page at a time: pass `next_cursor` back as `cursor`."""
        try:
            page, cursor = page_documents(service().documents(), args["limit"], args["cursor"])
        except InvalidCursor as exc:
            raise ApiError(400, "invalid_request", "The cursor is not valid.", {"cursor": [str(exc)]}) from None
        return {"documents": [_summary(d) for d in page], "next_cursor": cursor}

    @documents.doc(requestBody=BULK_BODY)
    @documents.response(200, BulkResultSchema)
    @documents.alt_response(400, schema=ErrorSchema, description="The body is not an array or NDJSON.")
    @documents.alt_response(
        413, schema=ErrorSchema, description="`payload_too_large`, or `batch_too_large`: over QA_MAX_BATCH_DOCUMENTS."
    )
    @write_route(body=True)
    def post(self) -> Any:
        """Publish many articles in one generation: a JSON array or NDJSON of `{id, title, text,
        metadata}`. Each gets its own result, in order; an invalid one gets its error and the
        others are still published. An id given twice: the later item wins."""
        settings = current_app.config["QA_SETTINGS"]
        items = _bulk_items()
        if len(items) > settings.max_batch_documents:
            raise ApiError(413, "batch_too_large", f"At most {settings.max_batch_documents} articles in one request.")
        results: list[dict[str, Any]] = []
        valid: dict[str, Document] = {}
        for item in items:
            if isinstance(item, NotJson):
                problem = error_document("invalid_json", f"Line {item.line} of the NDJSON body is not JSON.")
                results.append({"id": None, **problem})
                continue
            try:
                document = parse_document(item, max_chars=settings.max_document_chars)
            except ma.ValidationError as exc:
                item_id = item.get("id") if isinstance(item, dict) and isinstance(item.get("id"), str) else None
                problem = error_document(
                    "invalid_request", "Not a valid article; see fields.", exc.normalized_messages()
                )
                results.append({"id": item_id, **problem})
                continue
            valid[document.doc_id] = document  # an id given twice: the later valid item wins
            results.append({"id": document.doc_id})
        if not valid:
            return {"generation": None, "results": results}
        published = service().publish(list(valid.values()))
        status = dict(zip(valid, published.created, strict=True))
        for result in results:
            if "error" not in result:
                result["status"] = "created" if status[result["id"]] else "replaced"
        return {"generation": published.generation, "results": results}


def etag(document: Document) -> str:
    """An article's version as an HTTP entity tag: the hash of its id, title, metadata and text."""
    return f'"{document_hash(document)}"'


def expected_version(doc_id: str) -> list[Expected]:
    """What the request's If-Match (compared strongly: a weak tag never matches) and If-None-Match
    (weakly) expect of the article's live version; nothing without them."""
    if_match, if_none_match = request.if_match, request.if_none_match
    if not if_match and not if_none_match:
        return []
    match = if_match.as_set() | ({ANY_VERSION} if if_match.star_tag else set()) if if_match else None
    none_match = (
        if_none_match.as_set(include_weak=True) | ({ANY_VERSION} if if_none_match.star_tag else set())
        if if_none_match
        else None
    )
    return [
        Expected(
            doc_id,
            None if match is None else frozenset(match),
            None if none_match is None else frozenset(none_match),
        )
    ]


def version_header(name: str, description: str) -> dict[str, Any]:
    """A conditional request header (`If-Match`, `If-None-Match`) as an OpenAPI parameter: a list of
    the article's versions (ETags) or `*`."""
    return {"in": "header", "name": name, "schema": {"type": "string"}, "description": description}


VERSION_HEADERS = [
    version_header(
        "If-Match",
        "Write only if the article is at one of these versions (ETags), or, with `*`, "
        "exists at all; else 412 and nothing is written.",
    ),
    version_header(
        "If-None-Match", "Write only if the article is at none of these versions; `*`: only if it does not exist."
    ),
]
ETAG_HEADER = {
    "ETag": {"description": "The article's version, for If-Match or If-None-Match.", "schema": {"type": "string"}}
}
PRECONDITION = "`precondition_failed`: the article is not at the version If-Match or If-None-Match asks for."


@documents.route("/documents/<string:doc_id>")
class DocumentView(MethodView):
    @documents.doc(
        parameters=[
            version_header(
                "If-None-Match",
                "Answer 304 with no body if the article is at one of these versions (ETags of an earlier "
                "read, compared weakly), or, with `*`, exists at all.",
            )
        ]
    )
    @documents.response(200, DocumentSchema, headers=ETAG_HEADER)
    @documents.alt_response(
        304, description="Not modified: the version If-None-Match names is the live one.", headers=ETAG_HEADER
    )
    @documents.alt_response(404, schema=ErrorSchema, description="No document has that id.")
    @documents.alt_response(503, schema=ErrorSchema, description=LOADING)
    def get(self, doc_id: str) -> Any:
        """One article's metadata and verbatim text, so a client can highlight cited spans; its
        `ETag` is its version, for a conditional write (`If-Match`) or read (`If-None-Match`: 304
        while it is unchanged)."""
        document = service().document(doc_id)
        version = etag(document)
        if request.if_none_match.contains_weak(version.strip('"')):
            return Response(status=304, headers={"ETag": version})
        return {**_summary(document), "text": document.text}, {"ETag": version}

    @documents.doc(
        requestBody={"required": True, "content": {"application/json": {"schema": DocumentWriteSchema}}},
        parameters=VERSION_HEADERS,
    )
    @documents.response(200, PublishedSchema, description="The article was replaced.", headers=ETAG_HEADER)
    @documents.alt_response(400, schema=ErrorSchema, description="`invalid_request`: see fields.")
    @documents.alt_response(201, schema=PublishedSchema, description="The article was created.", headers=ETAG_HEADER)
    @documents.alt_response(412, schema=ErrorSchema, description=PRECONDITION)
    @documents.alt_response(413, schema=ErrorSchema, description="The body is over QA_MAX_BODY_BYTES.")
    @write_route(body=True)
    def put(self, doc_id: str) -> Any:
        """Create or replace one article. Returns once the write is durable and answered from;
        every worker and server on the same index answers from it within a second. With
        `If-Match` (a version read from `ETag`) it is written only over that version, so an
        editor never undoes another's change unseen; `If-None-Match: *` only creates."""
        try:
            document = parse_document(request.get_json(), doc_id, current_app.config["QA_SETTINGS"].max_document_chars)
        except ma.ValidationError as exc:  # the id and the body checked in one pass, one message
            raise ApiError(400, "invalid_request", INVALID_FIELDS, exc.normalized_messages()) from None
        published = service().publish([document], expected_version(doc_id))
        status = 201 if published.created[0] else 200
        return {**_summary(document), "generation": published.generation}, status, {"ETag": etag(document)}

    @documents.doc(parameters=VERSION_HEADERS[:1])
    @documents.response(204)
    @documents.alt_response(404, schema=ErrorSchema, description="No document has that id.")
    @documents.alt_response(409, schema=ErrorSchema, description="It is the archive's last article.")
    @documents.alt_response(412, schema=ErrorSchema, description=PRECONDITION)
    @write_route(body=False)
    def delete(self, doc_id: str) -> Any:
        """Delete one article; questions stop citing it as soon as this returns. With `If-Match`,
        only if it is at that version."""
        service().delete([doc_id], expected_version(doc_id))
        return ""


@health.route("/healthz")
class Liveness(MethodView):
    @health.doc(security=NO_KEY)
    @health.response(200, HealthSchema)
    def get(self) -> Any:
        """The process is up (it may still be loading the index)."""
        return {"status": "ok"}


@health.route("/readyz")
class Readiness(MethodView):
    @health.doc(security=NO_KEY)
    @health.response(200, ReadinessSchema)
    @health.alt_response(503, schema=ReadinessSchema, description="The index is not loaded yet.")
    def get(self) -> Any:
        """Ready once the index is loaded and the model warmed up."""
        status = service().status()
        return status, (200 if status["ready"] else 503)

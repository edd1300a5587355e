"""One error shape for every failure: `{"error": {"code", "message", "fields"?}}`.

Validation failures (webargs/marshmallow), HTTP errors raised by Flask or werkzeug, domain
errors of the service and anything unexpected all end here, so a client never sees an HTML
page or a stack trace. (One page is HTML on purpose: `/demo/<doc_id>` of an article not in the
archive, for a browser; see `qa.web`.)
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, current_app, jsonify
from werkzeug.exceptions import HTTPException, InternalServerError

from qa.api.request_id import current_request_id
from qa.batching import unknown_documents_error
from qa.indexing import EmptyArchive, PreconditionFailed
from qa.service import DocumentNotFound, NotReady, UnknownDocuments
from qa.store import IndexUnavailable

log = logging.getLogger(__name__)

CODES = {
    400: "invalid_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    422: "invalid_request",
    431: "headers_too_large",
    500: "internal_error",
    501: "not_implemented",
    503: "not_ready",
}
# The message of every 400 whose `fields` say what is wrong.
INVALID_FIELDS = "The request is not valid; see fields."


class ApiError(HTTPException):
    """An HTTP error with our machine-readable code and, optionally, field messages."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        fields: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(description=message)
        self.code = status
        self.error_code = code
        self.fields = fields
        self.extra_headers = headers or {}


def error_document(code: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    """The body of every error response, also those written before Flask sees the request."""
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    return {"error": body}


def body_too_large_message(limit: int) -> str:
    return f"The request body is larger than the limit of {limit} bytes."


def error_response(status: int, code: str, message: str, fields: dict[str, Any] | None = None) -> Response:
    response = jsonify(error_document(code, message, fields))
    response.status_code = status
    return response


def document_not_found(doc_id: str) -> Response:
    return error_response(404, "document_not_found", f"No document has the id {doc_id!r}.")


def _validation_fields(error: HTTPException) -> dict[str, Any] | None:
    """webargs nests marshmallow's messages by location; clients want them by field."""
    messages = (getattr(error, "data", None) or {}).get("messages")
    if not isinstance(messages, dict):
        return None
    flattened: dict[str, Any] = {}
    for per_location in messages.values():
        if isinstance(per_location, dict):
            flattened.update(per_location)
    return flattened or None


def handle_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    if isinstance(error, ApiError):
        response = error_response(status, error.error_code, error.description or "", error.fields)
        response.headers.update(error.extra_headers)
    else:
        fields = _validation_fields(error)
        message = INVALID_FIELDS if fields else (error.description or error.name)
        if status == 413:
            message = body_too_large_message(current_app.config["MAX_CONTENT_LENGTH"])
        response = error_response(status, CODES.get(status, "http_error"), message, fields)
    if status == 405 and error.get_response().headers.get("Allow"):
        response.headers["Allow"] = error.get_response().headers["Allow"]
    return response


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(HTTPException, handle_http_exception)

    @app.errorhandler(NotReady)
    def _not_ready(error: NotReady) -> Response:
        response = error_response(503, "not_ready", str(error))
        response.headers["Retry-After"] = "1"
        return response

    @app.errorhandler(UnknownDocuments)
    def _unknown_documents(error: UnknownDocuments) -> Response:
        return error_response(400, **unknown_documents_error(error))

    @app.errorhandler(DocumentNotFound)
    def _document_not_found(error: DocumentNotFound) -> Response:
        return document_not_found(error.args[0])

    @app.errorhandler(EmptyArchive)
    def _empty_archive(error: EmptyArchive) -> Response:
        return error_response(409, "last_document", str(error))

    @app.errorhandler(PreconditionFailed)
    def _precondition_failed(error: PreconditionFailed) -> Response:
        message = (
            f"The article {error.doc_id!r} is not at the version If-Match or If-None-Match asks for; "
            "nothing was changed. Read it again (GET) for its ETag."
        )
        return error_response(412, "precondition_failed", message)

    @app.errorhandler(IndexUnavailable)
    def _archive_unavailable(error: IndexUnavailable) -> Response:
        # A write met an archive on disk this server cannot add to: rebuilt by a process with other
        # settings or another model, or damaged. Not the client's fault, and its reason holds paths.
        log.warning("a write was refused (request id %s): %s", current_request_id(), error)
        message = "The archive on disk cannot be written by this server now; the server's log says why."
        return error_response(503, "archive_unavailable", message)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        # Under the id the client gets, which is all it has to report the error with.
        log.exception("unhandled error (request id %s)", current_request_id(), exc_info=error)
        return handle_http_exception(InternalServerError("The server failed to answer; the error was logged."))

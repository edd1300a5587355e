"""HTTP routes: thin views over the shared `Service`; all logic lives in the pipeline."""

from __future__ import annotations

from typing import Any

from flask import current_app, request
from flask.views import MethodView
from flask_smorest import Blueprint
from werkzeug.exceptions import BadRequest

from qa.api.errors import ApiError
from qa.documents import Document
from qa.retrieval import Query
from qa.schemas import (
    AnswerSchema,
    AskRequestSchema,
    DocumentListSchema,
    DocumentSchema,
    ErrorSchema,
    HealthSchema,
    ReadinessSchema,
)
from qa.service import Service

ask = Blueprint("ask", __name__, url_prefix="/v1", description="Questions answered with cited spans.")
documents = Blueprint("documents", __name__, url_prefix="/v1", description="The indexed articles.")
health = Blueprint("health", __name__, description="Liveness and readiness probes.")


def service() -> Service:
    return current_app.extensions["qa.service"]


def require_json_body() -> None:
    """POST bodies must be JSON: 415 for another media type, 400 for malformed JSON, including
    JSON nested too deeply for the parser (`[` x 100,000 raises RecursionError, not ValueError)."""
    if request.method != "POST":
        return
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "Send a JSON body with Content-Type: application/json.")
    try:
        request.get_json()
    except (BadRequest, RecursionError):
        raise ApiError(400, "invalid_json", "The request body is not valid JSON.") from None


ask.before_request(require_json_body)


@ask.route("/ask")
class Ask(MethodView):
    @ask.arguments(AskRequestSchema, error_status_code=400)
    @ask.response(200, AnswerSchema)
    @ask.alt_response(503, schema=ErrorSchema, description="The index is still loading.")
    def post(self, query: Query) -> Any:
        """Answer one question, citing the sentences that carry the answer.

        Every citation satisfies `document_text[start:end] == quote`. When the articles do not
        cover the question, `answerable` is false and `citations` is empty.
        """
        return service().ask(query)


def _summary(document: Document) -> dict[str, Any]:
    return {
        "doc_id": document.doc_id,
        "title": document.title,
        "metadata": document.metadata,
        "length": len(document.text),
    }


@documents.route("/documents")
class Documents(MethodView):
    @documents.response(200, DocumentListSchema)
    def get(self) -> Any:
        """List the indexed articles with their metadata."""
        return {"documents": [_summary(d) for d in service().documents()]}


@documents.route("/documents/<string:doc_id>")
class DocumentView(MethodView):
    @documents.response(200, DocumentSchema)
    @documents.alt_response(404, schema=ErrorSchema, description="No document has that id.")
    def get(self, doc_id: str) -> Any:
        """One article's metadata and verbatim text, so a client can highlight cited spans."""
        document = service().document(doc_id)
        return {**_summary(document), "text": document.text}


@health.route("/healthz")
class Liveness(MethodView):
    @health.response(200, HealthSchema)
    def get(self) -> Any:
        """The process is up (it may still be loading the index)."""
        return {"status": "ok"}


@health.route("/readyz")
class Readiness(MethodView):
    @health.response(200, ReadinessSchema)
    @health.alt_response(503, schema=ReadinessSchema, description="The index is not loaded yet.")
    def get(self) -> Any:
        """Ready once the index is loaded and the model warmed up."""
        status = service().status()
        return status, (200 if status["ready"] else 503)

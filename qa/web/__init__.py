"""What readers see: `GET /` (a chat page over the articles), `GET /widget.js` (a chat box any
newsroom page can embed) and `GET /demo/<doc_id>` (an article page with the widget on it).

Static HTML, CSS and plain JavaScript shipped inside the package: no CDN and no build step, so the
pages work with no network. The page and the widget share one script (`chat-core.js`) and one
stylesheet (`chat.css`); `/widget.js` joins them into a single file, because an embed is one
`<script>` tag on someone else's page.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

from flask import Blueprint, Response, render_template, request, send_from_directory

from qa.api.errors import document_not_found
from qa.api.keys import require_read_key
from qa.api.routes import service
from qa.service import DocumentNotFound

STATIC = files(__name__) / "static"

web = Blueprint("web", __name__, static_folder="static", static_url_path="/assets", template_folder="templates")


def _static_text(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")


@cache
def widget_script() -> str:
    """chat-core.js and widget.js in one closure (nothing leaks into the host page's globals),
    with the widget's stylesheet inlined so the shadow root is styled before its first paint."""
    css = _static_text("chat.css") + _static_text("widget.css")
    return (
        "/* article-qa chat widget; embedding it: README, 'The chat page and the widget'. */\n"
        f'(() => {{\n"use strict";\nconst WIDGET_CSS = {json.dumps(css)};\n'
        f"{_static_text('chat-core.js')}\n{_static_text('widget.js')}\n}})();\n"
    )


@web.get("/")
def chat_page() -> Response:
    """The chat page: ask, follow a citation into its article, ask a follow-up."""
    return send_from_directory(str(STATIC), "index.html", max_age=0)


@web.get("/widget.js")
def widget() -> Response:
    """The embeddable chat box; see README for the `<script>` tag and `QA_CORS_ORIGINS`."""
    return Response(widget_script(), mimetype="text/javascript", headers={"Cache-Control": "public, max-age=300"})


@web.get("/demo/<string:doc_id>")
def demo(doc_id: str) -> str | Response:
    """An article page as a newsroom would publish it, with the widget embedded and scoped to it.
    It shows the article's text, so it needs a key when reads do (the chat page has no text of its own)."""
    require_read_key()  # first: without the key, no answer tells which articles exist
    try:
        document = service().document(doc_id)  # 503 JSON while the index loads, as the API
    except DocumentNotFound:
        return _not_in_archive(doc_id)
    paragraphs = [line for line in document.text.splitlines() if line.strip()]
    meta = document.metadata
    section = meta.get("section")
    return render_template(
        "demo.html",
        document=document,
        paragraphs=paragraphs,
        section=section if isinstance(section, str) else "World",
        byline=" · ".join(part for part in (_author(meta.get("author")), meta.get("source")) if isinstance(part, str)),
    )


def _not_in_archive(doc_id: str) -> Response:
    """404 for an article the archive does not hold: to a browser (it prefers HTML to JSON), as a
    reader following a stale link would, a page saying so with a way on to the chat page; to any
    other client (`*/*` from curl, `application/json`, no `Accept`) the API's JSON error."""
    if request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html":
        response = Response(render_template("missing.html", doc_id=doc_id), status=404, mimetype="text/html")
    else:
        response = document_not_found(doc_id)
    response.vary.add("Accept")
    return response


def _author(author: Any) -> str | None:
    """ "By" and the author's name or names, as the chat page shows them: a list of names was shown
    as Python writes one (`By ['Ana', 'Ben']`); a value of another type shows no byline."""
    if isinstance(author, list) and author and all(isinstance(name, str) for name in author):
        author = ", ".join(author)
    return f"By {author}" if isinstance(author, str) and author.strip() else None

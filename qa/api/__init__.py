"""The HTTP API: `create_app(settings)` builds a Flask app around one `Service`."""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable
from typing import Any

from flask import Flask, Response
from flask.json.provider import DefaultJSONProvider
from flask_smorest import Api

from qa.api import batch, chat, cors, docs, errors, keys, request_id, routes, timing
from qa.config import Settings
from qa.schemas import ErrorSchema
from qa.service import Service
from qa.web import web


class QaApi(Api):
    """flask-smorest's Api with our error shape, in responses and in the OpenAPI document."""

    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error: Any) -> Any:
        return errors.handle_http_exception(error)

    def _register_pagination_header(self) -> None:
        """Nothing: the documents list pages by cursor (`next_cursor`), and flask-smorest's
        page-number `PaginationMetadata` put in the description a schema no route sends."""


class QaFlask(Flask):
    """Flask deciding once per function, not at every call, whether a view or hook is a coroutine
    function: `ensure_sync` asks `inspect.iscoroutinefunction` ~11 times per request, about a tenth
    of what Flask costs a question. Keyed weakly by the function under a bound method, since a
    method view's methods are bound to a new view object at every request."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._coroutine: weakref.WeakKeyDictionary[Callable[..., Any], bool] = weakref.WeakKeyDictionary()

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        key = getattr(func, "__func__", func)
        try:
            coroutine = self._coroutine[key]
        except KeyError:
            coroutine = self._coroutine[key] = inspect.iscoroutinefunction(func)
        except TypeError:  # no weak reference to it: decide every time, as Flask does
            return super().ensure_sync(func)
        return self.async_to_sync(func) if coroutine else func

    def make_default_options_response(self) -> Response:
        """Flask's answer to OPTIONS (200, `Allow`, an empty body) without the text/html content type
        it would claim: every other answer of the API is JSON, and this one has no body at all."""
        response = super().make_default_options_response()
        del response.headers["Content-Type"]
        return response


def create_app(settings: Settings | None = None, service: Service | None = None, load_wait: float = 0.0) -> Flask:
    """Build the app. Without a `service`, one is created and loads the index in the background,
    so the server answers `/healthz` at once and `/readyz` turns 200 when the index is ready (this
    waits up to `load_wait` seconds for that before it returns); it then follows the index folder,
    serving each generation another process commits."""
    settings = settings or Settings.from_env()
    app = QaFlask(__name__)
    app.config.update(
        API_TITLE="article-qa",
        API_VERSION="1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        # With reads behind a key, every operation needs one unless it says otherwise (the probes).
        API_SPEC_OPTIONS={"security": keys.WRITE_SECURITY} if settings.read_requires_key else {},
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        QA_SETTINGS=settings,
    )
    assert isinstance(app.json, DefaultJSONProvider)
    app.json.sort_keys = False  # fields in the order the schemas declare them
    # `//` in a path is a 404 like any unknown path, not werkzeug's HTML redirect to a merged path.
    app.url_map.merge_slashes = False
    if service is None:
        service = Service(settings)
        service.load_in_background().join(timeout=load_wait)
        service.follow()
    app.extensions["qa.service"] = service
    timing.register(app)  # first, so its clock starts before every other hook
    api = QaApi(app)
    errors.register_error_handlers(app)
    request_id.register(app)
    for blueprint in (routes.ask, batch.batch, chat.chat, routes.documents, routes.health):
        api.register_blueprint(blueprint)
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    for name, schema in {**routes.COMPONENTS, **batch.COMPONENTS, **chat.COMPONENTS}.items():
        api.spec.components.schema(name, schema=schema)
    docs.register(app, api)
    app.register_blueprint(web)  # GET /, /widget.js, /demo/<doc_id>
    cors.register(app, settings)
    return app

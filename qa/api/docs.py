"""`GET /docs`: a self-contained HTML page rendered from the OpenAPI document.

No JavaScript and no CDN: every operation with its request and response schemas, and every
schema as a table of fields, so the page works offline and always matches `/openapi.json`.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Flask, render_template_string
from flask_smorest import Api
from markupsafe import Markup, escape

METHODS = ("get", "post", "put", "patch", "delete")

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ info.title }} API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
code,pre{font:13px ui-monospace,monospace;background:#f4f4f4;padding:0 .2em}
pre{padding:.6em;white-space:pre-wrap}
.op{border:1px solid #ddd;border-radius:6px;padding:.2rem 1rem;margin:1rem 0}
.method{display:inline-block;min-width:4rem;font-weight:bold;text-transform:uppercase;color:#fff;
 background:#2b6cb0;border-radius:4px;text-align:center;margin-right:.5rem}
.post{background:#2f855a}
table{border-collapse:collapse;width:100%;margin:.4rem 0}
td,th{border-bottom:1px solid #eee;text-align:left;padding:.2rem .5rem;vertical-align:top}
.req{color:#c53030}
</style></head><body>
<h1>{{ info.title }} <small>API {{ info.version }}</small></h1>
<p>Generated from <a href="{{ spec_url }}"><code>{{ spec_url }}</code></a> (OpenAPI {{ openapi }}).</p>
<ul>{% for op in operations %}<li><a href="#{{ op.anchor }}">{{ op.method|upper }} {{ op.path }}</a>
 &mdash; {{ op.summary }}</li>{% endfor %}</ul>
{% for op in operations %}
<section class="op" id="{{ op.anchor }}">
<h2><span class="method {{ op.method }}">{{ op.method }}</span><code>{{ op.path }}</code></h2>
<p><strong>{{ op.summary }}</strong></p>{% if op.description %}<pre>{{ op.description }}</pre>{% endif %}
{% if op.body %}<h3>Request body</h3>
<table>{% for type, schema in op.body %}<tr><td><code>{{ type }}</code></td><td>{{ schema }}</td></tr>
{% endfor %}</table>{% endif %}
<h3>Responses</h3>
<table>{% for status, description, content in op.responses %}<tr><td><strong>{{ status }}</strong></td>
<td>{{ description }}{% for type, schema in content %}<br><code>{{ type }}</code>: {{ schema }}{% endfor %}</td></tr>
{% endfor %}</table>
</section>{% endfor %}
<h2>Schemas</h2>
{% for name, rows in schemas %}<h3 id="schema-{{ name }}">{{ name }}</h3>
<table><tr><th>field</th><th>type</th><th>description</th></tr>
{% for field, required, type, description in rows %}<tr><td><code>{{ field }}</code>{% if required %}
<span class="req" title="required">*</span>{% endif %}</td><td>{{ type }}</td><td>{{ description }}</td></tr>
{% endfor %}</table>{% endfor %}
</body></html>"""


def type_of(schema: dict[str, Any]) -> Markup:
    """A short, linked description of a JSON schema: `array of Citation`, `string or integer`."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return Markup('<a href="#schema-{0}">{0}</a>').format(name)
    for combinator, joiner in (("oneOf", " or "), ("anyOf", " or "), ("allOf", " and ")):
        if combinator in schema:
            return Markup(joiner).join(type_of(part) for part in schema[combinator])
    kind = schema.get("type", "any")
    if kind == "array":
        return Markup("array of ") + type_of(schema.get("items", {}))
    if kind == "object" and "properties" in schema:
        return Markup("object")
    return escape(kind + (" or null" if schema.get("nullable") else ""))


def _constraints(schema: dict[str, Any]) -> str:
    limits = ("minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems", "default", "enum")
    return ", ".join(f"{key} {json.dumps(schema[key])}" for key in limits if key in schema)


def field_rows(schema: dict[str, Any]) -> list[tuple[str, bool, Markup, str]]:
    required = set(schema.get("required", []))
    rows = []
    for name, prop in schema.get("properties", {}).items():
        notes = " ".join(part for part in (prop.get("description", ""), _constraints(prop)) if part)
        rows.append((name, name in required, type_of(prop), notes))
    return rows


# Extensions that name the schema of each JSON value inside a streamed body (see qa.api.streaming).
STREAM_ITEMS = {"x-item-schema": "each line", "x-data-schema": "each event's data"}


def _described(body: dict[str, Any]) -> Markup:
    """A media type's schema, and for a stream what each of its JSON values is."""
    parts = [type_of(body.get("schema", {}))]
    parts += [Markup("; {}: ").format(where) + type_of(body[key]) for key, where in STREAM_ITEMS.items() if key in body]
    return Markup("").join(parts)


def _content(content: dict[str, Any]) -> list[tuple[str, Markup]]:
    return [(media, _described(body)) for media, body in content.items()]


def _resolve(spec: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    """Follow a local `$ref` such as `#/components/responses/DEFAULT_ERROR`."""
    if "$ref" not in item:
        return item
    target: Any = spec
    for key in item["$ref"].lstrip("#/").split("/"):
        target = target[key]
    return target


def _status_order(item: tuple[str, Any]) -> tuple[bool, str]:
    return item[0] == "default", item[0]


def operations(spec: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for path, item in spec.get("paths", {}).items():
        for method in METHODS:
            if method not in item:
                continue
            op = item[method]
            responses = [
                (status, response.get("description", ""), _content(response.get("content", {})))
                for status, response in (
                    (s, _resolve(spec, r)) for s, r in sorted(op.get("responses", {}).items(), key=_status_order)
                )
            ]
            found.append(
                {
                    "anchor": f"{method}-{path}".replace("/", "-").strip("-"),
                    "method": method,
                    "path": path,
                    "summary": op.get("summary", ""),
                    "description": op.get("description", ""),
                    "body": _content(op.get("requestBody", {}).get("content", {})),
                    "responses": responses,
                }
            )
    return found


def render(spec: dict[str, Any], spec_url: str) -> str:
    schemas = [(name, field_rows(schema)) for name, schema in spec.get("components", {}).get("schemas", {}).items()]
    return render_template_string(
        PAGE,
        info=spec["info"],
        openapi=spec["openapi"],
        spec_url=spec_url,
        operations=operations(spec),
        schemas=schemas,
    )


# Errors every POST operation can answer before its view runs, listed on each operation rather
# than left to `default`, so a client (and a status-code check) sees each where it can happen.
POST_ERRORS = {
    "413": ("PAYLOAD_TOO_LARGE", "The body is larger than QA_MAX_BODY_BYTES (`payload_too_large`)."),
    "415": (
        "UNSUPPORTED_MEDIA_TYPE",
        "The body is not sent as `application/json`, is compressed (a `Content-Encoding` such as gzip, "
        "which is not decoded) or is declared in a charset other than UTF-8 (`charset=latin-1`: JSON is "
        "UTF-8) (`unsupported_media_type`).",
    ),
}


def list_errors_per_operation(api: Api) -> None:
    """Add POST_ERRORS to every POST operation that does not describe that status itself."""
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    for name, description in POST_ERRORS.values():
        api.spec.components.response(name, {"description": description, **error})
    for item in api.spec.to_dict()["paths"].values():  # the spec's own path objects, not copies
        if "post" in item:
            for status, (name, _) in POST_ERRORS.items():
                item["post"]["responses"].setdefault(status, {"$ref": f"#/components/responses/{name}"})


def register(app: Flask, api: Api, spec_url: str = "/openapi.json") -> None:
    list_errors_per_operation(api)
    blueprint = Blueprint("docs", __name__)

    @blueprint.get("/docs")
    def docs() -> str:
        return render(api.spec.to_dict(), spec_url)

    app.register_blueprint(blueprint)

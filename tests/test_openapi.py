"""The OpenAPI description: a valid OpenAPI 3 document that describes every route, that real
responses match, and that every request and response example in the README matches; and the
offline /docs page rendered from it."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
from itertools import pairwise
from typing import Any, NamedTuple

import pytest
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate as validate_spec

from qa.api import create_app
from qa.service import Service
from tests.conftest import API_KEY, ROOT, SEED_ID, SEED_TEXT, run_qa
from tests.conftest import FENTANYL_QUESTION as FENTANYL
from tests.contracts import ndjson_lines, sse_data

NDJSON = "application/x-ndjson"
EVENT_STREAM = "text/event-stream"
# Routes that serve the description itself, or the pages for readers (qa.web), rather than the API.
UNDESCRIBED = {
    "/openapi.json",
    "/docs",
    "/static/<path:filename>",
    "/",
    "/widget.js",
    "/demo/<string:doc_id>",
    "/assets/<path:filename>",
}


@pytest.fixture()
def spec(client) -> dict[str, Any]:
    return client.get("/openapi.json").get_json()


def resolve(spec: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in item:
        target: Any = spec
        for key in item["$ref"].removeprefix("#/").split("/"):
            target = target[key]
        item = target
    return item


def media_object(spec: dict[str, Any], path: str, method: str, status: int, media: str) -> dict[str, Any]:
    responses = spec["paths"][path][method]["responses"]
    response = resolve(spec, responses.get(str(status), responses["default"]))
    return response["content"][media]


def response_schema(
    spec: dict[str, Any], path: str, method: str, status: int, media: str = "application/json"
) -> dict[str, Any]:
    return media_object(spec, path, method, status, media)["schema"]


def item_schema(spec: dict[str, Any], path: str, method: str, status: int, media: str) -> dict[str, Any]:
    """The schema of one JSON value of a body: the body in JSON, a line of NDJSON, an event's data."""
    described = media_object(spec, path, method, status, media)
    return {NDJSON: described.get("x-item-schema"), EVENT_STREAM: described.get("x-data-schema")}.get(
        media, described["schema"]
    )


def request_schema(spec: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    return spec["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]


def errors_against(spec: dict[str, Any], schema: dict[str, Any], instance: Any) -> list[str]:
    """What is wrong with `instance` under `schema`, whose `$ref`s point into the spec's components."""
    validator = OAS30Validator({**schema, "components": spec["components"]})
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(instance)]


def openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def test_the_document_is_valid_openapi_3(spec: dict[str, Any]) -> None:
    validate_spec(spec)
    assert spec["openapi"].startswith("3.")


def test_every_route_is_described_and_nothing_else(app, spec: dict[str, Any]) -> None:
    routes: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.rule not in UNDESCRIBED:
            methods = {method.lower() for method in rule.methods - {"HEAD", "OPTIONS"}}
            routes.setdefault(openapi_path(rule.rule), set()).update(methods)
    described = {path: set(item) - {"parameters"} for path, item in spec["paths"].items()}
    assert described == routes
    assert {"/v1/ask/batch", "/v1/chat/completions"} <= set(routes)


def test_every_schema_described_is_used(spec: dict[str, Any]) -> None:
    # flask-smorest registered its page-number `PaginationMetadata` (page, total...), which no
    # route of this API sends: client generators made a type of it for nothing.
    text = json.dumps({key: value for key, value in spec.items() if key != "components"})
    components = json.dumps(spec["components"])
    unused = [
        name
        for name in spec["components"]["schemas"]
        if f"#/components/schemas/{name}" not in text and f'#/components/schemas/{name}"' not in components
    ]
    assert unused == []


def test_every_operation_describes_its_errors(spec: dict[str, Any]) -> None:
    error = {"$ref": "#/components/schemas/Error"}
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            assert response_schema(spec, path, method, 599) == error, (path, method)  # the default response
            if method == "post":  # each listed on the operation itself, not left to `default`
                for status in ("400", "413", "415", "503"):
                    assert status in operation["responses"], (path, status)
                    assert response_schema(spec, path, method, int(status)) == error, (path, status)
    assert response_schema(spec, "/v1/documents/{doc_id}", "get", 404) == error
    batch_413 = spec["paths"]["/v1/ask/batch"]["post"]["responses"]["413"]["description"]
    assert all(code in batch_413 for code in ("payload_too_large", "too_many_questions", "batch_too_large"))
    chat_400 = spec["paths"]["/v1/chat/completions"]["post"]["responses"]["400"]["description"]
    assert "no message with the role 'user'" in chat_400


def test_an_operation_that_answers_304_takes_the_if_none_match_that_asks_for_it(client, spec: dict[str, Any]) -> None:
    """`GET /v1/documents/{doc_id}` answered 304 to `If-None-Match`, and described the 304 but not
    the header that produces it (nor the `ETag` the 304 carries): a generated client had no way to
    send it."""
    conditional = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method == "parameters" or "304" not in operation["responses"]:
                continue
            parameters = [resolve(spec, p) for p in [*item.get("parameters", []), *operation.get("parameters", [])]]
            assert ("header", "If-None-Match") in {(p["in"], p["name"]) for p in parameters}, (path, method)
            assert set(resolve(spec, operation["responses"]["304"]).get("headers", {})) == {"ETag"}, (path, method)
            conditional.append((path, method))
    assert conditional == [("/v1/documents/{doc_id}", "get")]
    version = client.get(f"/v1/documents/{SEED_ID}").headers["ETag"]
    response = client.get(f"/v1/documents/{SEED_ID}", headers={"If-None-Match": version})
    assert response.status_code == 304 and response.headers["ETag"] == version and response.data == b""


@pytest.mark.parametrize(
    "method, path, rule",
    [
        ("get", "/v1/documents", "/v1/documents"),
        ("get", f"/v1/documents/{SEED_ID}", "/v1/documents/{doc_id}"),
        ("post", "/v1/ask", "/v1/ask"),
    ],
)
def test_an_operation_that_answers_503_while_the_index_loads_describes_it(
    settings, spec: dict[str, Any], method: str, path: str, rule: str
) -> None:
    """The article reads answered 503 `not_ready` while the index loaded, which their description
    did not list (a generated client would see an undocumented status)."""
    loading = create_app(settings, Service(settings)).test_client()
    response = loading.open(path, method=method.upper(), json={"question": FENTANYL} if method == "post" else None)
    assert response.status_code == 503 and response.get_json()["error"]["code"] == "not_ready"
    assert "503" in spec["paths"][rule][method]["responses"], (method, rule)
    assert errors_against(spec, response_schema(spec, rule, method, 503), response.get_json()) == []


def test_batch_and_chat_describe_their_streams(spec: dict[str, Any]) -> None:
    """A stream is text made of JSON values, not one JSON value: NDJSON is documented as text whose
    lines `x-item-schema` describes; an event stream's `schema` is one event (OpenAPI 3.0's reading
    of `text/event-stream`), whose `data` is what `x-data-schema` describes, or `[DONE]`."""
    batch_ok = resolve(spec, spec["paths"]["/v1/ask/batch"]["post"]["responses"]["200"])["content"]
    assert set(batch_ok) == {"application/json", NDJSON}
    assert batch_ok[NDJSON]["schema"]["type"] == "string"
    assert batch_ok[NDJSON]["x-item-schema"] == {
        "oneOf": [{"$ref": "#/components/schemas/BatchAnswer"}, {"$ref": "#/components/schemas/BatchError"}]
    }
    chat_ok = resolve(spec, spec["paths"]["/v1/chat/completions"]["post"]["responses"]["200"])["content"]
    assert set(chat_ok) == {"application/json", EVENT_STREAM}
    assert chat_ok[EVENT_STREAM]["x-data-schema"] == {"$ref": "#/components/schemas/ChatCompletionChunk"}
    event = chat_ok[EVENT_STREAM]["schema"]
    assert not errors_against(spec, event, {"data": "[DONE]", "event": "message"})
    assert errors_against(spec, event, {"data": "DONE"}) and errors_against(spec, event, {"event": "message"})
    schemas = spec["components"]["schemas"]
    assert sorted(schemas["BatchError"]["required"]) == ["error", "id"]
    assert {"BatchQuestion", "BatchAnswer", "ChatRequest", "ChatCompletion", "ChatCompletionChunk"} <= set(schemas)
    assert not errors_against(
        spec,
        request_schema(spec, "/v1/chat/completions", "post"),
        {"model": "x", "messages": [{"role": "user", "content": FENTANYL}], "temperature": 1},
    )


def test_schemas_catch_what_the_server_would_reject(spec: dict[str, Any]) -> None:
    """The description is strict enough to be worth checking examples against."""
    ask = request_schema(spec, "/v1/ask", "post")
    assert errors_against(spec, ask, {"question": FENTANYL, "top_k": 21})
    assert errors_against(spec, ask, {"question": FENTANYL, "colour": "red"})
    # A batch takes any item (an invalid one gets an error slot), and says what a question is.
    batch = request_schema(spec, "/v1/ask/batch", "post")
    assert not errors_against(spec, batch, {"questions": [None, 1, {"question": FENTANYL}]})
    items = resolve(spec, batch)["properties"]["questions"]["items"]
    assert items["anyOf"][0] == {"$ref": "#/components/schemas/BatchQuestion"}
    answer = response_schema(spec, "/v1/ask", "post", 200)
    assert errors_against(spec, answer, {"question": FENTANYL, "answer": "x"})


@pytest.mark.parametrize(
    "body",
    [
        {"question": " \t\n"},
        {"question": FENTANYL, "history": ["ok", "  "]},
        {"question": FENTANYL, "top_k": 3.5},
        {"question": FENTANYL, "top_k": True},
        {"question": FENTANYL, "top_k": "3"},
    ],
)
def test_ask_requests_the_server_rejects_are_invalid_in_the_description(
    client,
    spec: dict[str, Any],
    body: dict[str, Any],
) -> None:
    assert errors_against(spec, request_schema(spec, "/v1/ask", "post"), body)
    assert client.post("/v1/ask", json=body).status_code == 400


@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "system", "content": "Be brief."}, {"role": "assistant", "content": FENTANYL}],
        [{"role": "user", "content": " "}],
        [{"role": "user", "content": "x" * 1001}],
        [{"role": "user", "content": "  "}, {"role": "user", "content": FENTANYL}],
        [{"role": "user"}],
        [{"role": "user", "content": [{}, {"type": "image_url"}]}],
        [{"role": "user", "content": [{"type": "text", "text": " "}]}],
        [{"role": "robot", "content": FENTANYL}],
        # Read past, but still a message of the protocol: its content is text or content parts.
        [{"role": "system", "content": {"a": 1}}, {"role": "user", "content": FENTANYL}],
        [{"role": "assistant", "content": 5}, {"role": "user", "content": FENTANYL}],
    ],
)
def test_chats_the_server_rejects_are_invalid_in_the_description(
    client,
    spec: dict[str, Any],
    messages: list[Any],
) -> None:
    assert errors_against(spec, request_schema(spec, "/v1/chat/completions", "post"), {"messages": messages})
    assert client.post("/v1/chat/completions", json={"messages": messages}).status_code == 400


@pytest.mark.parametrize("n, valid", [(2, False), (0, False), (1, True), (None, True)])
def test_n_is_one_choice_in_the_description_as_on_the_server(client, spec: dict[str, Any], n: Any, valid: bool) -> None:
    body = {"messages": [{"role": "user", "content": FENTANYL}], "n": n}
    assert (errors_against(spec, request_schema(spec, "/v1/chat/completions", "post"), body) == []) == valid
    assert client.post("/v1/chat/completions", json=body).status_code == (200 if valid else 400)


def test_system_and_assistant_content_is_free_in_the_description(spec: dict[str, Any]) -> None:
    messages = [
        {"role": "system", "content": None},
        {"role": "assistant", "content": "  "},
        {"role": "user", "content": [{"type": "text", "text": FENTANYL}]},
    ]
    assert not errors_against(spec, request_schema(spec, "/v1/chat/completions", "post"), {"messages": messages})


CASES: list[tuple[str, str, dict[str, Any] | None, dict[str, str], int, str]] = [
    ("get", "/v1/documents", None, {}, 200, "application/json"),
    ("get", f"/v1/documents/{SEED_ID}", None, {}, 200, "application/json"),
    ("get", "/v1/documents/nope", None, {}, 404, "application/json"),
    ("get", "/v1/models", None, {}, 200, "application/json"),
    ("get", "/v1/models/gpt-4o", None, {}, 200, "application/json"),
    ("get", "/healthz", None, {}, 200, "application/json"),
    ("get", "/readyz", None, {}, 200, "application/json"),
    ("post", "/v1/ask", {"question": FENTANYL}, {}, 200, "application/json"),
    ("post", "/v1/ask", {"question": ""}, {}, 400, "application/json"),
    (
        "post",
        "/v1/ask/batch",
        {"questions": [{"id": "a", "question": FENTANYL}, {"question": 3}]},
        {},
        200,
        "application/json",
    ),
    (
        "post",
        "/v1/ask/batch",
        {"questions": [{"id": "a", "question": FENTANYL}, {"question": 3}]},
        {"Accept": NDJSON},
        200,
        NDJSON,
    ),
    (
        "post",
        "/v1/chat/completions",
        {"messages": [{"role": "user", "content": FENTANYL}]},
        {},
        200,
        "application/json",
    ),
    (
        "post",
        "/v1/chat/completions",
        {"messages": [{"role": "user", "content": FENTANYL}], "stream": True},
        {},
        200,
        EVENT_STREAM,
    ),
    (
        "post",
        "/v1/chat/completions",
        {
            "messages": [{"role": "user", "content": FENTANYL}],
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        {},
        200,
        EVENT_STREAM,
    ),
]


def parsed_body(media: str, text: str) -> list[Any]:
    if media == NDJSON:
        return ndjson_lines(text)
    if media == EVENT_STREAM:
        data = sse_data(text)
        assert data[-1] == "[DONE]"
        return [json.loads(item) for item in data[:-1]]
    return [json.loads(text)]


@pytest.mark.parametrize("method, path, body, headers, status, media", CASES)
def test_real_responses_match_the_description(
    client,
    spec: dict[str, Any],
    method: str,
    path: str,
    body: dict[str, Any] | None,
    headers: dict[str, str],
    status: int,
    media: str,
) -> None:
    response = client.open(path, method=method.upper(), json=body, headers=headers)
    assert response.status_code == status
    assert response.mimetype == media
    rule = openapi_path(
        client.application.url_map.bind("").match(path, method=method.upper(), return_rule=True)[0].rule
    )
    schema = item_schema(spec, rule, method, status, media)
    for item in parsed_body(media, response.get_data(as_text=True)):
        assert errors_against(spec, schema, item) == [], item
    if media == EVENT_STREAM:  # and the events themselves, framing included
        event = response_schema(spec, rule, method, status, media)
        for data in sse_data(response.get_data(as_text=True)):
            assert errors_against(spec, event, {"data": data, "event": "message"}) == []


# --- the README's examples -------------------------------------------------------------------

README = (ROOT / "README.md").read_text(encoding="utf-8")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.S | re.M)


def readme_examples() -> list[tuple[int, str, str]]:
    """(where, curl command, shown response) for every curl block followed at once by its response."""
    blocks = list(FENCE.finditer(README))
    return [
        (block.start(), block.group(2), following.group(2))
        for block, following in pairwise(blocks)
        if block.group(1) == "sh"
        and block.group(2).lstrip().startswith("curl ")
        and not README[block.end() : following.start()].strip()
    ]


class CurlRequest(NamedTuple):
    method: str
    path: str
    headers: dict[str, str]
    data: str | None

    @property
    def json(self) -> Any:
        return None if self.data is None else json.loads(self.data)


def curl_request(command: str) -> CurlRequest:
    words = shlex.split(command.replace("\\\n", " "))
    path = next(word for word in words if word.startswith("localhost:8000")).removeprefix("localhost:8000")
    headers = dict(words[i + 1].split(": ", 1) for i, word in enumerate(words) if word == "-H")
    data = next((words[i + 1] for i, word in enumerate(words) if word in ("-d", "--data-binary")), None)
    method = next((words[i + 1] for i, word in enumerate(words) if word == "-X"), "GET" if data is None else "POST")
    return CurlRequest(method, path, headers, data)


def shown_items(text: str, media: str) -> list[Any]:
    """The shown response as JSON values; a line of '...' marks lines left out of a stream."""
    kept = "\n".join(line for line in text.splitlines() if line.strip() != "...") + "\n"
    return parsed_body(media, kept) if media != "application/json" else [json.loads(text)]


# "Publishing articles" writes: its examples are replayed in order on a private archive, with a key.
_PUBLISHING_START = README.index("\n## Publishing articles\n")
_PUBLISHING_END = README.index("\n## ", _PUBLISHING_START + 1)
EXAMPLES = [(c, s) for at, c, s in readme_examples() if not _PUBLISHING_START <= at < _PUBLISHING_END]
PUBLISHING_EXAMPLES = [(c, s) for at, c, s in readme_examples() if _PUBLISHING_START <= at < _PUBLISHING_END]


def test_the_readme_has_an_example_of_each_route_it_introduces() -> None:
    paths = {curl_request(command).path for command, _ in EXAMPLES}
    assert {"/v1/ask", "/v1/ask/batch", "/v1/chat/completions"} <= paths
    writes = {curl_request(command).method for command, _ in PUBLISHING_EXAMPLES}
    assert {"PUT", "POST", "DELETE", "GET"} <= writes


def test_the_readme_and_qa_batch_help_name_every_field_of_a_batch_item(spec: dict[str, Any]) -> None:
    """A batch item (an item of `POST /v1/ask/batch`, a line of a `qa batch` .jsonl file) is
    validated by `BatchQuestion`; the README's lists of its fields left out `doc_ids`."""
    fields = set(spec["components"]["schemas"]["BatchQuestion"]["properties"])
    assert "doc_ids" in fields
    row = re.search(r'^\| `POST /v1/ask/batch` \| `\{"questions": \[\{(.*?)\}, \.\.\.\]\}`', README, re.M)
    assert row is not None and set(re.findall(r'"(\w+)"', row[1])) == fields
    jsonl = re.search(r"`\.jsonl` \(((?:`\w+`[,:]?\s*)+)", README[README.index("### Many questions at once") :])
    assert jsonl is not None and set(re.findall(r"`(\w+)`", jsonl[1])) == fields
    helped = run_qa({}, "batch", "--help")
    assert helped.exit_code == 0 and all(f'"{field}"' in helped.output for field in fields), helped.output


@pytest.mark.parametrize("command, shown", EXAMPLES, ids=[f"example{i}" for i in range(len(EXAMPLES))])
def test_readme_examples_match_the_description(
    client,
    spec: dict[str, Any],
    command: str,
    shown: str,
) -> None:
    request = curl_request(command)
    path, headers, body = request.path, request.headers, request.json
    method = request.method.lower()
    media = headers.get("Accept", "application/json")
    if body is not None and body.get("stream"):
        media = EVENT_STREAM
    items = shown_items(shown, media)
    failed = isinstance(items[0], dict) and set(items[0]) == {"error"}
    if body is not None and path == "/v1/ask/batch":  # each question is valid exactly when it is answered
        results = items[0]["results"] if media == "application/json" else items
        question = {"$ref": "#/components/schemas/BatchQuestion"}
        for asked, result in zip(body["questions"], results, strict=True):
            assert bool(errors_against(spec, question, asked)) == ("error" in result), asked
    elif body is not None:  # the request is valid exactly when the example shows an answer
        assert bool(errors_against(spec, request_schema(spec, path, method), body)) == failed
    replayed = client.open(path, method=method.upper(), data=request.data, headers=headers)
    if failed:
        assert replayed.get_json()["error"]["code"] == items[0]["error"]["code"]
    else:
        assert replayed.status_code == 200 and replayed.mimetype == media
    status = replayed.status_code
    for item in items:
        assert errors_against(spec, item_schema(spec, path, method, status, media), item) == [], item
    if media == "application/json":  # the values shown are the values served
        assert_shown_as_served(items[0], replayed.get_json())


def test_the_readme_publishing_examples_replay_in_order(private_service: Service, spec: dict[str, Any]) -> None:
    """Each shown body is what the write (or the read after it) serves, and matches the description;
    a `-w '%{http_code}'` example shows the status alone."""
    client = create_app(private_service.settings, private_service).test_client()
    for command, shown in PUBLISHING_EXAMPLES:
        request = curl_request(command.replace("$QA_API_KEY", API_KEY))
        replayed = client.open(request.path, method=request.method, data=request.data, headers=request.headers)
        if "%{http_code}" in command:
            assert shown.strip() == str(replayed.status_code), command
            continue
        served, body = replayed.get_json(), json.loads(shown)
        assert (replayed.status_code >= 400) == (set(body) == {"error"}), (command, served)
        rule = client.application.url_map.bind("").match(request.path.split("?")[0], request.method, return_rule=True)
        schema = item_schema(
            spec, openapi_path(rule[0].rule), request.method.lower(), replayed.status_code, "application/json"
        )
        assert errors_against(spec, schema, body) == [], body
        assert_shown_as_served(body, served)


# Values that differ on every request: timings, and a chat completion's id and creation time.
VOLATILE = {"took_ms", "created", "generation", "system_fingerprint"}


def assert_shown_as_served(shown: Any, served: Any, where: str = "") -> None:
    """`shown` is `served` as the README prints it: the same keys and values (scores to 0.002, see
    test_batch_api.same_answer), a list possibly trimmed to its first items, volatile values aside."""
    if isinstance(shown, dict):
        assert isinstance(served, dict) and set(shown) == set(served), where
        for key in shown.keys() - VOLATILE:
            if not (key == "id" and str(shown[key]).startswith("chatcmpl-")):
                assert_shown_as_served(shown[key], served[key], f"{where}.{key}")
    elif isinstance(shown, list):
        assert isinstance(served, list) and 0 < len(shown) <= len(served), where
        # A shown list may be trimmed: only the items it shows are compared.
        for position, (ours, theirs) in enumerate(zip(shown, served[: len(shown)], strict=True)):
            assert_shown_as_served(ours, theirs, f"{where}[{position}]")
    elif isinstance(shown, float):
        assert shown == pytest.approx(served, abs=0.002), where
    else:
        assert shown == served, where


@pytest.mark.slow
def test_the_readme_python_client_example_runs(live_server: str) -> None:
    (snippet,) = [m.group(2) for m in FENCE.finditer(README) if m.group(1) == "python"]
    assert "http://localhost:8000/v1" in snippet
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(snippet.replace("http://localhost:8000/v1", f"{live_server}/v1"), {})
    answer, *citations = printed.getvalue().splitlines()
    assert "[1]" in answer and citations
    first_id, start, end, _ = citations[0].split(" ", 3)
    assert first_id == "1" and "should be delisted" in SEED_TEXT[int(start) : int(end)]


# --- the docs page ---------------------------------------------------------------------------


def test_docs_page_shows_every_operation_and_schema_offline(client, spec: dict[str, Any]) -> None:
    response = client.get("/docs")
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    for path, item in spec["paths"].items():
        for method in set(item) - {"parameters"}:
            assert f'<span class="method {method}">{method}</span><code>{path}</code>' in page, (method, path)
    for name in spec["components"]["schemas"]:
        assert f'id="schema-{name}"' in page, name
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page), "the page must not load anything remote"
    assert "<script" not in page
    assert 'href="/openapi.json"' in page


def test_docs_page_links_types_to_their_schemas(client) -> None:
    page = client.get("/docs").get_data(as_text=True)
    assert '<a href="#schema-BatchRequest">BatchRequest</a>' in page
    assert (
        "<code>text/event-stream</code>: object; each event&#39;s data: "
        '<a href="#schema-ChatCompletionChunk">ChatCompletionChunk</a>'
    ) in page
    assert (
        '<code>application/x-ndjson</code>: string; each line: <a href="#schema-BatchAnswer">BatchAnswer</a> or '
        '<a href="#schema-BatchError">BatchError</a>'
    ) in page
    citations_row = re.search(r"<code>citations</code>.*?</tr>", page, re.S)
    assert citations_row and 'array of <a href="#schema-Citation">Citation</a>' in citations_row.group(0)


def test_a_null_stream_is_valid_in_the_description(spec: dict[str, Any]) -> None:
    chat = {"messages": [{"role": "user", "content": FENTANYL}], "stream": None}
    assert not errors_against(spec, request_schema(spec, "/v1/chat/completions", "post"), chat)

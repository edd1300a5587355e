"""Checks shared by the batch, chat and OpenAPI tests: cited spans and the wire formats."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import SEED_TEXT


def without_timing(answer: dict[str, Any]) -> dict[str, Any]:
    """An answer without `took_ms`, the one field that differs between two identical answers."""
    return {key: value for key, value in answer.items() if key != "took_ms"}


def span(citation: dict[str, Any]) -> tuple[int, int]:
    return citation["start"], citation["end"]


def assert_exact_citations(citations: list[dict[str, Any]]) -> None:
    """Every citation quotes its own span of the seed article, markers numbered from 1."""
    assert [c["id"] for c in citations] == list(range(1, len(citations) + 1))
    for citation in citations:
        assert SEED_TEXT[citation["start"] : citation["end"]] == citation["quote"]


def ndjson_lines(text: str) -> list[dict[str, Any]]:
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def sse_data(text: str) -> list[str]:
    """The `data:` payloads of a server-sent event stream; every event is one data line."""
    events = [event for event in text.split("\n\n") if event]
    assert all(event.startswith("data: ") and "\n" not in event for event in events), events[:3]
    return [event[len("data: ") :] for event in events]


def as_sent_on(
    path: str, body: dict[str, Any], kind: str = "invalid_request_error", param: str | None = None
) -> dict[str, Any]:
    """An error `body` as `path` sends it: the OpenAI-compatible routes add OpenAI's `type` and `param`."""
    if not path.startswith(("/v1/chat/", "/v1/models")):
        return body
    return {"error": {**body["error"], "type": kind, "param": param}}

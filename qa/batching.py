"""Many questions at once, for the HTTP batch route and `qa batch` alike: each item is validated
on its own (a bad one becomes an error object in its slot and never fails the others), and the
valid ones are answered in groups whose questions are embedded together."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

import marshmallow as ma

from qa.retrieval import Query
from qa.schemas import BatchQuestionSchema, answer_to_dict
from qa.service import Service

_ITEM_SCHEMA = BatchQuestionSchema()


def parse_item(raw: Any, default_id: str | int) -> Query | dict[str, Any]:
    """A `Query` carrying its id, or the error object that takes the item's place in the results."""
    given = raw.get("id") if isinstance(raw, dict) else None
    try:
        query: Query = _ITEM_SCHEMA.load(raw)
    except ma.ValidationError as exc:
        echoed = given if isinstance(given, (str, int)) and not isinstance(given, bool) else default_id
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        return {"id": echoed, "error": {"code": "invalid_request", "message": "The question is not valid; see fields.",
                                        "fields": messages}}
    return query if query.id is not None else replace(query, id=default_id)


def answer_items(
    service: Service, items: Sequence[Query | dict[str, Any]], chunk: int | None = None
) -> Iterator[dict[str, Any]]:
    """Results in the order of `items`; the questions of each chunk are embedded in one call."""
    size = chunk or max(1, len(items))
    for start in range(0, len(items), size):
        part = items[start : start + size]
        answers = iter(service.ask_many([item for item in part if isinstance(item, Query)]))
        for item in part:
            yield {"id": item.id, **answer_to_dict(next(answers))} if isinstance(item, Query) else item

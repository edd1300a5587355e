"""Many questions at once, for the HTTP batch route and `qa batch` alike: each item is validated
on its own (a bad one becomes an error object in its slot and never fails the others), and the
valid ones are answered in groups whose questions are embedded together."""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Iterator, Sequence
from dataclasses import replace
from functools import cache
from typing import Any

import marshmallow as ma

from qa.retrieval import Query
from qa.schemas import BatchQuestionSchema, answer_to_dict
from qa.service import Service, UnknownDocuments, unknown_documents
from qa.store import CorpusIndex

_ITEM_SCHEMA = BatchQuestionSchema()
# Questions answered together when the caller names no group size: a whole batch request (at most
# QA_MAX_BATCH_QUESTIONS), so the model sees long length-sorted batches. Groups of 128 answered
# 341 questions/s against 384/s for one group of 1,000 (same process, 3 runs each); a request's
# working set is bounded by QA_MAX_BATCH_CHARS instead.
GROUP_SIZE = 1000


def parse_item(raw: Any, default_id: str | int) -> Query | dict[str, Any]:
    """A `Query` carrying its id, or the error object that takes the item's place in the results.
    The item's own id is echoed only when it is a valid id; otherwise the item's position is."""
    try:
        query: Query = _ITEM_SCHEMA.load(raw)
    except ma.ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        given = raw.get("id") if isinstance(raw, dict) and "id" not in messages else None
        return {
            "id": default_id if given is None else given,
            "error": {
                "code": "invalid_request",
                "message": "The question is not valid; see fields.",
                "fields": messages,
            },
        }
    return query if query.id is not None else replace(query, id=default_id)


def text_size(items: Sequence[Query | dict[str, Any]]) -> int:
    """Characters of question and history the valid items ask the pipeline to read."""
    return sum(len(item.question) + sum(map(len, item.history)) for item in items if isinstance(item, Query))


def answer_items(
    service: Service, items: Sequence[Query | dict[str, Any]], group_size: int = GROUP_SIZE
) -> Iterator[dict[str, Any]]:
    """Results in the order of `items`; the questions of each group are embedded in one call.
    A group of invalid items only never reaches the service (it has nothing to answer). Every
    group is answered from the pipeline the first one took, so a batch never spans two generations:
    the one `CURRENT` names when it starts."""
    pipeline = service.pipeline
    try:
        for start in range(0, len(items), group_size):
            group = [_scope_checked(pipeline.index, item) for item in items[start : start + group_size]]
            queries = [item for item in group if isinstance(item, Query)]
            answers = iter(service.ask_many(queries, pipeline) if queries else ())
            for item in group:
                yield {"id": item.id, **answer_to_dict(next(answers))} if isinstance(item, Query) else item
    finally:  # also when a stream is closed early, its client gone
        release_free_memory()


def _scope_checked(index: CorpusIndex, item: Query | dict[str, Any]) -> Query | dict[str, Any]:
    """The item, or the error object of a question scoped to articles the archive does not hold."""
    if not isinstance(item, Query) or not item.doc_ids:
        return item
    unknown = unknown_documents(index, item.doc_ids)
    if not unknown:
        return item
    return {"id": item.id, "error": unknown_documents_error(UnknownDocuments(unknown))}


def unknown_documents_error(error: UnknownDocuments) -> dict[str, Any]:
    """The error body of a question scoped to unknown articles, naming each."""
    names = ", ".join(map(repr, error.doc_ids))
    message = f"The archive holds no document with the id{'s' if len(error.doc_ids) > 1 else ''} {names}."
    return {
        "code": "unknown_documents",
        "message": message,
        "fields": {"doc_ids": [f"No document has the id {doc_id!r}." for doc_id in error.doc_ids]},
    }


@cache
def _malloc_trim() -> Any:
    """glibc's `malloc_trim`, or None on another C library (musl, macOS)."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def release_free_memory() -> None:
    """Hand the heap's free pages back to the system. A batch of long questions grows the worker's
    heap by hundreds of megabytes of short-lived arrays; glibc keeps them mapped after they are
    freed, so without this the worker's resident size stays at its high-water mark. It costs well
    under a millisecond (measured), so it runs after every batch rather than above a threshold."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)

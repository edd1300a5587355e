"""Stage 1, documents: article text kept byte-for-byte, metadata kept beside it.

Offsets everywhere in the service are Python string indices (code points) into `Document.text`,
half-open `[start, end)`. The text is decoded from UTF-8 without newline translation, so CRLF
files keep their `\\r` and the offsets match the file as an editor sees it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# At most this many warnings are kept for `/readyz`; the log has them all.
MAX_WARNINGS = 20
_DEFAULTED = "using the file name as id and title"


# Article ids: what a URL path segment can carry unescaped, and never "." or "..". The one rule
# for every way in (the API, `qa ingest`, a seeds folder), so any article can be replaced by id.
DOC_ID_PATTERN = r"^(?!\.\.?$)[A-Za-z0-9._-]{1,128}$"
_DOC_ID = re.compile(DOC_ID_PATTERN)
DOC_ID_RULE = "Must be 1 to 128 letters, digits, '.', '_' or '-' (not '.' or '..')."
_NOT_IN_ID = re.compile(r"[^A-Za-z0-9._-]+")
_ID_LETTER = re.compile(r"[A-Za-z0-9]")


def is_doc_id(value: str) -> bool:
    """The whole value matches: `re.match` would let `$` accept an id ending in a newline."""
    return _DOC_ID.fullmatch(value) is not None


NOT_FINITE = "Must hold no NaN or infinite number (JSON has none)."
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
NOT_TEXT = "Must be valid Unicode text (no lone surrogate code points)."


def is_text(value: str) -> bool:
    """False for a string holding a lone surrogate: JSON can spell one (`"\\ud800"`), but no
    tokenizer reads it and no UTF-8 encoder writes it back, so it must stop at validation."""
    return not _LONE_SURROGATE.search(value)


def _walk(value: Any, *, keys: bool = False) -> Iterator[tuple[Any, int]]:
    """`value` and every value nested in it, each with how many lists and objects hold it; the keys
    of objects too when `keys`. A stack, not recursion: the JSON may nest as deep as its parser allows."""
    pending = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        yield item, depth
        if isinstance(item, dict):
            if keys:
                pending.extend((key, depth + 1) for key in item)
            pending.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            pending.extend((child, depth + 1) for child in item)


def _all_text(value: Any) -> bool:
    """Whether every string in `value` (keys of objects included) `is_text`."""
    return all(is_text(item) for item, _ in _walk(value, keys=True) if isinstance(item, str))


def _finite(value: Any) -> bool:
    """False when `value` holds a NaN or an infinity anywhere: Python's JSON reads `NaN`, `Infinity`
    and `1e999`, and would write them back, making every response that shows the metadata invalid JSON."""
    return all(math.isfinite(item) for item, _ in _walk(value) if isinstance(item, float))


# How deep a metadata field may nest lists and objects. A newsroom's fields nest two or three deep;
# JSON's parser allows ~980 levels, and checks and responses that walk the value by recursion
# failed with a 500 a few levels short of that.
MAX_METADATA_DEPTH = 20
TOO_DEEP = f"Must not nest lists and objects more than {MAX_METADATA_DEPTH} levels deep."


def nesting_depth(value: Any) -> int:
    """How many lists and objects nest in `value` at the deepest (0 for a string or a number); the walk
    stops at `MAX_METADATA_DEPTH + 1`, so no deeper count is returned."""
    deepest = 0
    for item, depth in _walk(value):
        if isinstance(item, dict | list):
            deepest = max(deepest, depth + 1)
            if deepest > MAX_METADATA_DEPTH:
                break
    return deepest


def metadata_problems(metadata: dict[str, Any]) -> dict[str, str]:
    """What is wrong with an article's metadata, by field: `published_at` must be ISO 8601 (pages
    sort by it), `url` a string (citations link it), no field may nest deeper than
    `MAX_METADATA_DEPTH` and none may hold a non-finite number."""
    too_deep = {name: TOO_DEEP for name, value in metadata.items() if nesting_depth(value) > MAX_METADATA_DEPTH}
    problems = {name: NOT_FINITE for name, value in metadata.items() if name not in too_deep and not _finite(value)}
    problems.update(too_deep)
    problems.update({name: NOT_TEXT for name, value in metadata.items() if not _all_text([name, value])})
    if "url" in metadata and not isinstance(metadata["url"], str):
        problems["url"] = "Must be a string."
    if "published_at" in metadata and parse_instant(metadata["published_at"]) is None:
        problems["published_at"] = "Must be an ISO 8601 date or date and time, e.g. 2026-12-04T09:30:00Z."
    return problems


def parse_instant(stamp: Any) -> datetime | None:
    """An ISO 8601 date or date and time ("Z" for UTC), or None when `stamp` is not one."""
    if not isinstance(stamp, str):
        return None
    try:
        return datetime.fromisoformat(stamp.removesuffix("Z") + ("+00:00" if stamp.endswith("Z") else ""))
    except ValueError:
        return None


class DocumentError(ValueError):
    """A seed file cannot be used at all (or the seeds folder is missing)."""


@dataclass(frozen=True)
class Document:
    doc_id: str
    text: str
    title: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Seeds:
    """The usable articles of a seeds folder, and what was wrong with the rest (short messages naming
    files relative to the folder, safe to show a client)."""

    documents: list[Document]
    warnings: list[str]


def read_text(path: Path) -> str:
    """Read UTF-8 text exactly as stored (no newline translation, BOM kept as a character)."""
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentError(f"not UTF-8 text ({exc})") from exc


def _metadata_record(meta_path: Path) -> dict[str, Any]:
    """`name.json` as a dict, {} when there is none; `DocumentError` when it is not a JSON object."""
    if not meta_path.exists():
        return {}
    try:
        record = json.loads(meta_path.read_bytes().decode("utf-8-sig"))  # a leading BOM ignored, as the API does
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DocumentError(f"not valid JSON ({exc})") from exc
    if not isinstance(record, dict):
        raise DocumentError("not a JSON object")
    return record


def _shown(text: str) -> str:
    """`text` for a warning, its lone surrogates escaped: warnings are shown by `/readyz` and
    written to logs, which could not encode them."""
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _short_json(value: Any) -> str:
    shown = _shown(json.dumps(value, ensure_ascii=False))
    return shown if len(shown) <= 40 else shown[:39] + "…"


def _string_field(record: dict[str, Any], key: str, fallback: str, problems: list[str]) -> str:
    """`record[key]` when it is a usable string, else `fallback` (and a problem saying so). An id must
    also follow `DOC_ID_RULE`, as the API's do, or the article could not be replaced by id."""
    if key not in record:
        return fallback
    value = record.pop(key)
    if key == "id":
        if isinstance(value, str) and is_doc_id(value):
            return value
        rule = "1 to 128 letters, digits, '.', '_' or '-'"
    else:
        if isinstance(value, str) and is_text(value) and value.strip():
            return value
        if not isinstance(value, str):
            rule = "a string"
        else:
            rule = "more than whitespace" if is_text(value) else "valid Unicode text"
    problems.append(f'"{key}" must be {rule}, not {_short_json(value)}; using {_short_json(fallback)}')
    return fallback


def load_document(text_path: Path) -> tuple[Document, list[str]]:
    """Load `name.txt` with its optional metadata record `name.json` (id, title, author, source...).

    Bad metadata does not lose the article: it is kept under its file name and the problems are
    returned. Text that is not UTF-8 raises `DocumentError`: offsets into a guessed decoding would lie.
    """
    problems: list[str] = []
    try:
        record = _metadata_record(text_path.with_suffix(".json"))
    except DocumentError as exc:
        problems.append(f"{exc}; {_DEFAULTED}")
        record = {}
    doc_id = _string_field(record, "id", _id_from_name(text_path.stem), problems)
    title = _string_field(record, "title", text_path.stem, problems)
    text = read_text(text_path)
    if not text.strip():
        raise DocumentError("no text, only whitespace")
    for name, problem in metadata_problems(record).items():
        problems.append(f'"{_shown(name)}": {problem} Left out')
        del record[name]
    return Document(doc_id=doc_id, text=text, title=title, metadata=record), problems


def _id_from_name(stem: str) -> str:
    """A file name as an article id: runs of characters an id cannot hold become "-"
    ("Harbour report" -> "Harbour-report"). A name with no letter or digit an id holds ("日本",
    "!!!", "..") would be the same few dashes or dots as every other such name (or an id the API
    refuses), so it is the first 12 hex digits of the SHA-256 of its UTF-8 instead: the same on
    every load, another for another name."""
    doc_id = _NOT_IN_ID.sub("-", stem)[:128]
    if _ID_LETTER.search(doc_id) is None:
        return hashlib.sha256(stem.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return doc_id


def load_seeds(directory: Path) -> Seeds:
    """Every usable `*.txt` article in `directory`, in name order, with a warning for each bad record.

    One bad file must not take the service down: an article whose metadata is unusable keeps its
    file name as id and title; one that is not UTF-8, cannot be read or repeats an earlier id is
    skipped; a `.json` without its `.txt` is named. Only a missing folder is an error.
    """
    if not directory.is_dir():
        raise DocumentError(f"seed directory {directory} does not exist")
    documents: list[Document] = []
    warnings: list[str] = []
    owners: dict[str, str] = {}
    for path in sorted(directory.glob("*.txt")):
        try:
            document, problems = load_document(path)
        except (DocumentError, OSError) as exc:
            warnings.append(f"{path.name}: {exc.strerror if isinstance(exc, OSError) else exc}; skipped")
            continue
        warnings.extend(f"{path.with_suffix('.json').name}: {problem}" for problem in problems)
        if document.doc_id in owners:
            warnings.append(
                f"{path.name}: the id {_short_json(document.doc_id)} is already used by "
                f"{owners[document.doc_id]}; skipped"
            )
            continue
        owners[document.doc_id] = path.name
        documents.append(document)
    # Metadata whose article is missing or misnamed ("story.JSON", "story .txt") would go unread unsaid.
    warnings.extend(
        f"{path.name}: no {path.with_suffix('.txt').name} beside it; ignored"
        for path in sorted(directory.glob("*.json"))
        if not path.with_suffix(".txt").is_file()
    )
    for warning in warnings:
        log.warning("%s", warning)
    if len(warnings) > MAX_WARNINGS:
        warnings = [
            *warnings[:MAX_WARNINGS],
            f"and {len(warnings) - MAX_WARNINGS} more problems with seed files (see the log)",
        ]
    return Seeds(documents, warnings)


def load_directory(directory: Path) -> list[Document]:
    """The usable articles of `directory` (see `load_seeds`; its warnings go to the log)."""
    return load_seeds(directory).documents


def document_hash(document: Document) -> str:
    """A hash of one article's id, title, metadata and text: equal hashes, nothing to rewrite."""
    digest = hashlib.sha256()
    record = {"id": document.doc_id, "title": document.title, "metadata": document.metadata}
    digest.update(json.dumps(record, sort_keys=True, ensure_ascii=False).encode("utf-8"))
    digest.update(b"\0")
    digest.update(document.text.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


class InvalidCursor(ValueError):
    """A page cursor this service did not hand out (or an archive version cannot read)."""


def _published_at(document: Document) -> float | None:
    moment = parse_instant(document.metadata.get("published_at"))
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _page_key(document: Document) -> tuple[int, float, str]:
    """Newest first by `published_at`, articles without one after them, then by id."""
    moment = _published_at(document)
    return (1, 0.0, document.doc_id) if moment is None else (0, -moment, document.doc_id)


def _cursor_key(cursor: str) -> tuple[int, float, str]:
    """The page key a cursor holds. Only the shapes `_page_key` makes are taken: coercing others
    (NaN, infinity, true, a number as id) would answer a page that silently skips articles."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError):
        key = None
    match key:
        case [int() as group, float() as moment, str() as doc_id] if (
            not isinstance(group, bool) and math.isfinite(moment) and (group == 0 or (group, moment) == (1, 0.0))
        ):
            return group, moment, doc_id
    raise InvalidCursor("not a cursor this service handed out")


def page_documents(documents: Iterable[Document], limit: int, cursor: str | None) -> tuple[list[Document], str | None]:
    """One page of `documents` after `cursor` (keyset pagination: a page never repeats or skips an
    article that stays in the archive while a client walks the pages), and the next page's cursor."""
    after = _cursor_key(cursor) if cursor else None
    ordered = sorted((d for d in documents if after is None or _page_key(d) > after), key=_page_key)
    page = ordered[:limit]
    if len(ordered) <= limit:
        return page, None
    # URL-safe base64 without its "=" padding: a cursor goes into a query string as it is.
    token = base64.urlsafe_b64encode(json.dumps(_page_key(page[-1])).encode("utf-8")).decode("ascii").rstrip("=")
    return page, token

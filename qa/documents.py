"""Stage 1, documents: article text kept byte-for-byte, metadata kept beside it.

Offsets everywhere in the service are Python string indices (code points) into `Document.text`,
half-open `[start, end)`. The text is decoded from UTF-8 without newline translation, so CRLF
files keep their `\\r` and the offsets match the file as an editor sees it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class DocumentError(ValueError):
    """A seed file or its metadata record cannot be used."""


@dataclass(frozen=True)
class Document:
    doc_id: str
    text: str
    title: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


def read_text(path: Path) -> str:
    """Read UTF-8 text exactly as stored (no newline translation, BOM kept as a character)."""
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentError(f"{path} is not UTF-8 text: {exc}") from exc


def load_document(text_path: Path) -> Document:
    """Load `name.txt` with its optional metadata record `name.json` (id, title, author, source...)."""
    meta_path = text_path.with_suffix(".json")
    metadata: dict[str, Any] = {}
    if meta_path.exists():
        try:
            metadata = json.loads(meta_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DocumentError(f"{meta_path} is not valid JSON: {exc}") from exc
        if not isinstance(metadata, dict):
            raise DocumentError(f"{meta_path} must hold a JSON object")
    doc_id = str(metadata.pop("id", text_path.stem))
    title = str(metadata.pop("title", text_path.stem))
    return Document(doc_id=doc_id, text=read_text(text_path), title=title, metadata=metadata)


def load_directory(directory: Path) -> list[Document]:
    """Every `*.txt` article in `directory`, in name order; ids must be unique."""
    if not directory.is_dir():
        raise DocumentError(f"seed directory {directory} does not exist")
    documents = [load_document(path) for path in sorted(directory.glob("*.txt"))]
    seen: set[str] = set()
    for document in documents:
        if document.doc_id in seen:
            raise DocumentError(f"two articles in {directory} share the id {document.doc_id!r}")
        seen.add(document.doc_id)
    return documents


def corpus_fingerprint(documents: Iterable[Document]) -> str:
    """A hash of ids, texts and metadata: when it changes, the index is stale."""
    digest = hashlib.sha256()
    for document in documents:
        record = {"id": document.doc_id, "title": document.title, "metadata": document.metadata}
        digest.update(json.dumps(record, sort_keys=True, ensure_ascii=False).encode("utf-8"))
        digest.update(b"\0")
        digest.update(document.text.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return digest.hexdigest()

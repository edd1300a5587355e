"""Stage 4, store: generations of an index on disk, written once, read whole, switched atomically.

A *generation* is a folder `generations/<name>/` holding SQLite rows (documents, sentences,
chunks), the sentence vectors, the FAISS chunk index, two BM25 indexes and the sentences' answer
types, with a `manifest.json` written last (what the builder says about it, and a SHA-256 of
every file). `CURRENT` names the generation in use and is replaced atomically (temporary file,
fsync, rename). A build writes into a `.building-*` folder that nothing reads, so a crash never
leaves a half-written generation behind a name.

This module knows file formats and the commit protocol, nothing of models or sentence
splitting: `qa.indexing` computes what a generation holds and hands it here.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qa.chunking import Chunk, Sentence
from qa.documents import Document
from qa.lexical import LexicalIndex
from qa.vectors import read_vector_index, write_vector_index

log = logging.getLogger(__name__)

SCHEMA_VERSION = 3  # 3: answer types stored; 2: chunk vectors pooled from sentence vectors
CURRENT = "CURRENT"
GENERATIONS = "generations"
MANIFEST = "manifest.json"
DATABASE = "corpus.sqlite"
CHUNK_VECTORS = "chunks.faiss"
SENTENCE_VECTORS = "sentences.npy"
ANSWER_TYPES = "answer-types.npy"
SENTENCE_BM25 = "bm25-sentences"
CHUNK_BM25 = "bm25-chunks"
# Generations kept on disk: the current one and the one before, so a process that read CURRENT
# just before a switch still finds the folder it names, and an operator can roll back.
KEEP_GENERATIONS = 2

_SCHEMA = """
CREATE TABLE documents (doc_id TEXT PRIMARY KEY, title TEXT NOT NULL, metadata TEXT NOT NULL,
                        text TEXT NOT NULL);
CREATE TABLE sentences (id INTEGER PRIMARY KEY, doc_id TEXT NOT NULL REFERENCES documents,
                        position INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL);
CREATE TABLE chunks (id INTEGER PRIMARY KEY, doc_id TEXT NOT NULL REFERENCES documents,
                     position INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL,
                     first_sentence INTEGER NOT NULL REFERENCES sentences,
                     last_sentence INTEGER NOT NULL REFERENCES sentences);
"""


class IndexUnavailable(RuntimeError):
    """No usable index on disk: never built, built for other seeds or settings, or damaged."""


@dataclass(frozen=True)
class GenerationContent:
    """Everything one generation holds, as the builder computed it."""

    documents: Sequence[Document]
    sentences: Sequence[Sentence]
    chunks: Sequence[Chunk]
    sentence_vectors: np.ndarray
    chunk_vectors: Any  # a FAISS index keyed by chunk id
    sentence_lexical: LexicalIndex
    chunk_lexical: LexicalIndex
    answer_types: np.ndarray  # (sentences, kinds) booleans, see qa.answer_types


@dataclass
class CorpusIndex:
    """A loaded generation: everything retrieval needs, in memory, read-only."""

    path: Path
    manifest: dict[str, Any]
    documents: dict[str, Document]
    sentence_doc: list[str]
    sentence_start: np.ndarray
    sentence_end: np.ndarray
    sentence_vectors: np.ndarray
    chunk_first: np.ndarray
    chunk_last: np.ndarray
    chunk_vectors: Any
    sentence_lexical: LexicalIndex
    chunk_lexical: LexicalIndex
    answer_types: np.ndarray
    # Each sentence's and each chunk's document as a small integer, for grouping by article in numpy.
    sentence_doc_number: np.ndarray = field(init=False)
    chunk_doc_number: np.ndarray = field(init=False)
    _doc_number: dict[str, int] = field(init=False)
    # Per document, the code-point offsets of its characters outside the Basic Multilingual Plane
    # (emoji...), found on first use: each counts twice in a UTF-16 (JavaScript) string.
    _astral: dict[str, np.ndarray] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._doc_number = {doc_id: n for n, doc_id in enumerate(sorted(self.documents))}
        self.sentence_doc_number = np.array([self._doc_number[d] for d in self.sentence_doc], dtype=np.int64)
        self.chunk_doc_number = self.sentence_doc_number[self.chunk_first]

    @property
    def generation(self) -> str:
        return self.path.name

    @property
    def sentence_count(self) -> int:
        return len(self.sentence_doc)

    def sentence_text(self, sentence_id: int) -> str:
        text = self.documents[self.sentence_doc[sentence_id]].text
        return text[int(self.sentence_start[sentence_id]) : int(self.sentence_end[sentence_id])]

    def doc_numbers(self, doc_ids: Sequence[str]) -> list[int]:
        """The small integers of these documents (ids it does not hold are ignored)."""
        return [self._doc_number[d] for d in doc_ids if d in self._doc_number]

    def chunks_of(self, doc_ids: Sequence[str]) -> np.ndarray:
        """Ids of every chunk of these documents (ids it does not hold are ignored)."""
        return np.flatnonzero(np.isin(self.chunk_doc_number, self.doc_numbers(doc_ids)))

    def utf16_offset(self, doc_id: str, offset: int) -> int:
        """The UTF-16 code-unit offset of code-point `offset` in the document's text."""
        astral = self._astral.get(doc_id)
        if astral is None:
            text = self.documents[doc_id].text
            astral = np.array([i for i, char in enumerate(text) if ord(char) > 0xFFFF], dtype=np.int64)
            self._astral[doc_id] = astral
        return offset + int(np.searchsorted(astral, offset))


# --- writing --------------------------------------------------------------------------------


def _write_database(path: Path, content: GenerationContent) -> None:
    with sqlite3.connect(path) as db:
        db.executescript(_SCHEMA)
        db.executemany(
            "INSERT INTO documents VALUES (?, ?, ?, ?)",
            [(d.doc_id, d.title, json.dumps(d.metadata, ensure_ascii=False), d.text) for d in content.documents],
        )
        db.executemany(
            "INSERT INTO sentences VALUES (?, ?, ?, ?, ?)",
            [(i, s.doc_id, s.position, s.start, s.end) for i, s in enumerate(content.sentences)],
        )
        db.executemany(
            "INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (i, c.doc_id, c.position, c.start, c.end, c.first_sentence, c.last_sentence)
                for i, c in enumerate(content.chunks)
            ],
        )
    db.close()


def _write_files(folder: Path, content: GenerationContent) -> None:
    _write_database(folder / DATABASE, content)
    np.save(folder / SENTENCE_VECTORS, content.sentence_vectors)
    np.save(folder / ANSWER_TYPES, content.answer_types)
    write_vector_index(content.chunk_vectors, folder / CHUNK_VECTORS)
    for name, lexical in ((SENTENCE_BM25, content.sentence_lexical), (CHUNK_BM25, content.chunk_lexical)):
        (folder / name).mkdir()
        lexical.save(folder / name)


def _file_hashes(folder: Path) -> dict[str, str]:
    hashes = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST):
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
        hashes[path.relative_to(folder).as_posix()] = digest.hexdigest()
    return hashes


def _fsync_tree(folder: Path) -> None:
    for path in [*folder.rglob("*"), folder]:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_atomically(path: Path, content: str) -> None:
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    _fsync_directory(path.parent)


def _fsync_directory(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def commit_generation(index_dir: Path, content: GenerationContent, description: dict[str, Any]) -> Path:
    """Write `content` as a new generation, check it against its manifest, and make it current.

    `description` (the builder's: corpus hash, build settings, counts...) goes into the manifest.
    Call it holding `writer_lock(index_dir)`; returns the new generation's folder.
    """
    generations = index_dir / GENERATIONS
    generations.mkdir(parents=True, exist_ok=True)
    workdir = generations / f".building-{uuid.uuid4().hex}"
    workdir.mkdir()
    final: Path | None = None
    try:
        _write_files(workdir, content)
        manifest = {
            "schema_version": SCHEMA_VERSION,
            **description,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "files": _file_hashes(workdir),
        }
        (workdir / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        _fsync_tree(workdir)
        fingerprint = str(description.get("corpus_hash", ""))[:12] or "index"
        # UTC and microseconds: names sort in commit order, which garbage collection relies on.
        now = time.time_ns()
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now // 1_000_000_000)) + f"{now // 1000 % 1_000_000:06d}"
        final = generations / f"{stamp}-{fingerprint}-{uuid.uuid4().hex[:6]}"
        os.rename(workdir, final)
        _fsync_directory(generations)  # the rename itself survives a power loss
        verify_generation(final)  # what was written reads back as written, before anything serves it
    except BaseException:
        for folder in (workdir, final):  # nothing half-made or unverified stays behind
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
        raise
    _write_atomically(index_dir / CURRENT, final.name + "\n")
    collect_garbage(index_dir)
    return final


def collect_garbage(index_dir: Path) -> None:
    """Remove what no reader needs: generations older than the newest `KEEP_GENERATIONS` (the
    current one always stays), `.building-*` folders of crashed builds and `.CURRENT.*.tmp` files
    of crashed switches. Call it holding `writer_lock(index_dir)`, so no build is under way."""
    generations = index_dir / GENERATIONS
    for leftover in index_dir.glob(f".{CURRENT}.*.tmp"):
        leftover.unlink(missing_ok=True)
    if not generations.is_dir():
        return
    try:
        current = current_generation(index_dir).name
    except IndexUnavailable:
        current = None
    finished = sorted((p for p in generations.iterdir() if not p.name.startswith(".")), key=lambda p: p.name)
    keep = {p.name for p in finished[-KEEP_GENERATIONS:]} | {current}
    for folder in generations.iterdir():
        if folder.name not in keep:
            shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def writer_lock(index_dir: Path) -> Iterator[None]:
    """One writer at a time across processes (several server workers may start together)."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with (index_dir / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- reading --------------------------------------------------------------------------------


def current_generation(index_dir: Path) -> Path:
    """The folder `CURRENT` names; `IndexUnavailable` when there is none."""
    try:
        name = (index_dir / CURRENT).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise IndexUnavailable(f"no index has been built in {index_dir}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise IndexUnavailable(f"{index_dir / CURRENT} cannot be read: {exc}") from exc
    folder = index_dir / GENERATIONS / name
    if not name or "/" in name or not folder.is_dir():
        raise IndexUnavailable(f"{index_dir / CURRENT} names a missing generation {name!r}")
    return folder


def read_manifest(folder: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # missing, unreadable, not UTF-8 or not JSON
        raise IndexUnavailable(f"{folder} has no readable manifest: {exc}") from exc
    if not isinstance(manifest, dict):
        raise IndexUnavailable(f"{folder} has no readable manifest: not a JSON object")
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise IndexUnavailable(f"{folder} was built by another version of the store")
    return manifest


def verify_generation(folder: Path) -> None:
    """Raise `IndexUnavailable` unless every file matches the SHA-256 its manifest recorded.

    Hashing reads every byte, so it runs after a build and on demand (`qa index --verify`),
    never on an ordinary open: start-up must not cost more as the archive grows."""
    if _file_hashes(folder) != read_manifest(folder).get("files"):
        raise IndexUnavailable(f"{folder} does not match its manifest (damaged or changed after the build)")


def _read_rows(folder: Path) -> tuple[dict[str, Document], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    try:
        db = sqlite3.connect(f"file:{folder / DATABASE}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise IndexUnavailable(f"{folder / DATABASE} cannot be opened: {exc}") from exc
    try:
        documents = {
            doc_id: Document(doc_id, text, title, json.loads(metadata))
            for doc_id, title, metadata, text in db.execute("SELECT doc_id, title, metadata, text FROM documents")
        }
        sentences = db.execute('SELECT doc_id, start, "end" FROM sentences ORDER BY id').fetchall()
        chunks = db.execute("SELECT first_sentence, last_sentence FROM chunks ORDER BY id").fetchall()
    except (sqlite3.Error, ValueError) as exc:
        raise IndexUnavailable(f"{folder / DATABASE} cannot be read: {exc}") from exc
    finally:
        db.close()
    return documents, sentences, chunks


def open_generation(folder: Path) -> CorpusIndex:
    """Load one generation whole; `IndexUnavailable` if it is incomplete or unreadable."""
    manifest = read_manifest(folder)
    documents, sentences, chunks = _read_rows(folder)
    try:
        index = CorpusIndex(
            path=folder,
            manifest=manifest,
            documents=documents,
            sentence_doc=[row[0] for row in sentences],
            sentence_start=np.array([row[1] for row in sentences], dtype=np.int64),
            sentence_end=np.array([row[2] for row in sentences], dtype=np.int64),
            sentence_vectors=np.load(folder / SENTENCE_VECTORS),
            chunk_first=np.array([row[0] for row in chunks], dtype=np.int64),
            chunk_last=np.array([row[1] for row in chunks], dtype=np.int64),
            chunk_vectors=read_vector_index(folder / CHUNK_VECTORS),
            sentence_lexical=LexicalIndex.load(folder / SENTENCE_BM25),
            chunk_lexical=LexicalIndex.load(folder / CHUNK_BM25),
            answer_types=np.load(folder / ANSWER_TYPES),
        )
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise IndexUnavailable(f"{folder} cannot be loaded: {exc}") from exc
    counts = manifest.get("counts", {})
    if (
        len(index.sentence_vectors) != index.sentence_count
        or len(index.answer_types) != index.sentence_count
        or counts.get("sentences") != index.sentence_count
        or counts.get("documents") != len(documents)
    ):
        raise IndexUnavailable(f"{folder} is inconsistent: its parts disagree on what it holds")
    return index


def open_index(index_dir: Path) -> CorpusIndex:
    """Load the generation `CURRENT` names."""
    return open_generation(current_generation(index_dir))

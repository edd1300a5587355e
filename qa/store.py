"""Stage 4, store: an archive of immutable segments, committed as generations, switched atomically.

The design is Lucene's. A *segment* (`segments/<name>/`) holds some articles whole: SQLite rows
(documents, sentences, chunks), the sentence vectors, a FAISS index of chunk vectors, BM25
postings and the sentences' answer types, with a `manifest.json` written last (counts, a hash of
each article and of every file). A segment is written once and never changed. A *generation*
(`generations/<name>/manifest.json`) is a commit point: the list of segments that make up the
archive and, per segment, the articles deleted since it was written (tombstones). `CURRENT`
names the generation in use and is replaced atomically (temporary file, fsync, rename).

So a write costs what its articles cost: publishing adds a segment and tombstones the article's
previous version; deleting only adds a tombstone. Small segments are merged in the background
(`qa.indexing.Archive.merge`), which also drops deleted articles for good. Everything is written
under a `.building-*` name and renamed when complete, so a crash at any point leaves `CURRENT`
naming either the generation before the write or the one after it, and the leftovers are
collected by the next writer.

A reader (`CorpusIndex`) is a generation's segments numbered one after another, with deleted
articles masked out; `SegmentCache` keeps loaded segments, so a process that follows a new
generation reads only the segments it has not seen. A writer needs less: a `Catalog` is a
generation as its manifests describe it (each segment's articles by content hash, and the
tombstones), read without loading any segment, so writing does not cost memory that grows with
the archive. This module knows file formats and the commit protocol, nothing of models or
sentence splitting: `qa.indexing` computes segments.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

import numpy as np

from qa.chunking import Chunk, Sentence
from qa.documents import Document, document_hash
from qa.lexical import LexicalIndex, LexicalPart, LexicalSegment
from qa.vectors import merge_top, read_vector_index, search, write_vector_index

log = logging.getLogger(__name__)

SCHEMA_VERSION = 4  # 4: segments and tombstones; 3: answer types stored
CURRENT = "CURRENT"
GENERATIONS = "generations"
SEGMENTS = "segments"
MANIFEST = "manifest.json"
DATABASE = "corpus.sqlite"
CHUNK_VECTORS = "chunks.faiss"
SENTENCE_VECTORS = "sentences.npy"
ANSWER_TYPES = "answer-types.npy"
SENTENCE_LEXICAL = "lexical-sentences.npz"
CHUNK_LEXICAL = "lexical-chunks.npz"
BUILDING = ".building-"
# Generations kept on disk: the newest ones, and any current in the last `KEEP_SECONDS` (a
# generation's folder is touched when it stops being current), so a process that read CURRENT just
# before a burst of writes still finds the segments it names. (They were kept by commit time: one
# current for an hour and then superseded by two quick writes was removed at once.)
KEEP_GENERATIONS = 2
KEEP_SECONDS = 10.0
# A `.building-*` folder whose writer is gone (or older than this) is a crash's leftover.
STALE_BUILD_SECONDS = 3600.0

_SCHEMA = """
CREATE TABLE documents (doc_id TEXT PRIMARY KEY, title TEXT NOT NULL, metadata TEXT NOT NULL,
                        text TEXT NOT NULL, position INTEGER NOT NULL);
CREATE TABLE sentences (id INTEGER PRIMARY KEY, doc_id TEXT NOT NULL REFERENCES documents,
                        position INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL);
CREATE TABLE chunks (id INTEGER PRIMARY KEY, doc_id TEXT NOT NULL REFERENCES documents,
                     position INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL,
                     first_sentence INTEGER NOT NULL REFERENCES sentences,
                     last_sentence INTEGER NOT NULL REFERENCES sentences);
"""


class IndexUnavailable(RuntimeError):
    """No usable index on disk: never built, built for other seeds or settings, or damaged."""


def combine_hashes(hashes: Iterable[str], start: str = "") -> str:
    """An order-free hash of a set of article hashes (exclusive or), kept up to date by each write
    in constant time: adding and removing an article are the same operation."""
    value = int(start, 16) if start else 0
    for item in hashes:
        value ^= int(item, 16)
    return f"{value:064x}"


def corpus_hash(documents: Iterable[Document]) -> str:
    """The hash a generation holding exactly `documents` records as its `corpus_hash`."""
    return combine_hashes(document_hash(d) for d in documents)


@dataclass(frozen=True)
class SegmentContent:
    """Everything one segment holds, as the builder computed it; sentence and chunk numbers are
    the segment's own, from 0."""

    documents: Sequence[Document]
    sentences: Sequence[Sentence]
    chunks: Sequence[Chunk]
    sentence_vectors: np.ndarray
    chunk_vectors: Any  # a FAISS index keyed by the segment's chunk numbers
    sentence_lexical: LexicalSegment
    chunk_lexical: LexicalSegment
    answer_types: np.ndarray  # (sentences, kinds) booleans, see qa.answer_types

    @property
    def counts(self) -> dict[str, int]:
        return {"documents": len(self.documents), "sentences": len(self.sentences), "chunks": len(self.chunks)}


@dataclass
class Segment:
    """A loaded segment: read-only, shared by every generation that lists it."""

    name: str
    documents: list[Document]  # in the segment's order
    hashes: dict[str, str]  # document_hash of each, by id
    sentence_doc: np.ndarray  # each sentence's document, as a position in `documents`
    sentence_start: np.ndarray
    sentence_end: np.ndarray
    sentence_vectors: np.ndarray
    answer_types: np.ndarray
    chunk_first: np.ndarray
    chunk_last: np.ndarray
    chunk_vectors: Any
    sentence_lexical: LexicalSegment
    chunk_lexical: LexicalSegment
    # Per document, the code-point offsets of its characters outside the Basic Multilingual Plane
    # (emoji...), found on first use: each counts twice in a UTF-16 (JavaScript) string.
    _astral: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def sentence_count(self) -> int:
        return len(self.sentence_start)

    @property
    def chunk_count(self) -> int:
        return len(self.chunk_first)

    def utf16_offset(self, document: Document, offset: int) -> int:
        astral = self._astral.get(document.doc_id)
        if astral is None:
            astral = np.array([i for i, char in enumerate(document.text) if ord(char) > 0xFFFF], dtype=np.int64)
            self._astral[document.doc_id] = astral
        return offset + int(np.searchsorted(astral, offset))


class Rows:
    """Rows of several segments' arrays (vectors, answer types) read as one array by global row
    number, without copying them together: a write must not cost a copy of the whole archive."""

    def __init__(self, parts: Sequence[np.ndarray]) -> None:
        self.parts = list(parts)
        sizes = [len(p) for p in self.parts]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.shape = (int(self.offsets[-1]), *self.parts[0].shape[1:])

    def __len__(self) -> int:
        return self.shape[0]

    @overload
    def __getitem__(self, rows: int) -> np.ndarray: ...

    @overload
    def __getitem__(self, rows: np.ndarray) -> np.ndarray: ...

    def __getitem__(self, rows: int | np.ndarray) -> np.ndarray:
        if len(self.parts) == 1:
            return self.parts[0][rows]
        if isinstance(rows, int | np.integer):
            part = int(np.searchsorted(self.offsets, rows, side="right")) - 1
            return self.parts[part][int(rows) - self.offsets[part]]
        rows = np.asarray(rows, dtype=np.int64)
        owner = np.searchsorted(self.offsets, rows, side="right") - 1
        result = np.empty((len(rows), *self.shape[1:]), dtype=self.parts[0].dtype)
        for part in np.unique(owner).tolist():
            mine = owner == part
            result[mine] = self.parts[part][rows[mine] - self.offsets[part]]
        return result


class _SentenceDocIds(Sequence[str]):
    """`CorpusIndex.sentence_doc`: each sentence's article id, looked up rather than listed."""

    def __init__(self, instance_ids: list[str], sentence_instance: np.ndarray) -> None:
        self._ids, self._instance = instance_ids, sentence_instance

    def __len__(self) -> int:
        return len(self._instance)

    @overload
    def __getitem__(self, sentence: int) -> str: ...

    @overload
    def __getitem__(self, sentence: slice) -> list[str]: ...

    def __getitem__(self, sentence: int | slice) -> str | list[str]:
        if isinstance(sentence, slice):
            return [self._ids[i] for i in self._instance[sentence].tolist()]
        return self._ids[int(self._instance[sentence])]


class CorpusIndex:
    """A generation as retrieval reads it: its segments' sentences and chunks numbered one after
    another, deleted articles masked out of every search.

    Each article version in a segment is an *instance*, numbered in `sentence_doc_number`; an
    article that was replaced has a dead instance in an older segment and a live one in a newer,
    and only live instances are in `documents`, in searches and in BM25's statistics."""

    def __init__(self, path: Path, manifest: dict[str, Any], segments: Sequence[Segment], deleted: Sequence[set[str]]):
        self.path, self.manifest, self.segments = path, manifest, list(segments)
        instance_ids: list[str] = []
        instance_documents: list[Document] = []
        instance_segment: list[int] = []
        live_instance: list[bool] = []
        self.documents: dict[str, Document] = {}
        self._doc_number: dict[str, int] = {}
        sentence_parts, chunk_first, chunk_last = [], [], []
        sentence_offset = 0
        for number, (segment, gone) in enumerate(zip(self.segments, deleted, strict=True)):
            first_instance = len(instance_ids)
            for document in segment.documents:
                alive = document.doc_id not in gone
                if alive:
                    self._doc_number[document.doc_id] = len(instance_ids)
                    self.documents[document.doc_id] = document
                instance_ids.append(document.doc_id)
                instance_documents.append(document)
                instance_segment.append(number)
                live_instance.append(alive)
            sentence_parts.append(segment.sentence_doc + first_instance)
            chunk_first.append(segment.chunk_first + sentence_offset)
            chunk_last.append(segment.chunk_last + sentence_offset)
            sentence_offset += segment.sentence_count
        self._instance_documents = instance_documents
        self._instance_segment = instance_segment
        self.sentence_doc_number = np.concatenate(sentence_parts).astype(np.int64)
        self.sentence_doc = _SentenceDocIds(instance_ids, self.sentence_doc_number)
        self.sentence_start = np.concatenate([s.sentence_start for s in self.segments])
        self.sentence_end = np.concatenate([s.sentence_end for s in self.segments])
        self.sentence_vectors = Rows([s.sentence_vectors for s in self.segments])
        self.answer_types = Rows([s.answer_types for s in self.segments])
        self.chunk_first = np.concatenate(chunk_first).astype(np.int64)
        self.chunk_last = np.concatenate(chunk_last).astype(np.int64)
        self.chunk_doc_number = self.sentence_doc_number[self.chunk_first]
        live = np.array(live_instance, dtype=bool)
        self.live_sentence = live[self.sentence_doc_number]
        live_chunk = self.live_sentence[self.chunk_first]
        self._sentence_offsets = [int(o) for o in self.sentence_vectors.offsets[:-1]]
        self._chunk_offsets = [int(o) for o in np.cumsum([0] + [s.chunk_count for s in self.segments])[:-1]]
        sentence_parts_live, chunk_parts_live = [], []
        self._dead_chunks: list[np.ndarray | None] = []
        for segment, sentence_offset_, chunk_offset in zip(
            self.segments, self._sentence_offsets, self._chunk_offsets, strict=True
        ):
            sentences_live = self.live_sentence[sentence_offset_ : sentence_offset_ + segment.sentence_count]
            chunks_live = live_chunk[chunk_offset : chunk_offset + segment.chunk_count]
            every = bool(sentences_live.all())
            sentence_parts_live.append(
                LexicalPart(segment.sentence_lexical, sentence_offset_, None if every else sentences_live)
            )
            chunk_parts_live.append(LexicalPart(segment.chunk_lexical, chunk_offset, None if every else chunks_live))
            self._dead_chunks.append(None if every else np.flatnonzero(~chunks_live))
        self.sentence_lexical = LexicalIndex(sentence_parts_live)
        self.chunk_lexical = LexicalIndex(chunk_parts_live)

    @property
    def generation(self) -> str:
        return self.path.name

    @property
    def sentence_count(self) -> int:
        return len(self.sentence_start)

    def sentence_text(self, sentence_id: int) -> str:
        text = self._instance_documents[int(self.sentence_doc_number[sentence_id])].text
        return text[int(self.sentence_start[sentence_id]) : int(self.sentence_end[sentence_id])]

    def doc_numbers(self, doc_ids: Sequence[str]) -> list[int]:
        """The instance numbers of these articles' live versions (ids it does not hold are ignored)."""
        return [self._doc_number[d] for d in doc_ids if d in self._doc_number]

    def chunks_of(self, doc_ids: Sequence[str]) -> np.ndarray:
        """Ids of every chunk of these articles' live versions (ids it does not hold are ignored)."""
        return np.flatnonzero(np.isin(self.chunk_doc_number, self.doc_numbers(doc_ids)))

    def search_chunks(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The `k` live chunks closest to each query (FAISS, segment by segment), optionally among
        `allowed` chunk ids only: scores and ids `(len(queries), k)`, id -1 where there are fewer."""
        results, offsets = [], []
        for segment, offset, dead in zip(self.segments, self._chunk_offsets, self._dead_chunks, strict=True):
            local_allowed = None
            if allowed is not None:
                mine = allowed[(allowed >= offset) & (allowed < offset + segment.chunk_count)]
                if not len(mine):
                    continue
                local_allowed = mine - offset
            if dead is not None and len(dead) == segment.chunk_count:
                continue
            results.append(search(segment.chunk_vectors, queries, k, local_allowed, dead))
            offsets.append(offset)
        if not results:
            return np.full((len(queries), 1), -np.inf, np.float32), np.full((len(queries), 1), -1, np.int64)
        return merge_top(results, offsets, k)

    def utf16_offset(self, doc_id: str, offset: int) -> int:
        """The UTF-16 code-unit offset of code-point `offset` in the live article's text."""
        number = self._doc_number[doc_id]
        return self.segments[self._instance_segment[number]].utf16_offset(self._instance_documents[number], offset)


# --- writing --------------------------------------------------------------------------------


def _write_database(path: Path, content: SegmentContent) -> None:
    with sqlite3.connect(path) as db:
        db.executescript(_SCHEMA)
        db.executemany(
            "INSERT INTO documents VALUES (?, ?, ?, ?, ?)",
            [
                (d.doc_id, d.title, json.dumps(d.metadata, ensure_ascii=False), d.text, position)
                for position, d in enumerate(content.documents)
            ],
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


def _write_files(folder: Path, content: SegmentContent) -> None:
    _write_database(folder / DATABASE, content)
    np.save(folder / SENTENCE_VECTORS, content.sentence_vectors)
    np.save(folder / ANSWER_TYPES, content.answer_types)
    write_vector_index(content.chunk_vectors, folder / CHUNK_VECTORS)
    content.sentence_lexical.save(folder / SENTENCE_LEXICAL)
    content.chunk_lexical.save(folder / CHUNK_LEXICAL)


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


def _timestamped_name(suffix: str) -> str:
    """UTC with microseconds first: names sort in the order they were made, which garbage
    collection relies on."""
    now = time.time_ns()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now // 1_000_000_000)) + f"{now // 1000 % 1_000_000:06d}"
    return f"{stamp}-{suffix}-{uuid.uuid4().hex[:6]}"


def _building_folder(parent: Path) -> Path:
    """A private folder to write in, named after this process so a collector can tell a crash's
    leftover (its writer is gone) from a merge still under way in another process."""
    parent.mkdir(parents=True, exist_ok=True)
    folder = parent / f"{BUILDING}{os.getpid()}-{uuid.uuid4().hex}"
    folder.mkdir()
    return folder


def _publish_folder(workdir: Path, final: Path) -> None:
    """Make a complete, fsynced folder visible under its final name, durably."""
    _fsync_tree(workdir)
    os.rename(workdir, final)
    _fsync_directory(final.parent)


# Test-only pause points of a write, named in the order they happen (`QA_TEST_PAUSE=<name>` holds a
# writer there so a test can kill it; see tests/test_live_archive.py). Never set in production.
PAUSE_POINTS = ("segment-written", "generation-written", "current-switched")


def _pause(point: str) -> None:
    if os.environ.get("QA_TEST_PAUSE") == point:
        log.warning("paused at %s for a test", point)
        Path(os.environ["QA_TEST_PAUSE_FILE"]).write_text(point, encoding="utf-8")
        time.sleep(3600)


def prepare_segment(index_dir: Path, content: SegmentContent) -> Path:
    """Write `content` into a private `.building-*` folder, fsynced and checked to read back as
    written; `install_segment` gives it its name. A merge prepares without holding the writer
    lock: the folder is its own until then, and collected only once its process is gone."""
    workdir = _building_folder(index_dir / SEGMENTS)
    try:
        _write_files(workdir, content)
        manifest = {
            "schema_version": SCHEMA_VERSION,
            "counts": content.counts,
            "documents": {d.doc_id: document_hash(d) for d in content.documents},
            "files": _file_hashes(workdir),
        }
        (workdir / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
        _fsync_tree(workdir)
        verify_segment(workdir)  # what was written reads back as written, before anything lists it
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)  # nothing half-made or unverified stays behind
        raise
    return workdir


def install_segment(prepared: Path) -> str:
    """Give a prepared segment its final name (durably) and return it. Call it holding the writer
    lock and commit a generation listing it in the same hold: the collector removes segments that
    no generation lists."""
    final = prepared.parent / _timestamped_name("segment")
    os.rename(prepared, final)
    _fsync_directory(final.parent)
    _pause("segment-written")
    return final.name


def write_segment(index_dir: Path, content: SegmentContent) -> str:
    """`prepare_segment` then `install_segment`, for a writer holding the lock; returns the name."""
    return install_segment(prepare_segment(index_dir, content))


@dataclass(frozen=True)
class SegmentEntry:
    """A segment as a generation lists it: its name and the articles deleted from it since."""

    name: str
    deleted: frozenset[str] = frozenset()

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "deleted": sorted(self.deleted)}


def generation_entries(manifest: Mapping[str, Any]) -> list[SegmentEntry]:
    try:
        return [SegmentEntry(str(e["name"]), frozenset(map(str, e["deleted"]))) for e in manifest["segments"]]
    except (KeyError, TypeError) as exc:
        raise IndexUnavailable(f"a generation manifest does not list its segments: {exc}") from exc


@dataclass(frozen=True)
class SegmentSummary:
    """What a segment's manifest says it holds: each article's hash, by id, and its counts."""

    hashes: Mapping[str, str]
    counts: Mapping[str, int]

    @classmethod
    def read(cls, folder: Path) -> SegmentSummary:
        manifest = read_manifest(folder)
        try:
            return cls(dict(manifest["documents"]), {k: int(v) for k, v in manifest["counts"].items()})
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise IndexUnavailable(f"{folder} has no readable manifest: {exc}") from exc


@dataclass(frozen=True)
class Catalog:
    """A generation as its manifests describe it: which articles each segment holds (by content
    hash) and which of them are deleted. It is all a writer needs to decide what a change does and
    to commit it, and it reads no segment's rows, vectors or postings: a process that writes a
    large archive (a backfill's driver) does not grow with it."""

    folder: Path
    manifest: dict[str, Any]
    entries: list[SegmentEntry]
    segments: list[SegmentSummary]

    @property
    def index_dir(self) -> Path:
        return self.folder.parent.parent

    def live_segment(self, doc_id: str) -> int | None:
        """The position (in `entries`) of the segment holding the live version of `doc_id`."""
        for position in range(len(self.entries) - 1, -1, -1):
            if doc_id in self.segments[position].hashes and doc_id not in self.entries[position].deleted:
                return position
        return None

    def document_hash(self, doc_id: str) -> str | None:
        """The hash of the live version of `doc_id` (None when the archive does not hold it)."""
        position = self.live_segment(doc_id)
        return None if position is None else self.segments[position].hashes[doc_id]

    def live_hashes(self) -> dict[str, str]:
        """The hash of every live article, by id."""
        return {
            doc_id: h
            for entry, summary in zip(self.entries, self.segments, strict=True)
            for doc_id, h in summary.hashes.items()
            if doc_id not in entry.deleted
        }

    def tombstoned(self, doc_ids: Collection[str]) -> list[SegmentEntry]:
        """The generation's entries with `doc_ids` deleted wherever they are live."""
        return [
            SegmentEntry(entry.name, entry.deleted | {d for d in doc_ids if d in summary.hashes})
            for entry, summary in zip(self.entries, self.segments, strict=True)
        ]

    def live_by_segment(self, doc_ids: Iterable[str]) -> dict[Path, list[str]]:
        """The folders of the segments holding the live versions of `doc_ids`, each with its ids."""
        by_segment: dict[Path, list[str]] = {}
        for doc_id in doc_ids:
            if (position := self.live_segment(doc_id)) is not None:
                by_segment.setdefault(self.index_dir / SEGMENTS / self.entries[position].name, []).append(doc_id)
        return by_segment

    def counts_without(self, doc_ids: Collection[str]) -> dict[str, int]:
        """The generation's counts once the live versions of `doc_ids` are deleted; their sizes
        are counted in the SQLite rows of the segments holding them."""
        counts = {key: int(self.manifest["counts"][key]) for key in ("documents", "sentences", "chunks")}
        for folder, ids in self.live_by_segment(doc_ids).items():
            sizes = article_sizes(folder, ids)
            counts["documents"] -= len(ids)
            counts["sentences"] -= sum(sentences for sentences, _ in sizes.values())
            counts["chunks"] -= sum(chunks for _, chunks in sizes.values())
        return counts


def commit_generation(index_dir: Path, entries: Sequence[SegmentEntry], description: dict[str, Any]) -> Path:
    """Make a generation of `entries` current; `description` (build settings, counts, corpus hash)
    goes into its manifest. Call it holding `writer_lock(index_dir)`; returns the new folder.

    When this returns the write is durable: the manifest, the rename and `CURRENT` are fsynced."""
    generations = index_dir / GENERATIONS
    workdir = _building_folder(generations)
    final: Path | None = None
    try:
        manifest = {
            "schema_version": SCHEMA_VERSION,
            **description,
            "segments": [e.to_dict() for e in entries],
            "committed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        (workdir / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        final = generations / _timestamped_name(str(description.get("corpus_hash", ""))[:12] or "index")
        _publish_folder(workdir, final)
    except BaseException:
        for folder in (workdir, final):
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
        raise
    _pause("generation-written")
    superseded = _current_or_none(index_dir)
    _write_atomically(index_dir / CURRENT, final.name + "\n")
    if superseded is not None:  # kept `KEEP_SECONDS` from now, not from when it was committed
        with contextlib.suppress(OSError):
            os.utime(superseded)
    _pause("current-switched")
    collect_garbage(index_dir)
    return final


def _current_or_none(index_dir: Path) -> Path | None:
    try:
        return current_generation(index_dir)
    except IndexUnavailable:
        return None


def _writer_gone(folder: Path) -> bool:
    """Whether a `.building-<pid>-*` folder's writer has died (or the folder is very old)."""
    try:
        pid = int(folder.name[len(BUILDING) :].split("-", 1)[0])
        age = time.time() - folder.stat().st_mtime
    except (ValueError, OSError):
        return True
    if age > STALE_BUILD_SECONDS:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def collect_garbage(index_dir: Path) -> None:
    """Remove what no reader needs: generations other than the newest `KEEP_GENERATIONS` and those
    of the last `KEEP_SECONDS` (the current one always stays), segments no kept generation lists,
    `.building-*` folders whose writer is gone, and `.CURRENT.*.tmp` files of crashed switches.
    Call it holding `writer_lock(index_dir)`."""
    for leftover in index_dir.glob(f".{CURRENT}.*.tmp"):
        leftover.unlink(missing_ok=True)
    generations, segments = index_dir / GENERATIONS, index_dir / SEGMENTS
    for parent in (generations, segments):
        if parent.is_dir():
            for folder in parent.glob(f"{BUILDING}*"):
                if _writer_gone(folder):
                    shutil.rmtree(folder, ignore_errors=True)
    if not generations.is_dir():
        return
    try:
        current = current_generation(index_dir).name
    except IndexUnavailable:
        return  # nothing is known to be in use; remove nothing more
    finished = sorted((p for p in generations.iterdir() if not p.name.startswith(".")), key=lambda p: p.name)
    recent = time.time() - KEEP_SECONDS
    keep = {p for p in finished[-KEEP_GENERATIONS:]} | {generations / current}
    keep |= {p for p in finished if _modified_after(p, recent)}
    for folder in finished:
        if folder not in keep:
            shutil.rmtree(folder, ignore_errors=True)
    listed: set[str] = set()
    for folder in keep:
        try:
            listed |= {e.name for e in generation_entries(read_manifest(folder))}
        except IndexUnavailable:
            continue
    if segments.is_dir():
        for folder in segments.iterdir():
            if not folder.name.startswith(".") and folder.name not in listed:
                shutil.rmtree(folder, ignore_errors=True)


def _modified_after(folder: Path, moment: float) -> bool:
    try:
        return folder.stat().st_mtime > moment
    except OSError:
        return False


@contextmanager
def writer_lock(index_dir: Path) -> Iterator[None]:
    """One writer at a time across processes (server workers, `qa ingest`, a merge)."""
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


def verify_segment(folder: Path) -> None:
    """Raise `IndexUnavailable` unless every file matches the SHA-256 its manifest recorded."""
    if _file_hashes(folder) != read_manifest(folder).get("files"):
        raise IndexUnavailable(f"{folder} does not match its manifest (damaged or changed after it was written)")


def verify_generation(folder: Path) -> None:
    """Check every segment a generation lists, byte by byte.

    Hashing reads every byte, so it runs after each segment is written and on demand
    (`qa index --verify`), never on an ordinary open: start-up must not cost more as the archive
    grows."""
    index_dir = folder.parent.parent
    for entry in generation_entries(read_manifest(folder)):
        verify_segment(index_dir / SEGMENTS / entry.name)


@contextmanager
def _database(folder: Path) -> Iterator[sqlite3.Connection]:
    """A segment's SQLite rows, read-only; any failure to read them is `IndexUnavailable`."""
    try:
        # As a URI, so "#", "?" or "%" in a folder's name are escaped, not read as URI syntax.
        db = sqlite3.connect(f"{(folder / DATABASE).absolute().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise IndexUnavailable(f"{folder / DATABASE} cannot be opened: {exc}") from exc
    try:
        yield db
    except (sqlite3.Error, ValueError) as exc:
        raise IndexUnavailable(f"{folder / DATABASE} cannot be read: {exc}") from exc
    finally:
        db.close()


def _documents(db: sqlite3.Connection, where: str = "", *parameters: Any) -> list[Document]:
    return [
        Document(doc_id, text, title, json.loads(metadata))
        for doc_id, title, metadata, text in db.execute(
            f"SELECT doc_id, title, metadata, text FROM documents {where} ORDER BY position", parameters
        )
    ]


def _read_rows(folder: Path) -> tuple[list[Document], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    with _database(folder) as db:
        documents = _documents(db)
        sentences = db.execute('SELECT doc_id, start, "end" FROM sentences ORDER BY id').fetchall()
        chunks = db.execute("SELECT first_sentence, last_sentence FROM chunks ORDER BY id").fetchall()
    return documents, sentences, chunks


# Rows of the articles named in one JSON list, the query's only parameter (no limit on how many).
_NAMED = "WHERE doc_id IN (SELECT value FROM json_each(?))"


def article_sizes(folder: Path, doc_ids: Collection[str]) -> dict[str, tuple[int, int]]:
    """Sentences and chunks of each of `doc_ids` that the segment in `folder` holds, counted in
    its SQLite rows: what a tombstone takes off a generation's counts, without loading the segment."""
    named = json.dumps(list(doc_ids))
    with _database(folder) as db:
        sentences = dict(db.execute(f"SELECT doc_id, COUNT(*) FROM sentences {_NAMED} GROUP BY doc_id", (named,)))
        chunks = dict(db.execute(f"SELECT doc_id, COUNT(*) FROM chunks {_NAMED} GROUP BY doc_id", (named,)))
    return {doc_id: (int(count), int(chunks.get(doc_id, 0))) for doc_id, count in sentences.items()}


def stored_articles(folder: Path, doc_ids: Collection[str]) -> tuple[list[Document], dict[str, np.ndarray]]:
    """The articles among `doc_ids` that the segment in `folder` holds (in its order) and their
    sentences' vectors by text, read from its rows and its vectors file mapped rather than loaded:
    what a writer reuses (a merge, a replaced article's unchanged sentences) without loading the
    segment's FAISS index, postings or other articles."""
    named = json.dumps(list(doc_ids))
    with _database(folder) as db:
        documents = _documents(db, _NAMED, named)
        rows = db.execute(f'SELECT id, doc_id, start, "end" FROM sentences {_NAMED} ORDER BY id', (named,)).fetchall()
    if not rows:
        return documents, {}
    try:
        vectors = np.load(folder / SENTENCE_VECTORS, mmap_mode="r")[[row[0] for row in rows]]
    except (OSError, ValueError, IndexError) as exc:
        raise IndexUnavailable(f"{folder / SENTENCE_VECTORS} cannot be read: {exc}") from exc
    texts = {d.doc_id: d.text for d in documents}
    return documents, {texts[doc_id][start:end]: vectors[n] for n, (_, doc_id, start, end) in enumerate(rows)}


def open_segment(folder: Path) -> Segment:
    """Load one segment whole; `IndexUnavailable` if it is missing, incomplete or unreadable."""
    manifest = read_manifest(folder)
    documents, sentences, chunks = _read_rows(folder)
    position = {d.doc_id: n for n, d in enumerate(documents)}
    try:
        segment = Segment(
            name=folder.name,
            documents=documents,
            hashes=dict(manifest["documents"]),
            sentence_doc=np.array([position[row[0]] for row in sentences], dtype=np.int64),
            sentence_start=np.array([row[1] for row in sentences], dtype=np.int64),
            sentence_end=np.array([row[2] for row in sentences], dtype=np.int64),
            sentence_vectors=np.load(folder / SENTENCE_VECTORS),
            answer_types=np.load(folder / ANSWER_TYPES),
            chunk_first=np.array([row[0] for row in chunks], dtype=np.int64),
            chunk_last=np.array([row[1] for row in chunks], dtype=np.int64),
            chunk_vectors=read_vector_index(folder / CHUNK_VECTORS),
            sentence_lexical=LexicalSegment.load(folder / SENTENCE_LEXICAL),
            chunk_lexical=LexicalSegment.load(folder / CHUNK_LEXICAL),
        )
    except (OSError, ValueError, RuntimeError, KeyError, TypeError) as exc:
        raise IndexUnavailable(f"{folder} cannot be loaded: {exc}") from exc
    counts = manifest.get("counts", {})
    if (
        len(segment.sentence_vectors) != segment.sentence_count
        or len(segment.answer_types) != segment.sentence_count
        or segment.sentence_lexical.unit_count != segment.sentence_count
        or segment.chunk_lexical.unit_count != segment.chunk_count
        or segment.chunk_vectors.ntotal != segment.chunk_count
        or counts.get("sentences") != segment.sentence_count
        or counts.get("documents") != len(documents)
    ):
        raise IndexUnavailable(f"{folder} is inconsistent: its parts disagree on what it holds")
    return segment


class SegmentCache:
    """The segments one process has loaded, so opening the next generation reads only new ones.

    Segments are immutable, so a loaded one is valid for as long as any generation lists it;
    those no generation opened through the cache lists any more are dropped."""

    def __init__(self) -> None:
        self._segments: dict[str, Segment] = {}
        self._last: CorpusIndex | None = None  # the generation opened last, reused while current
        self._lock = threading.Lock()

    def open(self, folder: Path) -> CorpusIndex:
        """The generation in `folder`, reading only the segments this cache has not loaded (and
        nothing when it is the generation opened last: a writer and its server share it)."""
        last = self._last
        if last is not None and last.path == folder:
            return last
        manifest = read_manifest(folder)
        entries = generation_entries(manifest)
        if not entries:
            raise IndexUnavailable(f"{folder} lists no segments")
        segments_dir = folder.parent.parent / SEGMENTS
        with self._lock:
            loaded = {e.name: self._segments.get(e.name) or open_segment(segments_dir / e.name) for e in entries}
            self._segments = loaded
        index = CorpusIndex(folder, manifest, [loaded[e.name] for e in entries], [set(e.deleted) for e in entries])
        if manifest.get("counts", {}).get("documents") != len(index.documents):
            raise IndexUnavailable(f"{folder} is inconsistent: its manifest and segments disagree on what it holds")
        self._last = index
        return index

    def catalog(self, folder: Path) -> Catalog:
        """The generation in `folder` as its manifests describe it; a segment this cache has
        loaded is described from memory, any other from its manifest (it is not loaded)."""
        manifest = read_manifest(folder)
        entries = generation_entries(manifest)
        if not entries or not isinstance(manifest.get("counts"), dict):
            raise IndexUnavailable(f"{folder} lists no segments or no counts")
        return Catalog(folder, manifest, entries, [self.summary(folder.parent.parent, e.name) for e in entries])

    def summary(self, index_dir: Path, name: str) -> SegmentSummary:
        with self._lock:
            loaded = self._segments.get(name)
        if loaded is None:
            return SegmentSummary.read(index_dir / SEGMENTS / name)
        counts = {"documents": len(loaded.documents), "sentences": loaded.sentence_count, "chunks": loaded.chunk_count}
        return SegmentSummary(loaded.hashes, counts)

    def open_current(self, index_dir: Path) -> CorpusIndex:
        return self.open(current_generation(index_dir))


def open_generation(folder: Path) -> CorpusIndex:
    """Load one generation and its segments."""
    return SegmentCache().open(folder)


def open_index(index_dir: Path) -> CorpusIndex:
    """Load the generation `CURRENT` names."""
    return open_generation(current_generation(index_dir))

"""Building and changing an index: articles are split into sentences and chunks, sentences
embedded, chunk vectors pooled from them, BM25 postings and answer types computed, and the result
written as a segment that `qa.store` commits in a new generation.

Every change goes through `Archive`, under the store's writer lock, against the generation that
is current when the lock is taken (another process may have committed since this one last
looked): `publish` adds a segment with the new versions and tombstones the old ones, `delete`
only tombstones, `merge` rewrites small segments as one in the background. What a change does is
decided from the generation's manifests, never by loading it: a writer that does not serve (a
backfill's driver) stays the same size however large the archive grows. `ensure_index` and
`open_or_import` are what the service and the CLI call when they start.
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qa import answer_types
from qa.chunking import SPLITTER_VERSION, Chunk, Sentence, group_into_chunks, split_sentences
from qa.config import Settings
from qa.documents import Document, document_hash
from qa.embedding import Embedder
from qa.lexical import TOKENIZER_VERSION, LexicalSegment
from qa.store import (
    CURRENT,
    SEGMENTS,
    Catalog,
    CorpusIndex,
    IndexUnavailable,
    SegmentCache,
    SegmentContent,
    SegmentEntry,
    SegmentSummary,
    combine_hashes,
    commit_generation,
    corpus_hash,
    current_generation,
    install_segment,
    prepare_segment,
    stored_articles,
    write_segment,
    writer_lock,
)
from qa.vectors import build_vector_index, index_type_for

log = logging.getLogger(__name__)

# Every log line announcing a build starts so; the command line turns it into a notice (qa.cli).
BUILD_NOTICE = "building the index: "

# Segments of about the same size (the same power of MERGE_FACTOR sentences) are merged into one
# once MERGE_FACTOR of them exist, as Lucene's log merge policy does: a query visits at most about
# MERGE_FACTOR segments per size class, and each article is rewritten only log(archive) times.
MERGE_FACTOR = 8


@dataclass(frozen=True)
class BuildSettings:
    """What shapes an index; any change makes an existing one stale."""

    model: str
    sentences_per_chunk: int
    chunk_overlap: int
    max_sentence_chars: int
    splitter: int = SPLITTER_VERSION
    tokenizer: int = TOKENIZER_VERSION  # BM25 postings store its tokens

    @classmethod
    def from_settings(cls, settings: Settings, embedder: Embedder) -> BuildSettings:
        return cls(embedder.name, settings.sentences_per_chunk, settings.chunk_overlap, settings.max_sentence_chars)


class MissingDocuments(KeyError):
    """A delete named articles the archive does not hold; nothing was changed."""

    def __init__(self, doc_ids: Sequence[str]):
        super().__init__(", ".join(doc_ids))
        self.doc_ids = list(doc_ids)


class EmptyArchive(ValueError):
    """A write would leave the archive without articles, which it cannot serve; nothing was changed."""


class PreconditionFailed(ValueError):
    """A conditional write found an article at another version than it expected; nothing was changed."""

    def __init__(self, doc_id: str):
        super().__init__(doc_id)
        self.doc_id = doc_id


ANY_VERSION = "*"


@dataclass(frozen=True)
class Expected:
    """What a conditional write expects of one article's live version (its `document_hash`), as
    HTTP's If-Match and If-None-Match say it. Checked under the writer lock against the generation
    the write changes, so two writers that read the same version cannot both pass."""

    doc_id: str
    match: frozenset[str] | None = None  # the live version is one of these; ANY_VERSION: any live one
    none_match: frozenset[str] | None = None  # it is none of these; ANY_VERSION: there is no live one

    def holds(self, live: str | None) -> bool:
        if self.match is not None and (live is None or (ANY_VERSION not in self.match and live not in self.match)):
            return False
        return self.none_match is None or live is None or not ({ANY_VERSION, live} & self.none_match)


def check_expected(catalog: Catalog | None, expected: Sequence[Expected]) -> None:
    """`PreconditionFailed` for the first expectation the live versions in `catalog` (None: no archive yet) break."""
    for expectation in expected:
        if not expectation.holds(catalog.document_hash(expectation.doc_id) if catalog else None):
            raise PreconditionFailed(expectation.doc_id)


def segment(
    documents: Sequence[Document],
    settings: BuildSettings,
    spans: Mapping[str, Sequence[tuple[int, int]]] | None = None,
) -> tuple[list[Sentence], list[Chunk]]:
    """Every document's sentences and chunks, numbered across the documents given; `spans`, by
    id, are sentence spans already found elsewhere (a Ray worker), so they are not split again."""
    sentences: list[Sentence] = []
    chunks: list[Chunk] = []
    for document in documents:
        if spans is None:
            doc_sentences = split_sentences(document.doc_id, document.text, settings.max_sentence_chars)
        else:
            doc_sentences = [
                Sentence(document.doc_id, position, start, end, document.text[start:end])
                for position, (start, end) in enumerate(spans[document.doc_id])
            ]
        doc_chunks = group_into_chunks(
            document.text, doc_sentences, settings.sentences_per_chunk, settings.chunk_overlap
        )
        offset = len(sentences)
        sentences.extend(doc_sentences)
        chunks.extend(
            Chunk(c.doc_id, c.position, c.start, c.end, c.first_sentence + offset, c.last_sentence + offset, c.text)
            for c in doc_chunks
        )
    return sentences, chunks


def pooled_chunk_vectors(sentence_vectors: np.ndarray, chunks: Sequence[Chunk]) -> np.ndarray:
    """A chunk's vector: the normalised sum of its sentences' vectors, instead of a second pass of
    the model over the chunk's text. Embedding chunks took 58% of a build; on SQuAD dev part 1 the
    pooled vectors retrieve as well (hit@1 0.784 both, hit@3 0.894 embedded, 0.894 pooled)."""
    pooled = np.stack([sentence_vectors[c.first_sentence : c.last_sentence + 1].sum(axis=0) for c in chunks])
    return np.ascontiguousarray(pooled / np.linalg.norm(pooled, axis=1, keepdims=True), dtype=np.float32)


def embed_sentences(
    texts: Sequence[str], embedder: Embedder, known: Mapping[str, np.ndarray], progress: bool = False
) -> np.ndarray:
    """Vectors of `texts`, embedding only those `known` does not already hold (an article's
    unchanged sentences keep the vectors of its previous version)."""
    missing = list(dict.fromkeys(t for t in texts if t not in known))
    fresh = dict(zip(missing, embedder.encode(missing, progress=progress), strict=True)) if missing else {}
    return np.stack([fresh[t] if t in fresh else known[t] for t in texts]).astype(np.float32)


def build_content(
    documents: Sequence[Document],
    embedder: Embedder,
    settings: BuildSettings,
    progress: bool = False,
    known_vectors: Mapping[str, np.ndarray] | None = None,
) -> SegmentContent:
    """What a segment of `documents` holds."""
    sentences, chunks = segment(documents, settings)
    if not sentences:
        raise IndexUnavailable("the articles contain no text to index")
    sentence_vectors = embed_sentences([s.text for s in sentences], embedder, known_vectors or {}, progress=progress)
    return assemble_content(documents, sentences, chunks, sentence_vectors)


def assemble_content(
    documents: Sequence[Document], sentences: Sequence[Sentence], chunks: Sequence[Chunk], sentence_vectors: np.ndarray
) -> SegmentContent:
    """A segment's content from its split and embedded sentences: chunk vectors pooled, FAISS,
    BM25 and answer types. Shared by local builds and articles embedded on a Ray cluster."""
    texts = [s.text for s in sentences]
    chunk_vectors = build_vector_index(
        pooled_chunk_vectors(sentence_vectors, chunks), np.arange(len(chunks)), index_type_for(len(chunks))
    )
    return SegmentContent(
        documents=documents,
        sentences=sentences,
        chunks=chunks,
        sentence_vectors=sentence_vectors,
        chunk_vectors=chunk_vectors,
        sentence_lexical=LexicalSegment.build(texts),
        chunk_lexical=LexicalSegment.build([c.text for c in chunks]),
        answer_types=answer_types.sentence_flags(texts),
    )


@dataclass(frozen=True)
class EmbeddedArticle:
    """An article split and embedded elsewhere (a Ray worker, `qa.backfill`): its sentence spans
    and their vectors, in order, as `segment` and `embed_sentences` would have made them here."""

    document: Document
    spans: Sequence[tuple[int, int]]
    vectors: np.ndarray


def embedded_content(articles: Sequence[EmbeddedArticle], settings: BuildSettings) -> SegmentContent:
    """The segment of `articles`, from their own spans and vectors: nothing is split or embedded again."""
    documents = [a.document for a in articles]
    sentences, chunks = segment(documents, settings, {a.document.doc_id: a.spans for a in articles})
    if not sentences:
        raise IndexUnavailable("the articles contain no text to index")
    return assemble_content(documents, sentences, chunks, np.concatenate([a.vectors for a in articles]))


def known_vectors(catalog: Catalog, doc_ids: Sequence[str]) -> dict[str, np.ndarray]:
    """Sentence text -> vector for the live versions of `doc_ids` in `catalog`, read from the
    segments holding them (their rows and mapped vectors, not the whole segments)."""
    known: dict[str, np.ndarray] = {}
    for folder, ids in catalog.live_by_segment(doc_ids).items():
        known.update(stored_articles(folder, ids)[1])
    return known


# Makes a segment from the articles that changed, given a way to get the vectors of sentences
# their previous versions held (to reuse; read only if asked for): embedding here (`publish`) or
# taking vectors made elsewhere (`publish_embedded`, which never asks).
SegmentBuilder = Callable[[Sequence[Document], Callable[[], Mapping[str, np.ndarray]]], SegmentContent]


@dataclass(frozen=True)
class Commit:
    """A generation a write made current. Its segments are loaded only when `index` is asked for
    (by a server, to answer from it): a writer that does not serve, such as `qa ingest`, never
    loads them, so it does not grow with the archive it writes."""

    folder: Path
    cache: SegmentCache

    @property
    def generation(self) -> str:
        return self.folder.name

    @property
    def index(self) -> CorpusIndex:
        return self.cache.open(self.folder)


@dataclass(frozen=True)
class Change(Commit):
    """What one publish did: the generation that holds it; per article given, whether it was new
    (True) or replaced a previous version (False); and how many of them were already there as
    given, so nothing was written for them."""

    created: list[bool]
    unchanged: int = 0


class Archive:
    """The writer's side of one index folder: every change is one new generation, made under the
    writer lock against the generation current at that moment. What a change does is decided from
    the generation's manifests (`Catalog`); no segment is loaded to write."""

    def __init__(
        self, index_dir: Path, embedder: Embedder, settings: BuildSettings, cache: SegmentCache | None = None
    ) -> None:
        self.index_dir, self.embedder, self.settings = index_dir, embedder, settings
        self.cache = cache or SegmentCache()

    def _commit(self, entries: Sequence[SegmentEntry], hash_: str, counts: Mapping[str, int], dimension: int) -> Path:
        """Commit `entries` (dropping segments whose every article is deleted); the new generation's folder."""
        kept = [e for e in entries if not self._all_deleted(e)]
        if not kept:
            raise EmptyArchive("the archive must keep at least one article: publish another before deleting the last")
        description = {
            "build": asdict(self.settings),
            "dimension": dimension,
            "corpus_hash": hash_,
            "counts": dict(counts),
        }
        return commit_generation(self.index_dir, kept, description)

    def _all_deleted(self, entry: SegmentEntry) -> bool:
        return bool(entry.deleted) and set(self.cache.summary(self.index_dir, entry.name).hashes) <= entry.deleted

    def catalog(self) -> Catalog:
        """The generation current now, from its manifests, checked to be one this writer may add to."""
        catalog = self.cache.catalog(current_generation(self.index_dir))
        if catalog.manifest.get("build") != asdict(self.settings):
            raise IndexUnavailable(f"generation {catalog.folder.name} was built with other settings or another model")
        return catalog

    def create(self, documents: Sequence[Document], progress: bool = False) -> Commit:
        """A new archive holding exactly `documents` (what was there before is dropped)."""
        with writer_lock(self.index_dir):
            return self.create_locked(documents, progress)

    def create_locked(self, documents: Sequence[Document], progress: bool = False) -> Commit:
        """`create`, for a caller already holding the writer lock."""
        return Commit(self._create(build_content(documents, self.embedder, self.settings, progress)), self.cache)

    def _create(self, content: SegmentContent) -> Path:
        name = write_segment(self.index_dir, content)
        dimension = int(content.sentence_vectors.shape[1])
        return self._commit([SegmentEntry(name)], corpus_hash(content.documents), content.counts, dimension)

    def publish(
        self, documents: Sequence[Document], progress: bool = False, expected: Sequence[Expected] = ()
    ) -> Change:
        """Add or replace `documents` (ids unique) in one new generation; an article whose id,
        title, metadata and text are unchanged is left as it is. `PreconditionFailed`, and nothing
        written, when an article is not at the version `expected` says."""
        return self._publish(
            documents,
            lambda changed, known: build_content(changed, self.embedder, self.settings, progress, known()),
            expected,
        )

    def publish_embedded(self, articles: Sequence[EmbeddedArticle]) -> Change:
        """`publish` for articles split and embedded elsewhere (`qa.backfill`): their own vectors
        are committed, and this process never loads the model."""
        by_id = {a.document.doc_id: a for a in articles}
        return self._publish(
            [a.document for a in articles],
            lambda changed, _known: embedded_content([by_id[d.doc_id] for d in changed], self.settings),
        )

    def _publish(
        self, documents: Sequence[Document], build: SegmentBuilder, expected: Sequence[Expected] = ()
    ) -> Change:
        """`publish`, with `build(changed articles, vectors of their previous sentences)` making the segment.

        The new segment is made and written before the writer lock is taken, against the
        generation current then: the lock is held only to tombstone and commit, so other writers
        and merges wait for a commit, not for an embedding. Should another writer have changed
        one of these articles back meanwhile, the segment is made again under the lock."""
        ids = [d.doc_id for d in documents]
        if not ids or len(set(ids)) != len(ids):
            raise ValueError("publish takes one or more articles, each id once")
        prepared: tuple[list[Document], Path] | None = None
        if (self.index_dir / CURRENT).exists():
            snapshot = self.catalog()
            check_expected(snapshot, expected)  # a write bound to fail is refused before it embeds
            if early := self._changed(snapshot, documents):
                prepared = self._prepare(snapshot, early, build)
        try:
            with writer_lock(self.index_dir):
                if not (self.index_dir / CURRENT).exists():  # the first articles of a new archive
                    check_expected(None, expected)
                    return Change(self._create(build(documents, lambda: {})), self.cache, [True] * len(documents))
                catalog = self.catalog()
                check_expected(catalog, expected)
                created = [catalog.live_segment(d.doc_id) is None for d in documents]
                changed = self._changed(catalog, documents)
                if not changed:
                    return Change(catalog.folder, self.cache, created, len(documents))
                if prepared is None or not {d.doc_id for d in changed} <= {d.doc_id for d in prepared[0]}:
                    if prepared is not None:
                        shutil.rmtree(prepared[1], ignore_errors=True)
                    prepared = self._prepare(catalog, changed, build)
                written, folder = prepared
                added = SegmentSummary.read(folder).counts
                name = install_segment(folder)
                prepared = None
                replaced = [d.doc_id for d in written if catalog.live_segment(d.doc_id) is not None]
                old = [h for doc_id in replaced if (h := catalog.document_hash(doc_id))]
                new = [document_hash(d) for d in written]
                counts = catalog.counts_without(replaced)
                counts = {key: counts[key] + added[key] for key in counts}
                committed = self._commit(
                    [*catalog.tombstoned(replaced), SegmentEntry(name)],
                    combine_hashes([*old, *new], self._hash(catalog)),
                    counts,
                    self._dimension(catalog),
                )
                return Change(committed, self.cache, created, len(documents) - len(changed))
        finally:
            if prepared is not None:  # not needed after all: nothing to commit, or made again
                shutil.rmtree(prepared[1], ignore_errors=True)

    @staticmethod
    def _changed(catalog: Catalog, documents: Sequence[Document]) -> list[Document]:
        return [d for d in documents if catalog.document_hash(d.doc_id) != document_hash(d)]

    def _prepare(self, catalog: Catalog, changed: list[Document], build: SegmentBuilder) -> tuple[list[Document], Path]:
        """`changed` made by `build` and written as a prepared segment; `build` may ask for the
        vectors of the sentences their versions in `catalog` already hold, to reuse."""
        ids = [d.doc_id for d in changed]
        return changed, prepare_segment(self.index_dir, build(changed, lambda: known_vectors(catalog, ids)))

    def delete(self, doc_ids: Sequence[str], expected: Sequence[Expected] = ()) -> Commit:
        """Remove `doc_ids` in one new generation; `MissingDocuments` (and no change) when any is absent,
        `PreconditionFailed` when one is not at the version `expected` says. With no archive there
        is nothing to delete: `IndexUnavailable` before the lock, which would create the index folder."""
        current_generation(self.index_dir)
        with writer_lock(self.index_dir):
            catalog = self.catalog()
            check_expected(catalog, expected)
            gone = list(dict.fromkeys(doc_ids))
            missing = [d for d in gone if catalog.live_segment(d) is None]
            if missing:
                raise MissingDocuments(missing)
            old = [h for doc_id in gone if (h := catalog.document_hash(doc_id))]
            committed = self._commit(
                catalog.tombstoned(gone),
                combine_hashes(old, self._hash(catalog)),
                catalog.counts_without(gone),
                self._dimension(catalog),
            )
            return Commit(committed, self.cache)

    @staticmethod
    def _hash(catalog: Catalog) -> str:
        return str(catalog.manifest.get("corpus_hash", ""))

    @staticmethod
    def _dimension(catalog: Catalog) -> int:
        return int(catalog.manifest.get("dimension", 0))

    # --- merging ----------------------------------------------------------------------------

    def merge_candidates(self, catalog: Catalog) -> list[str]:
        """The segments to merge next: MERGE_FACTOR or more of one size class, smallest class first."""
        classes: dict[int, list[str]] = {}
        for entry, summary in zip(catalog.entries, catalog.segments, strict=True):
            size_class = int(math.log(max(summary.counts.get("sentences", 0), 1), MERGE_FACTOR))
            classes.setdefault(size_class, []).append(entry.name)
        for size_class in sorted(classes):
            if len(classes[size_class]) >= MERGE_FACTOR:
                return classes[size_class]
        return []

    def merge(self) -> Commit | None:
        """Merge one set of segments (see `merge_candidates`) into one, without holding the writer
        lock while it is built; None when nothing needed merging or the set changed meanwhile.

        Only the merged segments' live articles and their stored vectors are read (never
        recomputed, and no other segment is loaded). Articles deleted or replaced while the merge
        ran are tombstoned in the merged segment when it is committed, so no acknowledged write
        is lost."""
        snapshot = self.catalog()
        names = self.merge_candidates(snapshot)
        if not names:
            return None
        chosen = [(e, s) for e, s in zip(snapshot.entries, snapshot.segments, strict=True) if e.name in names]
        documents: list[Document] = []
        known: dict[str, np.ndarray] = {}
        started = time.perf_counter()
        for entry, summary in chosen:
            live = [doc_id for doc_id in summary.hashes if doc_id not in entry.deleted]
            held, vectors = stored_articles(self.index_dir / SEGMENTS / entry.name, live)
            documents.extend(held)
            known.update(vectors)
        prepared = prepare_segment(self.index_dir, build_content(documents, self.embedder, self.settings, False, known))
        with writer_lock(self.index_dir):
            catalog = self.catalog()
            now = {e.name: e for e in catalog.entries}
            if not set(names) <= set(now):  # another process merged some of them first
                shutil.rmtree(prepared, ignore_errors=True)
                return None
            merged = install_segment(prepared)
            # Deleted or replaced since the snapshot (their tombstones are new): tombstoned in the
            # merged segment. Older tombstones are of versions the merge left out.
            gone = frozenset(doc_id for entry, _ in chosen for doc_id in now[entry.name].deleted - entry.deleted)
            result: list[SegmentEntry] = []
            for entry in catalog.entries:
                if entry.name == names[0]:
                    result.append(SegmentEntry(merged, gone))
                elif entry.name not in names:
                    result.append(entry)
            committed = self._commit(result, self._hash(catalog), catalog.manifest["counts"], self._dimension(catalog))
        log.info("merged %d segments (%d articles) in %.1fs", len(names), len(documents), time.perf_counter() - started)
        return Commit(committed, self.cache)


def check_fresh(manifest: dict[str, Any], documents: Sequence[Document], settings: BuildSettings) -> None:
    """Raise `IndexUnavailable` when the index was built from other articles or other settings."""
    if manifest.get("build") != asdict(settings):
        raise IndexUnavailable("the index was built with other settings or another model")
    if manifest.get("corpus_hash") != corpus_hash(documents):
        raise IndexUnavailable("the articles changed since the index was built")


def build_index(
    index_dir: Path, documents: Sequence[Document], embedder: Embedder, settings: BuildSettings, progress: bool = False
) -> Path:
    """Replace the archive with one of exactly `documents`; returns the new generation's folder."""
    started = time.perf_counter()
    commit = Archive(index_dir, embedder, settings).create(documents, progress)
    log.info("built index %s in %.1fs", commit.generation, time.perf_counter() - started)
    return commit.folder


def ensure_index(
    index_dir: Path,
    documents: Sequence[Document],
    embedder: Embedder,
    settings: BuildSettings,
    progress: bool = False,
    cache: SegmentCache | None = None,
) -> CorpusIndex:
    """Open the archive, first rebuilding it as exactly `documents` when it is missing, holds
    other articles, has other settings or cannot be read. For callers that own the whole corpus
    (evaluations, tools); the reason for a build is logged first."""
    archive = Archive(index_dir, embedder, settings, cache)
    with writer_lock(index_dir):
        try:
            index = archive.cache.open_current(index_dir)
            check_fresh(index.manifest, documents, settings)
            return index
        except IndexUnavailable as reason:
            log.warning("%s%s", BUILD_NOTICE, reason)
        return archive.create_locked(documents, progress).index


def open_or_import(
    index_dir: Path,
    seeds: Callable[[], Sequence[Document]],
    embedder: Embedder,
    settings: BuildSettings,
    progress: bool = False,
    cache: SegmentCache | None = None,
    force: bool = False,
) -> CorpusIndex:
    """Open the archive as it is: it is the source of truth once it exists. Only a folder with no
    archive imports `seeds()`; one built with other settings (or any, with `force`) is rebuilt
    from its own articles, so nothing published through the API is lost to a configuration
    change; an unreadable one is reported, never replaced."""
    archive = Archive(index_dir, embedder, settings, cache)
    with writer_lock(index_dir):
        try:
            index = archive.cache.open_current(index_dir)
        except IndexUnavailable as reason:
            if (index_dir / CURRENT).exists():  # an archive, unreadable: never replaced by the seeds
                raise IndexUnavailable(
                    f"the archive in {index_dir} cannot be read ({reason}); nothing was changed: restore "
                    "the folder from a backup, or move it away to import the seeds folder again"
                ) from None
            documents = list(seeds())
            log.warning("%s%s", BUILD_NOTICE, reason)
        else:
            if index.manifest.get("build") == asdict(settings) and not force:
                return index
            documents = sorted(index.documents.values(), key=lambda d: d.doc_id)
            why = "re-embedding was asked for" if force else "the index was built with other settings or another model"
            log.warning("%s%s", BUILD_NOTICE, why)
        return archive.create_locked(documents, progress).index

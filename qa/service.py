"""The pipeline, top to bottom: documents -> chunks -> embeddings -> store -> retrieval -> answer.

`Service` is the one object the HTTP app and the CLI share. It answers a list of questions;
one question is a batch of one, so single and batch requests take the same path and batch
requests embed all their questions in one call.

What a request reads (the index, the retriever and the answerer built on it) is one immutable
`Pipeline`, replaced in a single assignment by `reload()`: a request takes the pipeline once
and uses only it, so it never sees half of one generation and half of another.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace

from qa.answering import Answer, Answerer
from qa.config import Settings
from qa.documents import Document, load_seeds
from qa.embedding import Embedder
from qa.indexing import Archive, BuildSettings, Expected, MissingDocuments, ensure_index, open_or_import
from qa.reader import Reader, load_reader
from qa.retrieval import Query, Retriever
from qa.store import CURRENT, CorpusIndex, IndexUnavailable, SegmentCache, current_generation, read_manifest

log = logging.getLogger(__name__)

LOADING = "the index is still loading; retry shortly"
LOAD_FAILED = "the index could not be loaded; the server's log says why"


class NotReady(RuntimeError):
    """The index is still loading (or failed to load); the message says which, without paths."""


class DocumentNotFound(KeyError):
    pass


class UnknownDocuments(ValueError):
    """A question is scoped to articles the archive does not hold."""

    def __init__(self, doc_ids: Sequence[str]):
        super().__init__(f"no document has the id{'s' if len(doc_ids) > 1 else ''} {', '.join(map(repr, doc_ids))}")
        self.doc_ids = list(doc_ids)


@dataclass(frozen=True)
class Published:
    """A write's outcome: the generation that serves it, and per article whether it was new."""

    generation: str
    created: list[bool]


@dataclass(frozen=True)
class Pipeline:
    """Everything that answers from one generation of the index."""

    index: CorpusIndex
    retriever: Retriever
    answerer: Answerer


class Service:
    def __init__(self, settings: Settings, embedder: Embedder | None = None):
        self.settings = settings
        self.embedder = embedder or Embedder.from_settings(settings)
        self._pipeline: Pipeline | None = None
        self._load_failed = False
        self._seed_warnings: list[str] = []  # bad seed records skipped or defaulted by the last load
        self._segments = SegmentCache()  # shared by loads, reloads and writes: each reads only new segments
        self._switch = threading.Lock()  # a write's swap and the follower's never interleave
        self._merging = threading.Lock()  # one background merge at a time in this process
        self._current_seen: tuple[int, int, int] | None = None  # `CURRENT`'s inode, mtime and size last checked
        self._opening = threading.Lock()  # one thread opens a new generation; the others wait for it

    # --- lifecycle ----------------------------------------------------------------------------

    def load(self, progress: bool = False, documents: Sequence[Document] | None = None) -> Service:
        """Open the archive and warm the model up. By default the archive is served as it is, and
        the seeds folder is imported only when it is empty (see `open_or_import`); with
        `documents`, the archive is rebuilt unless it holds exactly those (evaluations, tools)."""
        try:
            build = self._build_settings()
            if documents is None:
                index = open_or_import(
                    self.settings.index_dir, self._read_seeds, self.embedder, build, progress, self._segments
                )
            else:
                index = ensure_index(
                    self.settings.index_dir, documents, self.embedder, build, progress, cache=self._segments
                )
            # Load the model and run every path once (a question, questions, articles) before declaring readiness.
            self.embedder.encode_queries(["warm-up"])
            self.embedder.encode_queries(["warm up", "the batch path"])
            self.embedder.encode(["warm up", "the articles' path"])
            self._pipeline = self._pipeline_for(index)
        except Exception:
            self._load_failed = True
            self._current_seen = self._current_stamp()
            log.exception("could not load the index")
            raise
        self._load_failed = False
        return self

    def _read_seeds(self) -> list[Document]:
        seeds = load_seeds(self.settings.seeds_dir)
        self._seed_warnings = seeds.warnings
        return seeds.documents

    def _build_settings(self) -> BuildSettings:
        return BuildSettings.from_settings(self.settings, self.embedder)

    def _pipeline_for(self, index: CorpusIndex) -> Pipeline:
        answerer = Answerer(index, self._reader(), self.settings.min_confidence)
        return Pipeline(index, Retriever(index, self.embedder), answerer)

    def _reader(self) -> Reader | None:
        """The process's reader (loaded by the first pipeline, a few seconds the first time it is
        exported), or None with QA_READER=off."""
        if self.settings.reader == "off":
            return None
        return load_reader(self.settings.cache_dir, int8=self.settings.reader == "int8")

    def reload(self) -> bool:
        """Serve the generation `CURRENT` names now, if it is not the one served; True if it
        switched. The old pipeline keeps answering the requests that already took it.

        A generation built with other settings or another model (`qa index` run with another
        configuration on the same folder) is refused with `IndexUnavailable`: its vectors or
        sentences would not match what this process embeds and expects."""
        folder = current_generation(self.settings.index_dir)
        served = self._pipeline
        if served is not None and served.index.generation == folder.name:
            return False
        if read_manifest(folder).get("build") != asdict(self._build_settings()):
            raise IndexUnavailable(f"generation {folder.name} was built with other settings or another model")
        return self._serve(self._segments.open(folder))

    def _serve(self, index: CorpusIndex) -> bool:
        """Answer from `index` from now on if `CURRENT` still names it (a write and the follower may
        both hold one, and `CURRENT` may have moved on while it was opened); True if it switched.
        What `CURRENT` names decides, not the order of names: those are wall-clock times, which
        sort a later write first when it comes from a host whose clock is behind (or after the
        clock was stepped back), and an operator rolls back by naming an older generation."""
        with self._switch:
            served = self._pipeline
            if served is not None and served.index.generation == index.generation:
                return False
            if current_generation(self.settings.index_dir).name != index.generation:
                return False
            self._pipeline = self._pipeline_for(index)
        log.info("serving index generation %s", index.generation)
        return True

    def follow(self, interval: float = 0.05) -> threading.Thread:
        """Reload whenever another process (`qa index`, another server) switches `CURRENT`,
        checking every `interval` seconds, for as long as the process lives."""

        def watch() -> None:
            refused = ""  # the last reason logged, so a refused generation is logged once
            while True:
                time.sleep(interval)
                if self._pipeline is None:
                    if self._load_failed and self._current_stamp() != self._current_seen:
                        # `CURRENT` written since the load failed (an operator naming a good generation,
                        # `qa ingest` into a folder that held none): load again, not 503 until a restart.
                        self._load_quietly()
                    continue
                try:
                    with self._opening:
                        self.reload()
                except Exception as exc:  # damaged, half-switched or foreign: keep serving, keep following
                    if str(exc) != refused:
                        log.warning("not switching index generation: %s", exc)
                        refused = str(exc)

        thread = threading.Thread(target=watch, name="qa-index-follower", daemon=True)
        thread.start()
        return thread

    def load_in_background(self) -> threading.Thread:
        """Load without blocking the server's start; `/readyz` reports when it is done."""
        thread = threading.Thread(target=self._load_quietly, name="qa-index-loader", daemon=True)
        thread.start()
        return thread

    def _load_quietly(self) -> None:
        with contextlib.suppress(Exception):  # logged by load() and reported by readiness
            self.load()

    def status(self) -> dict[str, object]:
        pipeline = self._pipeline
        if pipeline is not None:
            return {
                "ready": True,
                "index": pipeline.index.generation,
                "generation": pipeline.index.generation,
                **pipeline.index.manifest["counts"],
                "question_embedding": self.embedder.one_text_backend,
                "reader": pipeline.answerer.reader.backend if pipeline.answerer.reader else "off",
                "warnings": self._seed_warnings,
                "worker": os.getpid(),
            }
        return {
            "ready": False,
            "reason": LOAD_FAILED if self._load_failed else "the index is loading",
            "warnings": self._seed_warnings,
            "worker": os.getpid(),
        }

    @property
    def pipeline(self) -> Pipeline:
        """The pipeline requests use now, of the generation `CURRENT` names now; `NotReady` while
        there is none."""
        self._require_ready()
        self._catch_up()
        return self._require_ready()

    def _catch_up(self) -> None:
        """Serve the generation `CURRENT` names if it changed since the last look (a `stat`, a few
        microseconds): a write another worker or process committed is then answered by the next
        request here, not when the follower next polls. With two workers, a question asked right
        after `PUT` replaced an article got the old version 10 times in 15 (stale for up to 38 ms):
        the old figure, and offsets the article's `GET` no longer matched. What cannot be opened is
        left to the follower, which logs it and retries; requests keep the pipeline served."""
        seen = self._current_stamp()
        if seen is None or seen == self._current_seen:
            return
        with self._opening:  # every request thread arriving now would otherwise open it too
            if seen == self._current_seen:
                return
            with contextlib.suppress(Exception):
                self.reload()
            self._current_seen = seen

    def _current_stamp(self) -> tuple[int, int, int] | None:
        """`CURRENT`'s inode, modification time and size (each write replaces the file), or None."""
        try:
            stamp = os.stat(self.settings.index_dir / CURRENT)
        except OSError:
            return None
        return (stamp.st_ino, stamp.st_mtime_ns, stamp.st_size)

    def _require_ready(self) -> Pipeline:
        pipeline = self._pipeline
        if pipeline is None:
            raise NotReady(LOAD_FAILED if self._load_failed else LOADING)
        return pipeline

    @property
    def index(self) -> CorpusIndex:
        return self.pipeline.index

    @property
    def retriever(self) -> Retriever:
        return self.pipeline.retriever

    # --- questions ----------------------------------------------------------------------------

    def ask(self, query: Query) -> Answer:
        return self.ask_many([query])[0]

    def ask_many(self, queries: Sequence[Query], pipeline: Pipeline | None = None) -> list[Answer]:
        """Answer every query from `pipeline` (default: the one served now; a request answering in
        several calls passes the one it took first); `took_ms` shares the batch's time out evenly."""
        doc_ids = [doc_id for query in queries for doc_id in query.doc_ids]
        pipeline = pipeline or self.pipeline  # raises NotReady before any work is done
        if not queries:
            return []
        unknown = unknown_documents(pipeline.index, doc_ids)
        if unknown:
            raise UnknownDocuments(unknown)
        started = time.perf_counter()
        answers = self.embedder.on_threads(pipeline.answerer.answer, pipeline.retriever.retrieve(queries))
        took_ms = round((time.perf_counter() - started) * 1000 / len(queries), 2)
        generation = pipeline.index.generation
        return [replace(answer, took_ms=took_ms, generation=generation) for answer in answers]

    # --- documents ----------------------------------------------------------------------------

    def _archive(self) -> Archive:
        return Archive(self.settings.index_dir, self.embedder, self._build_settings(), self._segments)

    def publish(self, documents: Sequence[Document], expected: Sequence[Expected] = ()) -> Published:
        """Add or replace `documents` (ids unique) in one new generation. Returns once the write is
        durable and this process answers from it; other processes follow within a second.
        `PreconditionFailed` (nothing written) when an article is not at the version `expected` says."""
        self._require_ready()
        change = self._archive().publish(documents, expected=expected)
        self._serve_written(change.index)
        self._merge_in_background()
        return Published(change.index.generation, change.created)

    def delete(self, doc_ids: Sequence[str], expected: Sequence[Expected] = ()) -> str:
        """Remove `doc_ids` in one new generation and return its name; `DocumentNotFound` (and no
        change) when any of them is not in the archive, `PreconditionFailed` when one is not at the
        version `expected` says."""
        self._require_ready()
        try:
            index = self._archive().delete(doc_ids, expected).index
        except MissingDocuments as exc:
            raise DocumentNotFound(exc.doc_ids[0]) from None
        self._serve_written(index)
        self._merge_in_background()
        return index.generation

    def _serve_written(self, index: CorpusIndex) -> None:
        """Serve the generation this process just committed or, when another writer committed after
        it (a generation that holds this write too), the one `CURRENT` names now, so a write is
        answered from when it returns; what cannot be opened now the follower retries."""
        if not self._serve(index):
            with contextlib.suppress(Exception):
                self.reload()

    def _merge_in_background(self) -> None:
        """Merge small segments on a thread of its own (one at a time), so writes stay cheap and
        queries visit few segments; a failed merge is logged and changes nothing."""
        if not self._merging.acquire(blocking=False):
            return

        def merge() -> None:
            try:
                while (merged := self._archive().merge()) is not None:
                    self._serve(merged.index)
            except Exception:
                log.exception("merging segments failed; the archive is unchanged")
            finally:
                self._merging.release()

        threading.Thread(target=merge, name="qa-segment-merger", daemon=True).start()

    def documents(self) -> list[Document]:
        return sorted(self.index.documents.values(), key=lambda d: d.doc_id)

    def document(self, doc_id: str) -> Document:
        try:
            return self.index.documents[doc_id]
        except KeyError:
            raise DocumentNotFound(doc_id) from None


def unknown_documents(index: CorpusIndex, doc_ids: Iterable[str]) -> list[str]:
    """The ids among `doc_ids` that `index` does not hold, in order, once each."""
    return [doc_id for doc_id in dict.fromkeys(doc_ids) if doc_id not in index.documents]

"""The pipeline, top to bottom: documents -> chunks -> embeddings -> store -> retrieval -> answer.

`Service` is the one object the HTTP app and the CLI share. It answers a list of questions;
one question is a batch of one, so single and batch requests take the same path and batch
requests embed all their questions in one call.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import replace

from qa.answering import Answer, Answerer
from qa.config import Settings
from qa.documents import Document, load_seeds
from qa.embedding import Embedder
from qa.retrieval import Query, Retriever
from qa.store import BuildSettings, CorpusIndex, ensure_index

log = logging.getLogger(__name__)


class NotReady(RuntimeError):
    """The index is still loading (or failed to load); the message says which."""


class DocumentNotFound(KeyError):
    pass


class Service:
    def __init__(self, settings: Settings, embedder: Embedder | None = None):
        self.settings = settings
        self.embedder = embedder or Embedder.from_settings(settings)
        self._index: CorpusIndex | None = None
        self._retriever: Retriever | None = None
        self._answerer: Answerer | None = None
        self._load_error: str | None = None
        self._seed_warnings: list[str] = []  # bad seed records skipped or defaulted by the last load

    # --- lifecycle ----------------------------------------------------------------------------

    def load(self, progress: bool = False, documents: Sequence[Document] | None = None) -> Service:
        """Open the index of `documents` (default: the seeds folder), building it when missing or
        stale, and warm the model up."""
        try:
            if documents is None:
                seeds = load_seeds(self.settings.seeds_dir)
                documents, self._seed_warnings = seeds.documents, seeds.warnings
            build = BuildSettings.from_settings(self.settings, self.embedder)
            index = ensure_index(self.settings.index_dir, documents, self.embedder, build, progress=progress)
            # Load the model and run both paths once (one text, a batch) before declaring readiness.
            self.embedder.encode(["warm-up"])
            self.embedder.encode(["warm up", "the batch path"])
            self._retriever = Retriever(index, self.embedder)
            self._answerer = Answerer(index, self.settings.min_confidence)
            self._index = index
        except Exception as exc:
            self._load_error = f"{type(exc).__name__}: {exc}"
            log.exception("could not load the index")
            raise
        return self

    def load_in_background(self) -> threading.Thread:
        """Load without blocking the server's start; `/readyz` reports when it is done."""
        thread = threading.Thread(target=self._load_quietly, name="qa-index-loader", daemon=True)
        thread.start()
        return thread

    def _load_quietly(self) -> None:
        try:
            self.load()
        except Exception:  # recorded in _load_error and reported by readiness
            pass

    def status(self) -> dict[str, object]:
        if self._index is not None:
            return {"ready": True, "index": self._index.path.name, **self._index.manifest["counts"],
                    "question_embedding": self.embedder.one_text_backend, "warnings": self._seed_warnings}
        return {"ready": False, "reason": self._load_error or "the index is loading", "warnings": self._seed_warnings}

    @property
    def retriever(self) -> Retriever:
        if self._retriever is None:
            raise NotReady(self._load_error or "the index is still loading; retry shortly")
        return self._retriever

    @property
    def index(self) -> CorpusIndex:
        if self._index is None:
            raise NotReady(self._load_error or "the index is still loading; retry shortly")
        return self._index

    # --- questions ----------------------------------------------------------------------------

    def ask(self, query: Query) -> Answer:
        return self.ask_many([query])[0]

    def ask_many(self, queries: Sequence[Query]) -> list[Answer]:
        """Answer every query; the time of the whole batch is shared out evenly in `took_ms`."""
        self.index  # raises NotReady before any work is done
        assert self._retriever is not None and self._answerer is not None
        started = time.perf_counter()
        answers = [self._answerer.answer(r) for r in self._retriever.retrieve(queries)]
        took_ms = round((time.perf_counter() - started) * 1000 / max(1, len(queries)), 2)
        return [replace(answer, took_ms=took_ms) for answer in answers]

    # --- documents ----------------------------------------------------------------------------

    def documents(self) -> list[Document]:
        return sorted(self.index.documents.values(), key=lambda d: d.doc_id)

    def document(self, doc_id: str) -> Document:
        try:
            return self.index.documents[doc_id]
        except KeyError:
            raise DocumentNotFound(doc_id) from None


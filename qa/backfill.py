"""Backfilling a whole archive on a Ray cluster: `qa ingest PATH... --ray [ADDRESS]`.

Embedding is the cost of a build (about 80% of it) and splits cleanly by article, so Ray Data
reads the input where it runs, and actors of `SplitAndEmbed` (one per CPU of the cluster, each
loading the model once and running one inference thread) split, check and embed batches of
articles. The driver only streams their results back and commits them through the live
archive's write path (`Archive.publish_embedded`) every `commit_every` articles: pooling,
FAISS, BM25 and SQLite stay in `qa.indexing` and `qa.store`, exactly as a local build does them.

Nothing holds the whole archive: Ray reads it lazily, and the driver keeps one commit's articles.
A rerun skips articles already committed with the same content hash before they are embedded, so
an interrupted backfill resumes where its last commit ended. Ray is imported only here, and only
when `qa ingest --ray` runs (`pip install 'article-qa[ray]'`).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qa.documents import Document
from qa.indexing import Archive, EmbeddedArticle

if TYPE_CHECKING:
    import ray.data

# Articles a worker splits and embeds per call: a few hundred sentences, enough for full model
# batches of 32 after sorting by length, while results still stream back every few seconds.
BATCH_ARTICLES = 32
# What each output row of `SplitAndEmbed` says about its article.
EMBEDDED, UNCHANGED, INVALID = "embedded", "unchanged", "invalid"
COLUMNS = ("status", "note", "document", "spans", "vectors")


@dataclass
class Summary:
    """What a backfill did, for `qa ingest --json` and its last line on stderr."""

    published: int = 0
    created: int = 0
    unchanged: int = 0
    invalid: int = 0
    generation: str = ""


def committed_hashes(archive: Archive) -> dict[str, str]:
    """`document_hash` of every live article, read from the manifests alone (no segment is
    loaded): what a rerun compares against to skip articles already committed. Refuses, before any
    work, an archive built with other settings or another model (`IndexUnavailable`): its vectors
    and these could not be searched together."""
    from qa.store import CURRENT

    if not (archive.index_dir / CURRENT).exists():  # a new archive; a damaged one is an error
        return {}
    return archive.catalog().live_hashes()


def count_records(paths: Sequence[Path]) -> int:
    """How many input records `paths` hold (non-blank `.jsonl` lines, `.txt` files of folders,
    `.parquet` rows), valid or not, counted without holding them: what `qa ingest`'s progress bar
    counts, so it has an end and an ETA. Lines are read as the local reader reads them."""
    total = 0
    for path in paths:
        if path.is_dir():
            total += sum(1 for _ in path.glob("*.txt"))
        elif path.suffix == ".parquet":
            import pyarrow.parquet

            total += pyarrow.parquet.ParquetFile(path).metadata.num_rows
        else:
            with path.open(encoding="utf-8-sig", errors="surrogateescape") as handle:
                total += sum(1 for line in handle if line.strip())
    return total


def progress_label(verb: str, paths: Sequence[Path]) -> str:
    """A progress bar's label naming what it counts: input records read, invalid ones included,
    which are not all articles (`qa ingest --json` says how many were)."""
    kinds = {"files" if p.is_dir() else "rows" if p.suffix == ".parquet" else "lines" for p in paths}
    return f"{verb} ({' and '.join(sorted(kinds))} read)"


def read_sources(paths: Sequence[Path]) -> list[ray.data.Dataset]:
    """Lazy datasets of the input, one per kind, each read in one go: `.parquet` files (columns
    id, title, text, metadata), folders of `.txt` (+ `.json`) articles, and `.jsonl` files.
    (Ray Data's `union` of them never finished here, so each kind is run on its own.) Reads take no
    CPU slot: the actors hold every CPU, and reading must never wait for them to finish."""
    import ray.data

    folders = [p for p in paths if p.is_dir()]
    parquet = [str(p) for p in paths if not p.is_dir() and p.suffix == ".parquet"]
    jsonl = [str(p) for p in paths if not p.is_dir() and p.suffix != ".parquet"]
    datasets = []
    if jsonl:
        lines = ray.data.read_text(jsonl, include_paths=True, num_cpus=0)
        datasets.append(lines.rename_columns({"text": "line"}))
    if parquet:
        datasets.append(ray.data.read_parquet(parquet, num_cpus=0))
    if folders:  # only the names here; the files are read by the workers
        datasets.append(ray.data.from_items([{"file": str(f)} for d in folders for f in sorted(d.glob("*.txt"))]))
    return datasets


def read_records(batch: Mapping[str, np.ndarray]) -> Iterator[tuple[str, Any, str]]:
    """`(where, record, problem)` for each input row of any source; `problem` is "" when the row
    could be read (the record is then checked like an API body)."""
    from qa.documents import DocumentError, load_document

    if "line" in batch:
        for path, line in zip(batch["path"], batch["line"], strict=True):
            try:
                record = json.loads(line)
            except ValueError as exc:
                yield f"{path}: {line[:60]!r}", None, f"not JSON ({exc})"
                continue
            named = isinstance(record, dict) and isinstance(record.get("id"), str)
            yield f"{path}: article {record['id']!r}" if named else f"{path}: {line[:60]!r}", record, ""
    elif "file" in batch:
        for file in batch["file"]:
            try:
                document, problems = load_document(Path(file))
            except (DocumentError, OSError) as exc:
                yield str(file), None, str(exc)
                continue
            record = {"id": document.doc_id, "title": document.title, "text": document.text}
            yield str(file), {**record, "metadata": document.metadata}, "; ".join(problems)
    else:
        for row in range(len(batch["id"])):
            record = {key: batch[key][row] for key in ("id", "title", "text", "metadata") if key in batch}
            if isinstance(record.get("metadata"), str):
                with contextlib.suppress(ValueError):  # left a string: validation reports it
                    record["metadata"] = json.loads(record["metadata"])
            yield f"article {record.get('id')!r}", record, ""


class SplitAndEmbed:
    """A Ray Data actor: checks, splits and embeds a batch of input rows. The model loads once
    per actor, on one inference thread (`concurrency` = the cluster's CPUs gives each its core)."""

    def __init__(self, model_path: str | None, max_sentence_chars: int, max_chars: int, committed: list[Any]):
        import ray

        from qa.embedding import Embedder

        self.embedder = Embedder(model_path, threads=1, cache_dir=None)
        self.max_sentence_chars, self.max_chars = max_sentence_chars, max_chars
        # Wrapped in a list so Ray hands over the reference, fetched once here, not per call.
        self.committed: dict[str, str] = ray.get(committed[0])

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import marshmallow

        from qa.chunking import sentence_spans
        from qa.documents import document_hash
        from qa.indexing import embed_sentences
        from qa.schemas import messages_text, parse_document

        rows: list[tuple[str, str, str, bytes, bytes]] = []
        pending: list[tuple[Document, list[tuple[int, int]], int, str]] = []
        texts: list[str] = []
        for where, record, problem in read_records(batch):
            if record is None:
                rows.append((INVALID, f"{where}: {problem}; skipped", "", b"", b""))
                continue
            try:
                document = parse_document(record, max_chars=self.max_chars)
            except marshmallow.ValidationError as exc:
                rows.append((INVALID, f"{where}: {messages_text(exc.messages)}; skipped", "", b"", b""))
                continue
            if self.committed.get(document.doc_id) == document_hash(document):
                rows.append((UNCHANGED, "", "", b"", b""))
                continue
            spans = sentence_spans(document.text, self.max_sentence_chars)
            if not spans:
                rows.append((INVALID, f"{where}: no sentence to index; skipped", "", b"", b""))
                continue
            pending.append((document, spans, len(texts), f"{where}: {problem}" if problem else ""))
            texts.extend(document.text[start:end] for start, end in spans)
        vectors = embed_sentences(texts, self.embedder, {}) if texts else np.zeros((0, 0), np.float32)
        for document, spans, first, note in pending:
            rows.append(
                (
                    EMBEDDED,
                    note,
                    _document_json(document),
                    np.asarray(spans, dtype=np.int64).tobytes(),
                    vectors[first : first + len(spans)].tobytes(),
                )
            )
        return {name: np.array([row[n] for row in rows], dtype=object) for n, name in enumerate(COLUMNS)}


def _document_json(document: Document) -> str:
    """An article as ASCII JSON: lone surrogates and any other code point cross Arrow intact."""
    record = {"id": document.doc_id, "title": document.title, "text": document.text, "metadata": document.metadata}
    return json.dumps(record, ensure_ascii=True)


def embedded_article(document_json: str, span_bytes: bytes, vector_bytes: bytes) -> EmbeddedArticle:
    """The driver's side of an `EMBEDDED` row."""
    record = json.loads(document_json)
    spans = np.frombuffer(span_bytes, dtype=np.int64).reshape(-1, 2)
    vectors = np.frombuffer(vector_bytes, dtype=np.float32).reshape(len(spans), -1)
    document = Document(record["id"], record["text"], record["title"], record["metadata"])
    return EmbeddedArticle(document, [(int(s), int(e)) for s, e in spans], vectors)


def connect(address: str | None) -> int:
    """Join the Ray cluster at `address` (None: start one on this machine; "auto": the cluster
    this machine belongs to; "ray://host:10001": a remote one) and return its CPU count."""
    import ray

    logging.getLogger("ray.data").setLevel(logging.WARNING)  # its INFO lines would break the progress bar
    if not ray.is_initialized():
        if address is None:
            ray.init(include_dashboard=False, configure_logging=False)
        else:
            ray.init(address=address, configure_logging=False)
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def backfill(
    paths: Sequence[Path],
    archive: Archive,
    model_path: str | None,
    max_chars: int,
    address: str | None,
    commit_every: int,
    on_progress: Callable[[int], None] = lambda done: None,
    on_problem: Callable[[str], None] = lambda line: None,
) -> Summary:
    """Split and embed `paths` on Ray and publish them into `archive`, `commit_every` articles
    per commit (a later duplicate id in the input wins); `on_progress(n)` after every n input rows
    handled, `on_problem(line)` for every skipped article or defaulted field."""
    import ray
    from ray.data import ActorPoolStrategy, DataContext

    hashes = committed_hashes(archive)  # first: an archive of other settings is refused before Ray starts
    cpus = connect(address)
    context = DataContext.get_current()
    context.enable_progress_bars = False  # the caller shows one bar, in articles
    context.execution_options.preserve_order = True  # so the last duplicate in the input wins
    committed = [ray.put(hashes)]
    results = (
        source.map_batches(
            SplitAndEmbed,
            batch_size=BATCH_ARTICLES,
            batch_format="numpy",
            compute=ActorPoolStrategy(size=cpus),
            num_cpus=1,
            fn_constructor_kwargs={
                "model_path": model_path,
                "max_sentence_chars": archive.settings.max_sentence_chars,
                "max_chars": max_chars,
                "committed": committed,
            },
        ).iter_batches(batch_size=None, batch_format="numpy")
        for source in read_sources(paths)
    )
    summary = Summary()
    pending: dict[str, EmbeddedArticle] = {}

    def commit() -> None:
        if pending:
            change = archive.publish_embedded(list(pending.values()))
            # An article a commit of this run already made as it is (a repeat) is unchanged, as
            # `qa ingest` without Ray counts it; the actors only knew the archive as it started.
            summary.published += len(pending) - change.unchanged
            summary.unchanged += change.unchanged
            summary.created += sum(change.created)
            summary.generation = change.generation
            pending.clear()

    for batch in itertools.chain.from_iterable(results):
        for status, note, document, spans, vectors in zip(*(batch[c] for c in COLUMNS), strict=True):
            if note:
                on_problem(note)
            if status == UNCHANGED:
                summary.unchanged += 1
            elif status == INVALID:
                summary.invalid += 1
            else:
                article = embedded_article(document, spans, vectors)
                pending.pop(article.document.doc_id, None)  # re-inserted last: a later duplicate wins
                pending[article.document.doc_id] = article
                if len(pending) >= commit_every:
                    commit()
        on_progress(len(batch["status"]))
    commit()
    return summary

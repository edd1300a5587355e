"""`Archive.publish_embedded`: articles split and embedded elsewhere (a Ray worker) commit the
same segment as `publish` makes here, and `qa.backfill` reads what is committed from manifests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from qa import store
from qa.backfill import committed_hashes, embedded_article, read_records
from qa.chunking import sentence_spans
from qa.config import Settings
from qa.documents import Document, load_directory
from qa.embedding import Embedder
from qa.indexing import Archive, BuildSettings, EmbeddedArticle, embed_sentences
from tests.conftest import SEED_ID, SEEDS
from tests.test_live_archive import FLOOD_V1, FLOOD_V2


def embedded_elsewhere(embedder: Embedder, settings: BuildSettings, *documents: Document) -> list[EmbeddedArticle]:
    """What `qa.backfill.SplitAndEmbed` computes for each article."""
    articles = []
    for document in documents:
        spans = sentence_spans(document.text, settings.max_sentence_chars)
        texts = [document.text[start:end] for start, end in spans]
        articles.append(EmbeddedArticle(document, spans, embed_sentences(texts, embedder, {})))
    return articles


def test_an_article_embedded_elsewhere_is_committed_as_publish_would_and_replaces_its_old_version(
    tmp_path: Path,
) -> None:
    embedder = Embedder()
    build = BuildSettings.from_settings(Settings(), embedder)
    here = Archive(tmp_path / "here", embedder, build)
    there = Archive(tmp_path / "there", embedder, build)
    seeds = load_directory(SEEDS)
    here.publish([*seeds, FLOOD_V1])
    there.publish_embedded(embedded_elsewhere(embedder, build, *seeds, FLOOD_V1))
    local, remote = store.open_index(tmp_path / "here"), store.open_index(tmp_path / "there")
    assert local.manifest["counts"] == remote.manifest["counts"]
    assert local.manifest["corpus_hash"] == remote.manifest["corpus_hash"]
    assert np.array_equal(local.sentence_start, remote.sentence_start)
    assert np.array_equal(local.chunk_first, remote.chunk_first)

    change = there.publish_embedded(embedded_elsewhere(embedder, build, FLOOD_V2))
    assert change.created == [False] and change.index.documents["flood-barrier"].text == FLOOD_V2.text
    assert committed_hashes(there) == {
        SEED_ID: store.document_hash(seeds[0]),
        "flood-barrier": store.document_hash(FLOOD_V2),
    }, "the replaced version's hash is not counted as committed"
    assert committed_hashes(Archive(tmp_path / "nowhere", embedder, build)) == {}


def test_a_commit_decides_from_manifests_and_never_loads_the_segments_it_adds_to(tmp_path: Path) -> None:
    """A backfill's driver must not grow with the archive it writes (it went from 210 MB to 1.5 GB
    over 100,000 articles when every commit loaded the generation). Publishing new and replaced
    articles and deleting one decide from the manifests and count from SQLite rows: with the
    existing segment's vectors, FAISS index, postings and answer types damaged, a writer with
    nothing loaded still commits, and the counts it records are those of the articles kept."""
    embedder = Embedder()
    build = BuildSettings.from_settings(Settings(), embedder)
    kept = Document("kept", "The ferry timetable is unchanged this winter.", "Ferries")
    brief = Document("brief", "The harbour reopened on Monday. Ferries run hourly again.", "Harbour reopens")
    index_dir = tmp_path / "index"
    Archive(index_dir, embedder, build).publish_embedded(
        embedded_elsewhere(embedder, build, *load_directory(SEEDS), FLOOD_V1, kept)
    )
    (segment,) = (index_dir / store.SEGMENTS).iterdir()
    damaged = (store.SENTENCE_VECTORS, store.CHUNK_VECTORS, store.SENTENCE_LEXICAL, store.CHUNK_LEXICAL)
    originals = {name: (segment / name).read_bytes() for name in (*damaged, store.ANSWER_TYPES)}
    for name in originals:
        (segment / name).write_bytes(b"damaged")

    writer = Archive(index_dir, embedder, build)
    change = writer.publish_embedded(embedded_elsewhere(embedder, build, FLOOD_V2, brief))
    assert change.created == [False, True]
    writer.delete([SEED_ID])

    for name, data in originals.items():
        (segment / name).write_bytes(data)
    index = store.open_index(index_dir)
    assert set(index.documents) == {"kept", "flood-barrier", "brief"}
    assert index.documents["flood-barrier"].text == FLOOD_V2.text
    assert index.manifest["counts"] == {
        "documents": 3,
        "sentences": int(index.live_sentence.sum()),
        "chunks": int(index.live_sentence[index.chunk_first].sum()),
    }
    assert index.manifest["corpus_hash"] == store.corpus_hash([kept, FLOOD_V2, brief])


def test_a_worker_row_reads_back_as_the_article_it_was() -> None:
    """Even a lone surrogate (a byte that was not UTF-8) crosses as ASCII JSON."""
    document = Document("lone", "Caf\udce9 opens. Second sentence.", "T", {"k": "v"})
    record = {"id": "lone", "title": "T", "text": document.text, "metadata": {"k": "v"}}
    vectors = np.arange(8, dtype=np.float32).reshape(2, 4)
    spans = np.array([[0, 11], [12, 28]], dtype=np.int64)
    article = embedded_article(json.dumps(record), spans.tobytes(), vectors.tobytes())
    assert article.document == document
    assert article.spans == [(0, 11), (12, 28)] and np.array_equal(article.vectors, vectors)


def test_every_input_kind_reads_as_records_and_a_bad_row_names_where_it_is(tmp_path: Path) -> None:
    """The rows Ray Data hands a worker: lines of .jsonl files, files of a folder, Parquet columns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "a.txt").write_text("Some text.", encoding="utf-8")
    (tmp_path / "a.json").write_text('{"id": "a-1", "title": "A"}', encoding="utf-8")
    lines = {"path": np.array(["feed.jsonl"] * 2), "line": np.array(['{"id": "x", "text": "T"}', "not json"])}
    files = {"file": np.array([str(tmp_path / "a.txt"), str(tmp_path / "gone.txt")])}
    table = pa.table({"id": ["p"], "title": ["P"], "text": ["Text."], "metadata": ['{"author": "Desk"}']})
    pq.write_table(table, tmp_path / "a.parquet")
    columns = {k: np.array(v, dtype=object) for k, v in pq.read_table(tmp_path / "a.parquet").to_pydict().items()}

    read = [*read_records(lines), *read_records(files), *read_records(columns)]
    assert [(where, problem == "") for where, _, problem in read] == [
        ("feed.jsonl: article 'x'", True),
        ("feed.jsonl: 'not json'", False),
        (str(tmp_path / "a.txt"), True),
        (str(tmp_path / "gone.txt"), False),
        ("article 'p'", True),
    ]
    assert read[2][1] == {"id": "a-1", "title": "A", "text": "Some text.", "metadata": {}}
    assert read[4][1] == {"id": "p", "title": "P", "text": "Text.", "metadata": {"author": "Desk"}}

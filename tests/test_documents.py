"""Stage 1, documents: seed files are read byte-for-byte, metadata beside them, ids unique."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa.chunking import split_sentences
from qa.documents import Document, DocumentError, corpus_fingerprint, load_directory, load_document
from tests.conftest import SEED_ID, SEED_TEXT, SEEDS


def write_article(folder: Path, name: str, text: str | bytes, metadata: object = None) -> Path:
    path = folder / f"{name}.txt"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    if metadata is not None:
        (folder / f"{name}.json").write_text(metadata if isinstance(metadata, str) else json.dumps(metadata),
                                             encoding="utf-8")
    return path


def test_crlf_and_bom_are_kept_verbatim_so_offsets_match_the_file(tmp_path: Path) -> None:
    raw = "\ufeffFirst sentence.\r\nSecond one here.\r\n\r\nThird — with “quotes”.\r\n".encode()
    document = load_document(write_article(tmp_path, "crlf", raw))
    assert document.text == raw.decode("utf-8")
    assert document.text.startswith("\ufeffFirst") and document.text.count("\r\n") == 4
    sentences = split_sentences(document.doc_id, document.text)
    assert [(s.start, s.end) for s in sentences] == [(0, 16), (18, 34), (38, 60)]
    assert [raw.decode("utf-8")[s.start : s.end] for s in sentences] == [s.text for s in sentences]


def test_metadata_record_gives_id_title_and_the_rest_as_metadata(tmp_path: Path) -> None:
    path = write_article(tmp_path, "file-name", "Text.",
                         {"id": "article-1", "title": "A title", "author": "Ann Author", "source": "Wire"})
    assert load_document(path) == Document("article-1", "Text.", "A title", {"author": "Ann Author", "source": "Wire"})


def test_without_metadata_the_file_name_is_id_and_title(tmp_path: Path) -> None:
    assert load_document(write_article(tmp_path, "plain", "Text.")) == Document("plain", "Text.", "plain", {})


def test_seed_article_metadata() -> None:
    document = load_document(SEEDS / f"{SEED_ID}.txt")
    assert document.text == SEED_TEXT
    assert document.title == "Blinken and Wang Yi hold seven hours of talks on the U.S.-China relationship"
    assert document.metadata == {"author": "Se Hoon Kim", "source": "Global Strat View"}


def test_directory_loads_every_article_in_name_order(tmp_path: Path) -> None:
    write_article(tmp_path, "b", "Second.")
    write_article(tmp_path, "a", "First.", {"id": "zeta"})
    (tmp_path / "notes.md").write_text("not an article", encoding="utf-8")
    assert [d.doc_id for d in load_directory(tmp_path)] == ["zeta", "b"]


def test_duplicate_ids_are_rejected(tmp_path: Path) -> None:
    write_article(tmp_path, "one", "First.", {"id": "same"})
    write_article(tmp_path, "two", "Second.", {"id": "same"})
    with pytest.raises(DocumentError, match=r"two articles in .* share the id 'same'"):
        load_directory(tmp_path)


@pytest.mark.parametrize(
    ("metadata", "message"),
    [('{"id": "x",', "is not valid JSON"), ('["a", "list"]', "must hold a JSON object"),
     (b'{"author": "Jos\xe9"}', "is not valid JSON")],
    ids=["malformed", "not-an-object", "not-utf8"],
)
def test_unusable_metadata_gives_document_error(tmp_path: Path, metadata: str | bytes, message: str) -> None:
    path = write_article(tmp_path, "bad", "Text.")
    path.with_suffix(".json").write_bytes(metadata if isinstance(metadata, bytes) else metadata.encode())
    with pytest.raises(DocumentError, match=message):
        load_document(path)


def test_text_that_is_not_utf8_gives_document_error(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match="is not UTF-8 text"):
        load_document(write_article(tmp_path, "latin1", "Café.".encode("latin-1")))


def test_missing_seed_directory_gives_document_error(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match="does not exist"):
        load_directory(tmp_path / "missing")


def test_fingerprint_changes_with_text_or_metadata_only() -> None:
    base = Document("a", "Text.", "Title", {"author": "X"})
    assert corpus_fingerprint([base]) == corpus_fingerprint([Document("a", "Text.", "Title", {"author": "X"})])
    changed = [Document("a", "Text!", "Title", {"author": "X"}), Document("a", "Text.", "Title", {"author": "Y"}),
               Document("b", "Text.", "Title", {"author": "X"}), Document("a", "Text.", "Other", {"author": "X"})]
    assert len({corpus_fingerprint([base]), *(corpus_fingerprint([d]) for d in changed)}) == 5

"""Stage 1, documents: seed files are read byte-for-byte, metadata beside them, ids unique."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from qa.chunking import split_sentences
from qa.documents import (
    MAX_METADATA_DEPTH,
    MAX_WARNINGS,
    NOT_FINITE,
    NOT_TEXT,
    TOO_DEEP,
    Document,
    DocumentError,
    document_hash,
    is_doc_id,
    load_directory,
    load_document,
    load_seeds,
    metadata_problems,
    nesting_depth,
)
from tests.conftest import SEED_ID, SEED_TEXT, SEEDS


def write_article(folder: Path, name: str, text: str | bytes, metadata: object = None) -> Path:
    path = folder / f"{name}.txt"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    if metadata is not None:
        (folder / f"{name}.json").write_text(
            metadata if isinstance(metadata, str) else json.dumps(metadata), encoding="utf-8"
        )
    return path


def test_crlf_and_bom_are_kept_verbatim_so_offsets_match_the_file(tmp_path: Path) -> None:
    raw = "\ufeffFirst sentence.\r\nSecond one here.\r\n\r\nThird — with “quotes”.\r\n".encode()
    document, _ = load_document(write_article(tmp_path, "crlf", raw))
    assert document.text == raw.decode("utf-8")
    assert document.text.startswith("\ufeffFirst") and document.text.count("\r\n") == 4
    sentences = split_sentences(document.doc_id, document.text)
    assert [(s.start, s.end) for s in sentences] == [(0, 16), (18, 34), (38, 60)]
    assert [raw.decode("utf-8")[s.start : s.end] for s in sentences] == [s.text for s in sentences]


def test_metadata_record_gives_id_title_and_the_rest_as_metadata(tmp_path: Path) -> None:
    path = write_article(
        tmp_path,
        "file-name",
        "Text.",
        {"id": "article-1", "title": "A title", "author": "Ann Author", "source": "Wire"},
    )
    expected = Document("article-1", "Text.", "A title", {"author": "Ann Author", "source": "Wire"})
    assert load_document(path) == (expected, [])


def test_a_metadata_record_saved_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    """A `.json` saved as "UTF-8 with BOM" was "not valid JSON (Unexpected UTF-8 BOM ...)": the
    article lost its id, title and byline to its file name; the API ignores such a mark."""
    path = write_article(tmp_path, "file-name", "Text.")
    record = {"id": "article-1", "title": "A title", "author": "Ann Author"}
    path.with_suffix(".json").write_bytes(b"\xef\xbb\xbf" + json.dumps(record).encode())
    assert load_document(path) == (Document("article-1", "Text.", "A title", {"author": "Ann Author"}), [])


def test_without_metadata_the_file_name_is_id_and_title(tmp_path: Path) -> None:
    assert load_document(write_article(tmp_path, "plain", "Text.")) == (Document("plain", "Text.", "plain", {}), [])


def test_seed_article_metadata() -> None:
    document, problems = load_document(SEEDS / f"{SEED_ID}.txt")
    assert problems == []
    assert document.text == SEED_TEXT
    assert document.title == "Blinken and Wang Yi hold seven hours of talks on the U.S.-China relationship"
    assert document.metadata == {"author": "Se Hoon Kim", "source": "Global Strat View"}


def test_directory_loads_every_article_in_name_order(tmp_path: Path) -> None:
    write_article(tmp_path, "b", "Second.")
    write_article(tmp_path, "a", "First.", {"id": "zeta"})
    (tmp_path / "notes.md").write_text("not an article", encoding="utf-8")
    assert [d.doc_id for d in load_directory(tmp_path)] == ["zeta", "b"]
    assert load_seeds(tmp_path).warnings == []


DEFAULTED = "using the file name as id and title"


@pytest.mark.parametrize(
    ("metadata", "problem"),
    [
        (
            '{"id": "x",',
            "not valid JSON (Expecting property name enclosed in double quotes: line 1 column 12 (char 11))",
        ),
        ('["a", "list"]', "not a JSON object"),
        (
            b'{"author": "Jos\xe9"}',
            "not valid JSON ('utf-8' codec can't decode byte 0xe9 in position 15: invalid continuation byte)",
        ),
    ],
    ids=["malformed", "not-an-object", "not-utf8"],
)
def test_unusable_metadata_keeps_the_article_under_its_file_name(
    tmp_path: Path, metadata: str | bytes, problem: str
) -> None:
    path = write_article(tmp_path, "bad", "Text.")
    path.with_suffix(".json").write_bytes(metadata if isinstance(metadata, bytes) else metadata.encode())
    assert load_document(path) == (Document("bad", "Text.", "bad", {}), [f"{problem}; {DEFAULTED}"])


@pytest.mark.parametrize(
    ("record", "expected", "problem"),
    [
        (
            {"id": 7, "title": "T", "author": "A"},
            Document("bad", "Text.", "T", {"author": "A"}),
            "\"id\" must be 1 to 128 letters, digits, '.', '_' or '-', not 7; using \"bad\"",
        ),
        (
            {"id": "a/b"},
            Document("bad", "Text.", "bad", {}),
            "\"id\" must be 1 to 128 letters, digits, '.', '_' or '-', not \"a/b\"; using \"bad\"",
        ),
        (
            {"id": "x", "title": ["T"]},
            Document("x", "Text.", "bad", {}),
            '"title" must be a string, not ["T"]; using "bad"',
        ),
    ],
    ids=["id-number", "id-slash", "title-list"],
)
def test_a_field_of_the_wrong_type_falls_back_to_the_file_name(
    tmp_path: Path, record: dict[str, object], expected: Document, problem: str
) -> None:
    assert load_document(write_article(tmp_path, "bad", "Text.", record)) == (expected, [problem])


@pytest.mark.parametrize(
    ("name", "record", "expected", "problems"),
    [
        # An id the API refuses ("a b?#%") was imported as it was and could then not be replaced.
        (
            "bad",
            {"id": "a b?#%"},
            Document("bad", "Text.", "bad", {}),
            ["\"id\" must be 1 to 128 letters, digits, '.', '_' or '-', not \"a b?#%\"; using \"bad\""],
        ),
        # A file name is an id once the characters an id cannot hold are dashes; the title keeps it.
        ("Harbour report (final)", {}, Document("Harbour-report-final-", "Text.", "Harbour report (final)", {}), []),
        # Metadata the API refuses is left out, not served: a `url` a page would link, a date pages sort by.
        (
            "bad",
            {"url": 7, "published_at": "yesterday", "author": "Ann"},
            Document("bad", "Text.", "bad", {"author": "Ann"}),
            [
                '"url": Must be a string. Left out',
                '"published_at": Must be an ISO 8601 date or date and time, e.g. 2026-12-04T09:30:00Z. Left out',
            ],
        ),
        # JSON spells lone surrogates ("\\ud800"); the API refuses them. A seed holding one was loaded,
        # and hashing the article for the archive failed: the server never became ready.
        (
            "bad",
            {"title": "T\ud800", "author": "A\udfff", "tags": ["ok", {"x": "\ud83d"}], "k\udc00": 1, "desk": "Metro"},
            Document("bad", "Text.", "bad", {"desk": "Metro"}),
            [
                '"title" must be valid Unicode text, not "T\\ud800"; using "bad"',
                '"author": Must be valid Unicode text (no lone surrogate code points). Left out',
                '"tags": Must be valid Unicode text (no lone surrogate code points). Left out',
                '"k\\udc00": Must be valid Unicode text (no lone surrogate code points). Left out',
            ],
        ),
        # A blank title is refused by the API too; a page showed an empty heading for it.
        (
            "blank-title",
            {"title": " \n "},
            Document("blank-title", "Text.", "blank-title", {}),
            ['"title" must be more than whitespace, not " \\n "; using "blank-title"'],
        ),
    ],
    ids=["id-the-api-refuses", "file-name-with-spaces", "metadata-the-api-refuses", "lone-surrogates", "blank-title"],
)
def test_a_seed_follows_the_api_rules_for_ids_and_metadata(
    tmp_path: Path, name: str, record: dict[str, object], expected: Document, problems: list[str]
) -> None:
    assert load_document(write_article(tmp_path, name, "Text.", record)) == (expected, problems)
    assert is_doc_id(expected.doc_id)


def test_a_file_name_with_no_letter_or_digit_an_id_holds_gets_a_distinct_stable_id(tmp_path: Path) -> None:
    """Such names all became the id "-" (or "." and "..", ids the API refuses), so the first such
    file of a folder took the id and the others were skipped as repeating it."""
    names = ["日本", "中国", "!!!", "日本 中国", "..", "-"]
    for name in names:
        write_article(tmp_path, name, f"Text of {name}.")
    seeds = load_seeds(tmp_path)
    ids = {d.title: d.doc_id for d in seeds.documents}
    assert (sorted(ids), seeds.warnings) == (sorted(names), [])
    assert len(set(ids.values())) == len(names) and all(map(is_doc_id, ids.values()))
    assert ids == {d.title: d.doc_id for d in load_seeds(tmp_path).documents}, "the same on every load"
    assert ids["日本"] == "cf2abf0c5be3"  # the README's example, never to change: it would re-key archives
    # A name that already makes an id keeps it: a changed id would re-key the archive's articles.
    assert load_document(write_article(tmp_path, "Café 日本", "Text."))[0].doc_id == "Caf-"


def test_a_seed_with_only_whitespace_is_skipped(tmp_path: Path) -> None:
    """It was imported as an article of no sentences, which `qa ingest` and the API refuse."""
    with pytest.raises(DocumentError, match="no text, only whitespace"):
        load_document(write_article(tmp_path, "blank", " \n\t "))


def test_text_that_is_not_utf8_gives_document_error(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match="not UTF-8 text"):
        load_document(write_article(tmp_path, "latin1", "Café.".encode("latin-1")))


def test_missing_seed_directory_gives_document_error(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match="does not exist"):
        load_directory(tmp_path / "missing")


def test_bad_seed_files_are_skipped_or_defaulted_with_one_warning_each(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """One good article and one of each kind of bad record: the load goes on, and every warning names
    the file relative to the seeds folder (never a server path)."""
    write_seed_folder_with_every_problem(tmp_path)
    with caplog.at_level(logging.WARNING, logger="qa.documents"):
        seeds = load_seeds(tmp_path)
    assert [d.doc_id for d in seeds.documents] == ["broken-json", "good", "list-json", "numbered", "untitled"]
    assert seeds.documents[1] == Document("good", GOOD_TEXT, "Harbour lighthouse", {"author": "Ann"})
    assert seeds.warnings == EVERY_PROBLEM
    assert [r.getMessage() for r in caplog.records] == EVERY_PROBLEM
    assert not any(str(tmp_path) in w or "/" in w.split(":")[0] for w in seeds.warnings)


GOOD_TEXT = "The Kelmouth lighthouse was lit by Agnes Whitlow in 1874. It is 31 metres tall."
EVERY_PROBLEM = [
    "broken-json.json: not valid JSON (Expecting value: line 1 column 1 (char 0)); " + DEFAULTED,
    'later-copy.txt: the id "good" is already used by good.txt; skipped',
    "latin1.txt: not UTF-8 text ('utf-8' codec can't decode byte 0xe9 in position 3: invalid continuation byte); "
    "skipped",
    "list-json.json: not a JSON object; " + DEFAULTED,
    "numbered.json: \"id\" must be 1 to 128 letters, digits, '.', '_' or '-', not 42; using \"numbered\"",
    'untitled.json: "title" must be a string, not {"a": 1}; using "untitled"',
    "unwritten.json: no unwritten.txt beside it; ignored",
]


def write_seed_folder_with_every_problem(folder: Path) -> None:
    """Shared with the service test: a good article beside one of each kind of bad seed record."""
    write_article(folder, "good", GOOD_TEXT, {"title": "Harbour lighthouse", "author": "Ann"})
    write_article(folder, "broken-json", "The bakery sells rye bread.", "not json")
    write_article(folder, "later-copy", "Another article claims the same id.", {"id": "good"})
    write_article(folder, "latin1", "Café culture in Kelmouth.".encode("latin-1"))
    write_article(folder, "list-json", "The ferry leaves at noon.", ["a", "list"])
    write_article(folder, "numbered", "The market opens on Sundays.", {"id": 42})
    write_article(folder, "untitled", "The museum closed in 1990.", {"title": {"a": 1}})
    (folder / "unwritten.json").write_text('{"title": "Its article was never saved"}', encoding="utf-8")


def test_warnings_are_capped_so_readiness_stays_small(tmp_path: Path) -> None:
    for number in range(MAX_WARNINGS + 5):
        write_article(tmp_path, f"a{number:03d}", "Text.", "[]")
    warnings = load_seeds(tmp_path).warnings
    assert len(warnings) == MAX_WARNINGS + 1
    assert warnings[-1] == "and 5 more problems with seed files (see the log)"


def test_hash_changes_with_id_title_text_or_metadata_only() -> None:
    base = Document("a", "Text.", "Title", {"author": "X"})
    assert document_hash(base) == document_hash(Document("a", "Text.", "Title", {"author": "X"}))
    changed = [
        Document("a", "Text!", "Title", {"author": "X"}),
        Document("a", "Text.", "Title", {"author": "Y"}),
        Document("b", "Text.", "Title", {"author": "X"}),
        Document("a", "Text.", "Other", {"author": "X"}),
    ]
    assert len({document_hash(base), *(document_hash(d) for d in changed)}) == 5


def nested(levels: int, inner: object) -> object:
    """`inner` inside `levels` lists and objects, alternating, built without recursion."""
    value = inner
    for level in range(levels):
        value = [value] if level % 2 else {"k": value}
    return value


def test_metadata_checks_walk_any_depth_without_recursion() -> None:
    """A Python value may nest far deeper than JSON's parser allows (a seed's loader, a caller of
    the API's schemas): each check walks it with a stack, so none raises RecursionError."""
    levels = 100_000
    assert nesting_depth(nested(levels, 1)) == MAX_METADATA_DEPTH + 1
    assert metadata_problems({"deep": nested(levels, 1.0)}) == {"deep": TOO_DEEP}
    assert metadata_problems({"deep": nested(levels, "\ud800")}) == {"deep": NOT_TEXT}
    shallow = MAX_METADATA_DEPTH
    assert nesting_depth(nested(shallow, 1)) == shallow
    assert metadata_problems({"x": nested(shallow, float("nan")), "y": nested(shallow, "ok")}) == {"x": NOT_FINITE}

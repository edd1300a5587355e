"""Stage 4, store (and the builder that feeds it): generations on disk that survive restarts, go
stale when their inputs change, are rebuilt rather than served when unreadable, are checked
against their manifest after a build and on demand, and never become current half-written.

A tiny corpus of two short articles keeps each build to a fraction of a second with the real
model, real FAISS and real BM25.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from qa import chunking, store
from qa.chunking import SPLITTER_VERSION
from qa.config import Settings
from qa.documents import Document, load_directory
from qa.embedding import Embedder
from qa.indexing import BuildSettings, build_index, check_fresh, ensure_index, open_or_import
from qa.lexical import TOKENIZER_VERSION
from qa.retrieval import Query
from qa.schemas import answer_to_dict
from qa.service import Service
from qa.store import KEEP_GENERATIONS, IndexUnavailable, open_index, verify_generation
from qa.vectors import build_vector_index, merge_top, search
from tests.conftest import run_qa

ARTICLES = {
    "harbour": (
        "The new harbour bridge opened on Monday. It cost 40 million dollars to build.\r\n"
        "The mayor cut the ribbon at noon. Traffic was heavy all week."
    ),
    "orchard": (
        "Apple growers expect a record harvest this autumn. Rain in the spring helped the trees.\n"
        "Prices may fall as a result. Exporters are looking for new markets."
    ),
}
QUESTIONS = ["How much did the bridge cost?", "What helped the apple trees?", "Who cut the ribbon?"]


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder()


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Settings:
    """Two tiny articles and an index of them, built once; tests work on copies."""
    root = tmp_path_factory.mktemp("tiny")
    seeds = root / "seeds"
    seeds.mkdir()
    for name, text in ARTICLES.items():
        (seeds / f"{name}.txt").write_bytes(text.encode("utf-8"))
        (seeds / f"{name}.json").write_text(json.dumps({"title": name.title(), "author": "Desk"}), encoding="utf-8")
    settings = Settings(seeds_dir=seeds, index_dir=root / "index")
    build_index(settings.index_dir, load_directory(seeds), embedder, build_settings(settings, embedder))
    return settings


@pytest.fixture()
def tiny(tmp_path: Path, pristine: Settings) -> Settings:
    """A private copy of the tiny seeds and their index, free to change or damage."""
    shutil.copytree(pristine.seeds_dir, tmp_path / "seeds")
    shutil.copytree(pristine.index_dir, tmp_path / "index")
    return pristine.with_overrides(seeds_dir=tmp_path / "seeds", index_dir=tmp_path / "index")


def build_settings(settings: Settings, embedder: Embedder) -> BuildSettings:
    return BuildSettings.from_settings(settings, embedder)


def current_name(settings: Settings) -> str:
    return (settings.index_dir / "CURRENT").read_text(encoding="utf-8").strip()


def generation_folders(settings: Settings) -> list[str]:
    return sorted(path.name for path in (settings.index_dir / "generations").iterdir())


def segment_folders(settings: Settings) -> list[str]:
    return sorted(path.name for path in (settings.index_dir / "segments").iterdir())


def segment_folder(settings: Settings) -> Path:
    """The one segment of the current generation (a fresh build writes exactly one)."""
    (entry,) = store.read_manifest(current_folder(settings))["segments"]
    return settings.index_dir / "segments" / entry["name"]


def answers_without_timing(service: Service) -> list[dict[str, Any]]:
    answers = [answer_to_dict(service.ask(Query(question))) for question in QUESTIONS]
    return [{key: value for key, value in answer.items() if key != "took_ms"} for answer in answers]


def ensure(
    settings: Settings, embedder: Embedder, documents: list[Document] | None = None, build: BuildSettings | None = None
) -> store.CorpusIndex:
    return ensure_index(
        settings.index_dir,
        documents or load_directory(settings.seeds_dir),
        embedder,
        build or build_settings(settings, embedder),
    )


# --- persisted state ------------------------------------------------------------------------

REOPEN = """
import json, sys
from pathlib import Path
from qa.schemas import answer_to_dict
from qa.config import Settings
from qa.retrieval import Query
from qa.service import Service

seeds, index, questions = Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3])
service = Service(Settings(seeds_dir=seeds, index_dir=index)).load()
answers = [answer_to_dict(service.ask(Query(q))) for q in questions]
print(json.dumps({"index": service.status()["index"],
                  "answers": [{k: v for k, v in a.items() if k != "took_ms"} for a in answers]}))
"""


def test_reopened_in_a_new_process_the_index_gives_identical_answers(tiny: Settings) -> None:
    in_process = answers_without_timing(Service(tiny).load())
    files_before = store.read_manifest(segment_folder(tiny))["files"]
    completed = subprocess.run(
        [sys.executable, "-c", REOPEN, str(tiny.seeds_dir), str(tiny.index_dir), json.dumps(QUESTIONS)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    reopened = json.loads(completed.stdout)
    assert reopened["index"] == current_name(tiny), "the new process must load the index, not rebuild it"
    assert reopened["answers"] == in_process
    assert any(answer["citations"] for answer in in_process)
    documents = {d.doc_id: d.text for d in load_directory(tiny.seeds_dir)}
    for answer in in_process:
        for citation in answer["citations"]:
            assert documents[citation["doc_id"]][citation["start"] : citation["end"]] == citation["quote"]
    assert store.read_manifest(segment_folder(tiny))["files"] == files_before


def test_an_up_to_date_index_is_opened_not_rebuilt(tiny: Settings, embedder: Embedder) -> None:
    before = current_name(tiny)
    index = ensure(tiny, embedder)
    assert index.path.name == before == current_name(tiny)
    assert index.manifest["counts"] == {"documents": 2, "sentences": 8, "chunks": 4}
    assert set(index.documents) == {"harbour", "orchard"}
    assert index.documents["harbour"].text == ARTICLES["harbour"]
    assert index.documents["orchard"].metadata == {"author": "Desk"}


def test_manifest_records_build_settings_and_a_hash_of_every_file(tiny: Settings, embedder: Embedder) -> None:
    manifest = open_index(tiny.index_dir).manifest
    assert manifest["build"] == {
        "model": "all-MiniLM-L6-v2",
        "sentences_per_chunk": 3,
        "chunk_overlap": 1,
        "max_sentence_chars": 600,
        "splitter": SPLITTER_VERSION,
        "tokenizer": TOKENIZER_VERSION,
    }
    assert manifest["dimension"] == 384
    folder = segment_folder(tiny)
    on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} - {"manifest.json"}
    segment_manifest = store.read_manifest(folder)
    assert set(segment_manifest["files"]) == on_disk
    assert set(segment_manifest["documents"]) == {"harbour", "orchard"}
    assert {"corpus.sqlite", "chunks.faiss", "sentences.npy"} <= on_disk


# --- stale indexes --------------------------------------------------------------------------


def edit_seed_text(settings: Settings, build: BuildSettings) -> BuildSettings:
    path = settings.seeds_dir / "harbour.txt"
    path.write_bytes(path.read_bytes().replace(b"40 million", b"45 million"))
    return build


def add_seed_article(settings: Settings, build: BuildSettings) -> BuildSettings:
    (settings.seeds_dir / "weather.txt").write_text("Snow is expected on Friday.", encoding="utf-8")
    return build


def edit_metadata(settings: Settings, build: BuildSettings) -> BuildSettings:
    (settings.seeds_dir / "orchard.json").write_text('{"author": "Someone else"}', encoding="utf-8")
    return build


@pytest.mark.parametrize(
    "change",
    [
        edit_seed_text,
        add_seed_article,
        edit_metadata,
        lambda settings, build: replace(build, sentences_per_chunk=2),
        lambda settings, build: replace(build, chunk_overlap=0),
        lambda settings, build: replace(build, max_sentence_chars=30),
        lambda settings, build: replace(build, model="another-model"),
        lambda settings, build: replace(build, splitter=SPLITTER_VERSION - 1),
        lambda settings, build: replace(build, tokenizer=TOKENIZER_VERSION - 1),
    ],
    ids=[
        "seed-text",
        "new-article",
        "metadata",
        "chunk-size",
        "overlap",
        "max-chars",
        "model",
        "splitter",
        "tokenizer",
    ],
)
def test_a_stale_index_is_rebuilt(
    tiny: Settings, embedder: Embedder, change: Callable[[Settings, BuildSettings], BuildSettings]
) -> None:
    before = current_name(tiny)
    build = change(tiny, build_settings(tiny, embedder))
    documents = load_directory(tiny.seeds_dir)
    with pytest.raises(IndexUnavailable, match=r"other settings or another model|articles changed"):
        check_fresh(open_index(tiny.index_dir).manifest, documents, build)
    index = ensure(tiny, embedder, documents, build)
    assert index.path.name == current_name(tiny) != before
    assert generation_folders(tiny) == sorted([before, index.path.name]), "the replaced generation is kept once"
    assert index.manifest["build"] == build.__dict__
    check_fresh(index.manifest, documents, build)
    assert {d.doc_id: d for d in documents} == index.documents


# --- damaged indexes ------------------------------------------------------------------------


# An agenda sent on one line (7,000 characters): the splitter that reads a paragraph over
# SPLIT_WINDOW characters a window at a time cuts it otherwise than the one before it, which read
# it whole ("... on Jan. 8." is one sentence to the first and ends at "Jan." for the second).
AGENDA = " ".join(f"{n}. The council approved item {n} of the budget on Jan. {n % 28 + 1}." for n in range(1, 120))
# What the splitter that read every paragraph whole recorded in the archives it built.
WHOLE_PARAGRAPH_SPLITTER = 2


def stored_spans(index: store.CorpusIndex) -> list[tuple[int, int]]:
    return [(int(s), int(e)) for s, e in zip(index.sentence_start, index.sentence_end, strict=True)]


def test_an_archive_split_before_long_paragraphs_were_windowed_is_split_again(
    tmp_path: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The windowed split of long paragraphs came without a new SPLITTER_VERSION, so an archive
    split by the splitter before it was opened as up to date and kept its old sentences, beside
    articles published since and split the new way."""
    settings = Settings(seeds_dir=tmp_path / "seeds", index_dir=tmp_path / "index")
    documents = [Document("agenda", AGENDA, "Agenda")]
    current = build_settings(settings, embedder)
    monkeypatch.setattr(chunking, "SPLIT_WINDOW", len(AGENDA))  # the splitter before windows
    old = replace(current, splitter=WHOLE_PARAGRAPH_SPLITTER)
    build_index(settings.index_dir, documents, embedder, old)
    old_spans = stored_spans(open_index(settings.index_dir))
    monkeypatch.undo()
    assert old_spans != chunking.sentence_spans(AGENDA), "the windows split this paragraph otherwise"
    index = open_or_import(settings.index_dir, list, embedder, current)  # as a server or `qa index` opens it
    assert stored_spans(index) == chunking.sentence_spans(AGENDA), "split again from the archive's own article"
    assert index.manifest["build"]["splitter"] == SPLITTER_VERSION != WHOLE_PARAGRAPH_SPLITTER


def current_folder(settings: Settings) -> Path:
    return settings.index_dir / "generations" / current_name(settings)


def truncate(name: str) -> Callable[[Settings], None]:
    def damage(settings: Settings) -> None:
        path = segment_folder(settings) / name
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    return damage


def overwrite(name: str, where: Callable[[Settings], Path] = segment_folder) -> Callable[[Settings], None]:
    def damage(settings: Settings) -> None:
        path = where(settings) / name
        path.write_bytes(b"\0garbage" * (path.stat().st_size // 8 + 1))

    return damage


def write_current(content: str) -> Callable[[Settings], None]:
    def damage(settings: Settings) -> None:
        (settings.index_dir / "CURRENT").write_text(content, encoding="utf-8")

    return damage


def remove(name: str, where: Callable[[Settings], Path] = segment_folder) -> Callable[[Settings], None]:
    def damage(settings: Settings) -> None:
        (where(settings) / name).unlink()

    return damage


DAMAGE = {
    "truncated-faiss": (truncate("chunks.faiss"), "cannot be loaded"),
    "overwritten-faiss": (overwrite("chunks.faiss"), "cannot be loaded"),
    "truncated-sqlite": (truncate("corpus.sqlite"), "cannot be read"),
    "overwritten-sqlite": (overwrite("corpus.sqlite"), "cannot be read"),
    "overwritten-vectors": (overwrite("sentences.npy"), "cannot be loaded"),
    "overwritten-answer-types": (overwrite("answer-types.npy"), "cannot be loaded"),
    "no-answer-types": (remove("answer-types.npy"), "cannot be loaded"),
    "overwritten-postings": (overwrite("lexical-chunks.npz"), "cannot be loaded"),
    "no-manifest": (remove("manifest.json", current_folder), "has no readable manifest"),
    "garbage-manifest": (overwrite("manifest.json", current_folder), "has no readable manifest"),
    "no-segment-manifest": (remove("manifest.json"), "has no readable manifest"),
    "missing-segment": (lambda settings: shutil.rmtree(segment_folder(settings)), "has no readable manifest"),
    "bogus-current": (write_current("20990101T000000-deadbeef-000000\n"), "names a missing generation"),
    "empty-current": (write_current(""), "names a missing generation ''"),
    "escaping-current": (write_current("../../etc"), "names a missing generation '../../etc'"),
    "dot-current": (write_current("."), "generations has no readable manifest"),
}


@pytest.mark.parametrize("damage", DAMAGE.values(), ids=DAMAGE.keys())
def test_a_damaged_index_is_detected_and_rebuilt_never_served(
    tiny: Settings, embedder: Embedder, damage: tuple[Callable[[Settings], None], str]
) -> None:
    damage_index, reason = damage
    counts = open_index(tiny.index_dir).manifest["counts"]
    damage_index(tiny)
    with pytest.raises(IndexUnavailable, match=reason):
        open_index(tiny.index_dir)
    index = ensure(tiny, embedder)
    assert index.manifest["counts"] == counts
    assert open_index(tiny.index_dir).path == index.path == current_folder(tiny)
    assert len(generation_folders(tiny)) <= KEEP_GENERATIONS


def flip_a_vector_byte(settings: Settings) -> Path:
    """Damage that still loads: one byte of a sentence vector changes. Only the hashes see it."""
    path = segment_folder(settings) / "sentences.npy"
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def test_opening_does_not_hash_but_verify_finds_silent_damage(tiny: Settings) -> None:
    verify_generation(current_folder(tiny))  # intact after the build
    flip_a_vector_byte(tiny)
    assert open_index(tiny.index_dir).path == current_folder(tiny), "an ordinary open reads, it does not hash"
    with pytest.raises(IndexUnavailable, match="does not match its manifest"):
        verify_generation(current_folder(tiny))


def test_qa_index_verify_reports_intact_and_damaged_indexes(tiny: Settings) -> None:
    env = {"QA_SEEDS_DIR": str(tiny.seeds_dir), "QA_INDEX_DIR": str(tiny.index_dir)}
    intact = run_qa(env, "index", "--verify")
    assert intact.exit_code == 0 and "every file matches its manifest" in intact.output
    flip_a_vector_byte(tiny)
    damaged = run_qa(env, "index", "--verify")
    assert damaged.exit_code == 1 and "does not match its manifest" in damaged.output


def test_a_missing_index_is_reported_then_built(tmp_path: Path, pristine: Settings, embedder: Embedder) -> None:
    settings = pristine.with_overrides(index_dir=tmp_path / "empty")
    with pytest.raises(IndexUnavailable, match="no index has been built in"):
        open_index(settings.index_dir)
    assert ensure(settings, embedder).path == current_folder(settings)


def test_seeds_without_text_cannot_be_indexed(tiny: Settings, embedder: Embedder) -> None:
    before = current_name(tiny)
    blank = [Document("blank", " \r\n\t", "Blank")]
    with pytest.raises(IndexUnavailable, match="the articles contain no text to index"):
        build_index(tiny.index_dir, blank, embedder, build_settings(tiny, embedder))
    assert current_name(tiny) == before
    assert generation_folders(tiny) == [before]


# --- crashes during a build -----------------------------------------------------------------


class BuildCrash(Exception):
    pass


def crash(*args: Any, **kwargs: Any) -> None:
    raise BuildCrash("simulated crash")


def interrupt(*args: Any, **kwargs: Any) -> None:
    raise KeyboardInterrupt


@pytest.mark.parametrize(
    ("target", "failure"),
    [
        ("qa.indexing.LexicalSegment.build", crash),
        ("qa.store.write_vector_index", crash),
        ("qa.store._fsync_tree", crash),
        ("qa.indexing.LexicalSegment.build", interrupt),
    ],
    ids=["bm25", "faiss", "fsync", "interrupt"],
)
def test_a_crash_mid_build_leaves_the_previous_generation_current(
    tiny: Settings, embedder: Embedder, monkeypatch: pytest.MonkeyPatch, target: str, failure: Callable[..., None]
) -> None:
    before, segments = current_name(tiny), segment_folders(tiny)
    edit_seed_text(tiny, build_settings(tiny, embedder))
    monkeypatch.setattr(target, failure)
    with pytest.raises((BuildCrash, KeyboardInterrupt)):
        ensure(tiny, embedder)
    assert current_name(tiny) == before
    assert generation_folders(tiny) == [before], "no .building-* folder and no partial generation remain"
    assert segment_folders(tiny) == segments, "no .building-* folder and no partial segment remain"
    index = open_index(tiny.index_dir)
    assert index.path.name == before and "40 million" in index.documents["harbour"].text
    monkeypatch.undo()
    assert ensure(tiny, embedder).path.name != before


def test_a_crash_of_the_embedder_mid_build_leaves_the_previous_generation(
    tiny: Settings, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = current_name(tiny)
    monkeypatch.setattr(embedder, "encode", crash)
    with pytest.raises(BuildCrash):
        build_index(tiny.index_dir, load_directory(tiny.seeds_dir), embedder, build_settings(tiny, embedder))
    assert current_name(tiny) == before
    assert generation_folders(tiny) == [before]


KILLED_BUILD = """
import os, sys
from pathlib import Path
from qa import store
from qa.documents import load_directory
from qa.embedding import Embedder
from qa.indexing import BuildSettings, build_index

def killed(folder):
    os._exit(3)  # the process dies with the files written, before fsync: no cleanup, no handlers

store._fsync_tree = killed
build_index(Path(sys.argv[2]), load_directory(Path(sys.argv[1])), Embedder(),
            BuildSettings("all-MiniLM-L6-v2", 3, 1, 600))
"""


def test_a_killed_build_leaves_only_an_ignored_building_folder(tiny: Settings, embedder: Embedder) -> None:
    before = current_name(tiny)
    edit_seed_text(tiny, build_settings(tiny, embedder))
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_BUILD, str(tiny.seeds_dir), str(tiny.index_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == 3, killed.stderr
    leftovers = [name for name in segment_folders(tiny) if name.startswith(".building-")]
    assert len(leftovers) == 1 and (tiny.index_dir / "segments" / leftovers[0] / "corpus.sqlite").exists()
    assert current_name(tiny) == before
    assert open_index(tiny.index_dir).path.name == before
    rebuilt = ensure(tiny, embedder)
    assert generation_folders(tiny) == sorted([before, rebuilt.path.name])
    assert not [name for name in segment_folders(tiny) if name.startswith(".")], "the leftover is cleaned up"


def test_current_is_replaced_only_after_the_generation_is_complete(
    tiny: Settings, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, list[str]]] = []
    write_atomically = store._write_atomically

    def checked_write(path: Path, content: str) -> None:
        if path.name == "CURRENT":
            folder = tiny.index_dir / "generations" / content.strip()
            verify_generation(folder)  # complete and matching its manifest
            seen.append((current_name(tiny), generation_folders(tiny)))
        write_atomically(path, content)

    monkeypatch.setattr(store, "_write_atomically", checked_write)
    before = current_name(tiny)
    built = build_index(tiny.index_dir, load_directory(tiny.seeds_dir), embedder, build_settings(tiny, embedder))
    assert seen == [(before, sorted([before, built.name]))], "the old generation stays current until the swap"
    assert current_name(tiny) == built.name
    assert not list(tiny.index_dir.glob(".CURRENT.*.tmp")), "no temporary CURRENT is left behind"
    assert generation_folders(tiny) == sorted([before, built.name])


def test_only_the_newest_generations_are_kept_and_leftovers_are_cleaned(
    tiny: Settings, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "KEEP_SECONDS", 0.0)  # only the count rule, not the grace period
    first = current_name(tiny)
    first_segment = segment_folder(tiny).name
    (tiny.index_dir / ".CURRENT.0123abcd.tmp").write_text(first, encoding="utf-8")  # a crashed switch
    (tiny.index_dir / "generations" / ".building-0123abcd").mkdir()  # a crashed build
    documents, build = load_directory(tiny.seeds_dir), build_settings(tiny, embedder)
    second = build_index(tiny.index_dir, documents, embedder, build).name
    third = build_index(tiny.index_dir, documents, embedder, build).name
    assert current_name(tiny) == third
    assert generation_folders(tiny) == sorted([second, third]) and first not in generation_folders(tiny)
    assert first_segment not in segment_folders(tiny) and len(segment_folders(tiny)) == 2, "unlisted segments go"
    assert not list(tiny.index_dir.glob(".CURRENT.*.tmp"))


def test_a_commit_that_fails_verification_leaves_nothing_behind(
    tiny: Settings, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    before, segments = current_name(tiny), segment_folders(tiny)

    def unreadable(folder: Path) -> None:
        raise IndexUnavailable(f"{folder} does not match its manifest")

    monkeypatch.setattr(store, "verify_segment", unreadable)
    with pytest.raises(IndexUnavailable, match="does not match its manifest"):
        build_index(tiny.index_dir, load_directory(tiny.seeds_dir), embedder, build_settings(tiny, embedder))
    assert current_name(tiny) == before
    assert generation_folders(tiny) == [before]
    assert segment_folders(tiny) == segments, "the unverified segment is removed, never listed"


@pytest.mark.parametrize("name", ["news #1", "what?", "100% local"])
def test_an_index_folder_named_with_uri_characters_opens(
    tmp_path: Path, pristine: Settings, embedder: Embedder, name: str
) -> None:
    # SQLite reads its path as a URI: "#", "?" and "%" cut or changed it, so every segment of an
    # archive written fine failed to open ("no such table") and the archive was reported damaged.
    settings = pristine.with_overrides(index_dir=tmp_path / name / "index")
    shutil.copytree(pristine.index_dir, settings.index_dir)
    assert ensure(settings, embedder).path == current_folder(settings)


def test_an_unfiltered_search_scores_the_results_it_misses_minus_infinity() -> None:
    """An HNSW walk may find fewer than k chunks even without a filter (here: 100 copies of one
    chunk, as a wire story repeated in many articles makes, prune each other's links). FAISS fills
    those slots with -3.4e38; as -inf they rank below every real score of another segment, whatever
    its sign, when segments' results are merged."""
    query = np.array([[1.0, 0.0, 0.0, 0.0]], np.float32)
    copies = build_vector_index(np.tile(np.array([[0.6, 0.8, 0.0, 0.0]], np.float32), (100, 1)), np.arange(100), "hnsw")
    opposite = build_vector_index(-query, np.arange(1), "flat")
    scores, ids = search(copies, query, 100)
    assert (ids < 0).any() and (ids >= 0).any()
    assert np.all(scores[ids < 0] == -np.inf) and np.allclose(scores[ids >= 0], 0.6)
    merged_scores, merged_ids = merge_top([(scores, ids), search(opposite, query, 100)], [0, 100], 100)
    found = int((ids >= 0).sum())
    assert merged_ids[0, found] == 100 and merged_scores[0, found] == pytest.approx(-1.0)
    assert np.all(merged_ids[0, found + 1 :] == -1)

"""Stage 4, store: generations on disk that survive restarts, go stale when their inputs change,
are rebuilt rather than served when damaged, and never become current half-written.

A tiny corpus of two short articles keeps each build to a fraction of a second with the real
model, real FAISS and real BM25.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from qa import store
from qa.schemas import answer_to_dict
from qa.config import Settings
from qa.documents import Document, load_directory
from qa.embedding import Embedder
from qa.retrieval import Query
from qa.service import Service
from qa.store import BuildSettings, IndexUnavailable, build_index, ensure_index, open_index

ARTICLES = {
    "harbour": ("The new harbour bridge opened on Monday. It cost 40 million dollars to build.\r\n"
                "The mayor cut the ribbon at noon. Traffic was heavy all week."),
    "orchard": ("Apple growers expect a record harvest this autumn. Rain in the spring helped the trees.\n"
                "Prices may fall as a result. Exporters are looking for new markets."),
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


def answers_without_timing(service: Service) -> list[dict[str, Any]]:
    answers = [answer_to_dict(service.ask(Query(question))) for question in QUESTIONS]
    return [{key: value for key, value in answer.items() if key != "took_ms"} for answer in answers]


def ensure(settings: Settings, embedder: Embedder, documents: list[Document] | None = None,
           build: BuildSettings | None = None) -> store.CorpusIndex:
    return ensure_index(settings.index_dir, documents or load_directory(settings.seeds_dir), embedder,
                        build or build_settings(settings, embedder))


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
    files_before = open_index(tiny.index_dir).manifest["files"]
    completed = subprocess.run(
        [sys.executable, "-c", REOPEN, str(tiny.seeds_dir), str(tiny.index_dir), json.dumps(QUESTIONS)],
        capture_output=True, text=True, timeout=300, check=True,
    )
    reopened = json.loads(completed.stdout)
    assert reopened["index"] == current_name(tiny), "the new process must load the index, not rebuild it"
    assert reopened["answers"] == in_process
    assert any(answer["citations"] for answer in in_process)
    documents = {d.doc_id: d.text for d in load_directory(tiny.seeds_dir)}
    for answer in in_process:
        for citation in answer["citations"]:
            assert documents[citation["doc_id"]][citation["start"] : citation["end"]] == citation["quote"]
    assert open_index(tiny.index_dir).manifest["files"] == files_before


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
    assert manifest["build"] == {"model": "all-MiniLM-L6-v2", "sentences_per_chunk": 3, "chunk_overlap": 1,
                                 "max_sentence_chars": 600}
    assert manifest["dimension"] == 384 and manifest["index_type"] == "flat"
    folder = tiny.index_dir / "generations" / current_name(tiny)
    on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} - {"manifest.json"}
    assert set(manifest["files"]) == on_disk
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
    [edit_seed_text, add_seed_article, edit_metadata,
     lambda settings, build: replace(build, sentences_per_chunk=2),
     lambda settings, build: replace(build, chunk_overlap=0),
     lambda settings, build: replace(build, max_sentence_chars=30),
     lambda settings, build: replace(build, model="another-model")],
    ids=["seed-text", "new-article", "metadata", "chunk-size", "overlap", "max-chars", "model"],
)
def test_a_stale_index_is_rebuilt(tiny: Settings, embedder: Embedder,
                                  change: Callable[[Settings, BuildSettings], BuildSettings]) -> None:
    before = current_name(tiny)
    build = change(tiny, build_settings(tiny, embedder))
    documents = load_directory(tiny.seeds_dir)
    with pytest.raises(IndexUnavailable, match="other settings or another model|seed articles changed"):
        store.check_fresh(open_index(tiny.index_dir).manifest, documents, build)
    index = ensure(tiny, embedder, documents, build)
    assert index.path.name == current_name(tiny) != before
    assert generation_folders(tiny) == [index.path.name], "the replaced generation is removed"
    assert index.manifest["build"] == build.__dict__
    store.check_fresh(index.manifest, documents, build)
    assert {d.doc_id: d for d in documents} == index.documents


# --- damaged indexes ------------------------------------------------------------------------


def current_folder(settings: Settings) -> Path:
    return settings.index_dir / "generations" / current_name(settings)


def truncate(name: str) -> Callable[[Settings], None]:
    def damage(settings: Settings) -> None:
        path = current_folder(settings) / name
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return damage


def overwrite(name: str) -> Callable[[Settings], None]:
    def damage(settings: Settings) -> None:
        path = current_folder(settings) / name
        path.write_bytes(b"\0garbage" * (path.stat().st_size // 8 + 1))
    return damage


def write_current(content: str) -> Callable[[Settings], None]:
    def damage(settings: Settings) -> None:
        (settings.index_dir / "CURRENT").write_text(content, encoding="utf-8")
    return damage


def remove(name: str) -> Callable[[Settings], None]:
    def damage(settings: Settings) -> None:
        (current_folder(settings) / name).unlink()
    return damage


DAMAGE = {
    "truncated-faiss": (truncate("chunks.faiss"), "does not match its manifest"),
    "overwritten-faiss": (overwrite("chunks.faiss"), "does not match its manifest"),
    "truncated-sqlite": (truncate("corpus.sqlite"), "does not match its manifest"),
    "overwritten-sqlite": (overwrite("corpus.sqlite"), "does not match its manifest"),
    "overwritten-vectors": (overwrite("sentences.npy"), "does not match its manifest"),
    "no-manifest": (remove("manifest.json"), "has no readable manifest"),
    "garbage-manifest": (overwrite("manifest.json"), "has no readable manifest"),
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
    assert generation_folders(tiny) == [index.path.name]


@pytest.mark.parametrize("damage", ["truncated-faiss", "overwritten-faiss", "overwritten-sqlite"])
def test_damage_is_reported_even_without_hash_verification(tiny: Settings, damage: str) -> None:
    DAMAGE[damage][0](tiny)
    with pytest.raises(IndexUnavailable, match="cannot be (loaded|read)"):
        open_index(tiny.index_dir, verify=False)


def test_a_missing_index_is_reported_then_built(tmp_path: Path, pristine: Settings, embedder: Embedder) -> None:
    settings = pristine.with_overrides(index_dir=tmp_path / "empty")
    with pytest.raises(IndexUnavailable, match="no index has been built in"):
        open_index(settings.index_dir)
    assert ensure(settings, embedder).path == current_folder(settings)


def test_seeds_without_text_cannot_be_indexed(tiny: Settings, embedder: Embedder) -> None:
    before = current_name(tiny)
    blank = [Document("blank", " \r\n\t", "Blank")]
    with pytest.raises(IndexUnavailable, match="the seed articles contain no text to index"):
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
    [("qa.store.LexicalIndex.build", crash), ("qa.store.write_vector_index", crash),
     ("qa.store._fsync_tree", crash), ("qa.store.LexicalIndex.build", interrupt)],
    ids=["bm25", "faiss", "fsync", "interrupt"],
)
def test_a_crash_mid_build_leaves_the_previous_generation_current(
    tiny: Settings, embedder: Embedder, monkeypatch: pytest.MonkeyPatch, target: str, failure: Callable[..., None]
) -> None:
    before = current_name(tiny)
    edit_seed_text(tiny, build_settings(tiny, embedder))
    monkeypatch.setattr(target, failure)
    with pytest.raises((BuildCrash, KeyboardInterrupt)):
        ensure(tiny, embedder)
    assert current_name(tiny) == before
    assert generation_folders(tiny) == [before], "no .building-* folder and no partial generation remain"
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
from qa.documents import load_directory
from qa.embedding import Embedder
from qa.store import BuildSettings, build_index

class Killed(Embedder):
    def encode(self, texts, progress=False):
        os._exit(3)  # the process dies mid-build: no cleanup, no exception handlers

build_index(Path(sys.argv[2]), load_directory(Path(sys.argv[1])), Killed(),
            BuildSettings("all-MiniLM-L6-v2", 3, 1, 600))
"""


def test_a_killed_build_leaves_only_an_ignored_building_folder(tiny: Settings, embedder: Embedder) -> None:
    before = current_name(tiny)
    edit_seed_text(tiny, build_settings(tiny, embedder))
    killed = subprocess.run([sys.executable, "-c", KILLED_BUILD, str(tiny.seeds_dir), str(tiny.index_dir)],
                            capture_output=True, text=True, timeout=120)
    assert killed.returncode == 3, killed.stderr
    leftovers = [name for name in generation_folders(tiny) if name.startswith(".building-")]
    assert len(leftovers) == 1 and (tiny.index_dir / "generations" / leftovers[0] / "corpus.sqlite").exists()
    assert current_name(tiny) == before
    assert open_index(tiny.index_dir).path.name == before
    rebuilt = ensure(tiny, embedder)
    assert generation_folders(tiny) == [rebuilt.path.name] != [before]


def test_current_is_replaced_only_after_the_generation_is_complete(
    tiny: Settings, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, list[str]]] = []
    write_atomically = store._write_atomically

    def checked_write(path: Path, content: str) -> None:
        if path.name == "CURRENT":
            folder = tiny.index_dir / "generations" / content.strip()
            store.read_manifest(folder, verify=True)  # complete and matching its manifest
            seen.append((current_name(tiny), generation_folders(tiny)))
        write_atomically(path, content)

    monkeypatch.setattr(store, "_write_atomically", checked_write)
    before = current_name(tiny)
    built = build_index(tiny.index_dir, load_directory(tiny.seeds_dir), embedder, build_settings(tiny, embedder))
    assert seen == [(before, sorted([before, built.name]))], "the old generation stays current until the swap"
    assert current_name(tiny) == built.name
    assert not list(tiny.index_dir.glob(".CURRENT.*.tmp")), "no temporary CURRENT is left behind"
    assert os.listdir(tiny.index_dir / "generations") == [built.name]

"""The service's one pipeline: swapped whole by `reload()`, followed when another process commits a
generation, and never asked to answer nothing."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from qa.config import Settings
from qa.documents import load_directory
from qa.indexing import BuildSettings, build_index
from qa.retrieval import Query
from qa.service import Service
from qa.store import KEEP_SECONDS, IndexUnavailable, current_generation
from tests.servers import Client, qa_environment, start_server

HARBOUR = "The new harbour bridge opened on Monday. It cost 40 million dollars to build."
QUESTION = Query("How much did the bridge cost?", top_k=1)


@pytest.fixture()
def harbour(tmp_path: Path, service: Service) -> Service:
    """A loaded service over one tiny article, sharing the session's model."""
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "harbour.txt").write_text(HARBOUR, encoding="utf-8")
    settings = service.settings.with_overrides(seeds_dir=seeds, index_dir=tmp_path / "index", min_confidence=0.0)
    return Service(settings, embedder=service.embedder).load()


def republish(service: Service, new_text: str) -> str:
    """Commit a generation with the article's new text, as another process would; its name."""
    (service.settings.seeds_dir / "harbour.txt").write_text(new_text, encoding="utf-8")
    build = BuildSettings.from_settings(service.settings, service.embedder)
    return build_index(
        service.settings.index_dir, load_directory(service.settings.seeds_dir), service.embedder, build
    ).name


def cited(service: Service) -> str:
    (citation,) = service.ask(QUESTION).citations
    return citation.quote


def wait_for(condition: Callable[[], bool], seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_asking_nothing_answers_nothing(service: Service) -> None:
    assert service.ask_many([]) == []


def test_reload_swaps_the_whole_pipeline_at_once(harbour: Service) -> None:
    old = harbour.pipeline
    assert "40 million" in cited(harbour)
    new_name = republish(harbour, HARBOUR.replace("40 million", "45 million"))
    assert harbour.reload() is True
    assert harbour.status()["index"] == new_name == harbour.pipeline.index.generation
    assert "45 million" in cited(harbour)
    # A request that took the old pipeline keeps reading one consistent generation.
    (retrieval,) = old.retriever.retrieve([QUESTION])
    (citation,) = old.answerer.answer(retrieval).citations
    assert "40 million" in citation.quote == old.index.documents["harbour"].text[citation.start : citation.end]
    assert harbour.reload() is False, "reloading the served generation is a no-op"


def test_a_request_serves_what_another_process_committed_before_it(harbour: Service) -> None:
    # Until the follower polled, a request answered from the generation before another process's
    # commit: the next request now opens it first.
    new_name = republish(harbour, HARBOUR.replace("40 million", "45 million"))
    assert "45 million" in cited(harbour)
    assert harbour.status()["index"] == new_name
    assert harbour.reload() is False


def test_a_following_service_serves_what_another_process_commits(harbour: Service) -> None:
    harbour.follow(interval=0.05)
    new_name = republish(harbour, HARBOUR.replace("40 million", "45 million"))
    assert wait_for(lambda: harbour.status()["index"] == new_name)
    assert "45 million" in cited(harbour)


@pytest.mark.slow
def test_a_server_follows_qa_index_and_never_names_a_deleted_generation(tmp_path: Path, settings: Settings) -> None:
    seeds, index_dir = tmp_path / "seeds", tmp_path / "index"
    shutil.copytree(settings.seeds_dir, seeds)
    server = start_server(seeds, index_dir)
    try:

        def served() -> str:
            status, body = Client(server.base_url, timeout=30).request("GET", "/readyz")
            assert status == 200
            return str(json.loads(body)["index"])

        first = served()
        for rebuild in range(2):  # two rebuilds: the first generation is deleted by the second
            if rebuild == 1:  # once it is past the grace that keeps every recent generation
                made = (index_dir / "generations" / first).stat().st_mtime
                time.sleep(max(0.0, made + KEEP_SECONDS + 0.5 - time.time()))
            subprocess.run(
                [sys.executable, "-m", "qa", "index", "--force"],
                env=qa_environment(seeds, index_dir),
                check=True,
                capture_output=True,
                timeout=300,
            )
            newest = current_generation(index_dir).name
            assert wait_for(lambda newest=newest: served() == newest), "the server switches to what qa index committed"
        assert newest != first and not (index_dir / "generations" / first).exists()
        assert (index_dir / "generations" / served()).is_dir()
        status, body = Client(server.base_url, timeout=30).request(
            "POST", "/v1/ask", {"question": "What did Blinken say about fentanyl?"}
        )
        assert status == 200 and json.loads(body)["answerable"] is True
    finally:
        server.stop()


def test_reload_refuses_a_generation_built_with_other_settings(harbour: Service) -> None:
    served = harbour.status()["index"]
    other = replace(BuildSettings.from_settings(harbour.settings, harbour.embedder), max_sentence_chars=30)
    foreign = build_index(
        harbour.settings.index_dir, load_directory(harbour.settings.seeds_dir), harbour.embedder, other
    ).name
    with pytest.raises(IndexUnavailable, match="built with other settings or another model"):
        harbour.reload()
    assert harbour.status()["index"] == served != foreign
    assert "40 million" in cited(harbour)


def test_the_follower_survives_an_unreadable_current_and_follows_on(harbour: Service) -> None:
    harbour.follow(interval=0.05)
    (harbour.settings.index_dir / "CURRENT").write_bytes(b"\xff\xfe not a name")  # not even UTF-8
    time.sleep(0.3)
    new_name = republish(harbour, HARBOUR.replace("40 million", "45 million"))
    assert wait_for(lambda: harbour.status()["index"] == new_name)
    assert "45 million" in cited(harbour)

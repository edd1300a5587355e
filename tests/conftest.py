"""Shared fixtures: the real model, a real index of the seed article built once per run, the
Flask app around it, a click runner, and a real gunicorn server started by `qa serve`."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from qa.answering import NOT_COVERED
from qa.api import create_app
from qa.cli import cli
from qa.config import Settings
from qa.documents import Document
from qa.service import Service
from tests.newsroom import BAYVIEW_FERRY, NEWSROOM, WAREHOUSE_FIRE
from tests.servers import start_server

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
DEV_QUESTIONS = ROOT / "tests" / "data" / "dev_questions.jsonl"  # a copy of ../shared/eval/dev_questions.jsonl
SEED_ID = "blinken-wang-yi-talks"
SEED_TEXT = (SEEDS / f"{SEED_ID}.txt").read_bytes().decode("utf-8")
FENTANYL_QUESTION = "What did Blinken say about fentanyl?"
FENTANYL_GOLD = "particularly those contributing to the fentanyl crisis"  # in the answer to it
FENTANYL_SPAN = (921, 1115)  # (start, end) of the sentence that answers it, in SEED_TEXT
ROBINSON_QUESTION = "Who is Roger Robinson?"
# A follow-up to ROBINSON_QUESTION that names nothing itself: only the history says who "he" is.
FOLLOW_UP_QUESTION = "What did he say should happen to companies that fail the criteria?"
ANSWER_KEYS = {"question", "answer", "answerable", "confidence", "citations", "took_ms", "generation"}
CITATION_KEYS = {
    "id",
    "doc_id",
    "start",
    "end",
    "quote",
    "score",
    "title",
    "url",
    "start_utf16",
    "end_utf16",
    "short_answer",
}
API_KEY = "k-3f9a1c"  # the write key of `private_service`
SEED_TITLE = json.loads((SEEDS / f"{SEED_ID}.json").read_text(encoding="utf-8"))["title"]


def assert_valid_answer(body: dict[str, Any], question: str, top_k: int = 3) -> list[dict[str, Any]]:
    """The answer contract of the API (and `qa ask --json`) on the seed article: its shape, exact
    spans `SEED_TEXT[start:end] == quote`, markers 1..n, at most `top_k` disjoint citations."""
    assert set(body) == ANSWER_KEYS
    assert body["question"] == question
    assert 0.0 <= body["confidence"] <= 1.0 and body["took_ms"] >= 0
    citations = body["citations"]
    assert len(citations) <= top_k
    assert [c["id"] for c in citations] == list(range(1, len(citations) + 1))
    for citation in citations:
        assert set(citation) == CITATION_KEYS
        assert citation["doc_id"] == SEED_ID
        assert 0 <= citation["start"] < citation["end"] <= len(SEED_TEXT)
        assert SEED_TEXT[citation["start"] : citation["end"]] == citation["quote"]
        # The seed article has no astral characters and no link: UTF-16 offsets equal code points.
        assert (citation["start_utf16"], citation["end_utf16"]) == (citation["start"], citation["end"])
        assert (citation["title"], citation["url"]) == (SEED_TITLE, None)
    spans = sorted((c["start"], c["end"]) for c in citations)
    assert all(left[1] <= right[0] for left, right in pairwise(spans)), "citations do not overlap"
    if body["answerable"]:
        assert citations and "[1]" in body["answer"]
    else:
        assert citations == [] and body["answer"] == NOT_COVERED
    return citations


@pytest.fixture(scope="session", autouse=True)
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh cache folder (the ONNX export) for the whole run, for every process it starts."""
    folder = tmp_path_factory.mktemp("xdg-cache")
    previous = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(folder)
    yield folder
    if previous is None:
        del os.environ["XDG_CACHE_HOME"]
    else:
        os.environ["XDG_CACHE_HOME"] = previous


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> Settings:
    return Settings(seeds_dir=SEEDS, index_dir=tmp_path_factory.mktemp("index"))


@pytest.fixture(scope="session")
def service(settings: Settings) -> Service:
    return Service(settings).load()


@pytest.fixture()
def private_service(settings: Settings, service: Service, tmp_path: Path) -> Service:
    """A private archive of the seed article for one test, with the write key `API_KEY`: tests that
    write never touch the session's index."""
    private = settings.with_overrides(index_dir=tmp_path / "index", api_keys=(API_KEY,))
    return Service(private, service.embedder).load()


@pytest.fixture(scope="session")
def newsroom(settings: Settings, service: Service, tmp_path_factory: pytest.TempPathFactory) -> Service:
    """The newsroom archive (`tests.newsroom`), built once per run: the trust tests only read it."""
    newsroom_settings = settings.with_overrides(
        seeds_dir=NEWSROOM / "seeds", index_dir=tmp_path_factory.mktemp("newsroom-index")
    )
    return Service(newsroom_settings, embedder=service.embedder).load()


@pytest.fixture()
def local_news(private_service: Service) -> Service:
    """The seed article, a fire story with no author and a ferry story signed "By Liam O'Connor"."""
    ferry = Document("ferry", BAYVIEW_FERRY, metadata={"author": "Liam O'Connor"})
    private_service.publish([Document("fire", WAREHOUSE_FIRE), ferry])
    return private_service


@pytest.fixture()
def app(settings: Settings, service: Service):
    app = create_app(settings, service)
    app.config["TESTING"] = True
    return app


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture()
def cli_env(settings: Settings) -> dict[str, str]:
    """Environment for `qa` commands run in-process with click's runner against the test index."""
    return {"QA_SEEDS_DIR": str(settings.seeds_dir), "QA_INDEX_DIR": str(settings.index_dir)}


def run_qa(env: dict[str, str], *args: str) -> Result:
    """`qa ARGS` in process with click's runner, with `env` (see `cli_env`)."""
    return CliRunner().invoke(cli, list(args), env=env, prog_name="qa")


@contextmanager
def running_server(settings: Settings) -> Iterator[str]:
    """`qa serve` (gunicorn) on a free loopback port for the block; yields its base URL."""
    server = start_server(settings.seeds_dir, settings.index_dir)
    try:
        yield server.base_url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def live_server(settings: Settings, service: Service) -> Iterator[str]:
    """Base URL of a real gunicorn server on the session's index (already built by `service`)."""
    with running_server(settings) as base_url:
        yield base_url

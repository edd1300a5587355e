"""`qa ingest --ray`: a real two-node Ray cluster on this machine (loopback only), started once
for the module, backfilling 240 articles made of SQuAD v1.1 dev paragraphs (tests/data, CC BY-SA
4.0, from ../shared/eval/squad) and compared with the same articles ingested locally."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from qa import indexing, store
from qa.config import Settings
from qa.embedding import Embedder
from qa.retrieval import Query
from qa.service import Service
from tests.conftest import ROOT, run_qa
from tests.ray_cluster import HEAD, RAY_ENV, two_nodes

pytestmark = pytest.mark.slow

ARTICLES = ROOT / "tests" / "data" / "squad_articles.jsonl"
QUESTIONS = [json.loads(line) for line in (ROOT / "tests" / "data" / "squad_questions.jsonl").open(encoding="utf-8")]


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    with two_nodes() as head:
        yield head


def ingest_on_ray(index_dir: Path, *paths: Path, extra: tuple[str, ...] = ()) -> subprocess.Popen[str]:
    """`qa ingest PATHS --ray HEAD --json` in a child process, as a user runs it."""
    return subprocess.Popen(
        [sys.executable, "-m", "qa", "ingest", *map(str, paths), *extra, "--json", "--ray", HEAD],
        env={**RAY_ENV, "QA_INDEX_DIR": str(index_dir)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finished(process: subprocess.Popen[str]) -> tuple[dict[str, Any], str]:
    stdout, stderr = process.communicate(timeout=900)
    assert process.returncode == 0, stderr
    return json.loads(stdout), stderr


@pytest.fixture(scope="module")
def local_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same articles ingested without Ray."""
    index_dir = tmp_path_factory.mktemp("local") / "index"
    result = run_qa({"QA_INDEX_DIR": str(index_dir)}, "ingest", str(ARTICLES), "--json")
    assert result.exit_code == 0, result.output
    return index_dir


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder()


def citations(index_dir: Path, embedder: Embedder) -> list[list[tuple[str, int, int]]]:
    service = Service(Settings(index_dir=index_dir), embedder).load()
    answers = service.ask_many([Query(q["question"]) for q in QUESTIONS])
    return [[(c.doc_id, c.start, c.end) for c in answer.citations] for answer in answers]


def sentence_vectors(index_dir: Path) -> dict[tuple[str, int, int], np.ndarray]:
    index = store.open_index(index_dir)
    return {
        (index.sentence_doc[s], int(index.sentence_start[s]), int(index.sentence_end[s])): index.sentence_vectors[s]
        for s in np.flatnonzero(index.live_sentence).tolist()
    }


def test_a_backfill_on_two_nodes_answers_exactly_like_a_local_build_and_skips_a_bad_article(
    cluster: str, local_index: Path, embedder: Embedder, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps({"id": "no text", "title": "Bad", "text": "", "metadata": {}}) + "\nnot json\n", encoding="utf-8"
    )
    summary, stderr = finished(ingest_on_ray(tmp_path / "index", ARTICLES, bad))
    assert (summary["published"], summary["created"], summary["invalid"]) == (240, 240, 2)
    assert f"{bad}: article 'no text'" in stderr and f"{bad}: 'not json'" in stderr

    local, remote = sentence_vectors(local_index), sentence_vectors(tmp_path / "index")
    assert local.keys() == remote.keys(), "the same sentences, at the same offsets"
    cosines = np.array([float(local[key] @ remote[key]) for key in local])
    assert cosines.min() >= 0.9999, cosines.min()
    assert citations(tmp_path / "index", embedder) == citations(local_index, embedder)


def test_a_killed_backfill_resumes_without_embedding_or_committing_anything_twice(
    cluster: str, local_index: Path, tmp_path: Path
) -> None:
    index_dir = tmp_path / "index"
    first = ingest_on_ray(index_dir, ARTICLES, extra=("--batch-size", "25"))
    deadline = time.monotonic() + 600
    while not (index_dir / store.CURRENT).exists():
        assert first.poll() is None and time.monotonic() < deadline, first.stderr.read() if first.stderr else ""
        time.sleep(0.1)
    first.send_signal(signal.SIGKILL)
    first.communicate()
    committed = set(store.open_index(index_dir).documents)
    assert 25 <= len(committed) < 240

    summary, stderr = finished(ingest_on_ray(index_dir, ARTICLES, extra=("--batch-size", "25")))
    assert summary["unchanged"] == len(committed), "what was committed is skipped before it is embedded"
    assert summary["published"] == summary["created"] == 240 - len(committed)
    resumed, local = store.open_index(index_dir), store.open_index(local_index)
    assert set(resumed.documents) == set(local.documents)
    assert int(resumed.live_sentence.sum()) == int(local.live_sentence.sum()) == local.manifest["counts"]["sentences"]
    assert resumed.manifest["counts"] == local.manifest["counts"], "no article twice"

    # The driver merged nothing (ten commits of 25), and said so; `qa merge` does it afterwards.
    assert summary["segments"] == len(resumed.segments) >= indexing.MERGE_FACTOR
    assert "run `qa merge`" in stderr
    result = run_qa({"QA_INDEX_DIR": str(index_dir)}, "merge")
    assert result.exit_code == 0, result.output
    merged = store.open_index(index_dir)
    assert len(merged.segments) < len(resumed.segments)
    assert merged.manifest["counts"] == local.manifest["counts"] and set(merged.documents) == set(local.documents)
    shutil.rmtree(index_dir)


def test_a_backfill_counts_an_article_repeated_as_it_was_committed_as_a_local_ingest_does(
    cluster: str, tmp_path: Path
) -> None:
    # The repeat comes in a later commit than the article: `--ray` counted it published again,
    # where `qa ingest` without Ray counts it unchanged.
    repeat = tmp_path / "repeat.jsonl"
    repeat.write_text(ARTICLES.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    ray_summary, _ = finished(ingest_on_ray(tmp_path / "ray", ARTICLES, repeat, extra=("--batch-size", "50")))
    local = run_qa({"QA_INDEX_DIR": str(tmp_path / "local")}, "ingest", str(ARTICLES), str(repeat), "--json")
    local_summary = json.loads(local.stdout)
    del ray_summary["generation"], ray_summary["segments"], local_summary["generation"]
    assert (
        ray_summary
        == local_summary
        == {
            "published": 240,
            "created": 240,
            "replaced": 0,
            "unchanged": 1,
            "invalid": 0,
        }
    )

"""Replicas: several `qa serve` processes on one index folder serve one archive, and a write
through any of them is answered by all within a second (the `CURRENT` follower)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from qa.config import Settings
from qa.service import Service
from tests.conftest import SEEDS
from tests.servers import Server, start_server

pytestmark = pytest.mark.slow

KEY = "replica-test-key"
ARTICLE = {
    "title": "Council approves flood barrier",
    "text": "The Lakeside council approved a flood barrier on Tuesday. The barrier will cost 12 million dollars.",
    "metadata": {},
}
QUESTION = "How much will the flood barrier cost?"


@pytest.fixture()
def replicas(tmp_path: Path) -> Iterator[list[Server]]:
    """Two `qa serve` processes on one freshly built index folder, both taking writes."""
    index_dir = tmp_path / "index"
    Service(Settings(seeds_dir=SEEDS, index_dir=index_dir)).load()
    servers: list[Server] = []
    try:
        for _ in range(2):
            servers.append(start_server(SEEDS, index_dir, env={"QA_API_KEYS": KEY}))
        yield servers
    finally:
        for server in servers:
            server.stop()


def cites_the_write(base_url: str) -> bool:
    answer = requests.post(f"{base_url}/v1/ask", json={"question": QUESTION}, timeout=10).json()
    return any(c["doc_id"] == "flood-barrier" for c in answer["citations"])


@pytest.mark.parametrize("writer", [0, 1])
def test_a_write_through_one_replica_is_answered_by_the_other_within_a_second(
    replicas: list[Server], writer: int
) -> None:
    reader = replicas[1 - writer]
    assert not cites_the_write(reader.base_url)
    response = requests.put(
        f"{replicas[writer].base_url}/v1/documents/flood-barrier",
        data=json.dumps(ARTICLE),
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
        timeout=60,
    )
    written = time.monotonic()
    assert response.status_code == 201, response.text
    while not cites_the_write(reader.base_url):
        assert time.monotonic() - written < 1.0, "the other replica did not answer from the write within 1 s"
        time.sleep(0.02)
    assert requests.get(f"{reader.base_url}/readyz", timeout=10).json()["generation"] == response.json()["generation"]


def test_a_new_replica_needs_the_index_folder_only(tmp_path: Path) -> None:
    """README: "A new replica reads the current generation and starts serving". A host that mounts
    the index folder has no seeds folder, which is read only to fill an empty archive; `qa serve`
    refused to start there ("no seeds folder"), as `qa ask` on the same folder did not."""
    index_dir = tmp_path / "index"
    Service(Settings(seeds_dir=SEEDS, index_dir=index_dir)).load()
    server = start_server(tmp_path / "no-seeds-here", index_dir)
    try:
        answer = requests.post(f"{server.base_url}/v1/ask", json={"question": QUESTION}, timeout=10)
        assert answer.status_code == 200 and answer.json()["generation"] == (index_dir / "CURRENT").read_text().strip()
    finally:
        server.stop()

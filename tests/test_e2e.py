"""End to end across a restart: `qa serve` (gunicorn) stopped and started again on the same index
folder loads the persisted generation, rebuilds nothing and gives identical answers."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import requests

from qa.config import Settings
from qa.service import Service
from tests.conftest import FENTANYL_QUESTION, FENTANYL_SPAN, SEED_ID, assert_valid_answer, running_server
from tests.contracts import span, without_timing

REQUESTS = [
    {"question": FENTANYL_QUESTION},
    {"question": "What is the capital of Australia?"},
    {"question": "What human rights concerns did Blinken raise?", "top_k": 5},
    {"question": "And what about Tibet?", "history": ["What human rights concerns did Blinken raise?"]},
]


def snapshot(base_url: str) -> dict[str, Any]:
    """Everything a client can observe of the index, timings and the answering worker's pid left out."""
    answers = []
    for body in REQUESTS:
        response = requests.post(f"{base_url}/v1/ask", json=body, timeout=60)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert_valid_answer(answer, body["question"], body.get("top_k", 3))
        answers.append(without_timing(answer))
    document = requests.get(f"{base_url}/v1/documents/{SEED_ID}", timeout=30).json()
    readiness = requests.get(f"{base_url}/readyz", timeout=30).json()
    assert isinstance(readiness.pop("worker"), int)
    return {
        "readiness": readiness,
        "answers": answers,
        "document": document,
    }


@pytest.mark.slow
def test_restarted_server_serves_the_same_index_with_identical_answers(
    settings: Settings, service: Service, tmp_path: Path
) -> None:
    shutil.copytree(settings.index_dir, tmp_path / "index")
    restarted = settings.with_overrides(index_dir=tmp_path / "index")
    current = (restarted.index_dir / "CURRENT").read_text(encoding="utf-8").strip()

    snapshots = []
    for _ in range(2):
        with running_server(restarted) as base_url:
            snapshots.append(snapshot(base_url))

    first, second = snapshots
    assert first["readiness"]["index"] == current, "the server loaded the persisted generation"
    assert second == first
    assert span(first["answers"][0]["citations"][0]) == FENTANYL_SPAN
    assert first["answers"][1]["answerable"] is False
    assert (restarted.index_dir / "CURRENT").read_text(encoding="utf-8").strip() == current
    assert [p.name for p in (restarted.index_dir / "generations").iterdir()] == [current]

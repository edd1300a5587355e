"""End to end: `qa serve` under gunicorn answers the fentanyl question from the seed article."""

from __future__ import annotations

import pytest
import requests

from tests.conftest import FENTANYL_GOLD, FENTANYL_QUESTION, SEED_ID, SEED_TEXT


@pytest.mark.slow
def test_fentanyl_question_cites_the_fentanyl_sentence(live_server: str) -> None:
    response = requests.post(f"{live_server}/v1/ask", json={"question": FENTANYL_QUESTION}, timeout=30)
    assert response.status_code == 200
    body = response.json()
    assert body["answerable"] is True
    top = body["citations"][0]
    gold_start = SEED_TEXT.index(FENTANYL_GOLD)
    assert top["doc_id"] == SEED_ID
    assert top["start"] <= gold_start and gold_start + len(FENTANYL_GOLD) <= top["end"]
    assert SEED_TEXT[top["start"] : top["end"]] == top["quote"]
    assert (top["start"], top["end"]) == (921, 1115)

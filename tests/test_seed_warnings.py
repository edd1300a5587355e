"""A seeds folder with bad records still serves its good articles, and `/readyz` says what was
wrong with the others, naming files relative to the seeds folder (never a server path)."""

from __future__ import annotations

from pathlib import Path

from qa.api import create_app
from qa.config import Settings
from qa.service import Service
from tests.test_documents import EVERY_PROBLEM, GOOD_TEXT, write_seed_folder_with_every_problem


def test_bad_seed_records_do_not_stop_the_service_and_readiness_lists_them(
    settings: Settings, service: Service, tmp_path: Path
) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    write_seed_folder_with_every_problem(seeds)
    bad_settings = settings.with_overrides(seeds_dir=seeds, index_dir=tmp_path / "index")
    loaded = Service(bad_settings, embedder=service.embedder).load()
    client = create_app(bad_settings, loaded).test_client()

    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["ready"] is True and body["documents"] == 5
    assert body["warnings"] == EVERY_PROBLEM
    assert str(tmp_path) not in response.get_data(as_text=True)

    answer = client.post("/v1/ask", json={"question": "Who lit the Kelmouth lighthouse?"}).get_json()
    assert answer["answerable"] is True
    first = answer["citations"][0]
    assert (first["doc_id"], first["quote"]) == ("good", GOOD_TEXT[first["start"] : first["end"]])
    assert "Agnes Whitlow" in first["quote"]

"""Schemathesis against a real gunicorn server: requests generated from `/openapi.json` (valid
and invalid, at least 200 per operation) must never get a 5xx, and every response must be one
the document lists for its operation, with the documented media type and schema. The server has
a write key and schemathesis sends it, so the write routes are fuzzed past their key check, on a
private copy of the test index.

What schemathesis cannot check, and the tests that do instead: NDJSON bodies (it has no NDJSON
reader; tests/test_openapi.py checks each line against the line schema), and the `data` of an
event stream (it checks each event's framing against the documented event schema; the JSON in
`data` is checked by tests/test_openapi.py).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from qa.config import Settings
from qa.service import Service
from tests.servers import start_server

CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance"


KEY = "schemathesis-key"


@pytest.mark.slow
def test_schemathesis_finds_no_server_error_and_no_undocumented_response(
    settings: Settings, service: Service, tmp_path: Path
) -> None:
    shutil.copytree(settings.index_dir, tmp_path / "index")
    server = start_server(settings.seeds_dir, tmp_path / "index", env={"QA_API_KEYS": KEY})
    try:
        run = _schemathesis(server.base_url, tmp_path)
    finally:
        server.stop()
    report = run.stdout[-6000:] + run.stderr[-2000:]
    assert run.returncode == 0, report
    counts = re.search(r"(\d+) generated, (\d+) passed", report)
    assert counts and counts[1] == counts[2], report
    assert "only 401/403 responses" not in report, "the write routes were fuzzed past their key check"


def _schemathesis(base_url: str, folder: Path) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{base_url}/openapi.json",
        "--header",
        f"Authorization: Bearer {KEY}",
        "--max-examples",
        "200",
        "--checks",
        CHECKS,
        "--seed",
        "20261201",
        "--generation-database",
        "none",
        "--request-timeout",
        "60",
        "--no-color",
    ]
    return subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=900)

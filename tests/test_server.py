"""`qa serve` as a process: it stops cleanly when a process manager sends SIGTERM, and its log
holds the server's lines, not libraries' debug output.

Its workers used to die at every stop (SIGSEGV, once SIGABRT with "terminate called after
throwing std::system_error"): the master had imported ONNX Runtime, whose native thread a forked
worker then tried to join at exit."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from qa.config import Settings
from qa.service import Service
from tests.conftest import FENTANYL_QUESTION, ROBINSON_QUESTION
from tests.servers import Client, qa_environment, start_server, wait_until_every_worker_is_ready


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_stops_every_worker_cleanly(settings: Settings, service: Service, tmp_path: Path, workers: int) -> None:
    server = start_server(settings.seeds_dir, settings.index_dir, workers=workers, log_path=tmp_path / "serve.log")
    try:
        wait_until_every_worker_is_ready(server.base_url, workers)
        client = Client(server.base_url)
        for question in (ROBINSON_QUESTION, FENTANYL_QUESTION) * 3:
            assert client.request("POST", "/v1/ask", {"question": question})[0] == 200
        assert client.request("POST", "/v1/ask/batch", {"questions": [{"question": ROBINSON_QUESTION}] * 4})[0] == 200
        client.close()
    finally:
        exit_code = server.stop()
    log = server.log()
    assert exit_code == 0, log
    assert log.count("Worker exiting") == workers, log  # every worker got to its shutdown
    for crash in ("SIGSEGV", "SIGABRT", "terminate called", "Traceback", "was sent"):
        assert crash not in log, log


@pytest.mark.slow
def test_building_the_index_at_start_logs_no_library_debug_lines(settings: Settings, tmp_path: Path) -> None:
    """bm25s sets its logger to DEBUG and logged "Building index from tokens" at every build."""
    server = start_server(settings.seeds_dir, tmp_path / "fresh-index", log_path=tmp_path / "serve.log")
    try:
        assert Client(server.base_url).request("POST", "/v1/ask", {"question": ROBINSON_QUESTION})[0] == 200
    finally:
        server.stop()
    assert (tmp_path / "fresh-index").exists()  # the server built the index itself
    log = server.log()
    assert "POST /v1/ask" in log
    assert not [line for line in log.splitlines() if "DEBUG" in line or "bm25s" in line.lower()], log


@pytest.mark.slow
@pytest.mark.skipif(not socket.has_ipv6, reason="no IPv6 on this machine")
def test_an_ipv6_host_is_served(settings: Settings, service: Service) -> None:
    """`qa serve --host ::1` (or `::`, every interface) exited at start with "'' is not a valid port
    number": the bind "::1:8000" reads as a host with no port to gunicorn, which wants "[::1]:8000"."""
    server = start_server(settings.seeds_dir, settings.index_dir, host="::1")
    try:
        assert server.base_url.startswith("http://[::1]:")
        status, body = Client(server.base_url).request("POST", "/v1/ask", {"question": FENTANYL_QUESTION})
        assert status == 200, body
    finally:
        server.stop()


@pytest.mark.slow
def test_a_port_in_use_is_a_one_line_error(settings: Settings, service: Service) -> None:
    """Starting a second `qa serve` on the same port loaded the model, then printed gunicorn's
    timestamped "Connection in use" line five times over five seconds before exiting."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "qa", "serve", "--port", str(port)],
            env=qa_environment(settings.seeds_dir, settings.index_dir),
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 1
    assert result.stderr == f"Error: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    assert result.stdout == ""

"""`qa serve` as a process: it stops cleanly when a process manager sends SIGTERM, reads its
keys file again at SIGHUP, and its log holds the server's lines, not libraries' debug output.

Its workers used to die at every stop (SIGSEGV, once SIGABRT with "terminate called after
throwing std::system_error"): the master had imported ONNX Runtime, whose native thread a forked
worker then tried to join at exit."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from qa.config import Settings
from qa.service import Service
from tests.conftest import FENTANYL_QUESTION, ROBINSON_QUESTION
from tests.servers import Client, Server, qa_environment, start_server, wait_until_every_worker_is_ready


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


def write_status(server: Server, key: str) -> int:
    """The status of a write (the same article each time) sent with `key`, on a new connection."""
    client = Client(server.base_url)
    body = {"title": "Keys rotated", "text": "The newsroom rotated its API keys on Tuesday."}
    status, _ = client.request("PUT", "/v1/documents/keys-rotated", body, {"Authorization": f"Bearer {key}"})
    client.close()
    return status


def hang_up(server: Server, workers: set[int]) -> set[int]:
    """SIGHUP to the master, as an operator reloads it; the ids of the ready workers that replace `workers`."""
    server.process.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 60
    while any(os.path.exists(f"/proc/{pid}") for pid in workers):
        assert time.monotonic() < deadline, "the old workers did not stop"
        time.sleep(0.05)
    replaced = wait_until_every_worker_is_ready(server.base_url, len(workers))
    assert not replaced & workers
    return replaced


@pytest.mark.slow
def test_sighup_reads_a_rotated_keys_file_again_and_keeps_the_keys_when_it_is_bad(
    private_service: Service, tmp_path: Path
) -> None:
    """A rotated QA_API_KEYS_FILE took a restart: `kill -HUP`, which reloads nginx or gunicorn's
    configuration, restarted the workers with the keys read at start, so the new key was refused."""
    keys_file = tmp_path / "keys"
    keys_file.write_text("key-A\n", encoding="utf-8")
    settings = private_service.settings
    env = {"QA_API_KEYS_FILE": str(keys_file)}
    server = start_server(settings.seeds_dir, settings.index_dir, workers=2, env=env, log_path=tmp_path / "serve.log")
    try:
        workers = wait_until_every_worker_is_ready(server.base_url, 2)
        assert write_status(server, "key-A") == 201
        keys_file.write_text("# rotated\nkey-B\n", encoding="utf-8")
        workers = hang_up(server, workers)
        assert [write_status(server, key) for key in ("key-B", "key-A") * 4] == [200, 401] * 4
        keys_file.write_text("# rotated\nkey-B\nkey-é\n", encoding="utf-8")  # not a key a header can carry: refused
        hang_up(server, workers)
        assert [write_status(server, key) for key in ("key-B", "key-A") * 4] == [200, 401] * 4
    finally:
        server.stop()
    bad_key = f"QA_API_KEYS_FILE='{keys_file}', line 3: a key must be printable ASCII without spaces"
    assert f"SIGHUP: keeping the API keys in use: {bad_key} (its value is not shown)\n" in server.log()


@pytest.mark.slow
def test_every_question_asked_across_a_sighup_is_answered(private_service: Service, tmp_path: Path) -> None:
    """At SIGHUP gunicorn stops the old workers taking connections at once; the new ones took them
    while their index was still opening and answered 503 "still loading" (5 of 542 questions
    asked one every 20 ms). A replacing worker now opens it first, so each question waits instead."""
    settings = private_service.settings
    server = start_server(settings.seeds_dir, settings.index_dir, log_path=tmp_path / "serve.log")
    statuses: list[int] = []
    asking = threading.Event()
    asking.set()

    def ask() -> None:
        while asking.is_set():
            client = Client(server.base_url)  # a new connection each time, as many chat readers are
            statuses.append(client.request("POST", "/v1/ask", {"question": ROBINSON_QUESTION})[0])
            client.close()
            time.sleep(0.01)

    try:
        workers = wait_until_every_worker_is_ready(server.base_url, 1)
        questions = threading.Thread(target=ask)
        questions.start()
        try:
            time.sleep(0.3)
            hang_up(server, workers)
            time.sleep(0.3)
        finally:
            asking.clear()
            questions.join()
    finally:
        server.stop()
    assert len(statuses) > 20 and set(statuses) == {200}, statuses


@pytest.mark.slow
def test_the_first_question_after_a_worker_is_killed_is_answered(private_service: Service, tmp_path: Path) -> None:
    """gunicorn forks a worker to replace one killed (`kill -9`, the OOM killer); it took the
    question waiting for it while its index was still opening and answered 503 "still loading"."""
    settings = private_service.settings
    server = start_server(settings.seeds_dir, settings.index_dir, log_path=tmp_path / "serve.log")
    try:
        (worker,) = wait_until_every_worker_is_ready(server.base_url, 1)
        os.kill(worker, signal.SIGKILL)
        client = Client(server.base_url)  # queued until the replacement takes connections
        status, body = client.request("POST", "/v1/ask", {"question": ROBINSON_QUESTION})
        client.close()
        assert status == 200, body
        assert wait_until_every_worker_is_ready(server.base_url, 1) != {worker}
    finally:
        server.stop()


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

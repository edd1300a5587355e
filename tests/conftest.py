"""Shared fixtures: the real model, a real index of the seed article built once per run, the
Flask app around it, a click runner, and a real gunicorn server started by `qa serve`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from qa.api import create_app
from qa.config import Settings
from qa.service import Service

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SHARED_EVAL = ROOT.parent / "shared" / "eval"
SEED_ID = "blinken-wang-yi-talks"
SEED_TEXT = (SEEDS / f"{SEED_ID}.txt").read_bytes().decode("utf-8")


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(seeds_dir=SEEDS, index_dir=tmp_path_factory.mktemp("index"))


@pytest.fixture(scope="session")
def service(settings: Settings) -> Service:
    return Service(settings).load()


@pytest.fixture()
def app(settings: Settings, service: Service):  # type: ignore[no-untyped-def]
    app = create_app(settings, service)
    app.config["TESTING"] = True
    return app


@pytest.fixture()
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


@pytest.fixture()
def cli_env(settings: Settings) -> dict[str, str]:
    """Environment for `qa` commands run in-process with click's runner against the test index."""
    return {"QA_SEEDS_DIR": str(settings.seeds_dir), "QA_INDEX_DIR": str(settings.index_dir)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_ready(base_url: str, process: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"qa serve exited with {process.returncode}")
        try:
            if requests.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{base_url} was not ready within {timeout}s")


def start_server(settings: Settings, *extra_args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    """Start `qa serve` (gunicorn) on a free loopback port; returns (process, base_url)."""
    port = free_port()
    environment = {**os.environ, "QA_SEEDS_DIR": str(settings.seeds_dir),
                   "QA_INDEX_DIR": str(settings.index_dir), **(env or {})}
    process = subprocess.Popen(
        [sys.executable, "-m", "qa", "serve", "--host", "127.0.0.1", "--port", str(port), *extra_args],
        env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(base_url, process)
    except Exception:
        process.kill()
        raise
    return process, base_url


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def live_server(settings: Settings, service: Service) -> Iterator[str]:
    """Base URL of a real gunicorn server on the session's index (already built by `service`)."""
    process, base_url = start_server(settings)
    yield base_url
    stop_server(process)

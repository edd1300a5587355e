"""`qa serve` as a test or a benchmark runs it: gunicorn on a free loopback port, in a child
process with the environment a user would give it, timed to its first ready `/readyz`.

Shared by tests/ and benchmarks/ (which imports it from here), so both start servers one way.
The client uses `http.client` on a keep-alive connection: lighter than `requests`, so less of the
two cores goes to the client itself.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit


def qa_environment(seeds_dir: Path, index_dir: Path) -> dict[str, str]:
    """The environment for a `qa` command (serve, index, batch) on this corpus and index."""
    return {**os.environ, "QA_SEEDS_DIR": str(seeds_dir), "QA_INDEX_DIR": str(index_dir)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Client:
    """One keep-alive HTTP connection; reconnects after a failure."""

    def __init__(self, base_url: str, timeout: float = 120.0):
        parts = urlsplit(base_url)
        self.host, self.port, self.timeout = parts.hostname or "127.0.0.1", parts.port or 80, timeout
        self.connection: http.client.HTTPConnection | None = None

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        if self.connection is None:
            self.connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        payload = None if body is None else json.dumps(body).encode("utf-8")
        headers = {**({"Content-Type": "application/json"} if payload is not None else {}), **(headers or {})}
        try:
            self.connection.request(method, path, payload, headers)
            response = self.connection.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException):
            self.close()
            raise

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


@dataclass
class Server:
    process: subprocess.Popen
    base_url: str
    cold_start_s: float
    log_path: Path | None = None

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])

    def stop(self) -> int:
        """SIGTERM, as a process manager stops it; its exit code (killed after 20 s: negative)."""
        self.process.terminate()
        try:
            return self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return self.process.returncode

    def log(self) -> str:
        """Everything the server wrote (access and error log), when started with a `log_path`."""
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path else ""


def start_server(
    seeds_dir: Path,
    index_dir: Path,
    workers: int = 1,
    env: dict[str, str] | None = None,
    timeout: float = 300.0,
    ready_path: str = "/readyz",
    log_path: Path | None = None,
    host: str = "127.0.0.1",
    verbose: bool = False,
) -> Server:
    """`qa serve` on a free loopback port (of `host`, `::1` for IPv6); `cold_start_s` runs from
    launch to the first 200 of `ready_path` (`/healthz` for a server that is meant never to be
    ready). With `log_path`, the server's output (its access and error log) goes to that file;
    `verbose` (`qa -v serve`) adds the pipeline's INFO lines to it."""
    port = free_port()
    environment = {**qa_environment(seeds_dir, index_dir), **(env or {})}
    started = time.perf_counter()
    output: IO[bytes] | int = log_path.open("wb") if log_path else subprocess.DEVNULL
    try:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "qa",
                *(["-v"] if verbose else []),
                "serve",
                "--host",
                host,
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    finally:
        if not isinstance(output, int):
            output.close()  # the child has its own copy
    base_url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    client = Client(base_url, timeout=5)
    while time.perf_counter() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"qa serve exited with {process.returncode} before it was ready")
        try:
            if client.request("GET", ready_path)[0] == 200:
                client.close()
                return Server(process, base_url, round(time.perf_counter() - started, 3), log_path)
        except (OSError, http.client.HTTPException):
            time.sleep(0.05)
            continue
        time.sleep(0.02)
    process.kill()
    process.wait()
    raise TimeoutError(f"qa serve was not ready within {timeout:.0f}s")


def wait_until_every_worker_is_ready(base_url: str, workers: int, timeout: float = 120.0) -> set[int]:
    """`start_server` returns at the first ready worker, and a worker still loading may seldom win
    a new connection while a ready one answers at once: wait until `workers` distinct workers
    (`/readyz`'s `worker`) have said they are ready, each asked on a new connection; their ids."""
    deadline = time.monotonic() + timeout
    ready: set[int] = set()
    while len(ready) < workers:
        assert time.monotonic() < deadline, f"only {len(ready)} of {workers} workers got ready"
        client = Client(base_url)
        status, body = client.request("GET", "/readyz")
        client.close()
        if status == 200:
            ready.add(json.loads(body)["worker"])
        else:
            time.sleep(0.01)
    return ready

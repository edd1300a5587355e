"""`qa serve` as users run it: start gunicorn, time it to `/readyz`, load it with closed-loop HTTP
clients (each sends its next question when the last answer arrives), read its workers' memory.

The clients use `http.client` on keep-alive connections: a lighter client than `requests`, so
less of the shared 2 cores goes to the benchmark itself.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from benchmarks.corpus import qa_environment
from benchmarks.stats import child_pids, latency_summary, process_memory


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Client:
    """One keep-alive HTTP connection; reconnects after a failure."""

    def __init__(self, base_url: str, timeout: float = 120.0):
        parts = urlsplit(base_url)
        self.host, self.port, self.timeout = parts.hostname or "127.0.0.1", parts.port or 80, timeout
        self.connection: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        if self.connection is None:
            self.connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        payload = None if body is None else json.dumps(body).encode("utf-8")
        headers = {"Content-Type": "application/json"} if payload is not None else {}
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

    def worker_memory(self) -> list[dict[str, float]]:
        return [process_memory(pid) for pid in child_pids(self.process.pid)]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_server(seeds_dir: Path, index_dir: Path, workers: int = 1, env: dict[str, str] | None = None,
                 timeout: float = 300.0) -> Server:
    """`qa serve` on a free loopback port; `cold_start_s` runs from launch to the first 200 of /readyz."""
    port = free_port()
    environment = {**qa_environment(seeds_dir, index_dir), **(env or {})}
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "qa", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
        env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    client = Client(base_url, timeout=5)
    while time.perf_counter() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"qa serve exited with {process.returncode} before it was ready")
        try:
            if client.request("GET", "/readyz")[0] == 200:
                client.close()
                return Server(process, base_url, round(time.perf_counter() - started, 3))
        except (OSError, http.client.HTTPException):
            time.sleep(0.05)
            continue
        time.sleep(0.02)
    process.kill()
    process.wait()
    raise TimeoutError(f"qa serve was not ready within {timeout:.0f}s")


def closed_loop(base_url: str, questions: Sequence[str], clients: int, per_client: int) -> dict[str, Any]:
    """`clients` threads each ask `per_client` questions back to back; latency percentiles and rate."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    barrier = threading.Barrier(clients + 1)

    def run(slot: int) -> None:
        client = Client(base_url)
        barrier.wait()
        for i in range(per_client):
            question = questions[(slot * per_client + i) % len(questions)]
            began = time.perf_counter()
            try:
                status, _ = client.request("POST", "/v1/ask", {"question": question})
            except (OSError, http.client.HTTPException):
                status = 0
            latencies[slot].append((time.perf_counter() - began) * 1000)
            errors[slot] += status != 200
        client.close()

    threads = [threading.Thread(target=run, args=(slot,)) for slot in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    pooled = [ms for per_thread in latencies for ms in per_thread]
    return {**latency_summary(pooled), "errors": sum(errors), "requests_per_s": round(len(pooled) / wall, 2)}


def warm_up(base_url: str, questions: Sequence[str], count: int = 20) -> None:
    client = Client(base_url)
    for question in questions[:count]:
        client.request("POST", "/v1/ask", {"question": question})
    client.close()

"""Load a running `qa serve` with closed-loop HTTP clients (each sends its next question when the
last answer arrives) and read its workers' memory. Servers are started by `tests.servers`, the
same helper the end-to-end tests use."""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Sequence
from typing import Any

from benchmarks.stats import child_pids, latency_summary, process_memory
from tests.servers import Client, Server


def worker_memory(server: Server) -> list[dict[str, float]]:
    return [process_memory(pid) for pid in child_pids(server.process.pid)]


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

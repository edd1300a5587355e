"""Load a running `qa serve` with closed-loop HTTP clients (each sends its next question when the
last answer arrives) and read its workers' memory. Servers are started by `tests.servers`, the
same helper the end-to-end tests use."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from benchmarks.stats import child_pids, cpu_seconds, latency_summary, process_memory
from tests.servers import Client, Server


def worker_memory(server: Server) -> list[dict[str, float]]:
    return [process_memory(pid) for pid in child_pids(server.process.pid)]


def closed_loop(
    base_url: str,
    questions: Sequence[str],
    clients: int,
    per_client: int | None = None,
    seconds: float | None = None,
) -> dict[str, Any]:
    """`clients` threads each ask `per_client` questions back to back (or for `seconds`); latency
    percentiles, rate, and how many index generations the answers came from (a reader keeps
    answering while the index changes under it, and this shows it saw the changes)."""
    if (per_client is None) == (seconds is None):
        raise ValueError("give per_client or seconds")
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    generations: list[set[str]] = [set() for _ in range(clients)]
    barrier = threading.Barrier(clients + 1)
    deadline = [0.0]
    stride = per_client or 100_000  # each client starts at its own place in the questions

    def run(slot: int) -> None:
        client = Client(base_url)
        barrier.wait()
        i = 0
        while (i < per_client) if per_client is not None else (time.perf_counter() < deadline[0]):
            question = questions[(slot * stride + i) % len(questions)]
            began = time.perf_counter()
            try:
                status, body = client.request("POST", "/v1/ask", {"question": question})
            except (OSError, http.client.HTTPException):
                status, body = 0, b""
            latencies[slot].append((time.perf_counter() - began) * 1000)
            errors[slot] += status != 200
            if status == 200 and seconds is not None:
                generations[slot].add(json.loads(body)["generation"])
            i += 1
        client.close()

    threads = [threading.Thread(target=run, args=(slot,)) for slot in range(clients)]
    for thread in threads:
        thread.start()
    deadline[0] = time.perf_counter() + (seconds or 0.0)
    barrier.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    pooled = [ms for per_thread in latencies for ms in per_thread]
    result = {**latency_summary(pooled), "errors": sum(errors), "requests_per_s": round(len(pooled) / wall, 2)}
    if seconds is not None:
        result["generations_seen"] = len(set().union(*generations))
    return result


def with_server_cpu(server: Server, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """`run()`'s figures plus the server's CPU milliseconds per request: what a request costs
    whatever the load, so the best rate on this machine is about cores x 1000 / that."""
    pids = [server.process.pid, *child_pids(server.process.pid)]
    before = cpu_seconds(pids)
    figures = run()
    return {**figures, "server_cpu_ms_per_request": round((cpu_seconds(pids) - before) * 1000 / figures["n"], 2)}


def warm_up(base_url: str, questions: Sequence[str], count: int = 20) -> None:
    client = Client(base_url)
    for question in questions[:count]:
        client.request("POST", "/v1/ask", {"question": question})
    client.close()

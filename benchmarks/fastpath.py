"""The fast path, float32 and int8 side by side: one question over HTTP on the seed article, where
its time goes (`Server-Timing`), a question's embedding in process, and a batch of questions.

Each round starts one server per setting in `SERVERS` (the query encoder, `QA_QUERY_ENCODER`, and
the int8 one again without the reader, `QA_READER=off`: the pipeline with and without its one model
run beyond the encoder), taking turns so a burst of load on the shared machine hits all alike.
One closed-loop client on a keep-alive connection reads every answer's `Server-Timing`: its own
latency minus `pipeline` is what the HTTP layer costs (gunicorn, the event loop, the thread
hand-off, Flask and the schemas), split at `app` into what lies below Flask and what Flask itself
costs.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.batch import http_batch
from benchmarks.corpus import Corpus, seed_corpus
from benchmarks.serving import warm_up
from benchmarks.stats import latency_summary, load_average
from tests.servers import Client, start_server

ENCODERS = ("fp32", "int8")
NO_READER = "int8_no_reader"
SERVERS = {
    "fp32": {"QA_QUERY_ENCODER": "fp32"},
    "int8": {"QA_QUERY_ENCODER": "int8"},
    NO_READER: {"QA_QUERY_ENCODER": "int8", "QA_READER": "off"},
}
COLUMNS = {"fp32": "float32", "int8": "int8", NO_READER: "int8, reader off"}


def server_timing(header: str) -> dict[str, float]:
    """`{"app": ms, "pipeline": ms}` from a `Server-Timing` header."""
    entries = (entry.split(";dur=") for entry in header.split(", "))
    return {name: float(milliseconds) for name, milliseconds in entries}


def one_client(base_url: str, questions: Sequence[str], requests: int) -> dict[str, Any]:
    """`requests` questions back to back on one connection: latency percentiles, and the medians
    of the pipeline's time and of what the layers around it add."""
    host = base_url.split("//", 1)[1]
    connection = http.client.HTTPConnection(host, timeout=60)
    total: list[float] = []
    app: list[float] = []
    pipeline: list[float] = []
    for i in range(requests):
        body = json.dumps({"question": questions[i % len(questions)]})
        began = time.perf_counter()
        connection.request("POST", "/v1/ask", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        total.append((time.perf_counter() - began) * 1000)
        if response.status != 200:
            raise RuntimeError(f"/v1/ask answered {response.status}")
        timing = server_timing(response.getheader("Server-Timing", ""))
        app.append(timing["app"])
        pipeline.append(timing["pipeline"])
    connection.close()
    totals, apps, pipelines = np.array(total), np.array(app), np.array(pipeline)
    return {
        **latency_summary(total),
        "pipeline_p50_ms": _p50(pipelines),
        "http_layer_p50_ms": _p50(totals - pipelines),
        "below_flask_p50_ms": _p50(totals - apps),
        "flask_p50_ms": _p50(apps - pipelines),
    }


def _p50(values: np.ndarray) -> float:
    return round(float(np.median(values)), 3)


def embedding(questions: Sequence[str], cache_dir: Path, rounds: int) -> dict[str, dict[str, Any]]:
    """One question's embedding in process (`encode_queries`, as retrieval calls it), with a
    server worker's thread budget, the encoders alternating question by question."""
    from qa.embedding import Embedder

    embedders = {encoder: Embedder(cache_dir=cache_dir, query_encoder=encoder) for encoder in ENCODERS}
    timings: dict[str, list[float]] = {encoder: [] for encoder in ENCODERS}
    for embedder in embedders.values():
        embedder.encode_queries(["warm-up"])
    for _ in range(rounds):
        for question in questions:
            for encoder, embedder in embedders.items():
                began = time.perf_counter()
                embedder.encode_queries([question])
                timings[encoder].append((time.perf_counter() - began) * 1000)
    result = {}
    for encoder, embedder in embedders.items():
        result[encoder] = {"backend": embedder.one_text_backend, **latency_summary(timings[encoder])}
        embedder.close()
    return result


def _each_server(
    seeds_dir: Path, index_dir: Path, rounds: int, measure: Callable[[str], dict[str, Any]]
) -> dict[str, list[dict[str, Any]]]:
    """`measure(base_url)` on a fresh server per setting of `SERVERS`, taking turns for `rounds`."""
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in SERVERS}
    for _ in range(rounds):
        for name, env in SERVERS.items():
            server = start_server(seeds_dir, index_dir, env=env)
            try:
                _, body = Client(server.base_url).request("GET", "/readyz")
                ready = json.loads(body)
                backends = {"backend": ready["question_embedding"], "reader": ready["reader"]}
                runs[name].append({**backends, **measure(server.base_url), "load_1min": load_average()})
            finally:
                server.stop()
    return runs


def _medians(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    from benchmarks.stats import median_of_runs

    return {name: median_of_runs(server_runs) for name, server_runs in runs.items()}


def measure(ctx: dict[str, Any]) -> dict[str, Any]:
    """The seed article's questions over HTTP and in process; the main corpus's batch."""
    from benchmarks.cli import ensure_index

    seed: Corpus = seed_corpus(ctx["workdir"])
    seed_index = ctx["workdir"] / "index-fastpath-seed"
    ensure_index(seed.seeds_dir, seed_index)
    questions = seed.sample(len(seed.questions) * 4, seed=5)
    requests = ctx["fastpath_requests"]

    def latency(base_url: str) -> dict[str, Any]:
        warm_up(base_url, questions, 50)
        return one_client(base_url, questions, requests)

    corpus: Corpus = ctx["corpus"]
    batch_questions = corpus.sample(ctx["batch_questions"], seed=3)

    def batch(base_url: str) -> dict[str, Any]:
        warm_up(base_url, batch_questions)
        return http_batch(base_url, batch_questions)

    cache_dir = Path(ctx["workdir"]) / "fastpath-cache"
    return {
        "seed_questions": len(seed.questions),
        "one_client": _medians(_each_server(seed.seeds_dir, seed_index, ctx["repeats"], latency)),
        "embedding": embedding(questions, cache_dir, ctx["fastpath_embed_rounds"]),
        "batch": _medians(_each_server(corpus.seeds_dir, ctx["index_dir"], ctx["repeats"], batch)),
    }


def markdown_lines(results: dict[str, Any], cell: Callable[[Any], str]) -> list[str]:
    one, embed, batch = results["one_client"], results["embedding"], results["batch"]

    def row(label: str, value: Callable[[str], str]) -> list[str]:
        return [label, *(value(name) for name in SERVERS)]

    rows = [
        row(
            "`/v1/ask` over HTTP, 1 client, p50 / p99 ms",
            lambda n: f"{cell(one[n]['p50_ms'])} / {cell(one[n]['p99_ms'])}",
        ),
        row("pipeline (`Server-Timing`), p50 ms", lambda n: cell(one[n]["pipeline_p50_ms"])),
        row("HTTP layer beyond the pipeline, p50 ms", lambda n: cell(one[n]["http_layer_p50_ms"])),
        row(
            "of which below Flask / Flask and schemas",
            lambda n: f"{cell(one[n]['below_flask_p50_ms'])} / {cell(one[n]['flask_p50_ms'])}",
        ),
        row(
            "a question's embedding in process, p50 / p99 ms",
            lambda n: f"{cell(embed[n]['p50_ms'])} / {cell(embed[n]['p99_ms'])}" if n in embed else "as int8",
        ),
        row(
            f"`POST /v1/ask/batch` of {batch['int8']['questions']:,} questions, questions/s",
            lambda n: cell(batch[n]["questions_per_s"]),
        ),
    ]
    backends = " / ".join(f"{one[n]['runs'][0]['backend']}, reader {one[n]['runs'][0]['reader']}" for n in SERVERS)
    return [
        "",
        f"The fast path on the seed article ({results['seed_questions']} questions; servers {backends}, "
        "taking turns; medians of the runs):",
        "",
        "| | " + " | ".join(COLUMNS[n] for n in SERVERS) + " |",
        "|---" * (len(SERVERS) + 1) + "|",
        *("| " + " | ".join(cells) + " |" for cells in rows),
    ]

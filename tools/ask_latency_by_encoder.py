"""`/v1/ask` latency over HTTP with the float32 and the int8 query encoder (README, Performance).

On the benchmarks' corpus (SQuAD v1.1 dev part 1 + the seed article, `benchmarks.corpus`), one
server per encoder (`QA_QUERY_ENCODER`), one closed-loop client of `--requests` questions; the
encoders take turns for `--rounds` rounds so a burst of load on the machine hits both alike.

    python tools/ask_latency_by_encoder.py --workdir /tmp/article-qa-encoders
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from benchmarks.cli import ensure_index
from benchmarks.corpus import DEFAULT_SQUAD, squad_corpus
from benchmarks.serving import closed_loop, warm_up
from tests.servers import Client, start_server

ENCODERS = ("fp32", "int8")


def one_run(seeds_dir: Path, index_dir: Path, encoder: str, questions: list[str], requests: int) -> dict[str, Any]:
    server = start_server(seeds_dir, index_dir, env={"QA_QUERY_ENCODER": encoder})
    try:
        _, body = Client(server.base_url).request("GET", "/readyz")
        warm_up(server.base_url, questions)
        latency = closed_loop(server.base_url, questions, 1, requests)
        return {"backend": json.loads(body)["question_embedding"], **latency}
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    arguments = parser.parse_args()

    corpus = squad_corpus(DEFAULT_SQUAD, arguments.workdir)
    index_dir = arguments.workdir / "index"
    ensure_index(corpus.seeds_dir, index_dir)
    questions = corpus.sample(arguments.requests, seed=2)
    runs: dict[str, list[dict[str, Any]]] = {encoder: [] for encoder in ENCODERS}
    for _ in range(arguments.rounds):
        for encoder in ENCODERS:
            runs[encoder].append(one_run(corpus.seeds_dir, index_dir, encoder, questions, arguments.requests))
    print(json.dumps({"corpus": corpus.name, "requests": arguments.requests, "runs": runs}, indent=1))


if __name__ == "__main__":
    main()

"""Compare the float32 and int8 query encoders on the path that serves one question (README, Performance).

`qa eval` asks its questions in batches, which torch embeds; this asks them one at a time, as
`/v1/ask` does, so each goes through the ONNX export (float32, then int8), and reports for each
encoder the eval metrics, then the single-question embedding latency of both measured in the same
process, alternating question by question, and the embedding throughput of a whole batch (torch
bfloat16) against the int8 encoder one question at a time (both on one thread).

    python tools/compare_query_encoders.py ../shared/eval/squad/squad-v1.1-dev-part1.json
    python tools/compare_query_encoders.py ../shared/eval/newsroom/questions.jsonl \
        --seeds-dir ../shared/eval/newsroom/seeds
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from qa.config import Settings
from qa.documents import load_seeds
from qa.embedding import Embedder
from qa.evaluation import default_index_dir, read_eval_file, run
from qa.service import Service

ENCODERS = ("fp32", "int8")


def latency(embedders: dict[str, Embedder], texts: list[str], rounds: int) -> dict[str, dict[str, float]]:
    """Per-encoder percentiles (ms) of one text's embedding, the encoders alternating text by text."""
    timings: dict[str, list[float]] = {name: [] for name in embedders}
    for _ in range(rounds):
        for text in texts:
            for name, embedder in embedders.items():
                began = time.perf_counter()
                embedder.encode([text])
                timings[name].append((time.perf_counter() - began) * 1000)
    return {name: _percentiles(values) for name, values in timings.items()}


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {f"p{p}": round(ordered[min(len(ordered) - 1, len(ordered) * p // 100)], 3) for p in (50, 90, 99)}


def throughput(embedder: Embedder, texts: list[str]) -> dict[str, float]:
    """Questions per second: all of `texts` as one batch (torch), then one by one (the ONNX encoder)."""
    began = time.perf_counter()
    embedder.encode(texts)
    batch = len(texts) / (time.perf_counter() - began)
    began = time.perf_counter()
    for text in texts:
        embedder.encode([text])
    one_by_one = len(texts) / (time.perf_counter() - began)
    return {"batch_torch_per_s": round(batch, 1), f"one_by_one_{embedder.one_text_backend}_per_s": round(one_by_one, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", type=Path)
    parser.add_argument("--seeds-dir", type=Path)
    parser.add_argument("--index-dir", type=Path)
    parser.add_argument("--rounds", type=int, default=1, help="latency: times each question is embedded")
    arguments = parser.parse_args()

    settings = Settings.from_env(seeds_dir=arguments.seeds_dir)
    evalset = read_eval_file(arguments.file)
    documents = evalset.documents or load_seeds(settings.seeds_dir).documents
    index_dir = arguments.index_dir or default_index_dir(arguments.file, settings, Settings.from_env().seeds_dir)
    report: dict[str, Any] = {"file": str(arguments.file), "questions": len(evalset.questions)}
    embedders: dict[str, Embedder] = {}
    for encoder in ENCODERS:
        encoder_settings = settings.with_overrides(index_dir=index_dir, query_encoder=encoder, embed_threads=1)
        embedder = Embedder.from_settings(encoder_settings)
        service = Service(encoder_settings, embedder=embedder).load(documents=documents)
        embedders[encoder] = embedder
        result = run(evalset.questions, service.ask_many, service.index.documents, batch_size=1).to_dict()
        report[encoder] = {"backend": embedder.one_text_backend, **result}
    texts = [q.question for q in evalset.questions]
    report["embedding_ms"] = latency(embedders, texts, arguments.rounds)
    report["throughput"] = throughput(embedders["int8"], texts[:1000])
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()

"""Where one question's time goes, in process: embed, search, fuse (BM25 and scoring), answer.

The real `Service.ask` runs unchanged; timers are wrapped around the stage entry points it calls
(the embedder's `encode`, the index's `search_chunks` (FAISS, segment by segment), the two BM25
`scores`, the answerer's `answer`), so the split follows the code as it is, with no hooks in the
pipeline. Fuse is what retrieval
spends outside embedding and FAISS: BM25 plus candidate fusion and sentence scoring.
"""

from __future__ import annotations

import gc
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from benchmarks.stats import latency_summary

STAGES = ("embed", "search", "fuse", "bm25", "answer", "total")


class StageClock:
    def __init__(self) -> None:
        self.spent: dict[str, float] = defaultdict(float)

    def wrap(self, stage: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.spent[stage] += time.perf_counter() - began

        return timed


@contextmanager
def patched(clock: StageClock, targets: Sequence[tuple[Any, str, str]]) -> Iterator[None]:
    """Time every `(owner, attribute, stage)` of `targets` (a module's function, a class's method,
    an instance's bound method) while the block runs; each attribute is restored on exit."""
    saved = [(owner, name, owner.__dict__.get(name)) for owner, name, _ in targets]
    for owner, name, stage in targets:
        setattr(owner, name, clock.wrap(stage, getattr(owner, name)))
    try:
        yield
    finally:
        for owner, name, original in saved:
            if original is None:  # it was the class's: drop the instance's wrapper
                delattr(owner, name)
            else:
                setattr(owner, name, original)


@contextmanager
def instrumented(service: Any, clock: StageClock) -> Iterator[None]:
    """Time the stage entry points of a loaded `Service`, each as wall time on the calling thread:
    a batch embeds its questions (`encode_queries`) and reads its answers (`on_threads`) on the
    inference threads, so timing the work inside them would add up the threads' time instead."""
    index = service.index
    targets: list[tuple[Any, str, str]] = [
        (service.embedder, "encode_queries", "embed"),
        (index, "search_chunks", "search"),
        (index.chunk_lexical, "scores", "bm25"),
        (index.sentence_lexical, "scores", "bm25"),
        (service.embedder, "on_threads", "answer"),
    ]
    with patched(clock, targets):
        yield


def _split(clock: StageClock, total: float) -> dict[str, float]:
    """Seconds by stage of one timed call; fuse is retrieval outside embedding and FAISS."""
    spent = clock.spent
    retrieve = total - spent.get("answer", 0.0)
    return {
        "embed": spent.get("embed", 0.0),
        "search": spent.get("search", 0.0),
        "fuse": retrieve - spent.get("embed", 0.0) - spent.get("search", 0.0),
        "bm25": spent.get("bm25", 0.0),
        "answer": spent.get("answer", 0.0),
        "total": total,
    }


def batch_split(service: Any, questions: Sequence[str]) -> dict[str, Any]:
    """Where a batch's time goes: all questions through one `ask_many`, as `/v1/ask/batch` does."""
    from qa.retrieval import Query

    clock = StageClock()
    with instrumented(service, clock):
        began = time.perf_counter()
        service.ask_many([Query(q) for q in questions])
        total = time.perf_counter() - began
    seconds = _split(clock, total)
    return {
        "questions": len(questions),
        "questions_per_s": round(len(questions) / total, 1),
        "ms_per_question": {stage: round(s * 1000 / len(questions), 3) for stage, s in seconds.items()},
    }


def stage_split(service: Any, questions: Sequence[str]) -> dict[str, Any]:
    """Per-stage latency percentiles over `questions`, asked one at a time as `/v1/ask` would."""
    from qa.retrieval import Query

    per_stage: dict[str, list[float]] = {stage: [] for stage in STAGES}
    collections_before = sum(s["collections"] for s in gc.get_stats())
    for question in questions[:5]:
        service.ask(Query(question))  # warm caches outside the measurement
    for question in questions:
        clock = StageClock()
        with instrumented(service, clock):
            began = time.perf_counter()
            service.ask(Query(question))
            total = time.perf_counter() - began
        for stage, seconds in _split(clock, total).items():
            per_stage[stage].append(seconds * 1000)
    summary = {stage: latency_summary(ms) for stage, ms in per_stage.items()}
    total_p50 = summary["total"]["p50_ms"]
    shares = {
        stage: round(float(np.median(per_stage[stage])) / total_p50, 3) if total_p50 else 0.0
        for stage in ("embed", "search", "fuse", "answer")
    }
    return {
        "questions": len(questions),
        "stages": summary,
        "share_of_p50": shares,
        "gc_collections": sum(s["collections"] for s in gc.get_stats()) - collections_before,
    }

"""Vector search at scale: synthetic corpora of 384-d chunk vectors, flat (exact) against HNSW.

How the vectors are made (`synthetic`): real MiniLM chunk vectors are anisotropic (the variance
along the i-th principal axis falls roughly as i^-0.85 on the SQuAD corpus) and clustered by topic.
So each corpus is `n / 100` Gaussian clusters: centres and per-point offsets are both drawn with
that power-law variance spectrum, offsets scaled so a point sits at cosine ~0.6 from its centre,
and every vector is normalized to unit length. Queries are drawn the same way around random
centres but are not corpus points, like questions near, not equal to, the chunks that answer
them. `realism` reports the query-to-neighbour cosines so they can be compared with real ones
(SQuAD: top-1 ~0.6-0.75, top-10 ~0.45-0.5 over a few thousand vectors).

Latency is one query per call with FAISS on one OpenMP thread, as a server worker searches;
recall@10 compares the top 10 of the index with the exact top 10 of a flat scan. `k` is the number
of candidates the service asks FAISS for.
"""

from __future__ import annotations

import time
from typing import Any, cast

import numpy as np

from benchmarks.stats import latency_summary

DIMENSION = 384
SPECTRUM_EXPONENT = 0.85
POINTS_PER_CLUSTER = 100
EF_SWEEP = (64, 128, 256, 384, 512)
OFFSET_SCALE = 1.3  # offset/centre norm ratio: ~0.6 cosine between a point and its centre


def _spectrum(dimension: int) -> np.ndarray:
    std = np.arange(1, dimension + 1, dtype=np.float64) ** (-SPECTRUM_EXPONENT / 2)
    return (std / np.linalg.norm(std)).astype(np.float32)


def _around(centres: np.ndarray, count: int, rng: np.random.Generator, block: int = 65_536) -> np.ndarray:
    std = _spectrum(centres.shape[1])
    out = np.empty((count, centres.shape[1]), dtype=np.float32)
    for start in range(0, count, block):
        size = min(block, count - start)
        picked = centres[rng.integers(0, len(centres), size)]
        offsets = rng.standard_normal((size, centres.shape[1]), dtype=np.float32) * std * OFFSET_SCALE
        rows = picked + offsets
        out[start : start + size] = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    return out


def synthetic(count: int, queries: int, seed: int = 0, dimension: int = DIMENSION) -> tuple[np.ndarray, np.ndarray]:
    """`(corpus, queries)` unit float32 vectors; see the module docstring for how they are made."""
    rng = np.random.default_rng(seed)
    clusters = max(8, count // POINTS_PER_CLUSTER)
    centres = rng.standard_normal((clusters, dimension), dtype=np.float32) * _spectrum(dimension)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    return _around(centres, count, rng), _around(centres, queries, rng)


def _exact(corpus: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    import faiss

    index = faiss.IndexFlatIP(corpus.shape[1])
    index.add(corpus)
    return index.search(queries, k)


def _timed_search(index: Any, queries: np.ndarray, k: int) -> tuple[list[float], np.ndarray]:
    from qa.vectors import search

    latencies, found = [], np.empty((len(queries), k), dtype=np.int64)
    for row, query in enumerate(queries):
        began = time.perf_counter()
        _, ids = search(index, query[None, :], k)
        latencies.append((time.perf_counter() - began) * 1000)
        found[row] = ids[0]
    return latencies, found


def recall_at(found: np.ndarray, exact: np.ndarray, k: int = 10) -> float:
    hits = sum(len(set(f[:k].tolist()) & set(e[:k].tolist())) for f, e in zip(found, exact, strict=True))
    return round(hits / (k * len(exact)), 4)


def _ef_sweep(index: Any, queries: np.ndarray, exact: np.ndarray, k: int) -> dict[str, Any]:
    """HNSW latency and recall at other `efSearch` values (search-time only: no rebuild)."""
    import faiss

    from qa.vectors import HNSW_EF_SEARCH

    graph = cast(faiss.IndexHNSWFlat, faiss.downcast_index(index.index)).hnsw
    sweep = {}
    for ef in sorted({max(k, ef) for ef in EF_SWEEP}):
        graph.efSearch = ef
        latencies, found = _timed_search(index, queries, k)
        summary = latency_summary(latencies)
        sweep[str(ef)] = {
            "p50_ms": summary["p50_ms"],
            "p99_ms": summary["p99_ms"],
            "recall_at_10": recall_at(found, exact),
        }
    graph.efSearch = HNSW_EF_SEARCH
    return sweep


def measure_size(
    count: int, query_count: int, k: int, kinds: tuple[str, ...], flat_queries: int | None = None
) -> dict[str, Any]:
    """Build each index kind over one synthetic corpus and time single-query search."""
    import faiss

    from qa.vectors import build_vector_index, index_type_for

    corpus, queries = synthetic(count, query_count)
    faiss.omp_set_num_threads(2)
    scores, exact = _exact(corpus, queries, max(k, 10))
    realism = {"top1_cos": round(float(scores[:, 0].mean()), 3), "top10_cos": round(float(scores[:, 9].mean()), 3)}
    result: dict[str, Any] = {
        "chunks": count,
        "queries": query_count,
        "k": k,
        "store_picks": index_type_for(count),
        "realism": realism,
        "indexes": {},
    }
    for kind in kinds:
        faiss.omp_set_num_threads(2)  # builds may use both cores
        began = time.perf_counter()
        index = build_vector_index(corpus, np.arange(count), kind)
        build_seconds = time.perf_counter() - began
        faiss.omp_set_num_threads(1)  # a worker searches one query on one thread
        timed = queries[:flat_queries] if kind == "flat" and flat_queries else queries
        latencies, found = _timed_search(index, timed, k)
        result["indexes"][kind] = {
            "build_seconds": round(build_seconds, 2),
            **latency_summary(latencies),
            "recall_at_10": recall_at(found, exact[: len(timed)]),
        }
        if kind == "hnsw":
            result["indexes"][kind]["ef_search"] = _ef_sweep(index, queries, exact, k)
        del index
    faiss.omp_set_num_threads(2)
    return result

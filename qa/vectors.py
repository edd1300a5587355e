"""The FAISS side of the store: an inner-product index over unit-length chunk vectors.

Ids in the FAISS index are the chunk ids of the SQLite store. Small corpora get exact search;
from `HNSW_THRESHOLD` chunks on, an HNSW graph keeps a query in the low milliseconds at the cost
of a slower build and approximate recall. Measured by `python -m benchmarks --only scale` (one
query, one thread, README "Performance"): a flat scan costs ~0.12 ms per 1,000 chunks, so 20k
chunks already take ~2.5 ms of a ~10 ms question, while HNSW answers in under 1 ms there. At 1M
synthetic chunks HNSW took 2.5 ms (p99 3 ms) with recall@10 0.969 at efSearch 256 (0.955 at 128);
built with efConstruction 80 it reached only 0.93 at 256, so the build is slower but better
(1M chunks: ~38 min on 2 busy cores, against ~4 h to embed them).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np

if TYPE_CHECKING:
    import faiss  # imported where it is used: `qa --help` and the web layer start without it

HNSW_THRESHOLD = 20_000
HNSW_NEIGHBOURS = 32
HNSW_EF_CONSTRUCTION = 160
HNSW_EF_SEARCH = 256


def index_type_for(count: int) -> str:
    return "hnsw" if count >= HNSW_THRESHOLD else "flat"


def build_vector_index(vectors: np.ndarray, ids: np.ndarray, index_type: str | None = None) -> faiss.IndexIDMap2:
    """An `IndexIDMap2` over `vectors` (float32, unit rows) keyed by `ids`."""
    import faiss

    kind = index_type or index_type_for(len(vectors))
    dimension = vectors.shape[1]
    inner: faiss.Index
    if kind == "hnsw":
        graph = faiss.IndexHNSWFlat(dimension, HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        graph.hnsw.efSearch = HNSW_EF_SEARCH
        inner = graph
    elif kind == "flat":
        inner = faiss.IndexFlatIP(dimension)
    else:
        raise ValueError(f"unknown vector index type {kind!r}")
    index = faiss.IndexIDMap2(inner)
    index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids.astype(np.int64))
    return index


def write_vector_index(index: faiss.Index, path: Path) -> None:
    import faiss

    faiss.write_index(index, str(path))


def read_vector_index(path: Path) -> faiss.IndexIDMap2:
    import faiss

    # faiss hands back the concrete class; its type hints only promise an `Index`.
    index = cast(faiss.IndexIDMap2, faiss.read_index(str(path)))
    inner = faiss.downcast_index(index.index)
    if isinstance(inner, faiss.IndexHNSWFlat):
        inner.hnsw.efSearch = HNSW_EF_SEARCH
    return index


def search(
    index: faiss.IndexIDMap2,
    queries: np.ndarray,
    k: int,
    allowed: np.ndarray | None = None,
    excluded: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Scores and ids, `(len(queries), k)`; missing slots have id -1 and score -inf. With `allowed`,
    only those ids are candidates, and they are scored exactly: an HNSW walk filtered by an id
    selector visits its usual efSearch nodes and finds almost none of a few articles' chunks among
    many. `excluded` ids (tombstoned chunks) are skipped by the walk itself."""
    import faiss

    if allowed is not None and excluded is not None and len(excluded):
        allowed = np.setdiff1d(allowed, excluded)
    k = max(1, min(k, index.ntotal))
    vectors = np.ascontiguousarray(queries, dtype=np.float32)
    if allowed is None:
        if excluded is None or not len(excluded):
            return _missing_as_minus_infinity(*index.search(vectors, k))  # an HNSW walk may find fewer than k
        params = _hnsw_params(index)
        params.sel = faiss.IDSelectorNot(faiss.IDSelectorBatch(np.ascontiguousarray(excluded, dtype=np.int64)))
        return _missing_as_minus_infinity(*index.search(vectors, k, params=params))
    if not isinstance(faiss.downcast_index(index.index), faiss.IndexHNSWFlat):
        params = faiss.SearchParameters()  # a flat index scans every allowed vector: already exact
        params.sel = faiss.IDSelectorBatch(np.ascontiguousarray(allowed, dtype=np.int64))
        return _missing_as_minus_infinity(*index.search(vectors, k, params=params))
    ids = np.ascontiguousarray(allowed, dtype=np.int64)
    scores = vectors @ index.reconstruct_batch(ids).T if len(ids) else np.zeros((len(vectors), 0), np.float32)
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    found_scores = np.full((len(vectors), k), -np.inf, dtype=np.float32)
    found_ids = np.full((len(vectors), k), -1, dtype=np.int64)
    found_scores[:, : top.shape[1]] = np.take_along_axis(scores, top, axis=1)
    found_ids[:, : top.shape[1]] = ids[top]
    return found_scores, found_ids


def _hnsw_params(index: faiss.IndexIDMap2) -> faiss.SearchParameters:
    """Search parameters that keep an HNSW graph's efSearch (plain parameters would reset it)."""
    import faiss

    if isinstance(faiss.downcast_index(index.index), faiss.IndexHNSWFlat):
        params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]  # in faiss, not in its stubs
        params.efSearch = HNSW_EF_SEARCH
        return params
    return faiss.SearchParameters()


def _missing_as_minus_infinity(scores: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """FAISS fills slots it could not fill with a large negative float; merging segments' results
    needs them below every real score whatever the metric, so they become -inf."""
    scores = scores.copy()
    scores[ids < 0] = -np.inf
    return scores, ids


def merge_top(
    results: list[tuple[np.ndarray, np.ndarray]], offsets: list[int], k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The best `k` of several segments' results, their ids moved into one numbering by `offsets`."""
    if len(results) == 1:
        scores, ids = results[0]
        return scores, np.where(ids >= 0, ids + offsets[0], -1)
    scores = np.concatenate([s for s, _ in results], axis=1)
    ids = np.concatenate([np.where(i >= 0, i + o, -1) for (_, i), o in zip(results, offsets, strict=True)], axis=1)
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, top, axis=1), np.take_along_axis(ids, top, axis=1)

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
    index: faiss.IndexIDMap2, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Scores and chunk ids, `(len(queries), k)`; missing slots have id -1. With `allowed`, only
    those ids are candidates, and they are scored exactly: an HNSW walk filtered by an id selector
    visits its usual efSearch nodes and finds almost none of a few articles' chunks among many."""
    import faiss

    k = max(1, min(k, index.ntotal))
    vectors = np.ascontiguousarray(queries, dtype=np.float32)
    if allowed is None:
        return index.search(vectors, k)
    if not isinstance(faiss.downcast_index(index.index), faiss.IndexHNSWFlat):
        params = faiss.SearchParameters()  # a flat index scans every allowed vector: already exact
        params.sel = faiss.IDSelectorBatch(np.ascontiguousarray(allowed, dtype=np.int64))
        return index.search(vectors, k, params=params)
    ids = np.ascontiguousarray(allowed, dtype=np.int64)
    scores = vectors @ index.reconstruct_batch(ids).T if len(ids) else np.zeros((len(vectors), 0), np.float32)
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    found_scores = np.full((len(vectors), k), -np.inf, dtype=np.float32)
    found_ids = np.full((len(vectors), k), -1, dtype=np.int64)
    found_scores[:, : top.shape[1]] = np.take_along_axis(scores, top, axis=1)
    found_ids[:, : top.shape[1]] = ids[top]
    return found_scores, found_ids

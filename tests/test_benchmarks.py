"""The benchmark runner works on a tiny configuration and reports in the documented shape.

No timing is asserted anywhere: the machines are shared and noisy, so only the runner's
behaviour and the structure of its JSON and markdown are checked.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from benchmarks.cli import bench
from benchmarks.report import check_targets
from benchmarks.scale import recall_at, synthetic
from benchmarks.stats import latency_summary, median_of_runs

SECTIONS = ("build", "stages", "http", "batch", "scale")


def test_latency_summary_and_medians_of_runs() -> None:
    summary = latency_summary([float(x) for x in range(1, 101)])
    assert summary["n"] == 100 and summary["p50_ms"] == pytest.approx(50.5)
    assert summary["p50_ms"] <= summary["p95_ms"] <= summary["p99_ms"] <= summary["max_ms"]
    merged = median_of_runs(
        [{"a": 1.0, "nested": {"b": 10}}, {"a": 3.0, "nested": {"b": 30}}, {"a": 2.0, "nested": {"b": 20}}]
    )
    assert merged["a"] == 2.0 and merged["nested"]["b"] == 20 and len(merged["runs"]) == 3


def test_synthetic_vectors_are_unit_length_clustered_and_recall_counts_overlap() -> None:
    corpus, queries = synthetic(1000, 10, seed=3)
    assert corpus.shape == (1000, 384) and queries.shape == (10, 384) and corpus.dtype == np.float32
    assert np.allclose(np.linalg.norm(corpus, axis=1), 1.0, atol=1e-5)
    best = (queries @ corpus.T).max(axis=1)
    assert (best > 0.3).all()  # each query has near neighbours: the corpus is clustered, not uniform noise
    exact = np.arange(20).reshape(2, 10)
    assert recall_at(exact, exact) == 1.0
    assert recall_at(exact[:, ::-1] + np.array([[0], [5]]), exact) == 0.75


def test_targets_are_reported_as_not_run_when_a_section_is_missing() -> None:
    rows = check_targets({"machine": {"nproc": 2}, "http": {"one_client": {"p50_ms": 11.0}}})
    by_what = {row["what"]: row for row in rows}
    assert by_what["HTTP /v1/ask, 1 client, p50 ms"]["met"] is True
    assert by_what["index build, sentences/s"] == {
        "what": "index build, sentences/s",
        "target": ">= 200",
        "measured": None,
        "met": None,
    }


@pytest.mark.slow
def test_qa_bench_quick_runs_every_section_and_writes_json_and_markdown(tmp_path: Path) -> None:
    out_json, out_md = tmp_path / "bench.json", tmp_path / "bench.md"
    result = CliRunner().invoke(
        bench,
        [
            "--quick",
            "--json",
            str(out_json),
            "--markdown",
            str(out_md),
            "--workdir",
            str(tmp_path / "work"),
            "--scale-sizes",
            "500",
        ],
    )
    assert result.exit_code == 0, result.output
    results = json.loads(out_json.read_text(encoding="utf-8"))
    assert set(SECTIONS) <= results.keys()
    assert {"date", "cpu", "nproc", "load_at_start"} <= results["machine"].keys()

    assert results["build"]["sentences"] > 0 and results["build"]["sentences_per_s"] > 0
    assert {"embed_sentences", "segment", "faiss", "bm25"} <= results["build"]["stages_s"].keys()
    assert {"embed", "search", "fuse", "answer", "total"} <= results["stages"]["stages"].keys()
    for clients in ("one_client", "eight_clients"):
        figures = results["http"][clients]
        assert figures["errors"] == 0 and figures["n"] > 0
        assert figures["p50_ms"] <= figures["p95_ms"] <= figures["p99_ms"]
    assert results["http"]["cold_start_s"] > 0 and results["http"]["worker_rss_mb"] > 0
    assert results["http"]["threads"]["inference_threads_x_workers"] >= 1
    for interface in ("http", "cli"):
        assert results["batch"][interface]["questions_per_s"] > 0
    (size,) = results["scale"]["sizes"]
    assert size["chunks"] == 500 and {"flat", "hnsw"} <= size["indexes"].keys()
    assert size["indexes"]["flat"]["recall_at_10"] == 1.0

    assert len(results["targets"]) >= 10
    measured = {row["what"]: row["met"] for row in results["targets"]}
    assert all(measured[what] in (True, False) for what in measured if not what.startswith("qa batch"))
    markdown = out_md.read_text(encoding="utf-8")
    assert "| what | target | measured |" in markdown and results["machine"]["cpu"] in markdown
    assert markdown in result.output


def test_bench_only_runs_the_sections_asked_for(tmp_path: Path) -> None:
    out_json = tmp_path / "scale.json"
    result = CliRunner().invoke(
        bench,
        [
            "--quick",
            "--only",
            "scale",
            "--scale-sizes",
            "300",
            "--json",
            str(out_json),
            "--markdown",
            str(tmp_path / "scale.md"),
            "--workdir",
            str(tmp_path / "work"),
        ],
    )
    assert result.exit_code == 0, result.output
    results = json.loads(out_json.read_text(encoding="utf-8"))
    assert "scale" in results and not set(SECTIONS[:4]) & results.keys()
    assert {row["met"] for row in results["targets"] if row["what"].startswith("HTTP")} == {None}

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
from benchmarks.corpus import DEFAULT_SQUAD
from benchmarks.live import PROBE_SENTENCES, live_corpus
from benchmarks.report import check_targets, markdown
from benchmarks.scale import recall_at, synthetic
from benchmarks.stats import latency_summary, median_of_runs

SECTIONS = ("build", "stages", "http", "batch", "scale", "live")


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
    # A batch embeds and reads on the inference threads: its split is wall time on the calling
    # thread (the embedding was missed, and the answers' threads added up past the batch's time).
    in_batch = results["stages"]["batch"]["ms_per_question"]
    assert in_batch["embed"] > 0 and in_batch["fuse"] > 0
    assert in_batch["embed"] + in_batch["search"] + in_batch["fuse"] + in_batch["answer"] == pytest.approx(
        in_batch["total"], abs=0.01
    )
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

    if "skipped" not in results["live"]:  # built from SQuAD paragraphs: absent from some clones
        (live,) = results["live"]["sizes"]
        assert live["articles"] == 100 and live["publish"]["publishes"] == 3
        assert live["publish"]["to_cited_answer"]["n"] + live["publish"]["to_cited_answer"]["missing"] == 3
        assert {"embed", "write_segment", "commit", "total"} <= live["publish"]["writer_steps_ms"].keys()
        assert live["readers"]["with_writes"]["writes"] > 0 and live["readers"]["with_writes"]["errors"] == 0
        assert live["startup_s"] > 0 and live["disk_mb"] > 0 and live["segments_at_end"] >= 1

    assert len(results["targets"]) >= 10
    measured = {row["what"]: row["met"] for row in results["targets"]}
    # One live size has no ratio between sizes; a clone without SQuAD has no live figures at all.
    live_rows = ("articles", "archive")
    core = [what for what in measured if not what.startswith("qa batch") and not any(w in what for w in live_rows)]
    assert all(measured[what] in (True, False) for what in core)
    markdown = out_md.read_text(encoding="utf-8")
    assert "| what | target | measured |" in markdown and results["machine"]["cpu"] in markdown
    assert markdown in result.output


@pytest.mark.skipif(not DEFAULT_SQUAD.is_file(), reason="the shared SQuAD file is not in this clone")
def test_live_probes_are_new_40_sentence_articles_that_answer_their_question() -> None:
    from qa.chunking import split_sentences

    corpus = live_corpus(DEFAULT_SQUAD, 600)
    archived = {s.text for d in corpus.paragraphs for s in split_sentences(d.doc_id, d.text)}
    assert len(corpus.probes) >= 32  # 2 warm-up probes and 30 timed ones
    for probe in corpus.probes:
        sentences = split_sentences(probe.document.doc_id, probe.document.text)
        shared = archived & {s.text for s in sentences}
        assert len(sentences) == PROBE_SENTENCES and shared <= {"[citation needed]"}  # Wikipedia's, not content
        assert probe.question and probe.document.doc_id.startswith("live-probe-")
    articles = corpus.articles(2 * len(corpus.paragraphs) + 1)
    assert len({a.doc_id for a in articles}) == len(articles) and articles[-1].doc_id.endswith("-r3")


def test_live_targets_name_the_largest_archive_and_the_markdown_has_its_tables() -> None:
    summary = {"n": 30, "p50_s": 0.5, "p95_s": 0.9, "p99_s": 1.0, "max_s": 1.1, "missing": 0}
    steps = {"embed": {"p50_ms": 300.0, "p99_ms": 400.0}, "total": {"p50_ms": 450.0, "p99_ms": 600.0}}
    loop = {"p50_ms": 9.0, "p99_ms": 20.0, "errors": 0}

    def size(articles: int, p50: float) -> dict[str, object]:
        publish = {"to_cited_answer": {**summary, "p50_s": p50}, "to_generation_served": summary}
        publish |= {"writer_publish": summary, "writer_cpu": summary, "served_after_commit": summary}
        publish |= {"writer_steps_ms": steps, "follower_reload_steps_ms": steps}
        readers = {"clients": 8, "without_writes": loop, "segments_before_writes": 1, "background_merges": 2}
        readers["with_writes"] = {**loop, "writes": 150, "write_errors": 0, "writes_per_s": 7.5}
        return {
            "articles": articles,
            "publish": publish,
            "readers": readers,
            "one_client": loop,
            "startup_s": 6.0,
            "disk_mb_per_1000_articles": 30.0,
            "segments_at_end": 9,
        }

    results = {
        "machine": {"nproc": 2, "date": "today", "cpu": "cpu", "memory_gib": 1, "python": "3", "torch": "2"}
        | {"load_at_start": [1.0]},
        "corpus": {"name": "c", "questions": 1},
        "config": {"repeats": 1},
        "live": {"corpus": "c", "sizes": [size(1000, 0.4), size(10_000, 0.6)], "p50_ratio_largest_to_smallest": 1.5},
    }
    results["targets"] = check_targets(results)
    met = {row["what"]: row["met"] for row in results["targets"] if row["met"] is not None}
    assert met == {
        "10,000 articles: publish to a cited answer over HTTP, p50 s": True,
        "10,000 articles: publish to a cited answer over HTTP, p99 s": True,
        "publish to a cited answer, p50, largest / smallest archive": True,
        "10,000 articles: /v1/ask, 8 clients under writes, errors": True,
        "10,000 articles: /v1/ask, 1 client, p50 ms": True,
    }
    text = markdown(results)
    assert "| 10,000 | to a cited answer | 0.6 |" in text and "| writer publish() | embed | total |" in text


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

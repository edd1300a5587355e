"""`python -m benchmarks` (`make bench`): latency, throughput, build speed, memory and scale.

Each section repeats its measurement and reports medians; the results go to JSON and markdown
(with the targets of issue 5 checked). Timings are only meaningful on a quiet machine: the load
average is recorded with every run so noisy figures can be recognised.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

import qa  # noqa: F401  (sets the OpenMP wait policy before anything loads torch or faiss)

SECTIONS = ("build", "stages", "http", "batch", "fastpath", "scale", "live")
# Run only when asked for (`--only backfill`): it needs the [ray] extra, starts Ray clusters and
# takes ~15 minutes on 2 cores.
OPTIONAL_SECTIONS = ("backfill",)
RESULTS = Path(__file__).resolve().parent / "results"


def _sizes(value: str) -> list[int]:
    try:
        return [int(v.replace("_", "")) for v in value.split(",") if v.strip()]
    except ValueError as exc:
        raise click.BadParameter("a comma-separated list of corpus sizes, e.g. 10000,100000") from exc


def ensure_index(seeds_dir: Path, index_dir: Path) -> None:
    from tests.servers import qa_environment

    subprocess.run(
        [sys.executable, "-m", "qa", "index"],
        env=qa_environment(seeds_dir, index_dir),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def run_build(ctx: dict[str, Any]) -> dict[str, Any]:
    from benchmarks.build import build_once
    from benchmarks.stats import repeat

    return repeat(ctx["repeats"], lambda: build_once(ctx["corpus"].seeds_dir, ctx["index_dir"]))


def run_stages(ctx: dict[str, Any]) -> dict[str, Any]:
    from benchmarks.stages import batch_split, stage_split
    from benchmarks.stats import repeat
    from qa.config import Settings
    from qa.service import Service

    settings = Settings.from_env(seeds_dir=ctx["corpus"].seeds_dir, index_dir=ctx["index_dir"], workers=ctx["workers"])
    # The thread budget of a server worker, so the split shows what a request costs there.
    service = Service(settings).load()
    questions = ctx["corpus"].sample(ctx["requests"], seed=1)
    batch = ctx["corpus"].sample(ctx["batch_questions"], seed=3)
    return repeat(ctx["repeats"], lambda: {**stage_split(service, questions), "batch": batch_split(service, batch)})


def _http_once(ctx: dict[str, Any]) -> dict[str, Any]:
    from benchmarks.serving import closed_loop, warm_up, with_server_cpu, worker_memory
    from benchmarks.stats import child_pids, process_memory
    from tests.servers import start_server

    corpus = ctx["corpus"]
    server = start_server(corpus.seeds_dir, ctx["index_dir"], workers=ctx["workers"])
    try:
        questions = corpus.sample(ctx["requests"] * 8, seed=2)
        warm_up(server.base_url, questions)
        one = with_server_cpu(server, lambda: closed_loop(server.base_url, questions, 1, ctx["requests"]))
        eight = with_server_cpu(server, lambda: closed_loop(server.base_url, questions, 8, ctx["requests"]))
        workers = worker_memory(server)
        threads = [_os_threads(pid) for pid in child_pids(server.process.pid)]
        master_rss = process_memory(server.process.pid)["rss_mb"]
    finally:
        server.stop()
    return {
        "cold_start_s": server.cold_start_s,
        "one_client": one,
        "eight_clients": eight,
        "worker_rss_mb": max(w["rss_mb"] for w in workers),
        "worker_pss_mb": max(w["pss_mb"] for w in workers),
        "worker_peak_rss_mb": max(w["peak_rss_mb"] for w in workers),
        "master_rss_mb": master_rss,
        "os_threads_per_worker": max(threads, default=0),
    }


def _os_threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


def run_http(ctx: dict[str, Any]) -> dict[str, Any]:
    from benchmarks.stats import repeat
    from qa.config import Settings

    result = repeat(ctx["repeats"], lambda: _http_once(ctx))
    result["eight_clients"]["errors"] = sum(run["eight_clients"]["errors"] for run in result["runs"])
    result["one_client"]["errors"] = sum(run["one_client"]["errors"] for run in result["runs"])
    settings = Settings.from_env(workers=ctx["workers"])
    embed_threads = settings.effective_embed_threads()
    # Every forward pass (ONNX Runtime for one question, torch for a batch) runs on one thread, and
    # a worker runs at most `embed_threads` of them at once.
    result["threads"] = {
        "workers": settings.workers,
        "gunicorn_threads": settings.threads_per_worker,
        "threads_per_pass": 1,
        "embed_threads": embed_threads,
        "inference_threads_x_workers": embed_threads * settings.workers,
    }
    return result


def run_batch(ctx: dict[str, Any]) -> dict[str, Any]:
    from benchmarks.batch import cli_batch, http_batch
    from benchmarks.serving import warm_up
    from benchmarks.stats import repeat
    from tests.servers import start_server

    corpus = ctx["corpus"]
    questions = corpus.sample(ctx["batch_questions"], seed=3)
    result: dict[str, Any] = {"questions": len(questions)}
    server = start_server(corpus.seeds_dir, ctx["index_dir"], workers=ctx["workers"])
    try:
        warm_up(server.base_url, questions)
        result["http"] = repeat(ctx["repeats"], lambda: http_batch(server.base_url, questions))
    finally:
        server.stop()
    result["cli"] = repeat(ctx["repeats"], lambda: cli_batch(corpus.seeds_dir, ctx["index_dir"], questions))
    return result


def run_fastpath(ctx: dict[str, Any]) -> dict[str, Any]:
    from benchmarks.fastpath import measure

    return measure(ctx)


def run_scale(ctx: dict[str, Any]) -> dict[str, Any]:
    from benchmarks.scale import measure_size
    from qa.vectors import HNSW_THRESHOLD

    sizes = [
        measure_size(
            size, ctx["scale_queries"], ctx["scale_k"], ("flat", "hnsw"), flat_queries=ctx["scale_flat_queries"]
        )
        for size in ctx["scale_sizes"]
    ]
    return {"hnsw_threshold": HNSW_THRESHOLD, "sizes": sizes}


def run_live(ctx: dict[str, Any]) -> dict[str, Any]:
    from benchmarks.live import run_live as live

    squad: Path = ctx["squad"]
    if not squad.is_file():
        return {"skipped": f"{squad} is missing: the live archive is built from SQuAD paragraphs"}
    return live(ctx, squad)


def run_backfill(ctx: dict[str, Any]) -> dict[str, Any]:
    from benchmarks.backfill import measure

    squad: Path = ctx["squad"]
    return measure(squad if squad.is_file() else None, ctx["backfill_articles"])


RUNNERS = {
    "backfill": run_backfill,
    "build": run_build,
    "stages": run_stages,
    "http": run_http,
    "batch": run_batch,
    "fastpath": run_fastpath,
    "scale": run_scale,
    "live": run_live,
}


@click.command(name="bench", context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--quick",
    is_flag=True,
    help="A tiny configuration (seed article, few requests, 2,000 vectors) "
    "that checks the runner works; its timings mean little.",
)
@click.option(
    "--only",
    "only",
    multiple=True,
    type=click.Choice(SECTIONS + OPTIONAL_SECTIONS),
    help="Run only this section (repeatable). Default: all but backfill.",
)
@click.option(
    "--json",
    "json_out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=RESULTS / "latest.json",
    show_default=True,
    help="Write the results as JSON here.",
)
@click.option(
    "--markdown",
    "markdown_out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=RESULTS / "latest.md",
    show_default=True,
    help="Write the markdown tables here.",
)
@click.option("--repeats", type=click.IntRange(1, 20), help="Repeated runs per measurement (default 3; quick 1).")
@click.option(
    "--requests",
    type=click.IntRange(1),
    help="Questions per HTTP client and in the stage split (default 300; quick 5).",
)
@click.option("--batch-questions", type=click.IntRange(1, 1000), help="Questions per batch (default 1000; quick 10).")
@click.option("--workers", type=click.IntRange(1, 64), help="gunicorn workers (default: QA_WORKERS or 1).")
@click.option(
    "--scale-sizes",
    help="Synthetic corpus sizes, comma-separated (default 10000,100000; quick 2000). "
    "Add 1000000 for the 1M figure: its HNSW build takes many minutes.",
)
@click.option("--scale-queries", type=click.IntRange(1), help="Queries per scale size (default 200; quick 20).")
@click.option(
    "--live-sizes",
    help="Archive sizes (articles) of the live section, comma-separated (default 1000,10000; quick 100).",
)
@click.option(
    "--live-publishes",
    type=click.IntRange(1),
    help="Timed publishes per live archive size (default 30; quick 3).",
)
@click.option(
    "--live-seconds",
    type=click.FloatRange(0.5),
    help="Seconds of 8 clients with and without writes in the live section (default 20; quick 3).",
)
@click.option(
    "--backfill-articles",
    type=click.IntRange(1),
    help="Synthetic articles the backfill section ingests to watch the driver's memory (default 100000; quick 200).",
)
@click.option(
    "--squad",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="SQuAD JSON for the corpus (default: ../shared/eval/squad/squad-v1.1-dev-part1.json; "
    "without it the seed article is used).",
)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the benchmark corpus and its index live (default: a folder in the temp dir, reused).",
)
def bench(
    quick: bool,
    only: tuple[str, ...],
    json_out: Path,
    markdown_out: Path,
    repeats: int | None,
    requests: int | None,
    batch_questions: int | None,
    workers: int | None,
    scale_sizes: str | None,
    scale_queries: int | None,
    live_sizes: str | None,
    live_publishes: int | None,
    live_seconds: float | None,
    backfill_articles: int | None,
    squad: Path | None,
    workdir: Path | None,
) -> None:
    """Measure latency, throughput, index build, memory and vector search at scale.

    \b
    Examples:
      python -m benchmarks                          # everything, ~10 minutes on 2 cores
      python -m benchmarks --only http --only stages
      python -m benchmarks --only scale --scale-sizes 10000,100000,1000000
      python -m benchmarks --only live --live-sizes 1000,10000
      python -m benchmarks --quick --json /tmp/bench.json
      python -m benchmarks --only backfill          # qa ingest with and without Ray ([ray] extra)
    """
    from benchmarks.corpus import DEFAULT_SQUAD, prepare
    from benchmarks.report import check_targets, markdown
    from benchmarks.stats import machine
    from qa.config import Settings

    workdir = workdir or Path(tempfile.gettempdir()) / ("article-qa-bench-quick" if quick else "article-qa-bench")
    corpus = prepare(workdir, squad, quick)
    index_dir = workdir / f"index-{corpus.seeds_dir.name}"
    ctx = {
        "corpus": corpus,
        "index_dir": index_dir,
        "repeats": repeats or (1 if quick else 3),
        "requests": requests or (5 if quick else 300),
        "batch_questions": batch_questions or (10 if quick else 1000),
        "workers": Settings.from_env(workers=workers).workers,
        "scale_sizes": _sizes(scale_sizes) if scale_sizes else ([2000] if quick else [10_000, 100_000]),
        "scale_queries": scale_queries or (20 if quick else 200),
        "scale_flat_queries": 20 if quick else 50,
        "scale_k": 30,
        "squad": squad or DEFAULT_SQUAD,
        "workdir": workdir,
        "fastpath_requests": 10 if quick else 1000,
        "fastpath_embed_rounds": 1 if quick else 50,
        "live_workdir": workdir / "live",
        "live_sizes": _sizes(live_sizes) if live_sizes else ([100] if quick else [1_000, 10_000]),
        "live_publishes": live_publishes or (3 if quick else 30),
        "live_seconds": live_seconds or (3.0 if quick else 20.0),
        "live_clients": 8,
        "live_write_interval": 0.1,
        "backfill_articles": backfill_articles or (200 if quick else 100_000),
    }
    sections = [s for s in SECTIONS + OPTIONAL_SECTIONS if s in only or (not only and s in SECTIONS)]
    results: dict[str, Any] = {
        "machine": machine(),
        "corpus": {"name": corpus.name, "questions": len(corpus.questions)},
        "config": {k: v for k, v in ctx.items() if not isinstance(v, Path) and k != "corpus"} | {"sections": sections},
    }
    if any(s in sections for s in ("stages", "http", "batch", "fastpath")) and "build" not in sections:
        ensure_index(corpus.seeds_dir, index_dir)
    for section in sections:
        click.echo(f"bench: {section} ...", err=True)
        results[section] = RUNNERS[section](ctx)
    results["targets"] = check_targets(results)
    for path, text in ((json_out, json.dumps(results, indent=2)), (markdown_out, markdown(results))):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + ("" if text.endswith("\n") else "\n"), encoding="utf-8")
    click.echo(markdown(results))


def main() -> None:
    bench()

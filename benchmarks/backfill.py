"""`python -m benchmarks --only backfill`: what `qa ingest --ray` costs against a local ingest.

Throughput is sentences per second of `qa ingest FILE` end to end (read, split, embed, commit,
merge) in a fresh process and a fresh index: locally, with `--ray` on this machine, and with
`--ray` on a two-node loopback cluster of one CPU each (`tests/ray_cluster.py`). All three run on
the same two cores, so the figures show Ray's overhead, not a speed-up. Each mode is also timed
on a one-article file, and the throughput is given net of that start-up (the model import, Ray's
start, the actors' start).

Driver memory: the RSS of the `qa ingest --ray` process, sampled with how far it is while it
ingests synthetic articles of one short sentence each (so that 100,000 of them embed in minutes
on two cores); `driver_memory` runs alone, for `--ray` or a local `qa ingest`
(`benchmarks/results/2026-12-04-backfill-memory-2core.*`).
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import IO, Any

from benchmarks.stats import process_memory

# The percentage in the last progress bar line of `qa ingest --ray` (tqdm: "backfilling:  45%|").
BAR = re.compile(r"backfilling:\s*(\d+)%")
WORDS = "council mayor budget river bridge school police harbour festival election court museum".split()


def write_squad_articles(squad: Path, out: Path) -> int:
    """Every paragraph of a SQuAD file as one article of a `.jsonl`; how many."""
    data = json.loads(squad.read_text(encoding="utf-8"))["data"]
    with out.open("w", encoding="utf-8") as handle:
        count = 0
        for article in data:
            for number, paragraph in enumerate(article["paragraphs"]):
                doc_id = "".join(c if c.isalnum() else "-" for c in article["title"])[:60] + f"-{number}"
                record = {"id": doc_id, "title": article["title"], "text": paragraph["context"], "metadata": {}}
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
                count += 1
    return count


def write_synthetic_articles(out: Path, count: int, seed: int = 0) -> None:
    """`count` articles of one short sentence each, all different."""
    rng = random.Random(seed)
    with out.open("w", encoding="utf-8") as handle:
        for n in range(count):
            words = " ".join(rng.choice(WORDS) for _ in range(6))
            text = f"Brief {n}: the {words} story was filed on day {n % 365}."
            handle.write(json.dumps({"id": f"brief-{n}", "title": f"Brief {n}", "text": text, "metadata": {}}) + "\n")


def timed_ingest(file: Path, index_dir: Path, ray: list[str], env: dict[str, str]) -> dict[str, Any]:
    """`qa ingest FILE --json [--ray ...]` in a fresh process: seconds, sentences, and every half
    second the RSS of that process with how far it is (the percentage its progress bar shows, and
    the articles committed so far)."""
    began = time.perf_counter()
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "qa", "ingest", str(file), "--json", *ray],
            env={**env, "QA_INDEX_DIR": str(index_dir)},
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        samples: list[dict[str, float]] = []
        while process.poll() is None:
            try:
                rss = round(process_memory(process.pid)["rss_mb"], 1)
            except OSError:
                break
            samples.append(
                {
                    "seconds": round(time.perf_counter() - began, 1),
                    "rss_mb": rss,
                    "bar_percent": _bar_percent(stderr),
                    "committed": _committed(index_dir),
                }
            )
            time.sleep(0.5)
        seconds = time.perf_counter() - began
        stdout = process.stdout.read() if process.stdout else ""
        if process.returncode != 0:
            stderr.seek(0)
            raise RuntimeError(f"qa ingest {' '.join(ray)} failed with {process.returncode}: {stderr.read()[-2000:]}")
    return {
        "summary": json.loads(stdout),
        "seconds": round(seconds, 2),
        "sentences": _counts(index_dir)["sentences"],
        "rss_mb_samples": [s["rss_mb"] for s in samples],
        "samples": samples,
    }


def _bar_percent(stderr: IO[str]) -> float:
    """The percentage the ingest's progress bar (tqdm, `qa ingest --ray`) shows last; -1 without one."""
    stderr.seek(max(0, os.fstat(stderr.fileno()).st_size - 4096))
    found = BAR.findall(stderr.read())
    stderr.seek(0, os.SEEK_END)
    return float(found[-1]) if found else -1.0


def _committed(index_dir: Path) -> int:
    """Articles in the current generation (0 before the first commit)."""
    from qa.store import IndexUnavailable

    try:
        return _counts(index_dir)["documents"]
    except (IndexUnavailable, KeyError):
        return 0


def _counts(index_dir: Path) -> dict[str, int]:
    from qa.store import current_generation, read_manifest

    return dict(read_manifest(current_generation(index_dir))["counts"])


def run_mode(file: Path, one: Path, workdir: Path, name: str, ray: list[str], env: dict[str, str]) -> dict[str, Any]:
    """One mode: the whole file and, for its start-up, a one-article file."""
    startup = timed_ingest(one, workdir / f"{name}-startup", ray, env)["seconds"]
    full = timed_ingest(file, workdir / f"{name}-full", ray, env)
    net = max(full["seconds"] - startup, 1e-9)
    return {
        "seconds": full["seconds"],
        "startup_seconds": startup,
        "sentences": full["sentences"],
        "sentences_per_s": round(full["sentences"] / full["seconds"], 1),
        "sentences_per_s_net_of_startup": round(full["sentences"] / net, 1),
        "driver_peak_rss_mb": max(full["rss_mb_samples"], default=0.0),
    }


def measure(squad: Path | None, memory_articles: int, workdir: Path | None = None) -> dict[str, Any]:
    """Throughput of the three modes and the driver's memory over a large synthetic ingest."""
    from tests.ray_cluster import RAY_ENV, two_nodes

    root = Path(tempfile.mkdtemp(prefix="backfill-", dir=workdir))
    corpus, one = root / "articles.jsonl", root / "one.jsonl"
    if squad is not None:
        articles = write_squad_articles(squad, corpus)
    else:
        corpus.write_bytes((Path(__file__).resolve().parent.parent / "tests/data/squad_articles.jsonl").read_bytes())
        articles = sum(1 for _ in corpus.open(encoding="utf-8"))
    one.write_text(corpus.open(encoding="utf-8").readline(), encoding="utf-8")
    modes: dict[str, tuple[list[str], Callable[[], AbstractContextManager[Any]]]] = {
        "local": ([], nullcontext),
        "ray, this machine": (["--ray"], nullcontext),
        "ray, two nodes": (["--ray", "127.0.0.1:6380"], two_nodes),
    }
    result: dict[str, Any] = {"articles": articles, "modes": {}}
    for name, (ray, cluster) in modes.items():
        with cluster():
            result["modes"][name] = run_mode(corpus, one, root, name.replace(", ", "-"), ray, RAY_ENV)
    local = result["modes"]["local"]["sentences_per_s_net_of_startup"]
    for figures in result["modes"].values():
        figures["overhead_vs_local"] = round(1 - figures["sentences_per_s_net_of_startup"] / local, 3)
    result["driver_memory"] = driver_memory(memory_articles, root, ["--ray"], RAY_ENV)
    return result


def driver_memory(articles: int, root: Path, ray: list[str], env: dict[str, str]) -> dict[str, Any]:
    """The RSS of `qa ingest [--ray]` while it ingests `articles` synthetic one-sentence articles:
    highest per tenth of the run's time, and the highest until 10%, 50% and 100% of the input was
    done (as its progress bar says; without one, `qa ingest` locally, as the articles committed)."""
    synthetic = root / f"synthetic-{articles}.jsonl"
    write_synthetic_articles(synthetic, articles)
    run = timed_ingest(synthetic, root / f"memory-{'ray' if ray else 'local'}-{articles}", ray, env)
    samples = run["samples"]
    rss = [s["rss_mb"] for s in samples]
    tenth = max(1, len(rss) // 10)
    done = [s["bar_percent"] if s["bar_percent"] >= 0 else 100 * s["committed"] / articles for s in samples]
    return {
        "mode": " ".join(["qa ingest", *ray]),
        "articles": articles,
        "sentences": run["sentences"],
        "seconds": run["seconds"],
        "summary": run["summary"],
        "rss_mb_by_tenth_of_run": [max(rss[i : i + tenth]) for i in range(0, len(rss), tenth)][:10],
        "rss_mb_until_done": {
            f"{share}%": max((r for r, d in zip(rss, done, strict=True) if d <= share), default=0.0)
            for share in (10, 50, 100)
        },
        "peak_rss_mb": max(rss, default=0.0),
        "load_average_at_end": [round(v, 2) for v in os.getloadavg()],
        "samples": samples,
    }


def markdown_lines(backfill: dict[str, Any], cell: Callable[[Any], str]) -> list[str]:
    """The section's tables for the report."""
    lines = ["", f"Backfill of {backfill['articles']:,} SQuAD paragraphs with `qa ingest` (same 2 cores):", ""]
    header = ["mode", "seconds", "start-up s", "sentences/s", "net of start-up", "overhead", "driver peak RSS MB"]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    for name, m in backfill["modes"].items():
        row = [
            name,
            m["seconds"],
            m["startup_seconds"],
            m["sentences_per_s"],
            m["sentences_per_s_net_of_startup"],
            f"{m['overhead_vs_local']:.1%}",
            m["driver_peak_rss_mb"],
        ]
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    memory = backfill.get("driver_memory")
    if memory:
        lines += [
            "",
            f"Driver RSS (MB) while `{memory.get('mode', 'qa ingest --ray')}` ingests {memory['articles']:,} "
            f"one-sentence synthetic articles ({cell(memory['seconds'])} s), highest in each tenth of the run: "
            + ", ".join(cell(v) for v in memory["rss_mb_by_tenth_of_run"]),
        ]
        if "rss_mb_until_done" in memory:
            lines.append(
                "Highest until the input was "
                + ", ".join(f"{share} done: {cell(v)}" for share, v in memory["rss_mb_until_done"].items())
            )
    return lines


def served_cost(index_dir: Path, questions: int = 200) -> dict[str, Any]:
    """What an archive costs the process that serves it: the RSS its generation adds once
    opened (model apart), and the in-process time of one question (p50, a worker's threads)."""
    from benchmarks.stats import latency_summary
    from qa.config import Settings
    from qa.embedding import Embedder
    from qa.retrieval import Query
    from qa.service import Service
    from qa.store import open_index

    embedder = Embedder()
    embedder.encode(["warm up the model", "before measuring"])
    before = process_memory(os.getpid())["rss_mb"]
    index = open_index(index_dir)
    opened = process_memory(os.getpid())["rss_mb"] - before
    service = Service(Settings(index_dir=index_dir), embedder).load()
    rng = random.Random(1)
    asked = [f"What {rng.choice(WORDS)} story was filed on day {rng.randrange(365)}?" for _ in range(questions)]
    latencies = []
    for question in asked:
        began = time.perf_counter()
        service.ask(Query(question))
        latencies.append((time.perf_counter() - began) * 1000)
    return {
        "sentences": int(index.live_sentence.sum()),
        "chunks": len(index.chunk_first),
        "index_rss_mb": round(opened, 1),
        "question": latency_summary(latencies),
    }

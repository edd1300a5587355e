"""The live archive under writes: how soon a running `qa serve` answers from an article another
process just published, what writes cost the readers, start-up and disk at 1,000 and 10,000 articles.

Why it is measured this way:

- **Articles** are SQuAD paragraphs (one paragraph, one article), replicated with distinct ids
  (`-r2`, `-r3`, ...) to reach the size. A few SQuAD topics are held out of every archive: the
  40-sentence probe articles are cut from them, so a probe's question is about text no archived
  article holds and a citation of the probe is proof the server answers from it. Replicas repeat
  sentences, so an archive embeds only its distinct sentences (the build dedupes them); search,
  BM25 and the store still hold every replica.
- **Archives** are built once per size under the work dir (`ensure_index` rebuilds only when the
  articles or settings change) and copied for each run, so a run starts from the same state.
- **Writer**: `Service.publish` in this process (or a child for the load test) on the folder the
  server serves, which is how another process's write reaches `qa serve` (it follows `CURRENT`).
  A probe is timed from the call to `publish` to the first answer over HTTP citing it; its writer's
  own `publish` (durable and served in the writer) is timed apart, split by step, and a follower
  `Service` in this process times its `reload` of the same generation, split by step too: that is
  what a server worker does once its follower notices the switch. Each probe is deleted again
  before the next one, so every probe lands in an archive of exactly the size measured.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import click

from benchmarks.corpus import SEEDS
from benchmarks.serving import closed_loop, warm_up, with_server_cpu
from benchmarks.stages import StageClock, patched
from benchmarks.stats import latency_summary, repeat
from tests.servers import Client, Server, start_server

# Topics no archive holds: the probes are cut from them (37 of 40 sentences).
HELD_OUT_TOPICS = ("Super_Bowl_50", "Apollo_program", "Genghis_Khan", "Teacher", "Newcastle_upon_Tyne", "Warsaw")
PROBE_SENTENCES = 40
WARM_UP_PROBES = 2  # published and timed but left out of the figures (first-call costs)
POLL_SECONDS = 0.01  # between a probe's polls of /v1/ask (each poll is itself a ~10-20 ms request)
PROBE_TIMEOUT_S = 20.0
STARTS = 3  # server starts per size, for a median start-up time


@dataclass(frozen=True)
class Probe:
    """A new article and a question that only it answers."""

    document: Any  # qa.documents.Document (imported lazily, like every qa module here)
    question: str


@dataclass(frozen=True)
class LiveCorpus:
    paragraphs: list[Any]  # one Document per SQuAD paragraph outside the held-out topics
    questions: list[str]  # the questions about those paragraphs (the readers' load)
    probes: list[Probe]

    def articles(self, count: int) -> list[Any]:
        """`count` articles: the paragraphs, then replicas of them with distinct ids."""
        base = self.paragraphs
        return [
            replace(base[i % len(base)], doc_id=_replica_id(base[i % len(base)].doc_id, i // len(base)))
            for i in range(count)
        ]


def _replica_id(doc_id: str, copy: int) -> str:
    return doc_id if copy == 0 else f"{doc_id}-r{copy + 1}"


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def live_corpus(squad_file: Path, max_sentence_chars: int, probe_sentences: int = PROBE_SENTENCES) -> LiveCorpus:
    """Archive paragraphs and their questions, and probes cut from the held-out topics."""
    from qa.documents import Document

    data = json.loads(squad_file.read_text(encoding="utf-8"))
    paragraphs: list[Document] = []
    questions: list[str] = []
    held_out: list[dict[str, Any]] = []
    for article in data["data"]:
        if article["title"] in HELD_OUT_TOPICS:
            held_out.extend(article["paragraphs"])
            continue
        for number, paragraph in enumerate(article["paragraphs"]):
            doc_id = f"{_slug(article['title'])}-p{number}"
            paragraphs.append(Document(doc_id, paragraph["context"], article["title"], {"source": "SQuAD"}))
            questions.extend(qa["question"] for qa in paragraph["qas"])
    return LiveCorpus(paragraphs, questions, _probes(held_out, max_sentence_chars, probe_sentences))


def _probes(paragraphs: Sequence[dict[str, Any]], max_sentence_chars: int, size: int) -> list[Probe]:
    """Consecutive paragraphs joined until they hold `size` sentences, cut after the last one; the
    question is the longest (most specific) one whose paragraph and answer lie inside the cut."""
    from qa.chunking import split_sentences
    from qa.documents import Document

    probes: list[Probe] = []
    taken: list[dict[str, Any]] = []
    for paragraph in paragraphs:
        taken.append(paragraph)
        text = "\n\n".join(p["context"] for p in taken)
        sentences = split_sentences("probe", text, max_sentence_chars)
        if len(sentences) < size:
            continue
        cut = sentences[size - 1].end
        text, candidates, offset = text[:cut], [], 0
        for part in taken:
            if offset + len(part["context"]) <= cut:
                candidates += [qa["question"] for qa in part["qas"] if qa["answers"][0]["text"] in part["context"]]
            offset += len(part["context"]) + 2
        taken = []
        if candidates:
            doc_id = f"live-probe-{len(probes)}"
            document = Document(doc_id, text, f"Live probe {len(probes)}", {"source": "SQuAD"})
            probes.append(Probe(document, max(candidates, key=len)))
    return probes


# --- archives ---------------------------------------------------------------------------------


def cached_archive(workdir: Path, corpus: LiveCorpus, size: int, embedder: Any, settings: Any) -> dict[str, Any]:
    """The archive of `size` articles under `workdir`, built only when missing or stale."""
    from qa.indexing import BuildSettings, ensure_index
    from qa.store import CURRENT

    folder = workdir / f"archive-{size}"
    fresh = not (folder / CURRENT).exists()
    click.echo(f"live: archive of {size:,} articles in {folder} ({'building' if fresh else 'checking'}) ...", err=True)
    began = time.perf_counter()
    index = ensure_index(
        folder, corpus.articles(size), embedder, BuildSettings.from_settings(settings, embedder), progress=True
    )
    seconds = time.perf_counter() - began
    click.echo(f"live: archive of {size:,} articles ready in {seconds:.1f} s", err=True)
    return {"folder": folder, "seconds": round(seconds, 1), "counts": dict(index.manifest["counts"])}


def disk_mb(folder: Path) -> float:
    """Blocks allocated under `folder` (what `du` counts), in MB."""
    total = sum((Path(root) / name).stat().st_blocks * 512 for root, _, names in os.walk(folder) for name in names)
    return round(total / 1e6, 1)


def segment_count(index_dir: Path) -> int:
    from qa.store import current_generation, generation_entries, read_manifest

    return len(generation_entries(read_manifest(current_generation(index_dir))))


def _fresh_copy(source: Path, target: Path) -> Path:
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(".lock"))
    return target


# --- probes: publish until served -------------------------------------------------------------


def _writer_targets(service: Any) -> list[tuple[Any, str, str]]:
    """Where a writer's `publish` spends its time (the rest is locking, hashing, tombstones)."""
    import qa.indexing

    return [
        (service.embedder, "encode", "embed"),
        (qa.indexing, "build_content", "build_segment"),  # includes embed
        (qa.indexing, "prepare_segment", "write_segment"),  # written and fsynced before the lock
        (qa.indexing, "install_segment", "install_segment"),  # renamed into place under the lock
        (qa.indexing, "commit_generation", "commit"),
        (service._segments, "open", "open_generation"),
        (service, "_pipeline_for", "pipeline"),
    ]


def _follower_targets(service: Any) -> list[tuple[Any, str, str]]:
    """Where a follower's `reload` spends its time: reading the new segment, building the
    generation's `CorpusIndex` over every segment, and the retriever and answerer on it."""
    import qa.store

    return [
        (qa.store, "open_segment", "read_segment"),
        (qa.store, "CorpusIndex", "corpus_index"),
        (service, "_pipeline_for", "pipeline"),
    ]


def _split(clock: StageClock, total: float, inner: Sequence[str] = ()) -> dict[str, float]:
    """Milliseconds by step; `other` is the total minus the outer steps (an `inner` step is timed
    inside another one, so it is not subtracted twice)."""
    steps = {name: round(seconds * 1000, 2) for name, seconds in clock.spent.items()}
    outer = sum(ms for name, ms in steps.items() if name not in inner)
    return {**steps, "other": round(total * 1000 - outer, 2), "total": round(total * 1000, 2)}


def _named_at(generation: str) -> float | None:
    """When the writer named `generation` (Unix time): `qa.store` starts the name with its UTC time
    to the microsecond, taken as it commits. None for a name of another form."""
    try:
        stamp = datetime.strptime(generation.split("-", 1)[0], "%Y%m%dT%H%M%S%f")
    except ValueError:
        return None
    return stamp.replace(tzinfo=UTC).timestamp()


def _cites(body: bytes, doc_id: str) -> tuple[str, bool]:
    answer = json.loads(body)
    return answer["generation"], any(c["doc_id"] == doc_id for c in answer["citations"])


def _poll_until_cited(base_url: str, probe: Probe, began: float, polls: list[tuple[float, float, str, bool]]) -> None:
    """Ask the probe's question until an answer cites the probe (or the timeout)."""
    client = Client(base_url)
    try:
        while time.perf_counter() - began < PROBE_TIMEOUT_S:
            status, body = client.request("POST", "/v1/ask", {"question": probe.question})
            if status == 200:
                generation, cited = _cites(body, probe.document.doc_id)
                polls.append((time.perf_counter() - began, time.time(), generation, cited))
                if cited:
                    return
            time.sleep(POLL_SECONDS)
    finally:
        client.close()


def _wait_for_generation(base_url: str, generation: str) -> None:
    """Until `/readyz` serves `generation` or a later one, so probes never overlap."""
    client = Client(base_url)
    deadline = time.perf_counter() + PROBE_TIMEOUT_S
    try:
        while time.perf_counter() < deadline:
            status, body = client.request("GET", "/readyz")
            if status == 200 and json.loads(body)["generation"] >= generation:
                return
            time.sleep(POLL_SECONDS)
    finally:
        client.close()


def probe_once(writer: Any, follower: Any, base_url: str, probe: Probe) -> dict[str, Any]:
    """Publish `probe` and time it until served over HTTP; then the follower's reload; then delete it."""
    polls: list[tuple[float, float, str, bool]] = []
    cpu = time.process_time()
    began = time.perf_counter()
    poller = threading.Thread(target=_poll_until_cited, args=(base_url, probe, began, polls))
    poller.start()
    clock = StageClock()
    with patched(clock, _writer_targets(writer)):
        published = writer.publish([probe.document])
    publish = time.perf_counter() - began
    cpu = time.process_time() - cpu
    poller.join()
    served = next(((t, wall) for t, wall, generation, _ in polls if generation >= published.generation), None)
    cited = next((t for t, _, _, cited in polls if cited), None)
    named = _named_at(published.generation)
    follow = StageClock()
    with patched(follow, _follower_targets(follower)):
        reload_began = time.perf_counter()
        follower.reload()
        reload = time.perf_counter() - reload_began
    _wait_for_generation(base_url, writer.delete([probe.document.doc_id]))
    return {
        "publish_s": round(publish, 4),
        "writer_cpu_s": round(cpu, 4),
        "served_s": None if served is None else round(served[0], 4),
        "cited_s": None if cited is None else round(cited, 4),
        "served_after_named_s": None if served is None or named is None else round(served[1] - named, 4),
        "polls": len(polls),
        "writer_ms": _split(clock, publish, inner=("embed",)),
        "follower_ms": _split(follow, reload),
    }


def _seconds_summary(values: Sequence[float | None]) -> dict[str, Any]:
    """p50/p95/p99/max in seconds; a probe never cited within the timeout is counted as missing."""
    present = [v * 1000 for v in values if v is not None]
    summary = latency_summary(present)
    seconds = {key.replace("_ms", "_s"): round(summary[key] / 1000, 4) for key in summary if key.endswith("_ms")}
    return {"n": summary["n"], **seconds, "missing": len(values) - len(present)}


def _step_medians(runs: Sequence[dict[str, float]]) -> dict[str, dict[str, float]]:
    """p50 and p99 (ms) of every step across the probes."""
    steps = dict.fromkeys(name for run in runs for name in run)
    return {
        name: {
            k: v for k, v in latency_summary([run.get(name, 0.0) for run in runs]).items() if k in ("p50_ms", "p99_ms")
        }
        for name in steps
    }


def publish_latency(writer: Any, follower: Any, base_url: str, probes: Sequence[Probe], count: int) -> dict[str, Any]:
    """`count` timed probes after `WARM_UP_PROBES` untimed ones."""
    wanted = WARM_UP_PROBES + count
    if len(probes) < wanted:
        raise click.ClickException(f"only {len(probes)} probe articles for {wanted} publishes")
    trials = []
    for number, probe in enumerate(probes[:wanted]):
        trial = probe_once(writer, follower, base_url, probe)
        click.echo(
            f"live:   probe {number + 1}/{wanted}: publish {trial['publish_s']:.3f} s, "
            f"cited over HTTP after {trial['cited_s']} s",
            err=True,
        )
        trials.append(trial)
    timed = trials[WARM_UP_PROBES:]
    return {
        "publishes": len(timed),
        "to_cited_answer": _seconds_summary([t["cited_s"] for t in timed]),
        "to_generation_served": _seconds_summary([t["served_s"] for t in timed]),
        "writer_publish": _seconds_summary([t["publish_s"] for t in timed]),
        "writer_cpu": _seconds_summary([t["writer_cpu_s"] for t in timed]),
        "served_after_commit": _seconds_summary([t["served_after_named_s"] for t in timed]),
        "writer_steps_ms": _step_medians([t["writer_ms"] for t in timed]),
        "follower_reload_steps_ms": _step_medians([t["follower_ms"] for t in timed]),
        "trials": trials,
    }


# --- readers under a stream of writes ---------------------------------------------------------


def _write_loop(
    index_dir: Path, new_texts: list[str], replace_ids: list[str], interval: float, channel: Any, stop: Any
) -> None:
    """A writer process: one `Service.publish` every `interval` seconds (back to back when a
    publish takes longer), alternately a new one-paragraph article (about 5 sentences to embed)
    and a correction of an archived one (one new sentence; the others keep their vectors)."""
    import qa.indexing
    from qa.config import Settings
    from qa.documents import Document
    from qa.service import Service

    service = Service(Settings.from_env(seeds_dir=SEEDS, index_dir=index_dir)).load()
    merges = {"done": 0, "running": 0}
    merge = qa.indexing.Archive.merge

    def counted(archive: qa.indexing.Archive) -> qa.indexing.Commit | None:
        merges["running"] += 1
        try:
            merged = merge(archive)
        finally:
            merges["running"] -= 1
        merges["done"] += merged is not None
        return merged

    qa.indexing.Archive.merge = counted  # type: ignore[method-assign,assignment]
    channel.put("ready")
    latencies: list[float] = []
    errors = 0
    next_at = time.perf_counter()
    while not stop.is_set():
        n = len(latencies) + errors
        if n % 2 == 0:
            document = Document(f"live-write-{n}", new_texts[(n // 2) % len(new_texts)], f"Write {n}")
        else:
            original = service.document(replace_ids[(n // 2) % len(replace_ids)])
            document = replace(original, text=f"{original.text} Corrected in revision {n}.")
        began = time.perf_counter()
        try:
            service.publish([document])
            latencies.append((time.perf_counter() - began) * 1000)
        except Exception:
            errors += 1
        next_at = max(next_at + interval, time.perf_counter())
        time.sleep(max(0.0, next_at - time.perf_counter()))
    deadline = time.perf_counter() + 60
    while merges["running"] and time.perf_counter() < deadline:  # let a running merge commit
        time.sleep(0.05)
    channel.put({"writes": len(latencies), "errors": errors, "publish": latencies, "merges": merges["done"]})


def readers_under_writes(
    base_url: str, index_dir: Path, corpus: LiveCorpus, clients: int, seconds: float, interval: float
) -> dict[str, Any]:
    """`clients` closed-loop readers for `seconds`, first alone, then with a writer process."""
    questions = corpus.questions
    quiet = closed_loop(base_url, questions, clients, seconds=seconds)
    context = multiprocessing.get_context("spawn")
    channel, stop = context.Queue(), context.Event()
    new_texts = [text for p in corpus.probes for text in p.document.text.split("\n\n")]  # one paragraph each
    replace_ids = [d.doc_id for d in corpus.paragraphs[::7]]
    writer = context.Process(
        target=_write_loop, args=(index_dir, new_texts, replace_ids, interval, channel, stop), daemon=True
    )
    writer.start()
    try:
        if channel.get(timeout=300) != "ready":
            raise RuntimeError("the writer process did not start")
        segments_before = segment_count(index_dir)
        began = time.perf_counter()
        busy = closed_loop(base_url, questions, clients, seconds=seconds)
        elapsed = time.perf_counter() - began
        stop.set()
        written = channel.get(timeout=120)
    finally:
        stop.set()
        writer.join(timeout=30)
        if writer.is_alive():
            writer.kill()
    return {
        "clients": clients,
        "seconds": seconds,
        "without_writes": quiet,
        "with_writes": {
            **busy,
            "writes": written["writes"],
            "write_errors": written["errors"],
            "writes_per_s": round(written["writes"] / elapsed, 2),
            "writer_publish": latency_summary(written["publish"]),
        },
        "segments_before_writes": segments_before,
        "segments_after_writes": segment_count(index_dir),
        "background_merges": written["merges"],
    }


# --- one size -------------------------------------------------------------------------------


def _start(index_dir: Path, workers: int) -> Server:
    return start_server(SEEDS, index_dir, workers=workers)


def _started_server(index_dir: Path, workers: int) -> tuple[Server, list[float]]:
    """A running server and the start-up times of `STARTS` starts (the last one kept running)."""
    starts = []
    for _ in range(STARTS - 1):
        server = _start(index_dir, workers)
        starts.append(server.cold_start_s)
        server.stop()
    server = _start(index_dir, workers)
    return server, [*starts, server.cold_start_s]


def measure_size(ctx: dict[str, Any], corpus: LiveCorpus, size: int, embedder: Any) -> dict[str, Any]:
    """Every live figure at one archive size, on a fresh copy of its cached archive."""
    import statistics

    from qa.config import Settings
    from qa.service import Service

    workdir: Path = ctx["live_workdir"]
    settings = Settings.from_env(seeds_dir=SEEDS, index_dir=workdir / f"archive-{size}", workers=ctx["workers"])
    archive = cached_archive(workdir, corpus, size, embedder, settings)
    run_dir = _fresh_copy(archive["folder"], workdir / f"run-{size}")
    disk = disk_mb(archive["folder"])
    click.echo(f"live: {size:,} articles: starting qa serve ({STARTS} starts) ...", err=True)
    server, starts = _started_server(run_dir, ctx["workers"])
    try:
        warm_up(server.base_url, corpus.questions)
        one = with_server_cpu(server, lambda: closed_loop(server.base_url, corpus.questions, 1, ctx["requests"]))
        click.echo(f"live: {size:,} articles: 1 client p50 {one['p50_ms']} ms; publishing probes ...", err=True)
        run_settings = Settings.from_env(seeds_dir=SEEDS, index_dir=run_dir, workers=ctx["workers"])
        writer = Service(run_settings, embedder).load()
        follower = Service(run_settings, embedder).load()
        publishes = publish_latency(writer, follower, server.base_url, corpus.probes, ctx["live_publishes"])
        del writer, follower
        click.echo(f"live: {size:,} articles: {ctx['live_clients']} clients with and without writes ...", err=True)
        readers = readers_under_writes(
            server.base_url, run_dir, corpus, ctx["live_clients"], ctx["live_seconds"], ctx["live_write_interval"]
        )
    finally:
        server.stop()
    return {
        "articles": size,
        "counts": archive["counts"],
        "archive_build_s": archive["seconds"],
        "startup_s": round(statistics.median(starts), 3),
        "startup_runs_s": starts,
        "disk_mb": disk,
        "disk_mb_per_1000_articles": round(disk * 1000 / size, 2),
        "one_client": one,
        "publish": publishes,
        "readers": readers,
        "segments_at_end": segment_count(run_dir),
    }


def run_live(ctx: dict[str, Any], squad_file: Path) -> dict[str, Any]:
    """The live stage at every size in `ctx["live_sizes"]`, smallest first, `ctx["repeats"]` runs
    each (medians; every run is kept under `runs`)."""
    from qa.config import Settings
    from qa.embedding import Embedder

    settings = Settings.from_env(workers=ctx["workers"])
    embedder = Embedder.from_settings(settings)
    corpus = live_corpus(squad_file, settings.max_sentence_chars)
    sizes = [
        repeat(ctx["repeats"], partial(measure_size, ctx, corpus, size, embedder)) for size in sorted(ctx["live_sizes"])
    ]
    result: dict[str, Any] = {
        "corpus": f"{len(corpus.paragraphs):,} SQuAD paragraphs ({squad_file.name}), replicated; "
        f"{len(corpus.probes)} probes of {PROBE_SENTENCES} sentences from {', '.join(HELD_OUT_TOPICS)}",
        "sizes": sizes,
    }
    if len(sizes) > 1:
        result["p50_ratio_largest_to_smallest"] = _ratio(sizes, lambda s: s["publish"]["to_cited_answer"]["p50_s"])
    return result


def _ratio(sizes: Sequence[dict[str, Any]], value: Callable[[dict[str, Any]], float | None]) -> float | None:
    smallest, largest = value(sizes[0]), value(sizes[-1])
    return None if not smallest or largest is None else round(largest / smallest, 2)

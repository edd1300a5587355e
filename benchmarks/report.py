"""The targets of issue 5 checked against a results dict, and the markdown tables of the README."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def get(results: dict[str, Any], *path: str) -> Any:
    value: Any = results
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def largest_scale(results: dict[str, Any]) -> dict[str, Any] | None:
    sizes = get(results, "scale", "sizes") or []
    return max(sizes, key=lambda s: s["chunks"]) if sizes else None


def largest_live(results: dict[str, Any]) -> dict[str, Any] | None:
    sizes = get(results, "live", "sizes") or []
    return max(sizes, key=lambda s: s["articles"]) if sizes else None


def _live(results: dict[str, Any], *path: str) -> Any:
    largest = largest_live(results)
    return None if largest is None else get(largest, *path)


def _picked_index(results: dict[str, Any], field: str) -> Any:
    largest = largest_scale(results)
    return None if largest is None else get(largest, "indexes", largest["store_picks"], field)


@dataclass(frozen=True)
class Target:
    what: str
    target: str
    value: Callable[[dict[str, Any]], Any]
    passes: Callable[[Any, dict[str, Any]], bool]


TARGETS = (
    Target(
        "HTTP /v1/ask, 1 client, p50 ms",
        "<= 12",
        lambda r: get(r, "http", "one_client", "p50_ms"),
        lambda v, r: v <= 12,
    ),
    Target(
        "HTTP /v1/ask, 1 client, p99 ms",
        "<= 30",
        lambda r: get(r, "http", "one_client", "p99_ms"),
        lambda v, r: v <= 30,
    ),
    Target(
        "HTTP /v1/ask, 8 clients, errors", "0", lambda r: get(r, "http", "eight_clients", "errors"), lambda v, r: v == 0
    ),
    Target(
        "HTTP /v1/ask, 8 clients, p99 ms",
        "<= 100",
        lambda r: get(r, "http", "eight_clients", "p99_ms"),
        lambda v, r: v <= 100,
    ),
    Target(
        "POST /v1/ask/batch, questions/s",
        ">= 400",
        lambda r: get(r, "batch", "http", "questions_per_s"),
        lambda v, r: v >= 400,
    ),
    Target(
        "qa batch, questions/s net of start-up",
        ">= 400",
        lambda r: get(r, "batch", "cli", "questions_per_s_net_of_startup"),
        lambda v, r: v >= 400,
    ),
    Target("index build, sentences/s", ">= 200", lambda r: get(r, "build", "sentences_per_s"), lambda v, r: v >= 200),
    Target("server worker RSS, MB", "<= 700", lambda r: get(r, "http", "worker_rss_mb"), lambda v, r: v <= 700),
    Target("largest scale size: search p50 ms", "<= 5", lambda r: _picked_index(r, "p50_ms"), lambda v, r: v <= 5),
    Target(
        "largest scale size: recall@10", ">= 0.95", lambda r: _picked_index(r, "recall_at_10"), lambda v, r: v >= 0.95
    ),
    Target(
        "largest archive: publish to a cited answer over HTTP, p50 s",
        "<= 1",
        lambda r: _live(r, "publish", "to_cited_answer", "p50_s"),
        lambda v, r: v <= 1,
    ),
    Target(
        "largest archive: publish to a cited answer over HTTP, p99 s",
        "<= 3",
        lambda r: _live(r, "publish", "to_cited_answer", "p99_s"),
        lambda v, r: v <= 3,
    ),
    Target(
        "publish to a cited answer, p50, largest / smallest archive",
        "<= 2",
        lambda r: get(r, "live", "p50_ratio_largest_to_smallest"),
        lambda v, r: v <= 2,
    ),
    Target(
        "largest archive: /v1/ask, 8 clients under writes, errors",
        "0",
        lambda r: _live(r, "readers", "with_writes", "errors"),
        lambda v, r: v == 0,
    ),
    Target(
        "largest archive: /v1/ask, 1 client, p50 ms",
        "<= 20",
        lambda r: _live(r, "one_client", "p50_ms"),
        lambda v, r: v <= 20,
    ),
    Target(
        "fast path, seed article: /v1/ask with int8, reader off, 1 client, p50 ms",
        "<= 5",
        lambda r: get(r, "fastpath", "one_client", "int8_no_reader", "p50_ms"),
        lambda v, r: v <= 5,
    ),
    Target(
        "fast path, seed article: /v1/ask with int8, reader off, 1 client, p99 ms",
        "<= 10",
        lambda r: get(r, "fastpath", "one_client", "int8_no_reader", "p99_ms"),
        lambda v, r: v <= 10,
    ),
    Target(
        "fast path, seed article: /v1/ask with int8 and the reader, 1 client, p50 ms",
        "<= 10",
        lambda r: get(r, "fastpath", "one_client", "int8", "p50_ms"),
        lambda v, r: v <= 10,
    ),
    Target(
        "fast path: HTTP layer beyond the pipeline (int8, reader off), p50 ms",
        "<= 1",
        lambda r: get(r, "fastpath", "one_client", "int8_no_reader", "http_layer_p50_ms"),
        lambda v, r: v <= 1,
    ),
    Target(
        "fast path: a question's int8 embedding in process, p50 ms",
        "<= 2.5",
        lambda r: get(r, "fastpath", "embedding", "int8", "p50_ms"),
        lambda v, r: v <= 2.5,
    ),
    Target(
        "fast path: POST /v1/ask/batch with int8, questions/s",
        ">= 800 (int8 faster), else >= float32",
        lambda r: get(r, "fastpath", "batch", "int8", "questions_per_s"),
        lambda v, r: (
            v
            >= (
                800
                if v > get(r, "fastpath", "batch", "fp32", "questions_per_s")
                else get(r, "fastpath", "batch", "fp32", "questions_per_s")
            )
        ),
    ),
    Target(
        "inference threads x workers",
        "<= cores",
        lambda r: get(r, "http", "threads", "inference_threads_x_workers"),
        lambda v, r: v <= (get(r, "machine", "nproc") or 1),
    ),
)


def check_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per target: the measured value (None when that section did not run) and whether it is met."""
    rows = []
    largest = largest_scale(results)
    archive = largest_live(results)
    for target in TARGETS:
        value = target.value(results)
        what = target.what
        if largest is not None:
            what = what.replace("largest scale size", f"{largest['chunks']:,} chunks ({largest['store_picks']})")
        if archive is not None:
            what = what.replace("largest archive", f"{archive['articles']:,} articles")
        rows.append(
            {
                "what": what,
                "target": target.target,
                "measured": value,
                "met": None if value is None else bool(target.passes(value, results)),
            }
        )
    return rows


def _cell(value: Any) -> str:
    if value is None:
        return "not run"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 10 else f"{value:,.1f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return lines


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        f"Measured {m['date']} on {m['cpu']}, {m['nproc']} cores, {m['memory_gib']} GiB, Python {m['python']}, "
        f"torch {m['torch']}; load average at start {m['load_at_start'][0]} (other jobs shared the machine). "
        f"Corpus: {results['corpus']['name']} ({results['corpus']['questions']:,} questions); "
        f"{results['config']['repeats']} repeated runs, medians shown.",
        "",
    ]
    marks = {True: "met", False: "**missed**", None: "not run"}
    lines += _table(
        ["what", "target", "measured", ""],
        [[r["what"], r["target"], r["measured"], marks[r["met"]]] for r in results["targets"]],
    )
    stages = get(results, "stages", "stages")
    if stages:
        lines += [
            "",
            "In-process time of one question by stage, with a server worker's threads (ms); the last "
            "column shares a batch's time (all questions in one `ask_many`) out per question:",
            "",
        ]
        per_question = get(results, "stages", "batch", "ms_per_question") or {}
        lines += _table(
            ["stage", "p50", "p95", "p99", "in a batch, per question"],
            [[name, s["p50_ms"], s["p95_ms"], s["p99_ms"], per_question.get(name)] for name, s in stages.items()],
        )
    http = results.get("http")
    if http:
        lines += ["", "HTTP `/v1/ask` (ms; requests/s):", ""]
        lines += _table(
            ["clients", "p50", "p95", "p99", "requests/s", "errors", "server CPU ms/request"],
            [
                [
                    label,
                    http[key]["p50_ms"],
                    http[key]["p95_ms"],
                    http[key]["p99_ms"],
                    http[key]["requests_per_s"],
                    http[key]["errors"],
                    http[key].get("server_cpu_ms_per_request"),
                ]
                for label, key in (("1", "one_client"), ("8", "eight_clients"))
            ],
        )
        lines += [
            "",
            f"Cold start `qa serve` to `/readyz`: {_cell(http['cold_start_s'])} s; worker RSS "
            f"{_cell(http['worker_rss_mb'])} MB (PSS {_cell(http['worker_pss_mb'])} MB).",
        ]
    batch = results.get("batch")
    if batch:
        lines += ["", f"Batch of {batch['questions']:,} questions:", ""]
        rows = [["POST /v1/ask/batch", b["seconds"], b["questions_per_s"], ""] for b in [batch.get("http")] if b]
        rows += [
            [
                "qa batch FILE -o OUT",
                b["seconds"],
                b["questions_per_s"],
                f"{_cell(b['questions_per_s_net_of_startup'])}/s net of {_cell(b['startup_seconds'])} s start-up",
            ]
            for b in [batch.get("cli")]
            if b
        ]
        lines += _table(["interface", "seconds", "questions/s", ""], rows)
    build = results.get("build")
    if build:
        lines += [
            "",
            f"Index build of {build['sentences']:,} sentences and {build['chunks']:,} chunks: "
            f"{_cell(build['build_seconds'])} s, peak RSS {_cell(build['peak_rss_mb'])} MB "
            f"(model load {_cell(build['model_load_seconds'])} s apart). Seconds by step:",
            "",
        ]
        steps = build["stages_s"]
        lines += _table(list(steps), [list(steps.values())])
    scale = get(results, "scale", "sizes")
    if scale:
        lines += ["", "Vector search, one query per call, one thread (synthetic 384-d chunks):", ""]
        rows = [
            [
                f"{s['chunks']:,}",
                kind,
                "yes" if kind == s["store_picks"] else "",
                i["build_seconds"],
                i["p50_ms"],
                i["p99_ms"],
                i["recall_at_10"],
            ]
            for s in scale
            for kind, i in s["indexes"].items()
        ]
        lines += _table(["chunks", "index", "store picks", "build s", "p50 ms", "p99 ms", "recall@10"], rows)
    if "fastpath" in results:
        from benchmarks.fastpath import markdown_lines as fastpath_lines

        lines += fastpath_lines(results["fastpath"], _cell)
    lines += live_markdown(results)
    if "backfill" in results:
        from benchmarks.backfill import markdown_lines

        lines += markdown_lines(results["backfill"], _cell)
    return "\n".join(lines) + "\n"


def live_markdown(results: dict[str, Any]) -> list[str]:
    """The live archive's tables: publish latency, readers under writes, start-up and disk, and
    where a publish's time goes in the writer and in a follower."""
    live = results.get("live") or {}
    if "skipped" in live:
        return ["", f"Live archive: not run ({live['skipped']})."]
    sizes = live.get("sizes")
    if not sizes:
        return []
    lines = [
        "",
        f"Live archive ({live['corpus']}). Seconds from `publish` in another process to the first "
        "`/v1/ask` answer citing the new article, to the first answer from its generation, the "
        "writer's own `publish` (durable and served by the writer) and the CPU its process spent in it "
        "(what a quiet machine would take, roughly), and from the commit to the first answer from it "
        "(the server's follower: a 50 ms poll of `CURRENT` plus the reload):",
        "",
    ]
    rows = []
    for s in sizes:
        p = s["publish"]
        rows += [
            [
                f"{s['articles']:,}",
                label,
                p[key]["p50_s"],
                p[key]["p95_s"],
                p[key]["p99_s"],
                p[key]["max_s"],
                p[key]["missing"],
            ]
            for label, key in (
                ("to a cited answer", "to_cited_answer"),
                ("to its generation served", "to_generation_served"),
                ("writer's publish()", "writer_publish"),
                ("writer's CPU in publish()", "writer_cpu"),
                ("served, after the commit", "served_after_commit"),
            )
        ]
    lines += _table(["articles", "publish ...", "p50", "p95", "p99", "max", "not cited"], rows)
    ratio = live.get("p50_ratio_largest_to_smallest")
    if ratio is not None:
        lines += ["", f"p50 to a cited answer, largest / smallest archive: {_cell(ratio)}x."]
    lines += ["", "`/v1/ask` (ms), start-up, disk and segments:", ""]
    rows = []
    for s in sizes:
        r = s["readers"]
        quiet, busy = r["without_writes"], r["with_writes"]
        rows.append(
            [
                f"{s['articles']:,}",
                s["one_client"]["p50_ms"],
                s["one_client"]["p99_ms"],
                s["one_client"].get("server_cpu_ms_per_request"),
                f"{_cell(quiet['p50_ms'])} / {_cell(quiet['p99_ms'])} / {quiet['errors']}",
                f"{_cell(busy['p50_ms'])} / {_cell(busy['p99_ms'])} / {busy['errors']}",
                f"{_cell(busy['writes_per_s'])} ({busy['writes']}, {busy['write_errors']} failed)",
                s["startup_s"],
                s["disk_mb_per_1000_articles"],
                f"{r['segments_before_writes']} -> {s['segments_at_end']} ({r['background_merges']} merges)",
            ]
        )
    lines += _table(
        [
            "articles",
            "1 client p50",
            "1 client p99",
            "server CPU ms/request",
            f"{sizes[0]['readers']['clients']} clients p50 / p99 / errors",
            "same, with writes",
            "writes/s",
            "start-up s",
            "disk MB per 1,000",
            "segments",
        ],
        rows,
    )
    lines += ["", "Where a publish's time goes (ms, p50 over the probes; embed is part of build_segment):", ""]
    for who, key in (("writer publish()", "writer_steps_ms"), ("follower reload()", "follower_reload_steps_ms")):
        steps = list(sizes[-1]["publish"][key])
        lines += _table(
            [who, *steps],
            [[f"{s['articles']:,}", *[get(s, "publish", key, step, "p50_ms") for step in steps]] for s in sizes],
        )
        lines.append("")
    return lines[:-1]

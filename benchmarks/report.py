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
    for target in TARGETS:
        value = target.value(results)
        what = target.what
        if largest is not None:
            what = what.replace("largest scale size", f"{largest['chunks']:,} chunks ({largest['store_picks']})")
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
    if "backfill" in results:
        from benchmarks.backfill import markdown_lines

        lines += markdown_lines(results["backfill"], _cell)
    return "\n".join(lines) + "\n"

"""Batch throughput: many questions through `POST /v1/ask/batch` and through `qa batch FILE -o OUT`.

`qa batch` is timed end to end as a user sees it (process start, imports, index load included)
and, separately, net of that start-up, measured by the same command on a one-question file.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.servers import Client, qa_environment


def http_batch(base_url: str, questions: Sequence[str]) -> dict[str, Any]:
    body = {"questions": [{"id": i, "question": q} for i, q in enumerate(questions)]}
    client = Client(base_url, timeout=600)
    began = time.perf_counter()
    status, payload = client.request("POST", "/v1/ask/batch", body)
    seconds = time.perf_counter() - began
    client.close()
    if status != 200:
        raise RuntimeError(f"/v1/ask/batch answered {status}: {payload[:200]!r}")
    results = json.loads(payload)["results"]
    errors = sum("error" in result for result in results)
    return {
        "questions": len(questions),
        "seconds": round(seconds, 3),
        "questions_per_s": round(len(questions) / seconds, 1),
        "errors": errors,
    }


def _run_cli_batch(questions: Sequence[str], env: dict[str, str], folder: Path) -> float:
    source, out = folder / "questions.jsonl", folder / "answers.jsonl"
    source.write_text(
        "".join(json.dumps({"id": i, "question": q}) + "\n" for i, q in enumerate(questions)), encoding="utf-8"
    )
    began = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "qa", "batch", str(source), "-o", str(out)],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    seconds = time.perf_counter() - began
    answered = sum(1 for line in out.read_text(encoding="utf-8").splitlines() if line.strip())
    if answered != len(questions):
        raise RuntimeError(f"qa batch wrote {answered} answers for {len(questions)} questions")
    return seconds


def cli_batch(seeds_dir: Path, index_dir: Path, questions: Sequence[str]) -> dict[str, Any]:
    env = qa_environment(seeds_dir, index_dir)
    with tempfile.TemporaryDirectory(prefix="qa-bench-batch-") as folder:
        seconds = _run_cli_batch(questions, env, Path(folder))
        startup = _run_cli_batch(questions[:1], env, Path(folder))
    net = seconds - startup
    # On a tiny batch the two runs' noise can exceed the answering time: no net figure then.
    return {
        "questions": len(questions),
        "seconds": round(seconds, 3),
        "startup_seconds": round(startup, 3),
        "questions_per_s": round(len(questions) / seconds, 1),
        "questions_per_s_net_of_startup": round(len(questions) / net, 1) if net > 0.05 * seconds else None,
    }

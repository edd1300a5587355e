"""Summaries that survive a noisy machine: percentiles of one run, medians across repeated runs,
and a record of the machine and its load while measuring."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

PERCENTILES = (50, 95, 99)


def latency_summary(milliseconds: Sequence[float]) -> dict[str, float]:
    """Count, mean and p50/p95/p99 (ms) of one run's latencies."""
    values = np.asarray(milliseconds, dtype=np.float64)
    if values.size == 0:
        return {"n": 0}
    p50, p95, p99 = np.percentile(values, PERCENTILES)
    return {
        "n": int(values.size),
        "mean_ms": round(float(values.mean()), 3),
        "p50_ms": round(float(p50), 3),
        "p95_ms": round(float(p95), 3),
        "p99_ms": round(float(p99), 3),
        "max_ms": round(float(values.max()), 3),
    }


def _median(values: list[Any]) -> Any:
    first = values[0]
    if isinstance(first, dict):
        return {
            k: _median([v[k] for v in values]) for k in first if all(isinstance(v, dict) and k in v for v in values)
        }
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if numbers:  # runs without a figure (None) are left out
        return round(statistics.median(numbers), 3)
    return first


def median_of_runs(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The median of every numeric field (nested too) across runs; `runs` keeps each run for the spread."""
    return {**_median(list(runs)), "runs": list(runs)}


def repeat(times: int, measure: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run `measure` `times` times and take medians (each run records the load it ran under)."""
    return median_of_runs([{**measure(), "load_1min": load_average()} for _ in range(times)])


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    """What the figures were measured on; the load matters as much as the CPU on a shared box."""
    from importlib.metadata import version

    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu": cpu_model(),
        "nproc": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "torch": version("torch"),
        "onnxruntime": version("onnxruntime"),
        "load_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def process_memory(pid: int) -> dict[str, float]:
    """Resident (RSS), proportional (PSS: shared pages split between sharers) and peak RSS, in MB."""
    status = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            status[key] = int(value.split()[0]) / 1024
    pss = 0.0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss = int(line.split()[1]) / 1024
    except OSError:
        pass
    return {
        "rss_mb": round(status.get("VmRSS", 0.0), 1),
        "pss_mb": round(pss, 1),
        "peak_rss_mb": round(status.get("VmHWM", 0.0), 1),
    }


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU time the processes have used so far (from /proc/PID/stat)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def child_pids(pid: int) -> list[int]:
    pids: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            pids.extend(int(p) for p in (task / "children").read_text().split())
        except OSError:
            continue
    return pids

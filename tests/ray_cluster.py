"""A two-node Ray cluster on this machine, loopback only, for the tests and the benchmarks alike
(benchmarks/ imports it from here, as it does tests/servers.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# The head's port must lie outside Ray's worker port range (10002-19999), or it fails to start.
HEAD = "127.0.0.1:6380"
# Loopback only, so without Ray's token authentication (a real cluster keeps it: README).
RAY_ENV = {**os.environ, "RAY_AUTH_MODE": "disabled"}


def ray_command(*args: str) -> None:
    ray = Path(sys.executable).with_name("ray")
    subprocess.run([str(ray), *args], env=RAY_ENV, check=True, capture_output=True, timeout=180)


@contextmanager
def two_nodes() -> Iterator[str]:
    """Two Ray nodes of one CPU each on 127.0.0.1 for the block; yields the head's address.
    `ray stop --force` ends them (and any other Ray node of this machine) afterwards."""
    try:
        ray_command(
            "start",
            "--head",
            "--node-ip-address",
            "127.0.0.1",
            "--port",
            HEAD.split(":")[1],
            "--num-cpus",
            "1",
            "--include-dashboard=false",
            "--disable-usage-stats",
        )
        ray_command("start", "--address", HEAD, "--node-ip-address", "127.0.0.1", "--num-cpus", "1")
        yield HEAD
    finally:
        ray_command("stop", "--force")

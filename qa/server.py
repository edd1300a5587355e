"""`qa serve`: the API under gunicorn, never Flask's development server.

Worker model (measured by benchmarks/, README "Performance"): gthread workers, so one process
serves several connections while torch runs, and torch threads x workers <= cores. The master
imports torch and loads the model once before forking, so the workers share its weights and
imports copy-on-write and start faster. Forking after torch is safe here because the master runs
no inference and holds torch to one thread while loading, so no OpenMP thread pool exists to be
lost in the fork; each worker then sets its own thread budget (`qa.embedding.set_thread_budget`).
"""

from __future__ import annotations

import os
from typing import Any

from gunicorn.app.base import BaseApplication

from qa.config import Settings


class GunicornServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, settings: Settings, options: dict[str, Any] | None = None):
        self.settings = settings
        self.options = {
            "bind": f"{settings.host}:{settings.port}",
            "workers": settings.workers,
            "worker_class": "gthread",
            "threads": settings.threads_per_worker,
            "timeout": 120,
            "graceful_timeout": 10,
            "accesslog": "-",
            "errorlog": "-",
            "loglevel": "info",
            # Several servers may run on one machine (tests, benchmarks): no shared control socket.
            "control_socket_disable": True,
            "on_starting": self._preload_model,
            **(options or {}),
        }
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def _preload_model(self, _arbiter: Any) -> None:
        """In the master, before it listens or forks a worker: load the weights the workers will share."""
        import torch

        from qa.embedding import bundled_model_path, load_model

        torch.set_num_threads(1)
        load_model(self.settings.model_path or bundled_model_path())

    def load(self) -> Any:
        from qa.api import create_app

        return create_app(self.settings.with_overrides(torch_threads=worker_torch_threads(self.settings)))


def worker_torch_threads(settings: Settings) -> int:
    """torch threads per worker: `QA_TORCH_THREADS`, else cores / (workers x threads), at least 1.

    Each gunicorn thread may run a forward pass at the same time, so this keeps the threads torch
    can start at once within the cores. With 1 thread, torch forms no OpenMP team and a request
    never waits at a barrier for a thread the OS has descheduled: on 2 busy cores one question
    embedded in ~11 ms (p99 ~17 ms) at 1 thread against 9-10 ms (p99 up to 42 ms) at 2.
    """
    if settings.torch_threads > 0:
        return settings.torch_threads
    concurrent = max(1, settings.workers) * max(1, settings.threads_per_worker)
    return max(1, (os.cpu_count() or 1) // concurrent)


def serve(settings: Settings) -> None:
    GunicornServer(settings).run()

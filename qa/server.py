"""`qa serve`: the API under gunicorn, never Flask's development server.

Worker model (measured by benchmarks/, README "Performance"): gthread workers, so one process
serves several connections while a question is embedded. Every forward pass of the model runs on
one thread and a worker runs at most `QA_EMBED_THREADS` of them at once (cores / workers by
default), so inference never asks for more cores than there are. The master imports torch and
loads the model once before forking, so the workers share its weights and imports copy-on-write
and start faster; it also makes the ONNX export the workers load. Forking after torch is safe
here because torch is held to one thread in the master, so no OpenMP thread pool exists to be
lost in the fork.
"""

from __future__ import annotations

import logging
from typing import Any

from gunicorn.app.base import BaseApplication

from qa.config import Settings

log = logging.getLogger(__name__)


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
        """In the master, before it listens or forks a worker: load the weights the workers will
        share, and make the ONNX export they will load if it is not cached yet."""
        from qa.embedding import bundled_model_path, load_model, set_thread_budget
        from qa.onnx_encoder import exported

        set_thread_budget()
        model_path = self.settings.model_path or bundled_model_path()
        model = load_model(model_path)
        if self.settings.cache_dir is not None:
            try:
                exported(model, model_path, self.settings.cache_dir)
            except Exception:  # the worker's Embedder tries again, then warns and uses torch
                log.debug("no ONNX export in the master", exc_info=True)

    def load(self) -> Any:
        from qa.api import create_app

        return create_app(self.settings)


def serve(settings: Settings) -> None:
    GunicornServer(settings).run()

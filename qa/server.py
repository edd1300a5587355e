"""`qa serve`: the API under gunicorn, never Flask's development server.

Worker model (measured in benchmarks/): one process per worker, each with its own model copy
(fork-after-torch is unsafe, so nothing heavy is preloaded in the master), and gthread workers so
one process serves several connections while torch runs. torch threads x workers <= cores.
"""

from __future__ import annotations

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
            **(options or {}),
        }
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from qa.api import create_app

        return create_app(self.settings)


def serve(settings: Settings) -> None:
    GunicornServer(settings).run()

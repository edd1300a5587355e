"""`qa serve`: the API under gunicorn, never Flask's development server.

Worker model (measured by benchmarks/, README "Performance"): gunicorn's asyncio worker
(`qa.worker`), which reads each request whole on its event loop and only then runs Flask on one
of `QA_THREADS_PER_WORKER` threads (`qa.asgi`), so slow clients never hold a thread and one
process serves several requests while a question is embedded. Every forward pass of the model runs on
one thread and a worker runs at most `QA_EMBED_THREADS` of them at once (cores / workers by
default), so inference never asks for more cores than there are. The master imports torch and
loads the model once before forking, so the workers share its weights and imports copy-on-write
and start faster. Forking after torch is safe here because torch is held to one thread in the
master, so no OpenMP thread pool exists to be lost in the fork.

The master must never import ONNX Runtime: its import starts a native thread, and a worker
forked after it tries to join that thread (which does not exist in the worker) as it exits,
so every worker died of SIGSEGV, SIGABRT ("terminate called after throwing std::system_error")
or hung at each stop. The ONNX export the workers load is therefore made in a short-lived
forked child of the master, which ends with `os._exit` (no native teardown).
"""

from __future__ import annotations

import logging
import multiprocessing
from functools import partial
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication

from qa.config import Settings

log = logging.getLogger(__name__)

# gunicorn's access log, plus how long the request took (seconds) and its X-Request-Id.
ACCESS_LOG_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(L)ss id=%({x-request-id}o)s'


WORKER_TIMEOUT = 120  # seconds a worker may go silent before gunicorn kills it
# How long a worker replacing another waits for its index before it serves (the 10,000-article
# archive opened in ~7 s; see `GunicornServer.load`).
REPLACING_LOAD_WAIT = 30.0


class GunicornServer(BaseApplication):
    def __init__(self, settings: Settings, options: dict[str, Any] | None = None):
        self.settings = settings
        self.forks = 0  # workers forked so far: past `settings.workers`, each replaces one (SIGHUP, a crash)
        # An IPv6 address in brackets ("[::1]:8000"): gunicorn reads "::1:8000" as a host with no port.
        host = f"[{settings.host}]" if ":" in settings.host else settings.host
        self.options = {
            "bind": f"{host}:{settings.port}",
            "workers": settings.workers,
            "worker_class": "qa.worker.QaWorker",
            # The lifespan's shutdown is where the inference threads stop (see `load`).
            "asgi_lifespan": "on",
            "timeout": WORKER_TIMEOUT,
            "graceful_timeout": 10,
            "accesslog": "-",
            "access_log_format": ACCESS_LOG_FORMAT,
            "errorlog": "-",
            "loglevel": "info",
            # Several servers may run on one machine (tests, benchmarks): no shared control socket.
            "control_socket_disable": True,
            "on_starting": self._preload_model,
            "on_reload": self._read_keys_again,
            "pre_fork": self._count_fork,
            **(options or {}),
        }
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def _preload_model(self, _arbiter: Any) -> None:
        """In the master, before it listens or forks a worker: load the weights the workers will
        share, and have the ONNX export they will load made if it is not cached yet."""
        from qa.embedding import bundled_model_path, load_model, set_thread_budget

        set_thread_budget()
        model_path = self.settings.model_path or bundled_model_path()
        model = load_model(model_path)
        if self.settings.cache_dir is not None:
            # A forked child (multiprocessing ends it with os._exit), so ONNX Runtime is never imported here.
            child = multiprocessing.get_context("fork").Process(
                target=_export_quietly,
                args=(model, model_path, self.settings.cache_dir, self.settings),
                name="qa-onnx-export",
            )
            child.start()
            child.join()

    def _count_fork(self, _arbiter: Any, _worker: Any) -> None:
        """In the master, before each fork: the worker inherits the count (see `load`)."""
        self.forks += 1

    def _read_keys_again(self, arbiter: Any) -> None:
        """At SIGHUP, in the master, before gunicorn forks the workers that replace the running ones
        (the settings they serve with are this object's, copied at the fork): read the keys again,
        so a rotated QA_API_KEYS_FILE takes effect in every worker. A file that cannot be read or
        holds a key that is not valid keeps the keys in use: the server stays up, the log says why."""
        try:
            self.settings = self.settings.with_keys_read_again()
        except ValueError as exc:
            arbiter.log.error("SIGHUP: keeping the API keys in use: %s", exc)
        else:
            arbiter.log.info("SIGHUP: API keys read again, %d in use", len(self.settings.api_keys))

    def load(self) -> Any:
        """The ASGI app a worker serves. At the worker's stop, once its requests are done, its
        request and embedding threads are stopped and the ONNX session released, so that
        nothing native still runs while the interpreter tears down. A worker replacing another
        (at SIGHUP, or after a crash) opens the index before it takes a connection: at SIGHUP
        gunicorn stops the old ones taking them at once, so requests wait the load out in the
        listen queue (~0.2 s for the seed article) instead of getting the 503 "still loading" (5
        of 542 requests across a HUP, one every 20 ms; the first question after a worker was
        killed got it too). It waits at most `REPLACING_LOAD_WAIT`, well inside gunicorn's worker
        timeout (a worker silent for longer is killed); at the first start, `/healthz` answers
        while the index loads."""
        from qa.api import cors, create_app
        from qa.asgi import BufferedWsgi

        replacing = self.forks > self.settings.workers
        app = create_app(self.settings, load_wait=REPLACING_LOAD_WAIT if replacing else 0.0)
        service = app.extensions["qa.service"]
        return BufferedWsgi(
            app,
            threads=self.settings.threads_per_worker,
            max_body_bytes=self.settings.max_body_bytes,
            on_shutdown=service.embedder.close,
            cors_headers=partial(cors.headers_for, app),
        )


def _export_quietly(model: Any, model_path: str, cache_dir: Path, settings: Settings) -> None:
    """Make the query encoder's and the reader's ONNX files, so that workers only load them."""
    from qa import onnx_encoder, reader

    try:
        onnx_encoder.prepare(model, model_path, cache_dir, settings.query_encoder == "int8")
    except Exception:  # the worker's Embedder tries again, then warns and uses torch
        log.debug("no ONNX export made before the workers start", exc_info=True)
    if settings.reader != "off":
        try:
            reader.prepare(cache_dir, settings.reader == "int8")
        except Exception:  # the worker tries again and reports what fails
            log.debug("no reader export made before the workers start", exc_info=True)


def serve(settings: Settings) -> None:
    GunicornServer(settings).run()

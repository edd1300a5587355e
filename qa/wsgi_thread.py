"""One WSGI call on a pool thread, its response handed to the event loop without round trips.

a2wsgi's own responder makes the thread wait for the event loop at every message (the status,
each body chunk, the end): on a busy machine each wait is a chance to lose the core. Here the
thread only posts its messages (`call_soon_threadsafe`) and goes on; it waits only when
`WINDOW` messages are still unsent, which bounds memory for a long stream to a slow client.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from concurrent.futures import Executor
from typing import Any

Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]

WINDOW = 16


class ClientGone(Exception):
    """The connection closed while the app was still answering; raised in the app's thread."""


class _Response:
    def __init__(self, loop: asyncio.AbstractEventLoop):
        self._loop = loop
        self._queue: asyncio.Queue[Message] = asyncio.Queue()
        self._unsent = threading.Semaphore(WINDOW)
        self._start: Message | None = None
        self._started = False
        self._gone = False

    # --- in the app's thread ---

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        if exc_info is not None and self._started:
            raise exc_info[1].with_traceback(exc_info[2])
        encoded = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]
        self._start = {"type": "http.response.start", "status": int(status.split(" ", 1)[0]), "headers": encoded}
        return self._write

    def run(self, app: Callable[..., Iterable[bytes]], environ: dict[str, Any]) -> None:
        chunks = app(environ, self.start_response)
        try:
            for chunk in chunks:
                if chunk:
                    self._write(chunk)
            self._post_start()
            self._post({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            getattr(chunks, "close", lambda: None)()

    def _write(self, chunk: bytes) -> None:
        self._post_start()
        self._post({"type": "http.response.body", "body": chunk, "more_body": True})

    def _post_start(self) -> None:
        if not self._started:
            if self._start is None:
                raise RuntimeError("the WSGI app sent a body before calling start_response")
            self._started = True
            self._post(self._start)

    def _post(self, message: Message) -> None:
        self._unsent.acquire()
        if self._gone:
            raise ClientGone
        self._loop.call_soon_threadsafe(self._queue.put_nowait, message)

    # --- on the event loop ---

    async def deliver(self, send: Send) -> None:
        """Send the messages as they come, until the last one; if sending fails, free the thread."""
        try:
            while True:
                message = await self._queue.get()
                self._unsent.release()
                await send(message)
                if message["type"] == "http.response.body" and not message["more_body"]:
                    return
        finally:
            self._gone = True
            self._unsent.release()  # a thread waiting for room sees `_gone` and stops


async def call_wsgi(
    app: Callable[..., Iterable[bytes]], environ: dict[str, Any], send: Send, executor: Executor
) -> None:
    """Run `app` on `executor` and send its response with `send`."""
    loop = asyncio.get_running_loop()
    response = _Response(loop)
    delivering = asyncio.ensure_future(response.deliver(send))
    try:
        await loop.run_in_executor(executor, contextvars.copy_context().run, response.run, app, environ)
        await delivering
    except ClientGone:
        pass
    finally:
        if not delivering.done():
            delivering.cancel()

"""One WSGI call on a pool thread, its response handed to the event loop without round trips.

a2wsgi's own responder makes the thread wait for the event loop at every message (the status,
each body chunk, the end): on a busy machine each wait is a chance to lose the core. Here the
thread only posts its messages (`call_soon_threadsafe`) and goes on; it waits only when
`WINDOW` messages are still unsent, which bounds memory for a long stream to a slow client. A
response of declared length (every JSON answer) crosses in a single post: its status, its body
and its end, so the event loop is woken once.

A streamed response (no declared length: a batch's NDJSON, a chat's events) may take minutes to
make, and gunicorn drops what is sent after the client has gone without telling the app. So while
one streams, its `receive` is watched for `http.disconnect`: the thread's next message then raises
`ClientGone`, which closes the app's iterator, and the work stops where the app next yields (for a
batch, after the group of questions being answered).
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
Receive = Callable[[], Awaitable[Message]]

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
        self._finished = False
        self._remaining: int | None = None  # bytes still due when the response declares its length
        self._gone = False

    # --- in the app's thread ---

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        if exc_info is not None and self._started:
            raise exc_info[1].with_traceback(exc_info[2])
        encoded = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]
        self._start = {"type": "http.response.start", "status": int(status.split(" ", 1)[0]), "headers": encoded}
        length = dict(encoded).get(b"content-length", b"")
        self._remaining = int(length) if length.isdigit() else None
        return self._write

    def run(self, app: Callable[..., Iterable[bytes]], environ: dict[str, Any]) -> None:
        chunks = app(environ, self.start_response)
        try:
            for chunk in chunks:
                if chunk:
                    self._write(chunk)
            if not self._finished:
                self._post(*self._unsent_start(), {"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            getattr(chunks, "close", lambda: None)()

    def _write(self, chunk: bytes) -> None:
        """Hand `chunk` over, with the start if it is the first; the chunk that completes a declared
        length ends the response, so a whole JSON answer crosses to the event loop in one hand-off."""
        if self._finished:
            return  # beyond the declared length: the server would cut it anyway
        if self._remaining is not None:
            self._remaining -= len(chunk)
            self._finished = self._remaining <= 0
        body = {"type": "http.response.body", "body": chunk, "more_body": not self._finished}
        self._post(*self._unsent_start(), body)

    def _unsent_start(self) -> list[Message]:
        if self._started:
            return []
        if self._start is None:
            raise RuntimeError("the WSGI app sent a body before calling start_response")
        self._started = True
        return [self._start]

    def _post(self, *messages: Message) -> None:
        for _ in messages:
            self._unsent.acquire()
            if self._gone:  # woken by `deliver` giving up: nobody will take these
                raise ClientGone
        self._loop.call_soon_threadsafe(self._enqueue, messages)

    # --- on the event loop ---

    def _enqueue(self, messages: tuple[Message, ...]) -> None:
        for message in messages:
            self._queue.put_nowait(message)

    async def deliver(self, send: Send, receive: Receive | None = None) -> None:
        """Send the messages as they come, until the last one; if sending fails, or the client of a
        streamed response goes away (watched on `receive`), free the thread."""
        watching: asyncio.Future[None] | None = None
        try:
            while True:
                message = await self._queue.get()
                self._unsent.release()
                await send(message)
                if message["type"] == "http.response.start" and receive is not None and _streamed(message):
                    watching = asyncio.ensure_future(self._watch(receive))
                if message["type"] == "http.response.body" and not message["more_body"]:
                    return
        finally:
            if watching is not None:
                watching.cancel()
            self._give_up()

    async def _watch(self, receive: Receive) -> None:
        """Give up once the client has gone: the request body is read, so `receive` only answers
        `http.disconnect`, when the connection closes."""
        while (await receive())["type"] != "http.disconnect":
            pass
        self._give_up()

    def _give_up(self) -> None:
        self._gone = True
        self._unsent.release()  # a thread waiting for room sees `_gone` and stops


def _streamed(start: Message) -> bool:
    return all(name != b"content-length" for name, _ in start["headers"])


async def call_wsgi(
    app: Callable[..., Iterable[bytes]],
    environ: dict[str, Any],
    send: Send,
    executor: Executor,
    receive: Receive | None = None,
) -> None:
    """Run `app` on `executor` and send its response with `send`; with `receive`, a streamed
    response stops being made when the client goes away."""
    loop = asyncio.get_running_loop()
    response = _Response(loop)
    delivering = asyncio.ensure_future(response.deliver(send, receive))
    try:
        await loop.run_in_executor(executor, contextvars.copy_context().run, response.run, app, environ)
        await delivering
    except ClientGone:
        pass
    finally:
        if not delivering.done():
            delivering.cancel()

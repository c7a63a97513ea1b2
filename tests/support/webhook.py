"""A real HTTP webhook on loopback that records JSON posts and answers from a script.

Used with apprise's ``json://127.0.0.1:PORT/hook`` (and by anything posting JSON over HTTP).
The aiohttp server runs on its own event loop in a thread, so it keeps answering while a test
blocks in synchronous code (apprise's plugins are synchronous ``requests`` calls) and works from
sync and async tests alike.

    with WebhookCollector([500, Reply(429, retry_after=2), 200]) as hook:
        ... send to hook.url ...
        assert hook.statuses == [500, 429, 200]
        assert hook.received[-1]["title"] == "..."
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from aiohttp import web


@dataclass(frozen=True, slots=True)
class Reply:
    """One scripted answer: status, optional headers/body, and a delay before answering."""

    status: int = 200
    body: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    retry_after: float | None = None

    def all_headers(self) -> dict[str, str]:
        """Headers to send, with ``Retry-After`` when asked for."""
        headers = dict(self.headers)
        if self.retry_after is not None:
            headers["Retry-After"] = f"{self.retry_after:g}"
        return headers


@dataclass(frozen=True, slots=True)
class ReceivedRequest:
    """One request as the webhook saw it; ``payload`` is the parsed JSON (None if not JSON)."""

    method: str
    path: str
    headers: Mapping[str, str]
    text: str
    payload: Any
    status: int


class WebhookCollector:
    """Loopback webhook: records every request and answers with scripted statuses, then 200."""

    def __init__(
        self,
        responses: Iterable[int | Reply] = (),
        *,
        path: str = "/hook",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.path = path
        self.host = host
        self.port = port
        self.requests: list[ReceivedRequest] = []
        self._script: deque[Reply] = deque()
        self.script(*responses)
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None

    # ---- what tests read ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        """apprise URL posting JSON here: ``json://127.0.0.1:PORT/hook``."""
        return f"json://{self.host}:{self._bound_port()}{self.path}"

    @property
    def http_url(self) -> str:
        """Plain ``http://`` URL of the hook, for clients other than apprise."""
        return f"http://{self.host}:{self._bound_port()}{self.path}"

    @property
    def received(self) -> list[Any]:
        """Every JSON payload received, in order (including those answered with an error)."""
        return [r.payload for r in self.requests]

    @property
    def statuses(self) -> list[int]:
        """The status answered to each request, in order."""
        return [r.status for r in self.requests]

    def script(self, *responses: int | Reply) -> None:
        """Queue answers for the next requests; once used up, requests get 200."""
        self._script.extend(r if isinstance(r, Reply) else Reply(r) for r in responses)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedRequest]:
        """Block until ``count`` requests arrived (from async code: ``await asyncio.to_thread(...)``)."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.requests) >= count, timeout):
                raise TimeoutError(f"webhook got {len(self.requests)} requests, expected {count}")
            return list(self.requests)

    # ---- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start serving (again: a restart keeps the same port, so a URL stays valid)."""
        if self._thread is not None:
            return
        ready = threading.Event()
        errors: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._serve, args=(ready, errors), name=f"webhook:{self.path}", daemon=True
        )
        self._thread.start()
        ready.wait()
        if errors:
            self._thread.join()
            self._thread = None
            raise errors[0]

    def stop(self) -> None:
        """Stop serving; pending delayed answers are cut short. The port becomes unreachable."""
        if self._thread is None or self._loop is None:
            return
        loop, stopping = self._loop, self._stopping
        assert stopping is not None
        loop.call_soon_threadsafe(stopping.set)
        self._thread.join(timeout=10)
        self._thread = None

    @property
    def running(self) -> bool:
        """True while the server accepts connections."""
        return self._thread is not None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.to_thread(self.stop)

    # ---- server thread -----------------------------------------------------------------------

    def _bound_port(self) -> int:
        if not self.port:
            raise RuntimeError("WebhookCollector is not started")
        return self.port

    def _serve(self, ready: threading.Event, errors: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main(ready))
        except BaseException as exc:  # surfaced to start() in the test's thread
            errors.append(exc)
            ready.set()
        finally:
            loop.close()

    async def _main(self, ready: threading.Event) -> None:
        self._stopping = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # Short shutdown: a test that scripted a long delay should not wait for it on stop().
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        try:
            await web.SockSite(runner, sock).start()
            ready.set()
            await self._stopping.wait()
        finally:
            await runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        text = await request.text()
        try:
            payload: Any = json.loads(text) if text else None
        except ValueError:
            payload = None
        reply = self._script.popleft() if self._script else Reply()
        with self._cond:
            # Recorded before any delay, so a test that timed out can still see the request.
            self.requests.append(
                ReceivedRequest(
                    request.method, request.path, dict(request.headers), text, payload, reply.status
                )
            )
            self._cond.notify_all()
        if reply.delay and self._stopping is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), reply.delay)
        return web.Response(status=reply.status, text=reply.body, headers=reply.all_headers())

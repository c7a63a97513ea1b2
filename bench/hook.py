"""A minimal loopback webhook for the benchmarks: answers 200 at once and records when each post came.

It runs on the caller's event loop (next to the simulator); alertd posts to it from a child
process through apprise's ``json://`` plugin.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self

from aiohttp import web


@dataclass(frozen=True, slots=True)
class Post:
    """One received post: wall-clock arrival time (``time.time()``) and the JSON payload."""

    at: float
    payload: dict[str, Any]

    @property
    def text(self) -> str:
        """Title and message, what a VM name is searched in."""
        return f"{self.payload.get('title', '')}\n{self.payload.get('message', '')}"


class FastHook:
    """``async with FastHook() as hook``: ``hook.url`` is the apprise URL, ``hook.posts`` what came."""

    def __init__(self) -> None:
        self.posts: list[Post] = []
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._arrived = asyncio.Event()

    @property
    def url(self) -> str:
        """apprise URL posting JSON here."""
        return f"json://127.0.0.1:{self._port}/hook"

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        at = time.time()
        try:
            payload = json.loads(body)
        except ValueError:
            payload = {}
        self.posts.append(Post(at, payload if isinstance(payload, dict) else {}))
        self._arrived.set()
        return web.Response(status=200)

    async def wait_until(self, check: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``check()`` holds, tested after each post; False when ``timeout`` seconds passed first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not check():
            left = deadline - loop.time()
            if left <= 0:
                return False
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), timeout=left)
        return True

"""One aiohttp application on one real TCP socket (loopback by default), for both simulators.

`Server` builds a simulator's app (its middleware, routes and backend) on each start and, on
stop, sets the backend's ``stopping`` event so slow answers stop waiting. `Served` is the
lifecycle both facades (`SimulatedEM`, `SimulatedVBR`) share: stopping live mode and the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable
from types import TracebackType
from typing import Any, Generic, Protocol, TypeVar

from aiohttp import web
from aiohttp.typedefs import Middleware

__all__ = ["Served", "Server"]


class _Backend(Protocol):
    @property
    def stopping(self) -> asyncio.Event: ...


B = TypeVar("B", bound=_Backend)


class Server(Generic[B]):
    """Runs one app on one TCP site; ``start`` returns the base URL."""

    def __init__(
        self,
        backend: B,
        key: web.AppKey[B],
        middleware: Middleware,
        add_routes: Callable[[web.Application], None],
    ) -> None:
        self._backend = backend
        self._key = key
        self._middleware = middleware
        self._add_routes = add_routes
        self._runner: web.AppRunner | None = None

    @property
    def running(self) -> bool:
        return self._runner is not None

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app[self._key] = self._backend
        self._add_routes(app)
        return app

    async def start(self, host: str, port: int, ssl_context: ssl.SSLContext | None) -> str:
        if self._runner is not None:
            raise RuntimeError("the simulator is already running")
        self._backend.stopping.clear()
        # No access log (tests read sim.requests instead); a short shutdown timeout because
        # slow-answer faults can leave handlers sleeping when a test ends.
        runner = web.AppRunner(self.build_app(), access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        bound_port = runner.addresses[0][1]
        scheme = "https" if ssl_context is not None else "http"
        shown = f"[{host}]" if ":" in host else host
        return f"{scheme}://{shown}:{bound_port}"

    async def stop(self) -> None:
        if self._runner is None:
            return
        self._backend.stopping.set()
        runner, self._runner = self._runner, None
        await runner.cleanup()


class Served:
    """A simulator facade's server and live-mode task, and how they stop."""

    _server: Server[Any]
    _live: asyncio.Task[None] | None

    async def stop(self) -> None:
        """Stop live mode and the server; safe to call twice."""
        if self._live is not None:
            self._live.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._live
            self._live = None
        await self._server.stop()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

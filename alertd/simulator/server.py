"""The aiohttp application and its lifecycle on a real socket (loopback by default)."""

from __future__ import annotations

import ssl

from aiohttp import web

from alertd.simulator.context import BACKEND, Backend
from alertd.simulator.handlers import add_routes
from alertd.simulator.middleware import em_middleware


def build_app(backend: Backend) -> web.Application:
    app = web.Application(middlewares=[em_middleware])
    app[BACKEND] = backend
    add_routes(app)
    return app


class Server:
    """Runs one app on one TCP site; ``start`` returns the base URL."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self._runner: web.AppRunner | None = None

    @property
    def running(self) -> bool:
        return self._runner is not None

    async def start(self, host: str, port: int, ssl_context: ssl.SSLContext | None) -> str:
        if self._runner is not None:
            raise RuntimeError("the simulator is already running")
        self._backend.stopping.clear()
        # No access log (tests read sim.requests instead); a short shutdown timeout because
        # slow-answer faults can leave handlers sleeping when a test ends.
        runner = web.AppRunner(
            build_app(self._backend), access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
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

"""The operations HTTP endpoint: /healthz, /readyz, /metrics, plus the container health probe.

This module owns the aiohttp listener that orchestrators and Prometheus talk to, and the
``healthcheck()`` client that Docker's HEALTHCHECK runs (slim images ship no curl).

- /healthz is liveness: it answers 200 whenever the event loop can run a handler and never looks
  at EM or receivers, because a Slack or EM outage must not get the daemon restarted.
- /readyz is readiness: the daemon supplies a callable; 503 carries the reason (stopping, last
  reload failed, ...).
- /metrics is the Prometheus text exposition of a Metrics object.

Access logging is off: probes arrive every few seconds and would drown the real log lines.
"""

from __future__ import annotations

import ipaddress
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Final

import structlog
from aiohttp import web

from alertd.metrics import Metrics

__all__ = ["DEFAULT_HEALTHCHECK_URL", "HttpServer", "healthcheck", "parse_listen", "start_http"]

log = structlog.stdlib.get_logger(__name__)

Readiness = Callable[[], tuple[bool, str]]

DEFAULT_HEALTHCHECK_URL: Final = "http://127.0.0.1:9478/healthz"

# Probe answers describe the state at one instant; a cache in between would lie.
_NO_STORE: Final = {"Cache-Control": "no-store"}

_METRICS_KEY: Final = web.AppKey("metrics", Metrics)
_READINESS_KEY: Final[web.AppKey[Readiness]] = web.AppKey("readiness")


def parse_listen(listen: str) -> tuple[str, int]:
    """Split ``host:port`` or ``[v6addr]:port`` into (host, port); raise ValueError if malformed."""
    host, sep, port_text = listen.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ValueError(f"listen address must be host:port or [ipv6]:port, got {listen!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"invalid IPv6 address in listen address {listen!r}") from None
    elif ":" in host:
        # A bare IPv6 address would make the port ambiguous ("::1:9478").
        raise ValueError(f"IPv6 listen addresses need brackets, e.g. [::1]:9478, got {listen!r}")
    port = int(port_text)
    if port > 65535:
        raise ValueError(f"listen port out of range in {listen!r}")
    return host, port


async def _healthz(_request: web.Request) -> web.Response:
    return web.Response(text="ok\n", headers=_NO_STORE)


async def _readyz(request: web.Request) -> web.Response:
    try:
        ok, reason = request.app[_READINESS_KEY]()
    except Exception as exc:  # a broken readiness callback must read as "not ready", not as a 500
        log.exception("readiness_check_failed")
        ok, reason = False, f"readiness check failed: {exc.__class__.__name__}"
    return web.Response(status=200 if ok else 503, text=f"{reason}\n", headers=_NO_STORE)


async def _metrics(request: web.Request) -> web.Response:
    body, content_type = request.app[_METRICS_KEY].render()
    # Set the header directly: web.Response(content_type=...) rejects parameters like version=.
    return web.Response(body=body, headers={"Content-Type": content_type, **_NO_STORE})


class HttpServer:
    """A running listener; ``port`` is the bound port (useful when started with port 0)."""

    def __init__(self, runner: web.AppRunner, host: str, port: int) -> None:
        self._runner = runner
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        """Base URL of the listener, e.g. ``http://127.0.0.1:9478``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def stop(self) -> None:
        """Close the listener and finish in-flight requests (probes are instant)."""
        await self._runner.cleanup()


async def start_http(listen: str, metrics: Metrics, readiness: Readiness) -> HttpServer:
    """Bind ``listen`` and serve /healthz, /readyz and /metrics until HttpServer.stop()."""
    host, port = parse_listen(listen)
    app = web.Application()
    app[_METRICS_KEY] = metrics
    app[_READINESS_KEY] = readiness
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/metrics", _metrics)

    # access_log=None disables aiohttp's per-request log; handle_signals stays off because the
    # daemon installs its own SIGTERM/SIGHUP handlers.
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=5.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound_port = runner.addresses[0][1]
    log.info("http_listening", host=host, port=bound_port)
    return HttpServer(runner, host, bound_port)


def healthcheck(url: str = DEFAULT_HEALTHCHECK_URL, timeout: float = 3) -> int:
    """GET ``url``; return 0 on HTTP 200, else 1 (the exit code Docker's HEALTHCHECK expects)."""
    # No proxies: an HTTP(S)_PROXY in the container must not route a loopback probe elsewhere.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as response:
            status: int = response.status
    except urllib.error.HTTPError as exc:  # non-2xx answers arrive as exceptions
        status = exc.code
        exc.close()
    except (OSError, ValueError) as exc:
        # Docker keeps the probe's output in `docker inspect`; say why it failed.
        print(f"healthcheck: {url}: {exc}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"healthcheck: {url}: HTTP {status}", file=sys.stderr)
        return 1
    return 0

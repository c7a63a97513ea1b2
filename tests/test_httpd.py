"""Ops HTTP endpoint: liveness, readiness with reasons, Prometheus exposition, and the probe client."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest

from alertd.httpd import HttpServer, healthcheck, parse_listen, start_http
from alertd.metrics import Metrics


class Readiness:
    def __init__(self) -> None:
        self.state = (True, "ready")

    def __call__(self) -> tuple[bool, str]:
        return self.state


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def readiness() -> Readiness:
    return Readiness()


@pytest.fixture
async def server(metrics: Metrics, readiness: Readiness) -> AsyncIterator[HttpServer]:
    srv = await start_http("127.0.0.1:0", metrics, readiness)
    yield srv
    await srv.stop()


async def _get(url: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return resp.status, await resp.text(), resp.headers["Content-Type"]


async def test_healthz_ok(server: HttpServer) -> None:
    """/healthz answers 200 "ok" on an ephemeral port that HttpServer reports."""
    assert server.port > 0
    status, body, _ = await _get(f"{server.url}/healthz")
    assert (status, body) == (200, "ok\n")


async def test_readyz_follows_readiness(server: HttpServer, readiness: Readiness) -> None:
    """/readyz is 200 with the reason while ready and 503 with the reason text when not."""
    assert await _get(f"{server.url}/readyz") == (200, "ready\n", "text/plain; charset=utf-8")
    readiness.state = (False, "stopping: draining outbox")
    status, body, _ = await _get(f"{server.url}/readyz")
    assert (status, body) == (503, "stopping: draining outbox\n")


async def test_readyz_callback_error_is_503(metrics: Metrics) -> None:
    """A readiness callback that raises reads as 503, not as a crashed handler."""

    def broken() -> tuple[bool, str]:
        raise RuntimeError("boom")

    srv = await start_http("127.0.0.1:0", metrics, broken)
    try:
        status, body, _ = await _get(f"{srv.url}/readyz")
    finally:
        await srv.stop()
    assert status == 503
    assert "RuntimeError" in body


async def test_metrics_exposition(server: HttpServer, metrics: Metrics) -> None:
    """/metrics serves the Prometheus text format with every alertd_* family and live values."""
    metrics.deliveries_total.labels(receiver="ops-slack", outcome="sent").inc(3)
    metrics.observe_poll("em-prod", "ok", 0.3, ok=True)
    metrics.outbox(7)
    metrics.config_reloaded(True)
    status, body, content_type = await _get(f"{server.url}/metrics")
    assert status == 200
    assert content_type.startswith("text/plain")
    assert 'alertd_deliveries_total{outcome="sent",receiver="ops-slack"} 3.0' in body
    assert 'alertd_polls_total{outcome="ok",source="em-prod"} 1.0' in body
    assert 'alertd_poll_duration_seconds_bucket{le="0.5",source="em-prod"} 1.0' in body
    assert "alertd_outbox_pending 7.0" in body
    assert "alertd_config_last_reload_successful 1.0" in body
    assert 'alertd_build_info{python="' in body
    for name in (
        "alertd_em_errors_total",
        "alertd_alerts_total",
        "alertd_unrouted_alerts_total",
        "alertd_delivery_retries_total",
        "alertd_dead_letters_total",
        "alertd_last_successful_poll_timestamp_seconds",
        "alertd_watermark_lag_seconds",
        "alertd_config_last_reload_timestamp_seconds",
        "alertd_silenced_alerts_total",
    ):
        assert f"# TYPE {name} " in body


def test_metrics_instances_are_independent() -> None:
    """Each Metrics owns its registry, so several can coexist in one process."""
    first, second = Metrics(), Metrics(process_metrics=False)
    first.silenced_alerts_total.labels(source="a").inc()
    assert b'alertd_silenced_alerts_total{source="a"} 1.0' in first.render()[0]
    assert b'source="a"' not in second.render()[0]


async def test_healthcheck_exit_codes(server: HttpServer) -> None:
    """healthcheck() returns 0 against a live /healthz and 1 for a 503 or a closed port."""
    assert await asyncio.to_thread(healthcheck, f"{server.url}/healthz", 2) == 0
    with socket.socket() as probe:  # reserve a port, then close it so nothing listens there
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    assert await asyncio.to_thread(healthcheck, f"http://127.0.0.1:{closed_port}/healthz", 2) == 1


async def test_healthcheck_non_200_is_unhealthy(server: HttpServer, readiness: Readiness) -> None:
    """healthcheck() treats any non-200 answer as unhealthy."""
    readiness.state = (False, "reload failed")
    assert await asyncio.to_thread(healthcheck, f"{server.url}/readyz", 2) == 1


async def test_ipv6_listen() -> None:
    """A bracketed IPv6 listen address binds and serves."""
    if not socket.has_ipv6:
        pytest.skip("no IPv6 support in this kernel/python")
    try:
        srv = await start_http("[::1]:0", Metrics(process_metrics=False), lambda: (True, "ready"))
    except OSError as exc:
        pytest.skip(f"cannot bind ::1 here: {exc}")
    try:
        assert srv.url.startswith("http://[::1]:")
        status, _, _ = await _get(f"{srv.url}/healthz")
    finally:
        await srv.stop()
    assert status == 200


@pytest.mark.parametrize(
    ("listen", "expected"),
    [("127.0.0.1:9478", ("127.0.0.1", 9478)), ("[::1]:9478", ("::1", 9478)), ("0.0.0.0:0", ("0.0.0.0", 0))],
)
def test_parse_listen_accepts(listen: str, expected: tuple[str, int]) -> None:
    """parse_listen splits host:port and bracketed IPv6."""
    assert parse_listen(listen) == expected


@pytest.mark.parametrize("listen", ["9478", ":9478", "::1:9478", "host:", "host:70000", "[nope]:1"])
def test_parse_listen_rejects(listen: str) -> None:
    """parse_listen rejects missing hosts/ports, bare IPv6 and out-of-range ports."""
    with pytest.raises(ValueError, match=r"listen|IPv6|address"):
        parse_listen(listen)

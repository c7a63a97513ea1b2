"""VBRSource.probe() (``alertd check-config --probe``) against the simulator: what a user runs first."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from vbr_support import NOW, Harness

from alertd.vbr import VBRSource

pytest_plugins = ["vbr_fixtures"]


@pytest.fixture
async def src(vbr: Harness) -> AsyncIterator[VBRSource]:
    """A VBRSource on the harness's simulator and clock, closed at the end."""
    source = vbr.source()
    yield source
    await source.close()


async def test_probe_reports_a_healthy_server(vbr: Harness, src: VBRSource) -> None:
    """The probe names the revision, the server time and skew, the sessions of the last 24 h and each endpoint."""
    vbr.sim.add_job_run(results={"dbserver01": "Failed"}, start=NOW - timedelta(hours=2))
    report = await src.probe()
    assert report.ok, report
    assert (report.kind, report.api_version, report.server_time, report.clock_skew, report.sessions_24h) == (
        "vbr",
        "1.3-rev2",
        NOW,
        timedelta(0),
        2,
    )
    assert [e.name for e in report.endpoints] == [
        "GET /api/v1/serverTime",
        "POST /api/oauth2/token",
        "GET /api/v1/sessions",
        "GET /api/v1/taskSessions",
        "GET /api/v1/sessions/{id}",
        "GET /api/v1/sessions/{id}/taskSessions",
    ]
    assert "America/New_York" in report.endpoints[0].detail


@pytest.mark.parametrize("vbr", ["12.0"], indirect=True)
async def test_probe_says_degraded(vbr: Harness, src: VBRSource) -> None:
    """On 12.0 the probe passes and says alerts are per job run."""
    report = await src.probe()
    assert report.ok and report.api_version == "1.1-rev0"
    assert "degraded: job-level alerts only" in report.notes
    assert "12.3.1" in next(e.detail for e in report.endpoints if e.name == "GET /api/v1/taskSessions")


async def test_probe_with_a_refused_account(vbr: Harness) -> None:
    """A refused logon fails the probe at the token check, with the role and MFA advice."""
    source = vbr.source(password="wrong")
    try:
        report = await source.probe()
    finally:
        await source.close()
    assert not report.ok
    assert [(e.name, e.ok) for e in report.endpoints] == [
        ("GET /api/v1/serverTime", True),
        ("POST /api/oauth2/token", False),
    ]
    assert "Backup Viewer" in report.endpoints[1].detail


async def test_probe_of_a_server_that_is_down(vbr: Harness) -> None:
    """An unreachable server fails the first check and the probe stops there."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    source = vbr.source(url=f"https://127.0.0.1:{port}")
    try:
        report = await source.probe()
    finally:
        await source.close()
    assert [(e.name, e.ok) for e in report.endpoints] == [("GET /api/v1/serverTime", False)]
    assert "cannot connect" in report.endpoints[0].detail

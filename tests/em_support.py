"""What the EM client and source tests share (test_em_client, test_em_source, test_em_job_runs_batched).

The simulator's account, the instant the tests start at, a running simulator whose tokens outlive
their clock jumps, and connections and sources reaching it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from alertd.em.client import EMConnection
from alertd.em.source import EMSource
from alertd.simulator import ManualClock, SimulatedEM

USER = "alertd"
PASSWORD = "s3cret-Pa55word!"
NOW = datetime(2025, 8, 15, 6, 0, tzinfo=UTC)
#: The results alertd alerts on.
RESULTS = ("Failed", "Warning")


@asynccontextmanager
async def running_em(clock: ManualClock, *, seed: int, **settings: Any) -> AsyncIterator[SimulatedEM]:
    """A plain-HTTP simulator on loopback, its tokens idle for days; ``settings`` are set on its EMSettings."""
    em = SimulatedEM(username=USER, password=PASSWORD, clock=clock, seed=seed)
    em.settings.idle_timeout = timedelta(days=7)
    for name, value in settings.items():
        setattr(em.settings, name, value)
    await em.start()
    try:
        yield em
    finally:
        await em.stop()


def connection(url: str, **kw: Any) -> EMConnection:
    """An EMConnection for ``url`` with the test credentials (``kw`` may override them)."""
    settings: dict[str, Any] = {"source": "em-test", "username": USER, "password": PASSWORD, **kw}
    return EMConnection(url=url, **settings)


def make_source(sim: SimulatedEM, clock: Callable[[], datetime], **kw: Any) -> EMSource:
    """An EMSource for ``sim`` (page_size 50) with alertd's clock ``clock``; ``format`` is the connection's."""
    fmt = kw.pop("format", "xml")
    return EMSource.from_connection(connection(sim.url, format=fmt, page_size=50), clock=clock, **kw)

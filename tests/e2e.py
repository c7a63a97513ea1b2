"""Helpers for end-to-end tests: a simulator-backed config and one-cycle runs of the real daemon."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alertd.config import Config, load_document
from alertd.daemon import Daemon
from alertd.simulator import SimulatedEM
from alertd.state import SQLiteStore


def now() -> datetime:
    """Wall-clock UTC (the simulator and the daemon share it in end-to-end tests)."""
    return datetime.now(UTC)


def run_ending(sim: SimulatedEM, job: str, vm: str, result: str, end: datetime) -> None:
    """A job run of one VM with ``result`` on the EM simulator, created 5 minutes before ``end`` and
    ending exactly at ``end`` (deterministic ordering); a failure carries a snapshot error."""
    sim.add_task_session(
        job_name=job,
        vm=vm,
        result=result,
        creation_time=end - timedelta(minutes=5),
        end_time=end,
        reason="" if result == "Success" else "Error: Failed to create VM snapshot",
        job_session_uid=str(uuid.uuid4()),
    )


def em_source(em_url: str, **extra: Any) -> dict[str, Any]:
    """``sources[0]`` of a config polling the EM simulator at ``em_url`` (its default account) every second."""
    return {
        "name": "em1",
        "url": em_url,
        "username": "CORP\\svc-alertd",
        "password": "secret",
        "poll_interval": "1s",
        **extra,
    }


def e2e_config(
    tmp_path: Path,
    em_url: str,
    urls: list[str],
    *,
    source: dict[str, Any] | None = None,
    routes: list[dict[str, Any]] | None = None,
    receivers: list[dict[str, Any]] | None = None,
    **top: Any,
) -> Config:
    """A config polling the simulator at ``em_url`` and delivering to ``urls`` (receiver 'ops')."""
    doc: dict[str, Any] = {
        "sources": [em_source(em_url, page_size=50, **(source or {}))],
        "state": {"path": str(tmp_path / "state.db")},
        "receivers": receivers or [{"name": "ops", "urls": urls}],
        "routes": routes or [{"receivers": ["ops"], "group_wait": "100ms"}],
        "delivery": {"min_interval": "10ms", "retry_for": "1m", "max_backoff": "200ms"},
        "http": {"listen": None},
    }
    doc.update(top)
    return load_document(doc)


class FakeClock:
    """An injectable clock: starts at ``start`` and moves only when told."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


async def run_once(
    cfg: Config, deliver_timeout: float = 10.0, clock: Callable[[], datetime] | None = None
) -> int:
    """One ``alertd once`` cycle in-process (with the wall clock unless ``clock`` is given)."""
    daemon = Daemon(cfg, clock=clock) if clock is not None else Daemon(cfg)
    return await daemon.once(deliver_timeout)


def outbox_depth(state: Path) -> int:
    """Deliveries still pending in the state file at ``state``; safe beside a running daemon (WAL)."""
    with closing(SQLiteStore(state)) as store:
        return store.outbox_depth()


def history(state: Path) -> list[sqlite3.Row]:
    """What ``alertd history`` reports from the state file at ``state`` (opened and closed again)."""
    with closing(SQLiteStore(state)) as store:
        return store.history()


def alert_count(state: Path) -> int:
    """How many alert UIDs the state file at ``state`` remembers (opened and closed again)."""
    with closing(SQLiteStore(state)) as store:
        return store.alert_count()


async def wait_until(check: Callable[[], bool], timeout: float = 20.0, what: str = "the condition") -> None:
    """Wait until ``check()`` holds (looked at every 20 ms); fail naming ``what`` after ``timeout`` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        await asyncio.sleep(0.02)

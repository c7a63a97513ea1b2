"""Helpers for end-to-end tests: a simulator-backed config and one-cycle runs of the real daemon."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alertd.config import Config, load_document
from alertd.daemon import Daemon


def now() -> datetime:
    """Wall-clock UTC (the simulator and the daemon share it in end-to-end tests)."""
    return datetime.now(UTC)


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
        "sources": [
            {
                "name": "em1",
                "url": em_url,
                "username": "CORP\\svc-alertd",
                "password": "secret",
                "page_size": 50,
                "poll_interval": "1s",
                **(source or {}),
            }
        ],
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

"""One state file driven poll by poll, the way the daemon drives it (see ``bench.state``)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alertd.store import Store

from alertd.config import Config, SourceConfig
from alertd.daemon import PRUNE_EVERY
from alertd.decide import decide
from alertd.incidents import Incident, vm_key
from alertd.pipeline import Pipeline
from alertd.runtime import build_targets
from alertd.window import advance, poll_window, prune_before
from bench.fleet import CannedRenderer, FleetSource, sample_sessions
from bench.scenario import Sizes

T0 = datetime(2026, 1, 5, tzinfo=UTC)


class Grower:
    """Runs simulated polls against one state file."""

    def __init__(self, cfg: Config, path: Path, sizes: Sizes) -> None:
        self.cfg = cfg
        self.source: SourceConfig = cfg.sources[0]
        self.store = Store(path)
        renderer = CannedRenderer(sample_sessions(self.source.name))
        self.pipeline = Pipeline(cfg, self.store, renderer, build_targets(cfg).by_receiver)
        self.step = timedelta(hours=sizes.state_step_hours)
        self.fleet = FleetSource(sizes.state_batch, self.step, self.source.name)
        self.incidents: dict[tuple[str, str], Incident] = {}
        self.polls = 0
        self._last_prune: datetime | None = None
        self.flush_times: list[float] = []
        self.prune_times: list[float] = []

    def now(self) -> datetime:
        return T0 + self.step * self.polls

    def _next(self) -> datetime:
        self.polls += 1
        now = self.now()
        self.fleet.advance(self.polls - 1, now)
        return now

    def direct_poll(self, prune: bool = True) -> tuple[int, float]:
        """One poll through ``decide`` and ``Store.record_poll``; returns (new alerts, seconds in record_poll).

        ``prune=False`` passes no ``prune_before`` (the next poll prunes), to time pruning's share.
        """
        now = self._next()
        failures, successes = self.fleet.current, self.fleet.successes
        keys = {(s.job_name, vm_key(s)) for s in (*failures, *successes)}
        decision = decide(
            failures=failures,
            successes=successes,
            incidents={k: self.incidents[k] for k in keys if k in self.incidents},
            open_members=[],
            silences=[],
            routes=self.pipeline.routes,
            flapping=self.cfg.flapping,
            now=now,
        )
        self.incidents.update(decision.record.incidents)
        watermark = self.store.watermark(self.source.name)
        window = poll_window(
            watermark, overlap=self.source.overlap, initial_lookback=self.source.initial_lookback, now=now
        )
        new_mark = advance(
            watermark, window, self.source.overlap, (s.end_time for s in failures if s.end_time), now
        )
        started = time.perf_counter()
        added = self.store.record_poll(
            self.source.name,
            decision.record,
            new_mark,
            now,
            prune_before=prune_before(new_mark, self.source.overlap) if prune else None,
            keep_history=self.cfg.state.keep_history,
        )
        return added, time.perf_counter() - started

    async def pipeline_poll(self) -> tuple[int, float]:
        """One real ``Pipeline.poll`` against the fleet; returns (new alerts, seconds)."""
        now = self._next()
        started = time.perf_counter()
        outcome = await self.pipeline.poll(self.source, self.fleet, now)
        seconds = time.perf_counter() - started
        keys = {(s.job_name, vm_key(s)) for s in (*self.fleet.current, *self.fleet.successes)}
        self.incidents.update(self.store.incidents(self.source.name, keys))
        return outcome.new, seconds

    def after_poll(self) -> None:
        """What the daemon does between polls: flush, deliver (mark sent), prune history every PRUNE_EVERY.

        Their times go to ``flush_times`` and ``prune_times``.
        """
        now = self.now()
        started = time.perf_counter()
        self.pipeline.flush(now)
        for row in self.store.pending_deliveries():
            self.store.mark_sent(row.id, now)
        self.flush_times.append(time.perf_counter() - started)
        if self._last_prune is None or now - self._last_prune >= PRUNE_EVERY:
            self._last_prune = now
            started = time.perf_counter()
            self.store.prune_history(now, self.cfg.state.keep_history)
            self.prune_times.append(time.perf_counter() - started)

"""One state file driven poll by poll, the way the daemon drives it (see ``bench.state``)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alertd.config import Config, SourceConfig
from alertd.daemon import PRUNE_EVERY
from alertd.pipeline import Pipeline
from alertd.polling import PollContext, decide_poll, incident_keys
from alertd.reading import Fetched
from alertd.records import PollRecord, PollState
from alertd.runtime import build_targets
from alertd.state import SQLiteStore
from alertd.window import plan_read
from bench.fleet import CannedRenderer, FleetSource, sample_sessions
from bench.scenario import Sizes

T0 = datetime(2026, 1, 5, tzinfo=UTC)


class Grower:
    """Runs simulated polls against one state file."""

    def __init__(self, cfg: Config, path: Path, sizes: Sizes) -> None:
        self.cfg = cfg
        self.source: SourceConfig = cfg.sources[0]
        self.store = SQLiteStore(path)
        renderer = CannedRenderer(sample_sessions(self.source.name))
        self.pipeline = Pipeline(cfg, self.store, renderer, build_targets(cfg).by_receiver)  # type: ignore[arg-type]
        self.step = timedelta(hours=sizes.state_step_hours)
        self.fleet = FleetSource(sizes.state_batch, self.step, self.source.name)
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
        """One poll through ``decide_poll`` and ``SQLiteStore.record_poll``, as ``Pipeline.poll`` calls
        them, with what the fleet holds as the read; returns (new alerts, seconds in record_poll).

        ``prune=False`` decides without pruning (the next poll prunes), to time pruning's share.
        """
        now = self._next()
        cursor = self.store.cursor(self.source.name)
        plan = plan_read(
            cursor,
            overlap=self.source.overlap,
            initial_lookback=self.source.initial_lookback,
            reconcile_every=self.source.reconcile_every,
            reconcile_window=self.source.reconcile_window,
            now=now,
        )
        failures = self.fleet.current
        runs = {r.uid: r for r in self.fleet.runs_of(failures)}
        fetched = Fetched(
            failures=[self.fleet.with_run(s, runs) for s in failures],
            skew=timedelta(0),
            successes=self.fleet.succeeded,
            new_runs=list(runs.values()),
            runs=runs,
        )
        routes = tuple(self.pipeline.routes.values())
        ctx = PollContext(self.source, routes, self.cfg.flapping, (), prune)

        def decide(state: PollState) -> PollRecord:
            return decide_poll(ctx, state, fetched, plan, now).record

        started = time.perf_counter()
        added = self.store.record_poll(
            self.source.name,
            [s.uid for s in fetched.failures],
            incident_keys(fetched),
            now,
            decide,
            self.cfg.state.keep_history,
        )
        return added, time.perf_counter() - started

    async def pipeline_poll(self) -> tuple[int, float]:
        """One real ``Pipeline.poll`` against the fleet; returns (new alerts, seconds)."""
        now = self._next()
        started = time.perf_counter()
        outcome = await self.pipeline.poll(self.source, self.fleet, now)
        return outcome.new, time.perf_counter() - started

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

"""The one place that knows the order: source -> normalize -> state/dedup -> route -> group -> render -> deliver.

``poll`` reads one source (failures, then the successes that matter), decides, and records, in
that order; ``flush`` turns due groups into rendered outbox rows, which the delivery worker sends.
Both take ``now`` from the caller. The stages are pure functions in their own modules; the I/O
is the source, the state store and (later) the notifier.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import structlog

from alertd.config import Config, SourceConfig
from alertd.decide import Decision
from alertd.grouping import DueGroup, due_group, schedule
from alertd.model import JobRun
from alertd.observe import (
    PipelineMetrics,
    report_flush,
    report_plan,
    report_poll,
    report_render_failures,
    report_substitutions,
)
from alertd.planner import RenderFailure, TargetInfo, choose_receivers, plan_group
from alertd.polling import PollContext, decide_poll, incident_keys
from alertd.reading import read_source
from alertd.records import FlushPlan, OpenMember, PollRecord, PollState
from alertd.render import Renderer
from alertd.routing import compile_routes
from alertd.silences import SilenceParser
from alertd.source import Source
from alertd.state import FlushStore, PollStore, StateError
from alertd.timeactive import mute_end
from alertd.watch import held_for_retry, success_queries
from alertd.window import plan_read

#: Forgotten state is pruned at most this often per source (pruning scans; polls should not).
PRUNE_INTERVAL = timedelta(minutes=10)
#: An incident whose last failure is older than this is no longer watched for a success (a VM
#: deleted from the job would otherwise cost a query on every poll forever).
INCIDENT_WATCH = timedelta(days=30)

log = structlog.get_logger(__name__)


class PipelineState(PollStore, FlushStore, Protocol):
    """The state the pipeline reads and writes (see `alertd.state.interface`)."""


@dataclass(frozen=True, slots=True)
class PollResult:
    """The outcome of polling one source once.

    ``watermark``: after a successful poll, the newest EndTime read from the source so far (what
    self-monitoring's stale-data check watches).
    """

    source: str
    ok: bool
    read: int = 0
    new: int = 0
    error_kind: str | None = None
    error: str | None = None
    watermark: datetime | None = None


@dataclass(frozen=True, slots=True)
class FlushResult:
    """What one flush wrote, and when the earliest group still open may fall due."""

    messages: int
    next_check: datetime | None


class Pipeline:
    """One configured instance of the alert pipeline."""

    def __init__(
        self,
        cfg: Config,
        state: PipelineState,
        renderer: Renderer,
        targets: Mapping[str, Sequence[TargetInfo]],
        metrics: PipelineMetrics | None = None,
    ) -> None:
        self.cfg = cfg
        self.state = state
        self.renderer = renderer
        self.targets = targets
        self.routes = {r.key: r for r in compile_routes(cfg.routes)}
        self.metrics = metrics
        self._intervals = cfg.intervals()
        self._last_prune: dict[str, datetime] = {}
        self._silences = SilenceParser()
        self._warned: set[str] = set()

    # -- poll: read, decide, record -------------------------------------------------------------

    async def poll(self, source: SourceConfig, reader: Source, now: datetime) -> PollResult:
        """Read one source and record every new Failed/Warning session with its routes.

        Nothing is recorded unless every page of the failures was read: a failed cycle is read
        again next time. ``now`` is alertd's clock; windows run on the source's.
        """
        routes = tuple(self.routes.values())
        cursor = self.state.cursor(source.name)
        plan = plan_read(
            cursor,
            overlap=source.overlap,
            initial_lookback=source.initial_lookback,
            reconcile_every=source.reconcile_every,
            reconcile_window=source.reconcile_window,
            now=now + (reader.clock_skew or timedelta(0)),
        )
        report_plan(source.name, plan)
        watched = self.state.watched(source.name, now - INCIDENT_WATCH)
        fetched = await read_source(
            source.name,
            reader,
            plan,
            source.results,
            lambda uids: self.state.job_runs(source.name, uids),
            lambda failures: success_queries(watched, held_for_retry(failures, routes), source.overlap),
            now,
        )
        prune = self._prune_due(source.name, now)
        decision = Decision()

        def decide(state: PollState) -> PollRecord:
            nonlocal decision
            ctx = PollContext(source, routes, self.cfg.flapping, self._silences.active(state.silences), prune)
            decision = decide_poll(ctx, state, fetched, plan, now)
            return decision.record

        added = self.state.record_poll(
            source.name,
            [s.uid for s in fetched.failures],
            incident_keys(fetched),
            now,
            decide,
            self.cfg.state.keep_history,
        )
        report_poll(source.name, decision, fetched, added, plan, now, self.metrics)
        watermark = decision.record.cursor.watermark if decision.record.cursor else None
        return PollResult(source.name, True, read=len(fetched.failures), new=added, watermark=watermark)

    def _prune_due(self, source: str, now: datetime) -> bool:
        """Pruning scans; it runs at most every PRUNE_INTERVAL per source."""
        last = self._last_prune.get(source)
        if last is not None and now - last < PRUNE_INTERVAL:
            return False
        self._last_prune[source] = now
        return True

    # -- flush: group, render, write the outbox -------------------------------------------------

    def flush(self, now: datetime, *, flush_all: bool = False) -> FlushResult:
        """Render every due group into outbox rows, all written in one transaction.

        A group that cannot be planned or rendered is logged and left open for the next flush;
        the others go on. One transaction (one commit, one fsync) for the whole flush, not one
        per group: a storm's 500 groups spent most of their flush committing (make bench). If
        that write fails, nothing of this flush is written and every group stays open.
        """
        plan = schedule(self.state.open_groups(), now, flush_all=flush_all, mute_end=self._mute_end)
        due = self.state.group_members(plan.due)
        try:
            # What every due group's rendering reads, in one query each rather than per group.
            histories = self.state.group_histories(list(due))
            runs = self._runs([m for members in due.values() for m in members])
        except StateError as err:
            for key in due:
                log.error("group_flush_failed", group=key, error=str(err))
            return FlushResult(0, plan.next_check)
        flushes: list[FlushPlan] = []
        for key, members in due.items():
            try:
                flush = self._plan(key, due_group(key, members), histories, runs)
            except StateError as err:
                log.error("group_flush_failed", group=key, error=str(err))
                continue
            except Exception as err:  # one bad group must not hold up the others; it is retried
                log.exception("group_flush_crashed", group=key, error=repr(err))
                continue
            if flush is not None:
                flushes.append(flush)
        if not flushes:
            return FlushResult(0, plan.next_check)
        try:
            self.state.flush_groups(flushes, now)
        except StateError as err:
            for flush in flushes:
                log.error("group_flush_failed", group=flush.group_key, error=str(err))
            return FlushResult(0, plan.next_check)
        for flush in flushes:
            report_flush(flush)
        return FlushResult(sum(len(f.messages) for f in flushes), plan.next_check)

    def _plan(
        self,
        key: str,
        group: DueGroup,
        histories: Mapping[tuple[str, str], tuple[int, int]],
        runs: Mapping[str, JobRun],
    ) -> FlushPlan | None:
        """One group's messages, rendered (None while none of its receivers is configured).

        ``histories`` and ``runs`` are the flush's: messages sent per (group, receiver), and the
        cached job runs of the due groups' job sessions.
        """
        receivers, substitutions = choose_receivers(group.receivers, self.targets, self.cfg.delivery.fallback)
        if substitutions and key not in self._warned:
            self._warned.add(key)
            report_substitutions(key, substitutions)
        if receivers is None:
            return None
        history = {r: histories.get((key, r), (0, 0)) for r in receivers}
        failures: list[RenderFailure] = []
        flush = plan_group(
            group, receivers, self.targets, self.renderer, history, self.routes, failures, runs
        )
        report_render_failures(failures)
        return flush

    def _mute_end(self, route_key: str, now: datetime) -> datetime | None:
        route = self.routes.get(route_key)
        return None if route is None else mute_end(self._intervals, route.mute_time_intervals, now)

    def _runs(self, members: Sequence[OpenMember]) -> dict[str, JobRun]:
        """The cached job runs of the members' job sessions (one read per source)."""
        runs: dict[str, JobRun] = {}
        for source in {m.session.source for m in members}:
            uids = {m.session.job_session_uid for m in members if m.session.source == source}
            runs.update(self.state.job_runs(source, uids))
        return runs

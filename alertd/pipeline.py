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
from alertd.decide import ActiveSilence, Decision, decide
from alertd.grouping import due_group, schedule
from alertd.incidents import vm_key
from alertd.matchers import MatcherError, parse_matcher
from alertd.model import MATCHER_LABELS, TaskSession
from alertd.observe import PipelineMetrics, report_decision
from alertd.planner import RenderFailure, Substitution, TargetInfo, choose_receivers, plan_group
from alertd.records import PollRecord, PollState, Silence
from alertd.render import Renderer
from alertd.routing import compile_routes
from alertd.source import Source
from alertd.state import FlushStore, PollStore, StateError
from alertd.timeintervals import DEFAULT_HORIZON, any_active, next_change
from alertd.watch import success_queries
from alertd.window import advance, prune_before, window_start

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
        self._silences: dict[int, ActiveSilence | None] = {}
        self._warned: set[str] = set()

    # -- poll: read, decide, record -------------------------------------------------------------

    async def poll(self, source: SourceConfig, reader: Source, now: datetime) -> PollResult:
        """Read one source's window and record every new Failed/Warning session with its routes.

        Nothing is recorded unless every page was read: a failed cycle is read again next time.
        """
        watermark = self.state.watermark(source.name)
        start = window_start(
            watermark, overlap=source.overlap, initial_lookback=source.initial_lookback, now=now
        )
        failures = _final(
            (await reader.failures(start, source.results)).sessions, source.results, source.name
        )
        successes: list[TaskSession] = []
        for query in success_queries(self.state.watched(source.name, now - INCIDENT_WATCH)):
            successes += _final((await reader.successes(query.job, query.since)).sessions, ("Success",))
        decision = Decision()

        def decide_poll(state: PollState) -> PollRecord:
            nonlocal decision
            decision = self._decide(source, state, failures, successes, start, now)
            return decision.record

        keys = [(s.job_name, vm_key(s)) for s in (*failures, *successes)]
        added = self.state.record_poll(
            source.name, [s.uid for s in failures], keys, now, decide_poll, self.cfg.state.keep_history
        )
        report_decision(source.name, decision, decision.record.watermark or now, now, self.metrics)
        if added:
            log.info(
                "alerts_new",
                source=source.name,
                new=added,
                read=len(failures),
                window_start=start.isoformat(),
            )
        return PollResult(
            source.name, True, read=len(failures), new=added, watermark=decision.record.watermark
        )

    def _decide(
        self,
        source: SourceConfig,
        state: PollState,
        failures: Sequence[TaskSession],
        successes: Sequence[TaskSession],
        start: datetime,
        now: datetime,
    ) -> Decision:
        """The poll's decision on the state read inside its transaction (pure apart from the silence cache)."""
        fresh = list({s.uid: s for s in failures if s.uid not in state.seen}.values())
        decision = decide(
            failures=fresh,
            successes=successes,
            incidents=state.incidents,
            notified=state.notified,
            open_members=state.held,
            silences=self._active_silences(state.silences),
            routes=tuple(self.routes.values()),
            flapping=self.cfg.flapping,
            now=now,
        )
        watermark = advance(
            state.watermark, start, source.overlap, (s.end_time for s in failures if s.end_time), now
        )
        decision.record.watermark = watermark
        last = self._last_prune.get(source.name)
        if last is None or now - last >= PRUNE_INTERVAL:
            self._last_prune[source.name] = now
            decision.record.prune_before = prune_before(watermark, source.overlap)
        return decision

    def _active_silences(self, silences: Sequence[Silence]) -> list[ActiveSilence]:
        """Silences in force, each parsed once (a silence's matchers never change after it is added)."""
        active = []
        for silence in silences:
            if silence.id not in self._silences:
                self._silences[silence.id] = _parse_silence(silence)
            parsed = self._silences[silence.id]
            if parsed is not None:
                active.append(parsed)
        return active

    # -- flush: group, render, write the outbox -------------------------------------------------

    def flush(self, now: datetime, *, flush_all: bool = False) -> FlushResult:
        """Render every due group into outbox rows."""
        plan = schedule(self.state.open_groups(), now, flush_all=flush_all, mute_end=self._mute_end)
        written = 0
        for key, members in self.state.group_members(plan.due).items():
            group = due_group(key, members)
            try:
                receivers, substitutions = choose_receivers(
                    group.receivers, self.targets, self.cfg.delivery.fallback
                )
                self._warn_substitutions(key, substitutions)
                if receivers is None:
                    continue
                history = {r: self.state.group_history(key, r) for r in receivers}
                failures: list[RenderFailure] = []
                flush = plan_group(
                    group, receivers, self.targets, self.renderer, history, self.routes, failures
                )
                _log_render_failures(failures)
                self.state.flush_group(flush, now)
            except StateError as err:
                log.error("group_flush_failed", group=key, error=str(err))
                continue
            except Exception as err:  # one bad group must not hold up the others; it is retried
                log.exception("group_flush_crashed", group=key, error=repr(err))
                continue
            written += len(flush.messages)
            for msg in flush.messages:
                log.info(
                    "group_flushed", group=key, receiver=msg.receiver, alerts=msg.alert_count, title=msg.title
                )
        return FlushResult(written, plan.next_check)

    def _mute_end(self, route_key: str, now: datetime) -> datetime | None:
        """When the route's mute window ends (None when it is not muted now)."""
        route = self.routes.get(route_key)
        if route is None or not any_active(self._intervals, route.mute_time_intervals, now):
            return None
        ends = [
            next_change(self._intervals[name], now) or now + DEFAULT_HORIZON
            for name in route.mute_time_intervals
            if any_active(self._intervals, (name,), now)
        ]
        return min(ends)

    def _warn_substitutions(self, group_key: str, substitutions: Sequence[Substitution]) -> None:
        """Say once per group that a receiver is missing, and where its messages go instead."""
        if substitutions and group_key not in self._warned:
            self._warned.add(group_key)
            for sub in substitutions:
                note = (
                    "sent to delivery.fallback"
                    if sub.instead
                    else "kept until the receiver is configured again"
                )
                log.warning(
                    "receiver_missing",
                    receiver=sub.receiver,
                    group=group_key,
                    fallback=sub.instead,
                    note=note,
                )


def _final(sessions: Sequence[TaskSession], results: Sequence[str], source: str = "") -> list[TaskSession]:
    """Completed sessions with one of ``results`` and an EndTime.

    The source's query already asks for these; checking again keeps a lax server from causing
    alerts on running sessions or the wrong results.
    """
    for odd in (s for s in sessions if s.state == "Completed" and s.end_time is None):
        log.warning("session_without_end_time", source=source, uid=odd.uid, vm=odd.vm, note="skipped")
    return [s for s in sessions if s.state == "Completed" and s.result in results and s.end_time is not None]


def _parse_silence(silence: Silence) -> ActiveSilence | None:
    try:
        matchers = tuple(parse_matcher(m, MATCHER_LABELS) for m in silence.matchers)
    except MatcherError as err:
        log.warning("silence_invalid", silence=silence.id, error=str(err))
        return None
    return ActiveSilence(silence.id, matchers, silence.until_resolved)


def _log_render_failures(failures: Sequence[RenderFailure]) -> None:
    for failure in failures:
        log.error(
            "template_failed",
            receiver=failure.receiver,
            template=failure.template,
            error=failure.error,
            note="sent with the default template; fix the receiver's templates directory",
        )

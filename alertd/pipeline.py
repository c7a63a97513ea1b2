"""The one place that knows the order: source -> normalize -> state/dedup -> route -> group -> render -> deliver.

``poll`` reads one source and records what is new; ``flush`` turns due groups into rendered
outbox rows. Both take ``now`` from the caller; the I/O lives in the client, store and notifier.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

import structlog

from alertd.config import Config, SourceConfig
from alertd.grouping import DueGroup, due_groups
from alertd.model import AlertGroup, RenderedMessage, TaskSession
from alertd.routing import Route, compile_routes, match_routes
from alertd.store import NewMember, PlannedDelivery, PlannedMessage, StateError, Store
from alertd.window import advance, poll_window, prune_before

log = structlog.get_logger(__name__)

Kind = Literal["chat", "email"]


class SessionSource(Protocol):
    """Reads task sessions from one EM (the EM client)."""

    async def query_task_sessions(self, filter: str, *, sort_asc: str = "EndTime") -> list[TaskSession]: ...


class Renderer(Protocol):
    """Renders a group for one kind of target."""

    def render(self, group: AlertGroup, kind: Kind) -> RenderedMessage: ...


class PipelineMetrics(Protocol):
    """The counters the pipeline reports to."""

    def poll_done(self, source: str, ok: bool, seconds: float, error_kind: str | None) -> None: ...
    def alerts(self, source: str, result: str, count: int) -> None: ...
    def unrouted(self, source: str, count: int) -> None: ...
    def watermark(self, source: str, watermark: datetime, now: datetime) -> None: ...


@dataclass(frozen=True, slots=True)
class TargetInfo:
    """What rendering needs to know about a receiver's target."""

    name: str
    kind: Kind


@dataclass(frozen=True, slots=True)
class PollResult:
    """The outcome of polling one source once."""

    source: str
    ok: bool
    read: int = 0
    new: int = 0
    error_kind: str | None = None
    error: str | None = None


def failed_filter(window_start: datetime, results: Sequence[str]) -> str:
    """The EM filter of one poll (kept here so the order of stages reads top to bottom)."""
    from alertd.em.filters import failed_since

    return failed_since(window_start, results)


class Pipeline:
    """One configured instance of the alert pipeline."""

    def __init__(
        self,
        cfg: Config,
        store: Store,
        renderer: Renderer,
        targets: Mapping[str, Sequence[TargetInfo]],
        metrics: PipelineMetrics | None = None,
    ) -> None:
        self.cfg = cfg
        self.store = store
        self.renderer = renderer
        self.targets = targets
        self.routes: tuple[Route, ...] = compile_routes(cfg.routes)
        self.metrics = metrics

    async def poll(self, source: SourceConfig, client: SessionSource, now: datetime) -> PollResult:
        """Read one source's window and record every new Failed/Warning session with its routes.

        Nothing is recorded unless every page was read: a failed cycle is read again next time.
        """
        watermark = self.store.watermark(source.name)
        window = poll_window(
            watermark, overlap=source.overlap, initial_lookback=source.initial_lookback, now=now
        )
        sessions = await client.query_task_sessions(failed_filter(window.start, source.results))
        # EM's filter already asks for these; checking again keeps a lax server from causing alerts
        # on running or successful sessions.
        final = [
            s
            for s in sessions
            if s.state == "Completed" and s.result in source.results and s.end_time is not None
        ]
        fresh = self.store.unseen(source.name, final)
        records = []
        unrouted = 0
        for session in fresh:
            labels = session.labels()
            routes = match_routes(self.routes, labels)
            if not routes:
                unrouted += 1
                log.warning(
                    "alert_unrouted",
                    source=source.name,
                    uid=session.uid,
                    vm=session.vm,
                    job=session.job_name,
                    note="no route matched; add a catch-all route",
                )
            members = [NewMember(session.uid, r.group_key(labels), r.receivers, r.group_wait) for r in routes]
            records.append((session, "routed" if routes else "unrouted", members))
        new_watermark = advance(watermark, window, source.overlap, (s.end_time for s in final if s.end_time))
        added = self.store.record_poll(
            source.name, records, new_watermark, now, prune_before=prune_before(new_watermark, source.overlap)
        )
        if self.metrics is not None:
            self.metrics.watermark(source.name, new_watermark, now)
            if unrouted:
                self.metrics.unrouted(source.name, unrouted)
            for result in ("Failed", "Warning"):
                count = sum(1 for s, _, _ in records if s.result == result)
                if count:
                    self.metrics.alerts(source.name, result, count)
        if added:
            log.info(
                "alerts_new",
                source=source.name,
                new=added,
                read=len(sessions),
                window_start=window.start.isoformat(),
            )
        return PollResult(source.name, True, read=len(sessions), new=added)

    def flush(self, now: datetime, *, flush_all: bool = False) -> int:
        """Render every due group into outbox rows; returns how many messages were written."""
        written = 0
        for group in due_groups(self.store.open_members(), now, flush_all=flush_all):
            try:
                messages = self._plan(group)
                self.store.flush_group(group.key, [m.id for m in group.members], messages, now)
            except StateError as err:
                log.error("group_flush_failed", group=group.key, error=str(err))
                continue
            written += len(messages)
            for msg in messages:
                log.info(
                    "group_flushed",
                    group=group.key,
                    receiver=msg.receiver,
                    alerts=msg.alert_count,
                    title=msg.title,
                )
        return written

    def _plan(self, group: DueGroup) -> list[PlannedMessage]:
        sessions = _ordered(tuple(m.session for m in group.members))
        planned = []
        for receiver in group.receivers:
            sent_before, alerts_before = self.store.group_history(group.key, receiver)
            alert_group = AlertGroup(
                key=group.key,
                receiver=receiver,
                alerts=sessions,
                sequence=sent_before + 1,
                earlier_count=alerts_before,
                labels=_common_labels(sessions),
            )
            rendered: dict[Kind, RenderedMessage] = {}
            deliveries = []
            for target in self.targets.get(receiver, ()):
                if target.kind not in rendered:
                    rendered[target.kind] = self.renderer.render(alert_group, target.kind)
                deliveries.append(PlannedDelivery(receiver, target.name, rendered[target.kind]))
            title = next(iter(rendered.values())).title if rendered else group.key
            planned.append(PlannedMessage(receiver, sent_before + 1, len(sessions), title, tuple(deliveries)))
        return planned


def _ordered(sessions: tuple[TaskSession, ...]) -> tuple[TaskSession, ...]:
    """Failures first, then by VM name, so the list reads the same in every channel."""
    rank = {"Failed": 0, "Warning": 1}
    return tuple(sorted(sessions, key=lambda s: (rank.get(s.result, 2), s.vm.lower(), s.uid)))


def _common_labels(sessions: Sequence[TaskSession]) -> dict[str, str]:
    """Labels every alert of the group shares (what the title can speak of)."""
    if not sessions:
        return {}
    first = sessions[0].labels()
    return {k: v for k, v in first.items() if all(s.labels().get(k) == v for s in sessions[1:])}

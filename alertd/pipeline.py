"""The one place that knows the order: source -> normalize -> state/dedup -> route -> group -> render -> deliver.

``poll`` reads one source and records what is new; ``flush`` turns due groups into rendered
outbox rows. Both take ``now`` from the caller; the I/O lives in the client, store and notifier.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

import structlog

from alertd.config import Config, SourceConfig
from alertd.decide import ActiveSilence, Decision, decide
from alertd.em.filters import all_of, cond, failed_since, successes_for
from alertd.grouping import DueGroup, due_groups, next_check
from alertd.incidents import Incident, vm_key
from alertd.matchers import MatcherError, parse_matcher
from alertd.model import MATCHER_LABELS, AlertGroup, GroupKind, RenderedMessage, TaskSession
from alertd.records import ts
from alertd.render import Renderer, TemplateError
from alertd.routing import Route, compile_routes
from alertd.store import OpenMember, PlannedDelivery, PlannedMessage, StateError, Store
from alertd.timeintervals import any_active
from alertd.window import advance, poll_window, prune_before

#: Above this many open VMs in one job, ask EM for the job's successes instead of naming each VM.
SUCCESS_QUERY_MAX_VMS = 40
#: Forgotten state is pruned at most this often per source (pruning scans; polls should not).
PRUNE_INTERVAL = timedelta(minutes=10)
#: An incident whose last failure is older than this is no longer watched for a success (a VM
#: deleted from the job would otherwise cost a query on every poll forever).
INCIDENT_WATCH = timedelta(days=30)

log = structlog.get_logger(__name__)

Kind = Literal["chat", "email"]


class SessionSource(Protocol):
    """Reads task sessions from one EM (the EM client)."""

    async def query_task_sessions(self, filter: str, *, sort_asc: str = "EndTime") -> list[TaskSession]: ...


class PipelineMetrics(Protocol):
    """The counters the pipeline reports to."""

    def poll_done(self, source: str, ok: bool, seconds: float, error_kind: str | None) -> None: ...
    def alerts(self, source: str, result: str, count: int) -> None: ...
    def unrouted(self, source: str, count: int) -> None: ...
    def silenced(self, source: str, count: int) -> None: ...
    def recovered_on_retry(self, source: str, count: int) -> None: ...
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
        self.routes_by_key = {r.key: r for r in self.routes}
        self._warned: set[str] = set()
        self._last_prune: dict[str, datetime] = {}
        #: When a group not yet due may become due (the daemon sleeps until then or new data).
        self.next_check: datetime | None = None
        self.intervals = cfg.intervals()
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
        for odd in (s for s in sessions if s.state == "Completed" and s.end_time is None):
            log.warning(
                "session_without_end_time", source=source.name, uid=odd.uid, vm=odd.vm, note="skipped"
            )
        watched = {
            k: inc
            for k, inc in self.store.incidents(source.name).items()
            if inc.last_failure is None or now - inc.last_failure <= INCIDENT_WATCH
        }
        successes = await self._successes(client, watched, self._held(source.name))
        # Everything below runs without an await until record_poll commits. The flush loop may
        # have changed incidents or held alerts while EM answered: decide on what is true now.
        fresh = self.store.unseen(source.name, final)
        open_incidents = self.store.incidents(source.name)
        held = self._held(source.name)
        keys = {(s.job_name, vm_key(s)) for s in fresh} - open_incidents.keys()
        incidents = {**open_incidents, **self.store.incidents(source.name, keys)}
        decision = decide(
            failures=fresh,
            successes=successes,
            incidents=incidents,
            open_members=held,
            silences=self._active_silences(now),
            routes=self.routes,
            flapping=self.cfg.flapping,
            now=now,
        )
        new_watermark = advance(
            watermark, window, source.overlap, (s.end_time for s in final if s.end_time), now
        )
        added = self.store.record_poll(
            source.name,
            decision.record,
            new_watermark,
            now,
            prune_before=self._prune_due(source.name, new_watermark, source.overlap, now),
            keep_history=self.cfg.state.keep_history,
        )
        self._report(source.name, decision, new_watermark, now)
        if added:
            log.info(
                "alerts_new",
                source=source.name,
                new=added,
                read=len(sessions),
                window_start=window.start.isoformat(),
            )
        return PollResult(source.name, True, read=len(sessions), new=added)

    def _prune_due(
        self, source: str, watermark: datetime, overlap: timedelta, now: datetime
    ) -> datetime | None:
        """Where to prune this poll, or None: pruning runs at most every PRUNE_INTERVAL per source."""
        last = self._last_prune.get(source)
        if last is not None and now - last < PRUNE_INTERVAL:
            return None
        self._last_prune[source] = now
        return prune_before(watermark, overlap)

    def _held(self, source: str) -> list[OpenMember]:
        """Open alerts of ``source`` held for Veeam's own retry."""
        return [
            m for m in self.store.open_members() if m.session.source == source and m.hold_until is not None
        ]

    async def _successes(
        self, client: SessionSource, incidents: Mapping[tuple[str, str], Incident], held: Sequence[OpenMember]
    ) -> list[TaskSession]:
        """Successful sessions of VMs with an open incident or a held alert, one query per job.

        The cost stays proportional to what is open: a job with few open VMs names them; a job
        with many asks for the job's successes since the oldest open failure.
        """
        wanted: dict[str, dict[str, datetime]] = {}
        for inc in incidents.values():
            since = inc.last_failure or inc.last_success
            if since is not None:
                vms = wanted.setdefault(inc.job_name, {})
                vms[inc.vm] = min(since, vms.get(inc.vm, since))
        for member in held:
            end = member.session.end_time or member.session.creation_time
            vms = wanted.setdefault(member.job_name, {})
            vms[member.session.vm] = min(end, vms.get(member.session.vm, end))
        found: list[TaskSession] = []
        for job, vms in wanted.items():
            since = min(vms.values())
            if len(vms) > SUCCESS_QUERY_MAX_VMS:
                job_wide = all_of(
                    cond("State", "==", "Completed"),
                    cond("Result", "==", "Success"),
                    cond("JobName", "==", job),
                    cond("EndTime", ">", since),
                )
                found += await client.query_task_sessions(job_wide)
                continue
            names = sorted(vms)
            for i in range(0, len(names), SUCCESS_QUERY_MAX_VMS):
                chunk = names[i : i + SUCCESS_QUERY_MAX_VMS]
                found += await client.query_task_sessions(successes_for(chunk, job, since))
        return [
            s for s in found if s.state == "Completed" and s.result == "Success" and s.end_time is not None
        ]

    def _active_silences(self, now: datetime) -> list[ActiveSilence]:
        """Silences in force now, read each poll so the CLI's changes apply without a restart."""
        active = []
        for silence in self.store.silences():
            if not silence.active(now):
                continue
            try:
                matchers = tuple(parse_matcher(m, MATCHER_LABELS) for m in silence.matchers)
            except MatcherError as err:
                log.warning("silence_invalid", silence=silence.id, error=str(err))
                continue
            active.append(ActiveSilence(silence.id, matchers, silence.until_resolved))
        return active

    def _report(self, source: str, decision: Decision, watermark: datetime, now: datetime) -> None:
        """Log and count what the decision did that no message will show."""
        for session in decision.unrouted:
            log.warning(
                "alert_unrouted",
                source=source,
                uid=session.uid,
                vm=session.vm,
                job=session.job_name,
                note="no route matched; add a catch-all route",
            )
        for session, silence_id in decision.silenced:
            log.info("alert_silenced", source=source, uid=session.uid, vm=session.vm, silence=silence_id)
        for session in decision.recovered_on_retry:
            log.info(
                "alert_recovered_on_retry",
                source=source,
                uid=session.uid,
                vm=session.vm,
                job=session.job_name,
            )
        for session, route_key in decision.lost_routes:
            log.warning(
                "resolved_route_gone",
                source=source,
                vm=session.vm,
                job=session.job_name,
                route=route_key,
                note="the route that alerted this VM is no longer configured; its recovery is not announced",
            )
        for silence_id, reason in decision.record.expire_silences:
            log.info("silence_expired", silence=silence_id, reason=reason)
        if self.metrics is None:
            return
        self.metrics.watermark(source, watermark, now)
        if decision.unrouted:
            self.metrics.unrouted(source, len(decision.unrouted))
        if decision.silenced:
            self.metrics.silenced(source, len(decision.silenced))
        if decision.recovered_on_retry:
            self.metrics.recovered_on_retry(source, len(decision.recovered_on_retry))
        for result in ("Failed", "Warning"):
            count = sum(
                1 for s, status, _ in decision.record.alerts if s.result == result and status != "success"
            )
            if count:
                self.metrics.alerts(source, result, count)

    def flush(self, now: datetime, *, flush_all: bool = False) -> int:
        """Render every due group into outbox rows; returns how many messages were written."""
        written = 0
        members = self.store.open_members()
        due = due_groups(members, now, flush_all=flush_all, muted=self._muted)
        flushed = {m.id for group in due for m in group.members}
        self.next_check = next_check([m for m in members if m.id not in flushed], now, muted=self._muted)
        for group in due:
            try:
                messages = self._plan(group)
                if messages is None:
                    continue
                self.store.flush_group(
                    group.key, [m.id for m in group.members], messages, now, self._alerted(group)
                )
            except StateError as err:
                log.error("group_flush_failed", group=group.key, error=str(err))
                continue
            except Exception as err:  # one bad group must not hold up the others; it is retried
                log.exception("group_flush_crashed", group=group.key, error=repr(err))
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

    def _muted(self, route_key: str, now: datetime) -> bool:
        """The route is inside one of its mute_time_intervals (its groups wait for the window to end)."""
        route = self.routes_by_key.get(route_key)
        if route is None or not route.mute_time_intervals:
            return False
        return any_active(self.intervals, route.mute_time_intervals, now)

    def _alerted(self, group: DueGroup) -> list[tuple[str, str, str, str, str]]:
        """Incidents this flush tells someone about through a route that will announce the recovery."""
        return [
            (
                m.session.source,
                m.job_name,
                m.vm_key,
                m.route,
                ts(m.session.end_time or m.session.creation_time),
            )
            for m in group.members
            if m.kind is GroupKind.FIRING
            and m.route in self.routes_by_key
            and self.routes_by_key[m.route].send_resolved
        ]

    def _receivers(self, group: DueGroup) -> list[str] | None:
        """Who gets the group: its receivers, a missing one replaced by delivery.fallback.

        None when a receiver has no targets any more (removed on reload) and there is no fallback:
        the group then stays open, to go out once the configuration names the receiver again.
        """
        fallback = self.cfg.delivery.fallback
        chosen: list[str] = []
        for receiver in group.receivers:
            if self.targets.get(receiver):
                name = receiver
            elif fallback is not None and self.targets.get(fallback):
                name = fallback
            else:
                name = None
            if name != receiver and group.key not in self._warned:
                self._warned.add(group.key)
                log.warning(
                    "receiver_missing",
                    receiver=receiver,
                    group=group.key,
                    fallback=name,
                    note="sent to delivery.fallback"
                    if name
                    else "kept until the receiver is configured again",
                )
            if name is None:
                return None
            if name not in chosen:
                chosen.append(name)
        return chosen

    def _plan(self, group: DueGroup) -> list[PlannedMessage] | None:
        receivers = self._receivers(group)
        if receivers is None:
            return None
        sessions = _ordered(tuple(m.session for m in group.members))
        kind = group.members[0].kind
        details = {m.session.uid: m.detail for m in group.members}
        planned = []
        for receiver in receivers:
            sent_before, alerts_before = self.store.group_history(group.key, receiver)
            alert_group = AlertGroup(
                key=group.key,
                receiver=receiver,
                alerts=sessions,
                sequence=sent_before + 1,
                earlier_count=alerts_before,
                labels=_common_labels(sessions),
                kind=kind,
                details=details,
            )
            planned.append(
                plan_message(
                    receiver,
                    self.targets.get(receiver, ()),
                    self.renderer,
                    functools.partial(_render_group, alert_group),
                    sequence=sent_before + 1,
                    alert_count=len(sessions),
                )
            )
        return planned


_DEFAULT_RENDERER = Renderer()


def _render_group(group: AlertGroup, renderer: Renderer, kind: Kind) -> RenderedMessage:
    return renderer.render(group, kind)


def plan_message(
    receiver: str,
    targets: Sequence[TargetInfo],
    renderer: Renderer,
    render: Callable[[Renderer, Kind], RenderedMessage],
    *,
    sequence: int = 1,
    alert_count: int = 0,
) -> PlannedMessage:
    """One message to every target of ``receiver``, rendered once per kind of target.

    A broken template override falls back to the default templates, loudly: a message must not
    be lost to a template.
    """
    rendered: dict[Kind, RenderedMessage] = {}
    deliveries = []
    for target in targets:
        if target.kind not in rendered:
            try:
                rendered[target.kind] = render(renderer, target.kind)
            except TemplateError as err:
                log.error(
                    "template_failed",
                    receiver=receiver,
                    template=err.template,
                    error=str(err),
                    note="sent with the default template; fix the receiver's templates directory",
                )
                rendered[target.kind] = render(_DEFAULT_RENDERER, target.kind)
        deliveries.append(PlannedDelivery(receiver, target.name, rendered[target.kind]))
    title = next(iter(rendered.values())).title if rendered else receiver
    return PlannedMessage(receiver, sequence, alert_count, title, tuple(deliveries))


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

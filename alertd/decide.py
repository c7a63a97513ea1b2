"""The decision core: what one poll's new failures and successes mean. Pure.

Given the new Failed/Warning sessions, the successes seen for VMs with open incidents, the
incidents, the open (held) group members and the active silences, it decides, with ``now`` as an
argument, which alerts to record and how (routed, silenced, flapping, unrouted), which group
members to create (firing, resolved, recovered on retry, flapping), which held members to close
(recovered on Veeam's retry, or merged into a newer failed attempt), and which silences end.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from alertd.config import FlappingConfig
from alertd.incidents import (
    Incident,
    IncidentKey,
    flap_announced,
    incident_key,
    on_failure,
    on_first_failure,
    on_success,
    owed_routes,
)
from alertd.matchers import Matcher
from alertd.model import AlertDetail, GroupKind, TaskSession
from alertd.records import (
    AlertStatus,
    CloseReason,
    NewMember,
    Notified,
    OpenMember,
    PollRecord,
    RecordedAlert,
    SilenceEnd,
)
from alertd.routing import Route, RouteMatcher

#: Labels that say *what* a silence is about; ``--until-resolved`` ends when that thing succeeds.
SUBJECT_LABELS = frozenset({"source", "backup_server", "job_name", "vm"})


@dataclass(frozen=True, slots=True)
class ActiveSilence:
    """A silence in force, with parsed matchers."""

    id: int
    matchers: tuple[Matcher, ...]
    until_resolved: bool

    def matches(self, labels: Mapping[str, str]) -> bool:
        """All matchers match (a silence always has at least one)."""
        return all(m.matches(labels) for m in self.matchers)

    def resolved_by(self, labels: Mapping[str, str]) -> bool:
        """A success with these labels ends this until-resolved silence."""
        subject = [m for m in self.matchers if m.name in SUBJECT_LABELS]
        return self.until_resolved and bool(subject) and all(m.matches(labels) for m in subject)


@dataclass
class Decision:
    """The outcome of one poll: the store record plus counts for logs and metrics."""

    record: PollRecord = field(default_factory=PollRecord)
    unrouted: list[TaskSession] = field(default_factory=list)
    silenced: list[tuple[TaskSession, int]] = field(default_factory=list)
    recovered_on_retry: list[TaskSession] = field(default_factory=list)
    lost_routes: list[tuple[TaskSession, str]] = field(default_factory=list)
    late: list[tuple[TaskSession, timedelta]] = field(default_factory=list)

    def add(self, session: TaskSession, status: AlertStatus, members: Sequence[NewMember] = ()) -> None:
        """Remember ``session`` with what became of it."""
        self.record.alerts.append(RecordedAlert(session, status, tuple(members)))


def _group_key(kind: GroupKind, route: Route, labels: Mapping[str, str]) -> str:
    key = route.group_key(labels)
    return key if kind is GroupKind.FIRING else f"{kind.value}|{key}"


def decide(
    *,
    failures: Sequence[TaskSession],
    successes: Sequence[TaskSession],
    incidents: Mapping[IncidentKey, Incident],
    open_members: Sequence[OpenMember],
    silences: Sequence[ActiveSilence],
    routes: Sequence[Route],
    flapping: FlappingConfig,
    now: datetime,
    notified: Mapping[IncidentKey, Sequence[Notified]] | None = None,
    late: Mapping[str, timedelta] | None = None,
    skew: timedelta = timedelta(0),
) -> Decision:
    """Fold the poll's events, oldest first, into a Decision.

    ``notified`` holds, per incident, the alerts already sent through routes owed a recovery;
    ``late`` the sessions (by UID) that reached alertd late, and how late; ``skew`` is the
    source's clock minus alertd's, so a retry hold counted from an EndTime (the source's clock)
    ends at the right instant on alertd's.
    """
    fold = _Fold(
        decision=Decision(),
        state=dict(incidents),
        notified=notified or {},
        late=late or {},
        skew=skew,
        held=[
            _Held(m.key, m.route, m.session, m.detail.attempts, m.hold_until + skew, member_id=m.id)
            for m in open_members
            if m.hold_until is not None and m.kind is GroupKind.FIRING
        ],
        silences=silences,
        routes=routes,
        flapping=flapping,
    )
    events = sorted(
        [(s.end_time or now, 0, s) for s in failures] + [(s.end_time or now, 1, s) for s in successes],
        key=lambda e: (e[0], e[1], e[2].uid),
    )
    for _, is_success, session in events:
        key = incident_key(session)
        if is_success:
            fold.success(key, session)
        else:
            fold.failure(key, session)
    fold.decision.record.incidents = {k: v for k, v in fold.state.items() if incidents.get(k) != v}
    return fold.decision


@dataclass
class _Held:
    """A failure held for Veeam's own retry: a stored member, or one created earlier in this fold."""

    key: IncidentKey
    route: str
    session: TaskSession
    attempts: int
    #: When the hold ends, on the source's clock: only a retry ending by then counts as one.
    until: datetime
    member_id: int | None = None  # stored
    alert: int | None = None  # index of the RecordedAlert (created in this fold)
    open: bool = True


@dataclass
class _Fold:
    """The running state of one decide() call."""

    decision: Decision
    state: dict[IncidentKey, Incident]
    notified: Mapping[IncidentKey, Sequence[Notified]]
    late: Mapping[str, timedelta]
    skew: timedelta
    held: list[_Held]
    silences: Sequence[ActiveSilence]
    routes: Sequence[Route]
    flapping: FlappingConfig
    by_key: dict[str, Route] = field(default_factory=dict)
    matcher: RouteMatcher = field(init=False)

    def __post_init__(self) -> None:
        self.by_key = {r.key: r for r in self.routes}
        self.matcher = RouteMatcher(self.routes)

    def failure(self, key: IncidentKey, session: TaskSession) -> None:
        """Fold one new Failed/Warning session."""
        current = self.state.get(key)
        if current is None:
            incident, effect = on_first_failure(session, key)
        else:
            incident, effect = on_failure(current, session, self.flapping)
        self.state[key] = incident
        if session.uid in self.late:
            self.decision.late.append((session, self.late[session.uid]))
        labels = session.labels()  # a new dict each call
        labels["streak"] = str(effect.streak)
        if self.silences:
            silence = next((s for s in self.silences if s.matches(labels)), None)
            if silence is not None:
                self.decision.add(session, AlertStatus.SILENCED)
                self.decision.silenced.append((session, silence.id))
                return
        if effect.muted_by_flapping:
            self.decision.add(session, AlertStatus.FLAPPING)
            return
        matched = self.matcher.match(labels)
        if not matched:
            self.decision.add(session, AlertStatus.UNROUTED)
            self.decision.unrouted.append(session)
            return
        kind = GroupKind.FLAPPING if effect.flap_started else GroupKind.FIRING
        if effect.flap_started:
            self.state[key] = flap_announced(incident)
        members = []
        index = len(self.decision.record.alerts)
        end = session.end_time or session.creation_time
        for route in matched:
            attempts = 1
            for held in self._open_held(key, end, route.key):
                # Veeam retried and failed again: one alert for the VM, counting the attempts.
                self._close(held, CloseReason.MERGED)
                attempts = max(attempts, held.attempts + 1)
            hold = None
            if route.wait_for_retry is not None and kind is GroupKind.FIRING and session.result == "Failed":
                hold = end + route.wait_for_retry - self.skew
                self.held.append(
                    _Held(key, route.key, session, attempts, end + route.wait_for_retry, alert=index)
                )
            detail = AlertDetail(attempts=attempts, streak=effect.streak, late_by=self.late.get(session.uid))
            members.append(_member(kind, route, labels, session, key, detail, hold))
        self.decision.add(session, AlertStatus.ROUTED, members)

    def success(self, key: IncidentKey, session: TaskSession) -> None:
        """Fold one success of a VM with an open incident or a held alert."""
        current = self.state.get(key)
        if current is None:
            return
        owed = owed_routes(current, ((n.route, n.alert_end) for n in self.notified.get(key, ())))
        incident, effect = on_success(current, session, self.flapping)
        self.state[key] = incident
        if effect.stale:
            return
        labels = {**session.labels(), "streak": "0"}
        for silence in self.silences:
            if silence.resolved_by(labels):
                self.decision.record.expire_silences.append((silence.id, SilenceEnd.RESOLVED))
        members: list[NewMember] = []
        end = session.end_time
        for held in self._open_held(key, end):
            if end is not None and held.session.end_time is not None and held.session.end_time >= end:
                continue
            self._close(held, CloseReason.RECOVERED)
            self.decision.recovered_on_retry.append(held.session)
            route = self.by_key.get(held.route)
            if route is not None and route.notify_recovered_on_retry:
                members.append(
                    _member(GroupKind.RECOVERED_ON_RETRY, route, labels, session, key, AlertDetail())
                )
        if effect.recovered and end is not None:
            self.decision.record.settled.append((key, end))
        for route_key in owed if effect.announce else ():
            alerted_route = self.by_key.get(route_key)
            if alerted_route is None:
                self.decision.lost_routes.append((session, route_key))
                continue
            detail = AlertDetail(streak=0, failed_runs=effect.failed_runs, since=effect.since)
            members.append(_member(GroupKind.RESOLVED, alerted_route, labels, session, key, detail))
        if members:
            self.decision.add(session, AlertStatus.SUCCESS, members)

    def _open_held(self, key: IncidentKey, at: datetime | None, route: str | None = None) -> list[_Held]:
        """Held failures of ``key`` (on ``route``) whose hold still covers a retry ending ``at``."""
        return [
            h
            for h in self.held
            if h.open
            and h.key == key
            and (route is None or h.route == route)
            and (at is None or at <= h.until)
        ]

    def _close(self, held: _Held, reason: CloseReason) -> None:
        """Close a held failure: a stored member is closed in the state, one of this fold is dropped."""
        held.open = False
        if held.member_id is not None:
            self.decision.record.closes.append((held.member_id, reason))
            return
        assert held.alert is not None
        alerts = self.decision.record.alerts
        alert = alerts[held.alert]
        kept = tuple(m for m in alert.members if m.route != held.route)
        alerts[held.alert] = replace(alert, members=kept)


def _member(
    kind: GroupKind,
    route: Route,
    labels: Mapping[str, str],
    session: TaskSession,
    key: IncidentKey,
    detail: AlertDetail,
    hold_until: datetime | None = None,
) -> NewMember:
    """One group member of ``session`` for ``route``."""
    return NewMember(
        session.uid,
        _group_key(kind, route, labels),
        route.receivers,
        route.group_wait,
        route=route.key,
        kind=kind,
        hold_until=hold_until,
        detail=detail,
        job_key=key[0],
        vm_key=key[1],
    )

"""What the state database holds, as value objects and named reasons. Pure.

The core decides in these terms (a ``PollRecord`` of new alerts, group members and closes) and
the state layer (`alertd.state`) stores and returns them. Every status and reason is an enum, so a
stored row and a log line say *why* in words that cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from alertd.incidents import Incident, IncidentKey
from alertd.model import AlertDetail, GroupKind, JobRun, RenderedMessage, TaskSession


class AlertStatus(StrEnum):
    """What became of a Failed/Warning session (or a success that produced messages)."""

    ROUTED = "routed"  # matched routes: group members wait to be sent
    SILENCED = "silenced"  # a silence matched: recorded, never sent
    FLAPPING = "flapping"  # the VM is flapping and its Flapping message went out: kept quiet
    UNROUTED = "unrouted"  # no route matched: logged and counted, never sent
    SUCCESS = "success"  # a success that resolves or recovers alerted failures


class CloseReason(StrEnum):
    """Why an open group member was closed without a message of its own."""

    MERGED = "merged"  # Veeam retried and failed again: the newer attempt carries this one
    RECOVERED = "recovered"  # Veeam's own retry succeeded within the hold


class SilenceEnd(StrEnum):
    """Why a silence ended before (or without) its end time."""

    RESOLVED = "resolved"  # --until-resolved: the silenced VM or job succeeded
    EXPIRED = "expired"  # ended by hand (alertd silence expire)


class DeliveryStatus(StrEnum):
    """Where an outbox row stands."""

    PENDING = "pending"
    SENT = "sent"
    DEAD = "dead"  # given up: permanent error, or retry_for passed
    REMOVED = "removed"  # its URL was removed from the configuration; closed or moved (see last_error)


@dataclass(frozen=True, slots=True)
class NewMember:
    """One (alert, route) pair that waits to be grouped into a message."""

    uid: str
    group_key: str
    receivers: tuple[str, ...]
    group_wait: timedelta
    route: str = ""
    kind: GroupKind = GroupKind.FIRING
    hold_until: datetime | None = None
    detail: AlertDetail = field(default_factory=AlertDetail)
    job_key: str = ""
    vm_key: str = ""


@dataclass(frozen=True, slots=True)
class OpenMember:
    """A pending group member as stored, with its alert."""

    id: int
    session: TaskSession
    group_key: str
    receivers: tuple[str, ...]
    group_wait: timedelta
    added_at: datetime
    route: str = ""
    kind: GroupKind = GroupKind.FIRING
    hold_until: datetime | None = None
    detail: AlertDetail = field(default_factory=AlertDetail)
    job_key: str = ""
    vm_key: str = ""

    @property
    def key(self) -> IncidentKey:
        """The incident this member's alert belongs to."""
        return self.job_key, self.vm_key

    @property
    def due_at(self) -> datetime:
        """When this member's group may be sent, as far as this member is concerned."""
        return self.added_at + self.group_wait


@dataclass(frozen=True, slots=True)
class Silence:
    """A stored silence."""

    id: int
    matchers: tuple[str, ...]
    comment: str
    created_by: str
    created_at: datetime
    ends_at: datetime | None
    until_resolved: bool
    expired_at: datetime | None
    expired_reason: str | None

    def active(self, now: datetime) -> bool:
        """In force at ``now``."""
        return self.expired_at is None and (self.ends_at is None or self.ends_at > now)


@dataclass(frozen=True, slots=True)
class RecordedAlert:
    """A session to remember (by UID), what became of it, and the group members it starts."""

    session: TaskSession
    status: AlertStatus
    members: tuple[NewMember, ...] = ()


@dataclass(frozen=True, slots=True)
class Notified:
    """A firing alert of an incident that went out through a route announcing recoveries.

    The recovery of that incident is owed to ``route``; ``alert_end`` (the alert's EndTime) says
    which incident it was, so a promise made to an incident that has since ended is not passed on
    to the VM's next one.
    """

    source: str
    key: IncidentKey
    route: str
    alert_end: datetime


@dataclass(frozen=True, slots=True)
class SourceCursor:
    """How far a source has been read (see `alertd.window`): the watermark, the horizon no read
    goes before, and when the last reconciliation sweep ran. All on the source's clock."""

    watermark: datetime | None = None
    horizon: datetime | None = None
    last_sweep: datetime | None = None


@dataclass(frozen=True, slots=True)
class PollState:
    """The state one poll's decision reads, taken inside the transaction that records it."""

    cursor: SourceCursor
    seen: frozenset[str]
    incidents: dict[IncidentKey, Incident]
    notified: dict[IncidentKey, tuple[Notified, ...]]
    held: tuple[OpenMember, ...]
    silences: tuple[Silence, ...]


@dataclass
class PollRecord:
    """Everything one successful poll changes, written in one transaction."""

    alerts: list[RecordedAlert] = field(default_factory=list)
    closes: list[tuple[int, CloseReason]] = field(default_factory=list)
    incidents: dict[IncidentKey, Incident] = field(default_factory=dict)
    #: Recoveries announced (or incidents ended): their Notified rows up to that EndTime go.
    settled: list[tuple[IncidentKey, datetime]] = field(default_factory=list)
    expire_silences: list[tuple[int, SilenceEnd]] = field(default_factory=list)
    #: Alias keys whose incidents moved to their session's own key (see `alertd.incidents.alias_keys`).
    retired: list[tuple[IncidentKey, IncidentKey]] = field(default_factory=list)
    #: Job runs read this poll, cached so each is read once.
    job_runs: list[JobRun] = field(default_factory=list)
    #: Per job key: successes were read up to this instant.
    checked: dict[str, datetime] = field(default_factory=dict)
    cursor: SourceCursor | None = None
    prune_before: datetime | None = None


@dataclass(frozen=True, slots=True)
class WatchRow:
    """A job with an open incident or a held alert, and the EndTime from which its successes matter.

    ``checked_until``: where the last successful success query of this job stopped (None: never).
    """

    job_key: str
    job_name: str
    since: datetime
    checked_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class GroupDue:
    """One open group as the flush sees it before loading its members."""

    key: str
    route: str
    due_at: datetime
    hold_until: datetime | None


@dataclass(frozen=True, slots=True)
class PlannedDelivery:
    """A rendered message for one target, to be written to the outbox."""

    receiver: str
    target: str
    message: RenderedMessage


@dataclass(frozen=True, slots=True)
class PlannedMessage:
    """One message of a group flush to one receiver, with its per-target deliveries."""

    receiver: str
    sequence: int
    alert_count: int
    title: str
    deliveries: tuple[PlannedDelivery, ...]


@dataclass(frozen=True, slots=True)
class FlushPlan:
    """What flushing one group writes: its messages, and the recoveries now owed."""

    group_key: str
    member_ids: tuple[int, ...]
    messages: tuple[PlannedMessage, ...]
    notified: tuple[Notified, ...] = ()


@dataclass(frozen=True, slots=True)
class Delivery:
    """An outbox row."""

    id: int
    message_id: int
    receiver: str
    target: str
    message: RenderedMessage
    status: DeliveryStatus
    attempts: int
    created_at: datetime
    last_error: str | None

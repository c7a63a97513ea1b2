"""Rows of the state database as value objects, and their JSON encodings. Pure."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from alertd.incidents import Incident
from alertd.model import AlertDetail, GroupKind, RenderedMessage, TaskSession


def ts(value: datetime) -> str:
    """A datetime as stored: ISO 8601 in UTC."""
    return value.astimezone(UTC).isoformat()


def dt(value: str) -> datetime:
    """Inverse of ``ts``."""
    return datetime.fromisoformat(value)


def _fields(obj: object) -> dict[str, Any]:
    """A flat dataclass as a dict (dataclasses.asdict deep-copies every value: 60 % of a poll's overhead)."""
    return {f.name: getattr(obj, f.name) for f in fields(obj)}  # type: ignore[arg-type]


def session_to_json(session: TaskSession) -> str:
    """Serialize a TaskSession for the alerts table."""
    data = _fields(session)
    for key in ("creation_time", "end_time"):
        if data[key] is not None:
            data[key] = ts(data[key])
    return json.dumps(data, separators=(",", ":"))


def session_from_json(text: str) -> TaskSession:
    """Inverse of ``session_to_json``."""
    data = json.loads(text)
    for key in ("creation_time", "end_time"):
        if data[key] is not None:
            data[key] = dt(data[key])
    return TaskSession(**data)


def detail_to_json(detail: AlertDetail) -> str:
    data = _fields(detail)
    data["since"] = ts(detail.since) if detail.since else None
    return json.dumps(data, separators=(",", ":"))


def detail_from_json(text: str | None) -> AlertDetail:
    if not text:
        return AlertDetail()
    data = json.loads(text)
    data["since"] = dt(data["since"]) if data.get("since") else None
    return AlertDetail(**data)


_INCIDENT_TIMES = ("first_failure", "last_failure", "last_success")


def incident_to_json(inc: Incident) -> str:
    data = _fields(inc)
    for key in _INCIDENT_TIMES:
        data[key] = ts(data[key]) if data[key] else None
    data["alerted_routes"] = list(inc.alerted_routes)
    data["result_times"] = [ts(t) for t in inc.result_times]
    return json.dumps(data, separators=(",", ":"))


def incident_from_json(text: str) -> Incident:
    data = json.loads(text)
    for key in _INCIDENT_TIMES:
        data[key] = dt(data[key]) if data[key] else None
    data["alerted_routes"] = tuple(data["alerted_routes"])
    data["result_times"] = tuple(dt(t) for t in data.get("result_times", ()))
    return Incident(**data)


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
    job_name: str = ""
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
    job_name: str = ""
    vm_key: str = ""


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


@dataclass
class PollRecord:
    """Everything one successful poll changes, written in one transaction."""

    alerts: list[tuple[TaskSession, str, list[NewMember]]] = field(default_factory=list)
    closes: list[tuple[int, str]] = field(default_factory=list)
    incidents: dict[tuple[str, str], Incident] = field(default_factory=dict)
    expire_silences: list[tuple[int, str]] = field(default_factory=list)


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
class Delivery:
    """An outbox row."""

    id: int
    message_id: int
    receiver: str
    target: str
    message: RenderedMessage
    status: str
    attempts: int
    created_at: datetime
    last_error: str | None

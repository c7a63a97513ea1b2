"""Decode Enterprise Manager response bodies (QueryResult, Error, LogonSession) into values.

This module owns the mapping from EM's fields (reference §1.2, §2.3, §3, §5) to
`alertd.model.TaskSession` and a few small result types; `alertd.em._wire` owns the XML/JSON
parsing underneath. It is pure: bytes in, values out. XML and JSON are told apart by their
first byte, since EM may answer an error in XML whatever the Accept header asked for.

Contract: anything malformed raises `DecodeError` and nothing else. A single unusable entity
(no UID, no readable CreationTimeUTC, no State or Result) is skipped and reported in
`TaskSessionPage.skipped` for the caller to log; a page whose structure is broken raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from alertd.em._wire import DecodeError, Fields, RawEntity, read_query, read_root
from alertd.model import Result, TaskSession

__all__ = [
    "DecodeError",
    "EMErrorBody",
    "LogonSession",
    "PageInfo",
    "SkippedEntity",
    "TaskSessionPage",
    "decode_error",
    "decode_logon_session",
    "decode_task_sessions",
    "parse_time",
]

_RESULTS = {r.value.lower(): r.value for r in Result}
_STATES = {s.lower(): s for s in ("InProgress", "Pending", "Completed")}
# EM writes 0 to 6 fraction digits and "Z"; more digits (.NET's 7) are truncated, an offset is
# honoured, and a missing zone means UTC because every field read here is named *UTC.
_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.([0-9]{1,9}))?(Z|[+-][0-9]{2}:?[0-9]{2})?"
)
_INT = re.compile(r"-?[0-9]{1,19}")
# Unset dates read as SQL's minimum 1753-01-01; no real session predates 1900.
_FIRST_REAL_YEAR = 1900


@dataclass(frozen=True, slots=True)
class PageInfo:
    """EM's PagingInfo: which page this is, its size, and how many pages the query has."""

    page_num: int
    page_size: int
    pages_count: int


@dataclass(frozen=True, slots=True)
class SkippedEntity:
    """An entity left out of a page because it cannot become a TaskSession, and why."""

    uid: str | None
    reason: str


class TaskSessionPage(NamedTuple):
    """One decoded QueryResult page: ``sessions, page, skipped = decode_task_sessions(...)``."""

    sessions: list[TaskSession]
    page: PageInfo
    skipped: list[SkippedEntity]


@dataclass(frozen=True, slots=True)
class EMErrorBody:
    """EM's ``Error`` body: its Message and StatusCode, either of which may be absent."""

    message: str | None
    status_code: int | None


@dataclass(frozen=True, slots=True)
class LogonSession:
    """The parts of a LogonSession body the client needs; the token itself is a response header."""

    session_id: str
    user_name: str | None


class _Unusable(Exception):
    """Raised inside entity building; becomes a SkippedEntity."""


def decode_task_sessions(body: bytes, *, source: str) -> TaskSessionPage:
    """Decode a BackupTaskSession ``format=Entities`` QueryResult page; sessions get ``source``."""
    raw = read_query(body)
    page = _page_info(raw.paging)
    sessions: list[TaskSession] = []
    skipped: list[SkippedEntity] = []
    for item in raw.entities:
        if isinstance(item, str):
            skipped.append(SkippedEntity(None, item))
            continue
        uid = _str(item.fields, "uid")
        uid = uid.strip() if uid else None
        if not uid:
            skipped.append(SkippedEntity(None, "entity has no UID"))
            continue
        try:
            sessions.append(_task_session(uid, item, source))
        except _Unusable as e:
            skipped.append(SkippedEntity(uid, str(e)))
    return TaskSessionPage(sessions, page, skipped)


def decode_error(body: bytes) -> EMErrorBody:
    """Decode an EM ``Error`` body (XML attributes or JSON keys ``Message`` / ``StatusCode``)."""
    name, fields = read_root(body)
    if name not in ("error", ""):
        raise DecodeError(f"expected an Error body, got <{name}>")
    message = _str(fields, "message") or _str(fields, "firstchanceexceptionmessage")
    code = _int(fields, "statuscode")
    if message is None and code is None:
        raise DecodeError("Error body has neither Message nor StatusCode")
    return EMErrorBody(message, code)


def decode_logon_session(body: bytes) -> LogonSession:
    """Decode a LogonSession body: its SessionId (needed to log off), else the id ending its Href."""
    name, fields = read_root(body)
    if name not in ("logonsession", ""):
        raise DecodeError(f"expected a LogonSession body, got <{name}>")
    session_id = (_str(fields, "sessionid") or "").strip()
    if not session_id:
        _, sep, tail = (_str(fields, "href") or "").rstrip("/").rpartition("/logonSessions/")
        session_id = tail if sep and "/" not in tail else ""
    if not session_id:
        raise DecodeError("LogonSession body has no SessionId")
    return LogonSession(session_id, _str(fields, "username"))


def parse_time(text: str) -> datetime | None:
    """Read an EM ``*TimeUTC`` value into an aware UTC datetime; None for a sentinel (year < 1900).

    Raises ValueError if ``text`` is not such a time.
    """
    m = _TIME.fullmatch(text.strip())
    if m is None:
        raise ValueError(f"not an EM time: {text[:40]!r}")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    if year < _FIRST_REAL_YEAR:
        return None
    micro = int((m.group(7) or "0")[:6].ljust(6, "0"))
    zone = m.group(8) or "Z"
    try:
        value = datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)
        if zone != "Z":
            sign = -1 if zone[0] == "-" else 1
            digits = zone[1:].replace(":", "")
            value -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    except (ValueError, OverflowError) as e:
        raise ValueError(f"not an EM time: {text[:40]!r} ({e})") from e
    return None if value.year < _FIRST_REAL_YEAR else value


def _page_info(paging: Fields | None) -> PageInfo:
    if paging is None:
        raise DecodeError("QueryResult has no PagingInfo")
    values = []
    for key, label in (("pagenum", "PageNum"), ("pagesize", "PageSize"), ("pagescount", "PagesCount")):
        value = _int(paging, key)
        if value is None or value < 0:
            raise DecodeError(f"PagingInfo has no valid {label}")
        values.append(value)
    return PageInfo(*values)


def _task_session(uid: str, item: RawEntity, source: str) -> TaskSession:
    fields = item.fields
    creation = _time(fields, "creationtimeutc", "CreationTimeUTC")
    if creation is None:
        raise _Unusable("entity has no CreationTimeUTC")
    state = _required(fields, "state", "State")
    result = _required(fields, "result", "Result")
    name = _str(fields, "name") or ""
    # VmDisplayName is an attribute on every documented entity; "<vm>@<time>" in Name is only
    # a fallback so that an alert never loses its VM.
    vm = _str(fields, "vmdisplayname") or _before_last_at(name)
    return TaskSession(
        uid=uid,
        name=name,
        vm=vm,
        vm_uid=(_str(fields, "vmuid") or "").strip() or None,
        job_session_uid=(_str(fields, "jobsessionuid") or "").strip(),
        # The job-session link is named "<job name>@<start time>"; job names may contain '@'.
        job_name=_before_last_at(_link_name(item.links, "backupjobsessionreference")),
        backup_server=_link_name(item.links, "backupserverreference"),
        creation_time=creation,
        end_time=_time(fields, "endtimeutc", "EndTimeUTC"),
        state=_STATES.get(state.lower(), state),
        result=_RESULTS.get(result.lower(), result),
        reason=_str(fields, "reason") or "",
        total_size=_int(fields, "totalsize") or 0,
        source=source,
    )


def _before_last_at(name: str) -> str:
    return name.rpartition("@")[0] if "@" in name else name


def _link_name(links: list[Fields], link_type: str) -> str:
    for link in links:
        if (_str(link, "type") or "").strip().lower() == link_type:
            return _str(link, "name") or ""
    return ""


def _str(fields: Fields, key: str) -> str | None:
    """A field as text: strings as they are, numbers written out, anything else absent."""
    value = fields.get(key)
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _int(fields: Fields, key: str) -> int | None:
    """A field as an integer (native, or decimal text as XML carries it); anything else absent."""
    value = fields.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INT.fullmatch(value.strip()):
        return int(value.strip())
    return None


def _required(fields: Fields, key: str, label: str) -> str:
    value = (_str(fields, key) or "").strip()
    if not value:
        raise _Unusable(f"entity has no {label}")
    return value


def _time(fields: Fields, key: str, label: str) -> datetime | None:
    text = _str(fields, key)
    if text is None or not text.strip():
        return None
    try:
        return parse_time(text)
    except ValueError as e:
        raise _Unusable(f"unreadable {label}: {e}") from e

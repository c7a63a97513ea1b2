"""Decode VBR REST API JSON bodies (token, serverTime, sessions, task sessions, Error) into values.

Pure: bytes in, values out. Field names and shapes follow the OpenAPI subsets of revisions
1.2-rev1, 1.3-rev0 and 1.3-rev2 and reference §2.2, §3.3 and §6 (``activityId`` before 1.2-rev1).

Contract: a body whose structure is broken raises `DecodeError` and nothing else. A row that
lacks what alertd needs (an id, a parent session, a readable creationTime) is left out and listed
in ``Page.dropped``; a row kept despite a lesser problem is listed in ``Page.flawed``. Enum values
are treated as open strings (the enums grow every revision, §2.2) and compared case-insensitively.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any, Generic, TypeVar

from alertd.vbr.times import parse_time, split_time

__all__ = [
    "DecodeError",
    "ErrorBody",
    "Page",
    "Pagination",
    "Problem",
    "ServerTime",
    "SessionRow",
    "TaskRow",
    "TokenGrant",
    "decode_error",
    "decode_server_time",
    "decode_session",
    "decode_sessions",
    "decode_task_sessions",
    "decode_token",
]

T = TypeVar("T")
_RESULTS = {r.lower(): r for r in ("None", "Success", "Warning", "Failed")}
# Unset dates (.NET's DateTime.MinValue, or a 1900 sentinel: open question 6) mean "not ended".
_FIRST_REAL_YEAR = 1970


class DecodeError(Exception):
    """A body that is not the JSON document it should be."""


class _Unusable(Exception):
    """A row that cannot be used; becomes a `Problem` in ``Page.dropped``."""


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """A TokenModel. ``expires_in`` is None when missing or not a positive number."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_in: int | None


@dataclass(frozen=True, slots=True)
class ServerTime:
    """A ServerTimeModel. ``offset`` is None when ``serverTime`` carried none (then ``at`` is naive)."""

    at: datetime
    offset: timedelta | None
    time_zone: str | None
    iana: str | None


@dataclass(frozen=True, slots=True)
class ErrorBody:
    """VBR's Error body: ``errorCode`` (an enum) and ``message``, either possibly absent."""

    error_code: str | None
    message: str | None


@dataclass(frozen=True, slots=True)
class Pagination:
    """PaginationResult: ``total`` and ``count`` are required; ``skip``/``limit`` optional."""

    total: int
    count: int
    skip: int | None
    limit: int | None


@dataclass(frozen=True, slots=True)
class Problem:
    """A row with a problem, and what it was."""

    id: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class SessionRow:
    """A SessionModel (one job run, or another operation) with the fields alertd reads."""

    id: str
    name: str
    job_id: str | None
    session_type: str
    creation_time: datetime
    end_time: datetime | None
    state: str
    result: str | None
    message: str
    is_canceled: bool
    parent_session_id: str | None = None
    original_session_id: str | None = None
    retry_number: int | None = None
    has_retry_info: bool = False


@dataclass(frozen=True, slots=True)
class TaskRow:
    """A TaskSessionModel: one object (VM, machine, share) in one session."""

    id: str
    type: str
    session_id: str
    session_type: str
    name: str
    creation_time: datetime
    end_time: datetime | None
    state: str | None
    result: str | None
    message: str
    is_canceled: bool
    processed_size: int = 0


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One decoded page of a collection."""

    rows: list[T]
    pagination: Pagination
    dropped: list[Problem]
    flawed: list[Problem]


def _load(body: bytes) -> Any:
    try:
        return json.loads(body.removeprefix(b"\xef\xbb\xbf").decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise DecodeError(f"not JSON: {e}") from e


def _object(body: bytes, what: str) -> dict[str, Any]:
    doc = _load(body)
    if not isinstance(doc, dict):
        raise DecodeError(f"expected a {what} object, got {type(doc).__name__}")
    return doc


def _text(fields: dict[str, Any], key: str) -> str | None:
    value = fields.get(key)
    return value.strip() if isinstance(value, str) and value.strip() else None


def _int(fields: dict[str, Any], key: str) -> int | None:
    value = fields.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def decode_token(body: bytes) -> TokenGrant:
    """A TokenModel; raises DecodeError without an ``access_token`` (the token never appears in it)."""
    doc = _object(body, "TokenModel")
    access = _text(doc, "access_token")
    if access is None:
        raise DecodeError("TokenModel without access_token")
    expires = _int(doc, "expires_in")
    return TokenGrant(access, _text(doc, "refresh_token"), expires if expires and expires > 0 else None)


def decode_server_time(body: bytes) -> ServerTime:
    """A ServerTimeModel; raises DecodeError when ``serverTime`` is missing or unreadable."""
    doc = _object(body, "ServerTimeModel")
    text = _text(doc, "serverTime")
    if text is None:
        raise DecodeError("ServerTimeModel without serverTime")
    try:
        wall, offset = split_time(text)
    except ValueError as e:
        raise DecodeError(f"serverTime {text[:40]!r} is not a date and time") from e
    at = wall if offset is None else wall.replace(tzinfo=timezone(offset))
    return ServerTime(at, offset, _text(doc, "timeZone"), _text(doc, "ianaTimeZoneId"))


def decode_error(body: bytes) -> ErrorBody | None:
    """The Error body, or None when the body holds none (an empty or non-JSON answer)."""
    try:
        doc = _object(body, "Error")
    except DecodeError:
        return None
    code, message = _text(doc, "errorCode"), _text(doc, "message")
    if code is None and message is None:
        return None
    return ErrorBody(code, message)


def _page(body: bytes, what: str) -> tuple[list[Any], Pagination]:
    doc = _object(body, what)
    data, paging = doc.get("data"), doc.get("pagination")
    if not isinstance(data, list) or not isinstance(paging, dict):
        raise DecodeError(f"{what} without a data array and a pagination object")
    total, count = _int(paging, "total"), _int(paging, "count")
    if total is None or count is None or total < 0 or count < 0:
        raise DecodeError(f"{what} pagination without integer total and count")
    return data, Pagination(total, count, _int(paging, "skip"), _int(paging, "limit"))


def _time(fields: dict[str, Any], key: str, zone: tzinfo, *, required: bool) -> datetime | None:
    text = _text(fields, key)
    if text is None:
        if required:
            raise _Unusable(f"no {key}")
        return None
    try:
        value = parse_time(text, zone)
    except ValueError as e:
        raise _Unusable(f"unreadable {key}: {e}") from e
    return value if value.year >= _FIRST_REAL_YEAR else None


def _result(fields: dict[str, Any]) -> tuple[str | None, str, bool]:
    """SessionResultModel ``{result, message, isCanceled}``; a missing object means no result yet."""
    raw = fields.get("result")
    if not isinstance(raw, dict):
        return None, "", False
    value = _text(raw, "result")
    result = _RESULTS.get(value.lower(), value) if value else None
    return result, _text(raw, "message") or "", raw.get("isCanceled") is True


def _session(item: Any, zone: tzinfo) -> SessionRow:
    if not isinstance(item, dict):
        raise _Unusable("not an object")
    sid = _text(item, "id")
    if sid is None:
        raise _Unusable("no id")
    result, message, canceled = _result(item)
    retry = item.get("retryInfo")
    return SessionRow(
        id=sid.lower(),
        name=_text(item, "name") or "",
        # jobId from 1.2-rev1; activityId in 1.0-rev2 and 1.1-rev0 (reference §2.2, §6).
        job_id=(_text(item, "jobId") or _text(item, "activityId") or "").lower() or None,
        session_type=_text(item, "sessionType") or "",
        creation_time=_time(item, "creationTime", zone, required=True) or _unusable("creationTime"),
        end_time=_time(item, "endTime", zone, required=False),
        state=_text(item, "state") or "",
        result=result,
        message=message,
        is_canceled=canceled,
        parent_session_id=(_text(item, "parentSessionId") or "").lower() or None,
        original_session_id=(_text(item, "originalSessionId") or "").lower() or None,
        retry_number=_int(retry, "retryNumber") if isinstance(retry, dict) else None,
        has_retry_info=isinstance(retry, dict),
    )


def _unusable(key: str) -> datetime:
    raise _Unusable(f"{key} before {_FIRST_REAL_YEAR}")


def _task(item: Any, zone: tzinfo) -> TaskRow:
    if not isinstance(item, dict):
        raise _Unusable("not an object")
    tid, session_id = _text(item, "id"), _text(item, "sessionId")
    if tid is None:
        raise _Unusable("no id")
    if session_id is None:
        raise _Unusable("no sessionId")
    result, message, canceled = _result(item)
    progress = item.get("progress")
    size = _int(progress, "processedSize") if isinstance(progress, dict) else None
    return TaskRow(
        id=tid.lower(),
        type=_text(item, "type") or "",
        session_id=session_id.lower(),
        session_type=_text(item, "sessionType") or "",
        name=_text(item, "name") or "",
        creation_time=_time(item, "creationTime", zone, required=True) or _unusable("creationTime"),
        end_time=_time(item, "endTime", zone, required=False),
        state=_text(item, "state"),
        result=result,
        message=message,
        is_canceled=canceled,
        processed_size=size if size is not None and size >= 0 else 0,
    )


def _rows(items: list[Any], build: Any, zone: tzinfo) -> tuple[list[Any], list[Problem]]:
    rows, dropped = [], []
    for item in items:
        try:
            rows.append(build(item, zone))
        except _Unusable as e:
            rid = _text(item, "id") if isinstance(item, dict) else None
            dropped.append(Problem(rid, str(e)))
    return rows, dropped


def decode_sessions(body: bytes, zone: tzinfo) -> Page[SessionRow]:
    """A SessionsResult page; times without an offset are read in ``zone``."""
    items, paging = _page(body, "SessionsResult")
    rows, dropped = _rows(items, _session, zone)
    return Page(rows, paging, dropped, [])


def decode_session(body: bytes, zone: tzinfo) -> SessionRow:
    """One SessionModel (``GET /api/v1/sessions/{id}``); DecodeError when it is unusable."""
    try:
        return _session(_object(body, "SessionModel"), zone)
    except _Unusable as e:
        raise DecodeError(f"unusable SessionModel: {e}") from e


def decode_task_sessions(body: bytes, zone: tzinfo) -> Page[TaskRow]:
    """A TaskSessionsResult page; an unnamed object is kept (its failure still counts) and flagged."""
    items, paging = _page(body, "TaskSessionsResult")
    rows, dropped = _rows(items, _task, zone)
    flawed = [
        Problem(row.id, "no name")
        for row in rows
        if not row.name and row.type.lower() in ("backup", "replica", "restore")
    ]
    return Page(rows, paging, dropped, flawed)

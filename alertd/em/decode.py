"""Decode Enterprise Manager response bodies (QueryResult, Error, LogonSession, versions) into values.

This module owns the mapping from EM's task-session fields (reference §1.1, §1.2, §2.3, §3, §5)
to `alertd.model.TaskSession` and a few small result types; `alertd.em._wire` owns the XML/JSON
parsing underneath and `alertd.em._fields` the scalar rules. It is pure: bytes in, values out.
XML and JSON are told apart by their first byte, since EM may answer an error in XML whatever
the Accept header asked for.

Contract: anything malformed raises `DecodeError` and nothing else. A page whose structure is
broken raises. Each entity is decoded as far as it can be:

* It is **skipped** (`TaskSessionPage.skipped`) only when it cannot become an alert: no UID (it
  could never be de-duplicated), no known State or Result (a query's answer could be anything),
  or a Completed one without a usable EndTimeUTC (the watermark and the prune horizon run on it),
  or no time at all.
* Otherwise it is **kept**, and every gap is listed in `TaskSessionPage.incomplete`: a missing or
  odd CreationTimeUTC (EndTimeUTC stands in), an unreadable TotalSize (0), a missing
  VmDisplayName (the VM comes from ``Name``), a missing JobSessionUid (taken from the job-session
  link's Href), missing job or backup-server link names (""), a Reason that is not text ("").
  A Failed/Warning session with such gaps is still worth an alert; hiding it would break the
  promise that every failure reaches someone.
* Documented shapes are not gaps: no VmUid (EM 9.x), an empty ``<Reason />`` or null Reason, and
  no EndTimeUTC while a task runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

from alertd.em._fields import (
    LAST_NULL_YEAR,
    before_last_at,
    find_link,
    href_guid,
    int_field,
    link_name,
    parse_time,
    text_field,
    time_field,
)
from alertd.em._raw import DecodeError, Fields, RawEntity
from alertd.em._wire import read_query, read_root, read_versions
from alertd.model import Result, TaskSession

__all__ = [
    "DecodeError",
    "EMErrorBody",
    "IncompleteEntity",
    "LogonSession",
    "PageInfo",
    "SkippedEntity",
    "TaskSessionPage",
    "decode_error",
    "decode_logon_session",
    "decode_task_sessions",
    "decode_versions",
    "page_info",
    "parse_time",
]

# "None" is what a running session shows (reference §6.3); the task value while InProgress is
# unverified (§8), so it is accepted rather than guessed at.
_RESULTS = {r.lower(): r for r in (*(r.value for r in Result), "None")}
_STATES = {s.lower(): s for s in ("InProgress", "Pending", "Completed")}


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


@dataclass(frozen=True, slots=True)
class IncompleteEntity:
    """An entity kept with gaps: its UID and each field that could not be read as EM documents it."""

    uid: str
    problems: tuple[str, ...]


class TaskSessionPage(NamedTuple):
    """One decoded QueryResult page: ``sessions, page, skipped, incomplete = decode_task_sessions(...)``."""

    sessions: list[TaskSession]
    page: PageInfo
    skipped: list[SkippedEntity]
    incomplete: list[IncompleteEntity]


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
    incomplete: list[IncompleteEntity] = []
    for item in raw.entities:
        if isinstance(item, str):
            skipped.append(SkippedEntity(None, item))
            continue
        session = _documented(item, source)
        if session is not None:
            sessions.append(session)
            continue
        uid = (text_field(item.fields, "uid") or "").strip()
        if not uid:
            skipped.append(SkippedEntity(None, "entity has no UID"))
            continue
        problems: list[str] = []
        try:
            sessions.append(_task_session(uid, item, source, problems))
        except _Unusable as e:
            skipped.append(SkippedEntity(uid, str(e)))
            continue
        if problems:
            incomplete.append(IncompleteEntity(uid, tuple(problems)))
    return TaskSessionPage(sessions, page, skipped, incomplete)


def decode_error(body: bytes) -> EMErrorBody:
    """Decode an EM ``Error`` body (XML attributes or JSON keys ``Message`` / ``StatusCode``)."""
    name, fields = read_root(body)
    if name not in ("error", ""):
        raise DecodeError(f"expected an Error body, got <{name}>")
    message = text_field(fields, "message") or text_field(fields, "firstchanceexceptionmessage")
    code = int_field(fields, "statuscode")
    if message is None and code is None:
        raise DecodeError("Error body has neither Message nor StatusCode")
    return EMErrorBody(message, code)


def decode_logon_session(body: bytes) -> LogonSession:
    """Decode a LogonSession body: its SessionId (needed to log off), else the id ending its Href."""
    name, fields = read_root(body)
    if name not in ("logonsession", ""):
        raise DecodeError(f"expected a LogonSession body, got <{name}>")
    session_id = (text_field(fields, "sessionid") or "").strip()
    if not session_id:
        _, sep, tail = (text_field(fields, "href") or "").rstrip("/").rpartition("/logonSessions/")
        session_id = tail if sep and "/" not in tail else ""
    if not session_id:
        raise DecodeError("LogonSession body has no SessionId")
    return LogonSession(session_id, text_field(fields, "username"))


def decode_versions(body: bytes) -> list[str]:
    """The API versions ``GET /api/`` lists (``["v1_5", "v1_6", "v1_7"]``); raises DecodeError."""
    return read_versions(body)


def page_info(paging: Fields | None) -> PageInfo:
    """A query page's PagingInfo; raises DecodeError when it is missing or unreadable."""
    return _page_info(paging)


def _page_info(paging: Fields | None) -> PageInfo:
    if paging is None:
        raise DecodeError("QueryResult has no PagingInfo")
    values = []
    for key, label in (("pagenum", "PageNum"), ("pagesize", "PageSize"), ("pagescount", "PagesCount")):
        value = int_field(paging, key)
        if value is None or value < 0:
            raise DecodeError(f"PagingInfo has no valid {label}")
        values.append(value)
    return PageInfo(*values)


# The one form EM writes times in (reference §1.1): UTC, "T", up to 9 fraction digits, "Z". A
# subset of what `parse_time` reads, so both read such a text the same way.
_EM_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?Z")
_EM_INT = re.compile(r"-?[0-9]{1,19}")
_fromisoformat = datetime.fromisoformat


def _em_time(value: object) -> datetime | None:
    """``value`` as `parse_time` reads it, if it is a real time in exactly EM's form; else None."""
    if type(value) is not str or _EM_TIME.fullmatch(value) is None:
        return None
    try:
        time = _fromisoformat(value)
    except (ValueError, OverflowError):
        return None
    return time if time.tzinfo is UTC and time.year > LAST_NULL_YEAR else None


def _documented(item: RawEntity, source: str) -> TaskSession | None:
    """The entity's TaskSession when every field is text in the form EM documents, else None.

    Nearly every entity is such, and reading it needs none of `_task_session`'s checks, each a
    call: a storm decodes ten thousand. Whatever this returns, `_task_session` returns too, with no
    problem; anything it is not sure of (a gap, an odd type or form) it leaves to `_task_session`.
    """
    fields = item.fields
    get = fields.get
    uid = get("uid")
    state = get("state")
    result = get("result")
    name = get("name")
    vm = get("vmdisplayname")
    job_session_uid = get("jobsessionuid")
    size = get("totalsize")
    if not (
        type(uid) is str
        and type(state) is str
        and type(result) is str
        and type(name) is str
        and type(vm) is str
        and type(job_session_uid) is str
        and type(size) is str
    ):
        return None
    uid = uid.strip()
    job_session_uid = job_session_uid.strip()
    state = _STATES.get(state.strip().lower())
    result = _RESULTS.get(result.strip().lower())
    end = _em_time(get("endtimeutc"))
    creation = _em_time(get("creationtimeutc"))
    if not (
        uid
        and job_session_uid
        and state
        and result
        and end
        and creation
        and vm.strip()
        and _EM_INT.fullmatch(size)
    ):
        return None
    vm_uid = get("vmuid")
    if vm_uid is not None:
        if type(vm_uid) is not str:
            return None
        vm_uid = vm_uid.strip() or None
    reason = get("reason")
    if reason is None:
        reason = ""
    elif type(reason) is not str:
        return None
    names = _documented_links(item.links)
    if names is None:
        return None
    job_name, backup_server = names
    return TaskSession(
        uid,
        name,
        vm,
        vm_uid,
        job_session_uid,
        job_name,
        backup_server,
        creation,
        end,
        state,
        result,
        reason,
        int(size),
        source,
    )


def _documented_links(links: list[Fields]) -> tuple[str, str] | None:
    """The job name and backup server name from the first link of each type, as `_task_session`
    reads them, when both are non-empty text; else None."""
    job_link = server_link = None
    for link in links:
        kind = link.get("type")
        if type(kind) is str:
            kind = kind.strip().lower()
            if job_link is None and kind == "backupjobsessionreference":
                job_link = link
            elif server_link is None and kind == "backupserverreference":
                server_link = link
    if job_link is None or server_link is None:
        return None
    job_name = job_link.get("name")
    backup_server = server_link.get("name")
    if type(job_name) is not str or type(backup_server) is not str or not backup_server:
        return None
    job_name = before_last_at(job_name)
    return (job_name, backup_server) if job_name else None


def _task_session(uid: str, item: RawEntity, source: str, problems: list[str]) -> TaskSession:
    """Build one TaskSession, appending each gap to ``problems``; raise _Unusable if it cannot be one."""
    fields, links = item.fields, item.links
    state = _enum(fields, "state", "State", _STATES)
    result = _enum(fields, "result", "Result", _RESULTS)
    end, end_gap, end_problem = time_field(fields, "endtimeutc", "EndTimeUTC")
    if end is None and state == "Completed":
        raise _Unusable(f"completed entity without a usable EndTimeUTC: {end_problem}")
    if end_gap == "unreadable":  # absent or null is how a running task shows it
        problems.append(end_problem)
    creation, _, creation_problem = time_field(fields, "creationtimeutc", "CreationTimeUTC")
    if creation is None:
        if end is None:
            raise _Unusable(f"entity without any usable time: {creation_problem}, no EndTimeUTC")
        problems.append(f"{creation_problem}: EndTimeUTC stands in")
        creation = end
    name = text_field(fields, "name")
    if name is None:
        problems.append("no Name")
    # VmDisplayName is an attribute on every documented entity; "<vm>@<time>" in Name is only a
    # fallback so that an alert never loses its VM.
    vm = text_field(fields, "vmdisplayname") or ""
    if not vm.strip():
        vm = before_last_at(name or "")
        problems.append("no VmDisplayName" + (": taken from Name" if vm else ""))
    # The job-session link is named "<job name>@<start time>"; job names may contain '@'.
    job_name = before_last_at(link_name(links, "backupjobsessionreference"))
    if not job_name:
        problems.append("no job name (BackupJobSessionReference link Name)")
    backup_server = link_name(links, "backupserverreference")
    if not backup_server:
        problems.append("no backup server name (BackupServerReference link Name)")
    return TaskSession(
        uid=uid,
        name=name or "",
        vm=vm,
        vm_uid=_vm_uid(fields, problems),
        job_session_uid=_job_session_uid(fields, links, problems),
        job_name=job_name,
        backup_server=backup_server,
        creation_time=creation,
        end_time=end,
        state=state,
        result=result,
        reason=_reason(fields, problems),
        total_size=_total_size(fields, problems),
        source=source,
    )


def _enum(fields: Fields, key: str, label: str, known: dict[str, str]) -> str:
    value = (text_field(fields, key) or "").strip()
    if not value:
        raise _Unusable(f"entity has no {label}")
    try:
        return known[value.lower()]
    except KeyError:
        raise _Unusable(f"entity has an unknown {label} {value[:40]!r}") from None


def _vm_uid(fields: Fields, problems: list[str]) -> str | None:
    raw = fields.get("vmuid")
    if raw is not None and text_field(fields, "vmuid") is None:
        problems.append(f"VmUid is a {type(raw).__name__}, not text")
    # Absent on EM 9.x (audit notes): the VM is then known by name only.
    return (text_field(fields, "vmuid") or "").strip() or None


def _job_session_uid(fields: Fields, links: list[Fields], problems: list[str]) -> str:
    uid = (text_field(fields, "jobsessionuid") or "").strip()
    if uid:
        return uid
    link = find_link(links, "backupjobsessionreference")
    guid = href_guid(text_field(link, "href") or "", "backupSessions") if link is not None else None
    if guid is None:
        problems.append("no JobSessionUid")
        return ""
    problems.append("no JobSessionUid: taken from the job-session link's Href")
    # The form JobSessionUid has on every documented entity.
    return f"urn:veeam:BackupJobSession:{guid}"


def _reason(fields: Fields, problems: list[str]) -> str:
    raw = fields.get("reason")
    text = text_field(fields, "reason")
    # An empty <Reason /> and a JSON null are both EM's way of saying "no reason".
    if raw is not None and text is None:
        problems.append(f"Reason is a {type(raw).__name__}, not text")
    return text or ""


def _total_size(fields: Fields, problems: list[str]) -> int:
    value = int_field(fields, "totalsize")
    if value is None:
        raw = fields.get("totalsize")
        problems.append("no TotalSize" if raw is None else f"unreadable TotalSize {str(raw)[:40]!r}")
        return 0
    return value

"""``alertd check-config --probe`` for an Enterprise Manager: what alertd needs, asked once each.

This module owns the probe's sequence and its report: version discovery (``GET /api/``,
unauthenticated; reference §1.1), logon, one ``pageSize=1`` task-session query that counts the
sessions ended in the last 24 hours of EM's own clock (PagesCount; §2.2), the job-session entity
of the newest session (§3.3), and which UID form EM's filters match for that session's job run
(an open question of the reference, §8). About eight small requests; nothing here raises EMError.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Final

from alertd.em.client import EMClient
from alertd.em.errors import EMError
from alertd.em.filters import UidForm, all_of, cond, tasks_of_job_session
from alertd.em.transport import utc_now
from alertd.model import TaskSession
from alertd.source import EndpointCheck, ProbeReport

__all__ = ["ENDPOINTS", "probe_em"]

LOGON: Final = "logon (POST /api/sessionMngr/?v=latest)"
QUERY: Final = "query BackupTaskSession (GET /api/query)"
ENTITY: Final = "job session entity (GET /api/backupSessions/{id}?format=Entity)"
UID_FILTER: Final = "UID filter (JobSessionUid==)"
#: The checks a probe reports, in order.
ENDPOINTS: Final = (LOGON, QUERY, ENTITY, UID_FILTER)
_FORM_LABELS: Final[dict[UidForm, str]] = {"guid": "bare GUID", "urn": "URN"}
# The threshold for warning about skew: beyond it, windows drawn on alertd's clock miss.
_SKEW_WARNING: Final = timedelta(seconds=60)


async def probe_em(client: EMClient, uid_form: UidForm) -> tuple[ProbeReport, UidForm | None]:
    """Probe through ``client``; also return the UID form that works (``uid_form`` if it does)."""
    notes: list[str] = []
    api_version = await _api_version(client, notes)
    checks: list[EndpointCheck] = []
    working: UidForm | None = None
    sessions_24h: int | None = None
    try:
        await client.logon()
        checks.append(EndpointCheck(LOGON, True))
    except EMError as e:
        checks.append(EndpointCheck(LOGON, False, e.message))
        checks += [EndpointCheck(name, False, "not checked: logon failed") for name in ENDPOINTS[1:]]
    else:
        query_ok, sessions_24h, sample = await _count_recent(client, checks)
        if not query_ok or sample is None or not sample.job_session_uid:
            why = "the query failed" if not query_ok else "EM holds no completed task session"
            checks += [EndpointCheck(name, query_ok, f"not checked: {why}") for name in (ENTITY, UID_FILTER)]
        else:
            working = await _check_entity_and_uids(client, sample.job_session_uid, uid_form, checks)
    skew = client.clock_skew
    if skew is not None and abs(skew) > _SKEW_WARNING:
        side = "ahead of" if skew > timedelta(0) else "behind"
        notes.append(f"EM's clock is {abs(skew)} {side} alertd's: check NTP on both hosts")
    report = ProbeReport(
        source=client.source,
        kind="em",
        api_version=api_version,
        server_time=client.server_time,
        clock_skew=skew,
        sessions_24h=sessions_24h,
        endpoints=tuple(checks),
        notes=tuple(notes),
    )
    return report, working


async def _api_version(client: EMClient, notes: list[str]) -> str | None:
    """The newest version ``GET /api/`` lists: what ``?v=latest`` logs on with."""
    try:
        versions = await client.api_versions()
    except EMError as e:
        notes.append(f"version discovery failed: {e.message}")
        return None
    if not versions:
        notes.append("GET /api/ listed no SupportedVersions")
        return None
    return max(versions, key=lambda name: [int(n) for n in re.findall(r"[0-9]+", name)])


async def _count_recent(
    client: EMClient, checks: list[EndpointCheck]
) -> tuple[bool, int | None, TaskSession | None]:
    """Whether the query works, the sessions that ended in the last 24 h of EM's clock, and a
    completed session to look into."""
    now = client.server_time or utc_now()
    try:
        recent = await client.peek_task_sessions(
            all_of(cond("State", "==", "Completed"), cond("EndTime", ">=", now - timedelta(hours=24)))
        )
        sample = recent.first
        if sample is None:  # none in 24 h: the newest completed one, to check the entity endpoint
            sample = (await client.peek_task_sessions(cond("State", "==", "Completed"))).first
    except EMError as e:
        checks.append(EndpointCheck(QUERY, False, e.message))
        return False, None, None
    counted = "EM's paging cannot count them" if recent.count is None else f"{recent.count}"
    checks.append(EndpointCheck(QUERY, True, f"task sessions ended in the last 24 h: {counted}"))
    return True, recent.count, sample


async def _check_entity_and_uids(
    client: EMClient, uid: str, uid_form: UidForm, checks: list[EndpointCheck]
) -> UidForm | None:
    """Read job session ``uid``'s entity, and count its tasks with each UID form."""
    try:
        run = await client.job_session(uid)
        checks.append(EndpointCheck(ENTITY, True, f"job {run.job_name!r} ({run.job_type or 'type unknown'})"))
    except EMError as e:
        checks.append(EndpointCheck(ENTITY, False, e.message))
    matching: list[UidForm] = []
    said: list[str] = []
    for form in ("guid", "urn"):
        try:
            count = (await client.peek_task_sessions(tasks_of_job_session(uid, uid_form=form))).count
        except EMError as e:
            said.append(f"{_FORM_LABELS[form]}: failed ({e.message})")
            continue
        if count:
            matching.append(form)
        said.append(f"{_FORM_LABELS[form]}: {'matches' if count else 'matches nothing'}")
    if not matching:
        said.append("success queries by JobUid would find nothing")
    checks.append(EndpointCheck(UID_FILTER, bool(matching), "; ".join(said)))
    return uid_form if uid_form in matching else (matching[0] if matching else None)

"""``alertd check-config --probe`` for a VBR source: what a user runs first against a real server.

Checks, in order, each endpoint alertd needs: ``serverTime`` (reachability, clock, zone; no
credentials needed, so a down server is told apart from a refused logon), the token call (the
negotiated revision, the account), ``sessions`` and ``taskSessions`` over the last 24 hours, and
one session by id with its task sessions. Nothing raises: each failure is a failed check.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from alertd.source import EndpointCheck, ProbeReport
from alertd.vbr.errors import VBRError
from alertd.vbr.versions import capabilities

if TYPE_CHECKING:
    from alertd.vbr.source import VBRSource

__all__ = ["run_probe"]

_DAY = timedelta(hours=24)


async def run_probe(src: VBRSource) -> ProbeReport:
    """Probe ``src``'s server; see the module docstring."""
    checks: list[EndpointCheck] = []
    notes: list[str] = []
    server_time = None
    try:
        zone = await src.read_clock()
        server_time = src.now() + (src.clock_skew or timedelta(0))
        checks.append(EndpointCheck("GET /api/v1/serverTime", True, f"time zone {zone.name}"))
    except VBRError as e:
        checks.append(EndpointCheck("GET /api/v1/serverTime", False, e.message))
        return _report(src, checks, notes, server_time, None)
    try:
        await src.client.auth.logon()
        lifetime = src.client.auth.expires_in
        checks.append(
            EndpointCheck(
                "POST /api/oauth2/token",
                True,
                f"logged on as {src.client.conn.username!r}; token lifetime {lifetime}s, refreshed at 80 %",
            )
        )
    except VBRError as e:
        checks.append(EndpointCheck("POST /api/oauth2/token", False, e.message))
        return _report(src, checks, notes, server_time, None)
    since = src.filter_value(src.now() - _DAY)
    window = [("endedAfterFilter", since)]
    counted = None
    session_ids: list[str] = []
    try:
        counted, session_ids = await src.client.sample("/api/v1/sessions", window, zone.tz)
        checks.append(
            EndpointCheck("GET /api/v1/sessions", True, f"{counted} sessions ended in the last 24 h")
        )
    except VBRError as e:
        checks.append(EndpointCheck("GET /api/v1/sessions", False, e.message))
    tasks = await _task_checks(src, checks, notes, window, session_ids)
    if session_ids:
        await _session_checks(src, checks, session_ids[0], tasks)
    else:
        notes.append("no session ended in the last 24 h, so sessions/{id} was not checked")
    return _report(src, checks, notes, server_time, tasks if tasks is not None else counted)


async def _task_checks(
    src: VBRSource,
    checks: list[EndpointCheck],
    notes: list[str],
    window: list[tuple[str, str]],
    session_ids: list[str],
) -> int | None:
    """Check ``taskSessions``; returns how many ended in the last 24 h (None when absent or failing)."""
    assert src.zone is not None
    try:
        supported = await src.has_task_sessions()
        if not supported:
            detail = (
                f"not in x-api-version {src.api_version} (VBR 12.0 to 12.3.0): alertd alerts per job run, "
                "not per VM; upgrade to VBR 12.3.1 or later for per-VM alerts"
            )
            checks.append(EndpointCheck("GET /api/v1/taskSessions", True, detail))
            notes.append("degraded: job-level alerts only")
            return None
        count, _ = await src.client.sample("/api/v1/taskSessions", window, src.zone.tz)
        checks.append(
            EndpointCheck("GET /api/v1/taskSessions", True, f"{count} task sessions ended in the last 24 h")
        )
        return count
    except VBRError as e:
        checks.append(EndpointCheck("GET /api/v1/taskSessions", False, e.message))
        return None


async def _session_checks(
    src: VBRSource, checks: list[EndpointCheck], session_id: str, tasks: int | None
) -> None:
    assert src.zone is not None
    try:
        run = await src.client.session(session_id, src.zone.tz)
        checks.append(
            EndpointCheck(
                "GET /api/v1/sessions/{id}", run is not None, "read" if run else "the listed session is gone"
            )
        )
        if tasks is None:
            return
        revision = src.api_version or ""
        got = await src.client.session_tasks(
            session_id, src.zone.tz, paged=capabilities(revision).session_tasks_paged
        )
        checks.append(
            EndpointCheck("GET /api/v1/sessions/{id}/taskSessions", True, f"{got.total} task sessions")
        )
    except VBRError as e:
        checks.append(EndpointCheck("GET /api/v1/sessions/{id}", False, e.message))


def _report(
    src: VBRSource, checks: list[EndpointCheck], notes: list[str], server_time: object, count: int | None
) -> ProbeReport:
    if src.zone is not None and not src.zone.dst_aware:
        notes.append(
            f"the server reports only its current offset ({src.zone.name}); times without an offset are read in it"
        )
    return ProbeReport(
        source=src.source,
        kind="vbr",
        api_version=src.api_version,
        server_time=server_time if server_time is not None else None,  # type: ignore[arg-type]
        clock_skew=src.clock_skew,
        sessions_24h=count,
        endpoints=tuple(checks),
        notes=tuple(notes),
    )

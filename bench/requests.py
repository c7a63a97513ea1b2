"""What each request a simulator logged was for: the EM and VBR requests of one poll, by purpose."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from alertd.simulator.requestlog import LoggedRequest

#: Purposes in report order.
PURPOSES = (
    "logon and logoff",
    "server time",
    "failures (pages)",
    "job sessions (pages)",
    "job runs",
    "task counts",
    "successes",
    "other",
)


def purpose(r: LoggedRequest) -> str:
    """The purpose of one EM or VBR request."""
    path = r.path.lower().rstrip("/")
    if path.startswith(("/api/sessionmngr", "/api/logonsessions", "/api/oauth2")):
        return "logon and logoff"
    if path == "/api/query":
        return _em_query(r.query.get("type", "").lower(), r.query.get("filter", ""))
    if path.startswith("/api/backupsessions/"):
        return "job runs"
    if path == "/api/v1/servertime":
        return "server time"
    if path == "/api/v1/tasksessions":
        return "successes" if r.query.get("resultFilter", "") == "Success" else "failures (pages)"
    if path == "/api/v1/sessions":
        return "job sessions (pages)"
    if path.startswith("/api/v1/sessions/"):
        return "task counts" if path.endswith("/tasksessions") else "job runs"
    return "other"


def _em_query(kind: str, filter_text: str) -> str:
    if kind == "backupjobsession":
        return "job runs"
    if "Result==Success" in filter_text:
        return "successes"
    if "JobSessionUid" in filter_text:
        return "task counts"
    if filter_text.startswith("State==Completed;(Result==Failed"):
        return "failures (pages)"
    return "other"


def breakdown(requests: Iterable[LoggedRequest]) -> dict[str, int]:
    """Requests per purpose (only purposes that occurred), in report order."""
    counts = Counter(purpose(r) for r in requests)
    return {p: counts[p] for p in PURPOSES if counts[p]}


def describe(counts: dict[str, int]) -> str:
    """``"50 failures (pages), 40 job runs, 2 logon and logoff"``."""
    return ", ".join(f"{n} {p}" for p, n in counts.items()) or "none"

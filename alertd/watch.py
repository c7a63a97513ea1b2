"""Which successes a poll asks a source for, besides new failures. Pure.

Successes matter only for jobs with an open incident (a recovery to announce, a streak to end) or
a failure held for Veeam's own retry, including failures read in this very poll: a failure and
Veeam's successful retry first seen together (alertd was down) are decided together. One
question per job, from where that job's last question stopped (minus the overlap, for EM's
collection lag), never from before the oldest EndTime that matters in it: the cost follows what is
broken and what is new, not the size of the estate or the age of an incident.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from alertd.incidents import job_key
from alertd.model import JobRef, TaskSession
from alertd.records import WatchRow
from alertd.routing import Route, match_routes


@dataclass(frozen=True, slots=True)
class SuccessQuery:
    """Ask for the successes of ``job`` (tracked as ``key``) that ended after ``since``."""

    key: str
    job: JobRef
    since: datetime


def _ref(key: str, name: str) -> JobRef:
    return JobRef(None if key.startswith("name:") else key, name)


def success_queries(
    watched: Iterable[WatchRow], held_now: Iterable[TaskSession], overlap: timedelta
) -> list[SuccessQuery]:
    """One query per watched job, plus the jobs of this poll's failures that a route will hold."""
    since: dict[str, tuple[str, datetime]] = {}
    for row in watched:
        start = row.since if row.checked_until is None else max(row.since, row.checked_until - overlap)
        since[row.job_key] = (row.job_name, start)
    for session in held_now:
        key = job_key(session)
        end = session.end_time or session.creation_time
        name, start = since.get(key, (session.job_name, end))
        since[key] = (name, min(start, end))
    return [SuccessQuery(key, _ref(key, name), when) for key, (name, when) in sorted(since.items())]


def held_for_retry(failures: Iterable[TaskSession], routes: Sequence[Route]) -> list[TaskSession]:
    """Failures a route will hold for Veeam's own retry (their job's successes are read at once).

    The streak is not known before the decision; routes are matched as for a first failure.
    """
    if not any(r.wait_for_retry is not None for r in routes):
        return []
    return [
        s
        for s in failures
        if s.result == "Failed"
        and any(r.wait_for_retry for r in match_routes(routes, {**s.labels(), "streak": "1"}))
    ]

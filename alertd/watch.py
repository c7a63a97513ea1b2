"""Which successes a poll asks a source for, besides new failures. Pure.

Successes matter only for VMs with an open incident (a recovery to announce, a streak to end) or
a failure held for Veeam's own retry. One question per job, from the oldest EndTime that matters
in it, so the cost follows what is broken, not the size of the estate.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from alertd.model import JobRef
from alertd.records import WatchRow


@dataclass(frozen=True, slots=True)
class SuccessQuery:
    """Ask for the successes of ``job`` that ended after ``since``."""

    job: JobRef
    since: datetime


def success_queries(watched: Iterable[WatchRow]) -> list[SuccessQuery]:
    """One query per watched job, from its oldest watched EndTime, in job order."""
    since: dict[str, datetime] = {}
    for row in watched:
        since[row.job_name] = min(row.since, since.get(row.job_name, row.since))
    return [SuccessQuery(JobRef(None, job), when) for job, when in sorted(since.items())]

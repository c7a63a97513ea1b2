"""The read stage of a poll: everything asked of a source, in order, and what failing parts mean.

1. Failed/Warning sessions from the normal window, or from the sweep's when one is due (the sweep
   reads further back, so one query serves both). A failure here fails the poll: nothing of it is
   recorded and the next poll reads it again.
2. The job runs behind new job sessions, once per run (cached in the state). Best effort: a run
   the source cannot describe leaves its sessions keyed by job name.
3. The successes of watched jobs, per job, from where that job's last read stopped. Isolated: a
   refused success query is logged, counted and asked again next poll; it never fails the
   failure poll.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from operator import attrgetter

import structlog

from alertd.model import JobRun, TaskSession
from alertd.source import Source, SourceError
from alertd.watch import SuccessQuery
from alertd.window import ReadPlan

log = structlog.get_logger(__name__)


@dataclass
class Fetched:
    """What one poll read from its source."""

    failures: list[TaskSession]
    skew: timedelta
    successes: list[TaskSession] = field(default_factory=list)
    #: Sessions only the sweep could have found (EndTime before the normal window), by UID.
    sweep_only: set[str] = field(default_factory=set)
    new_runs: list[JobRun] = field(default_factory=list)
    runs: dict[str, JobRun] = field(default_factory=dict)
    #: Per job key: successes were read up to this instant (the source's clock).
    checked: dict[str, datetime] = field(default_factory=dict)
    failed_success_queries: int = 0
    undecodable: int = 0


def final(sessions: Iterable[TaskSession], results: Sequence[str], source: str) -> list[TaskSession]:
    """Completed sessions with one of ``results`` and an EndTime.

    The source's query already asks for these; checking again keeps a lax server from causing
    alerts on running sessions or the wrong results.
    """
    kept = []
    for s in sessions:
        if s.state != "Completed" or s.result not in results:
            continue
        if s.end_time is None:
            log.warning("session_without_end_time", source=source, uid=s.uid, vm=s.vm, note="skipped")
            continue
        kept.append(s)
    return kept


# Every field of a TaskSession in order, read in one C call: `_with_run` copies ten thousand
# sessions in a storm, and dataclasses.replace() costs several times a positional constructor.
_SESSION_VALUES = attrgetter(*(f.name for f in fields(TaskSession)))
_NAMES = [f.name for f in fields(TaskSession)]
_JOB_UID, _JOB_NAME = _NAMES.index("job_uid"), _NAMES.index("job_name")


def _with_run(session: TaskSession, run: JobRun | None) -> TaskSession:
    """``session`` with the job's id and real name from its run (the same object if nothing changes)."""
    if run is None:
        return session
    job_uid = run.job_uid or session.job_uid
    job_name = run.job_name or session.job_name
    if job_uid == session.job_uid and job_name == session.job_name:
        return session
    values = list(_SESSION_VALUES(session))
    values[_JOB_UID], values[_JOB_NAME] = job_uid, job_name
    return TaskSession(*values)


async def read_source(
    source: str,
    reader: Source,
    plan: ReadPlan,
    results: Sequence[str],
    cached_runs: Callable[[Iterable[str]], Mapping[str, JobRun]],
    queries: Callable[[Sequence[TaskSession]], Sequence[SuccessQuery]],
    now: datetime,
) -> Fetched:
    """Read one poll's failures, job runs and successes (see the module docstring for the order).

    ``cached_runs`` looks job runs up in the state; ``queries`` plans the success reads once the
    failures are known; ``now`` is alertd's clock.
    """
    batch = await reader.failures(plan.sweep_start or plan.start, results)
    failures = final(batch.sessions, results, source)
    skew = reader.clock_skew or timedelta(0)
    fetched = Fetched(failures=failures, skew=skew, undecodable=batch.undecodable)
    if plan.sweep_start is not None:
        fetched.sweep_only = {s.uid for s in failures if s.end_time is not None and s.end_time < plan.start}
    await _read_runs(source, reader, fetched, cached_runs)
    for query in queries(fetched.failures):
        asked_at = now + (reader.clock_skew or skew)
        try:
            found = await reader.successes(query.job, query.since)
        except SourceError as err:
            fetched.failed_success_queries += 1
            log.warning(
                "success_query_failed",
                source=source,
                job=query.job.job_name,
                kind=err.kind,
                error=str(err),
                note="failures are still alerted; successes are asked again next poll",
            )
            continue
        fetched.undecodable += found.undecodable
        fetched.checked[query.key] = asked_at
        fetched.successes += [
            replace(s, job_uid=query.job.job_uid) if query.job.job_uid and not s.job_uid else s
            for s in final(found.sessions, ("Success",), source)
        ]
    fetched.skew = reader.clock_skew or skew
    return fetched


async def _read_runs(
    source: str,
    reader: Source,
    fetched: Fetched,
    cached_runs: Callable[[Iterable[str]], Mapping[str, JobRun]],
) -> None:
    """Read the job runs of the failures' job sessions that are not cached yet, and apply them."""
    uids = {s.job_session_uid for s in fetched.failures if s.job_session_uid}
    runs = dict(cached_runs(uids))
    missing = sorted(uids - runs.keys())
    if missing:
        try:
            fetched.new_runs = await reader.job_runs(missing)
        except SourceError as err:
            log.warning(
                "job_runs_unreadable",
                source=source,
                runs=len(missing),
                kind=err.kind,
                error=str(err),
                note="alerts keep the job name from the task sessions; read again next poll",
            )
        runs.update({r.uid: r for r in fetched.new_runs})
    fetched.runs = runs
    fetched.failures = [_with_run(s, runs.get(s.job_session_uid)) for s in fetched.failures]

"""EMSource: the `alertd.source.Source` contract over one Enterprise Manager.

This module owns which EM requests answer the pipeline's questions:

* ``failures``: ``State==Completed;(Result==Failed,Result==Warning);EndTime>="..."``, sorted by
  EndTime, every page (reference §6.4).
* ``successes``: ``State==Completed;Result==Success;JobUid=="<guid>";EndTime>"..."`` when the job's
  id is known (JobUid is a documented BackupTaskSession filter field), else ``JobName==``.
* ``job_runs``: each job session's entity, ``GET /api/backupSessions/{guid}?format=Entity``, plus
  its task count from one ``pageSize=1`` query (``JobSessionUid==``), read only for PagesCount:
  two small requests per job run, which the pipeline reads once and caches. Enrichment is best
  effort: a job session EM cannot serve is logged and left out, never raised.

**UID form.** Which UID form EM's filters accept (URN or bare GUID) is an open question of the
reference (§2.1, §8). The source sends the bare GUID, the form of the filter-parameter examples
on Veeam's 13.1 query pages and of a working public Go client (see `alertd.em.filters.uid_value`).
It checks the choice for free: the task-count query of a job session whose task alertd already
holds must match at least one session. If the GUID matches nothing but the URN does, the source
switches to the URN for every later filter and logs ``em_uid_form_switched``; ``probe`` reports
which forms match.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Final

import structlog

from alertd.em._fields import guid_of
from alertd.em.client import EMClient, EMConnection
from alertd.em.errors import EMError
from alertd.em.filters import UidForm, failed_since, successes_of_job, tasks_of_job_session
from alertd.em.probe import probe_em
from alertd.em.transport import Clock, utc_now
from alertd.model import JobRef, JobRun
from alertd.source import Batch, ProbeReport

__all__ = ["EMSource"]

_log = structlog.get_logger(__name__)

# Kinds after which no further job session is worth asking for in this call: EM cannot be
# reached or refuses us, and each further request would only wait for the same failure.
_GIVE_UP: Final = frozenset({"unreachable", "timeout", "tls", "auth"})


class EMSource:
    """One Enterprise Manager as a `alertd.source.Source`. Safe to share between tasks of one loop."""

    kind: Final = "em"

    def __init__(self, client: EMClient, *, uid_form: UidForm = "guid", job_run_concurrency: int = 4) -> None:
        """Wrap ``client`` (which this source then owns and closes)."""
        if job_run_concurrency < 1:
            raise ValueError("job_run_concurrency must be at least 1")
        self._client = client
        self._uid_form: UidForm = uid_form
        self._concurrency = job_run_concurrency
        self._log = _log.bind(source=client.source)

    @classmethod
    def from_connection(
        cls, conn: EMConnection, *, clock: Clock = utc_now, uid_form: UidForm = "guid"
    ) -> EMSource:
        """A source with its own client for ``conn``; ``clock`` is alertd's (for the skew)."""
        return cls(EMClient(conn, clock=clock), uid_form=uid_form)

    @property
    def client(self) -> EMClient:
        """The underlying client (``query_task_sessions`` keeps working for the current pipeline)."""
        return self._client

    @property
    def uid_form(self) -> UidForm:
        """The UID form filters are written in now (``guid`` unless EM proved it wants ``urn``)."""
        return self._uid_form

    @property
    def clock_skew(self) -> timedelta | None:
        """EM's clock minus alertd's, from the ``Date`` header of EM's latest response."""
        return self._client.clock_skew

    @property
    def requests_made(self) -> int:
        """HTTP requests sent so far (for benchmarks)."""
        return self._client.requests_made

    async def failures(self, ended_after: datetime, results: Sequence[str]) -> Batch:
        """Completed task sessions with one of ``results`` that ended at or after ``ended_after``."""
        read = await self._client.read_task_sessions(failed_since(ended_after, results))
        return Batch(read.sessions, read.undecodable)

    async def successes(self, job: JobRef, ended_after: datetime) -> Batch:
        """Completed, successful task sessions of ``job`` that ended after ``ended_after``."""
        query = successes_of_job(job.job_uid, job.job_name, ended_after, uid_form=self._uid_form)
        read = await self._client.read_task_sessions(query)
        return Batch(read.sessions, read.undecodable)

    async def job_runs(self, job_session_uids: Sequence[str]) -> list[JobRun]:
        """The job runs EM can serve, in the order asked; the rest are logged and left out.

        Never raises EMError: after a connection, TLS or auth failure the remaining job sessions
        are not asked for (logged once as ``job_runs_abandoned``).
        """
        wanted = list(dict.fromkeys(uid for uid in job_session_uids if uid and guid_of(uid)))
        gate = asyncio.Semaphore(self._concurrency)
        abandoned: list[EMError] = []

        async def one(uid: str) -> JobRun | None:
            async with gate:
                if abandoned:
                    return None
                try:
                    run = await self._client.job_session(uid)
                except EMError as e:
                    if e.kind in _GIVE_UP:
                        if not abandoned:
                            self._log.warning("job_runs_abandoned", kind=e.kind, error=e.message)
                        abandoned.append(e)
                    else:
                        self._log.warning(
                            "job_run_unreadable", uid=uid, kind=e.kind, status=e.status, error=e.message
                        )
                    return None
                return replace(run, task_count=await self._task_count(uid))

        runs = await asyncio.gather(*(one(uid) for uid in wanted))
        return [run for run in runs if run is not None]

    async def probe(self) -> ProbeReport:
        """Log on and check every endpoint alertd needs; never raises EMError."""
        report, working = await probe_em(self._client, self._uid_form)
        if working is not None and working != self._uid_form:
            self._switch(working, "probe")
        return report

    async def close(self) -> None:
        """Log off and release connections; safe to call twice."""
        await self._client.close()

    async def _task_count(self, uid: str) -> int | None:
        """How many task sessions job run ``uid`` holds (one pageSize=1 query); None when unknown."""
        try:
            count = (
                await self._client.peek_task_sessions(tasks_of_job_session(uid, uid_form=self._uid_form))
            ).count
            if count != 0:
                return count
            # alertd only asks about job runs it holds a task of, so 0 means the UID form is wrong.
            other: UidForm = "urn" if self._uid_form == "guid" else "guid"
            count = (await self._client.peek_task_sessions(tasks_of_job_session(uid, uid_form=other))).count
        except EMError as e:
            self._log.warning("job_run_task_count_failed", uid=uid, kind=e.kind, error=e.message)
            return None
        if count:
            self._switch(other, uid)
            return count
        self._log.warning("em_uid_filter_matched_nothing", uid=uid, forms=["guid", "urn"])
        return None

    def _switch(self, form: UidForm, evidence: str) -> None:
        self._log.warning("em_uid_form_switched", old=self._uid_form, new=form, evidence=evidence)
        self._uid_form = form

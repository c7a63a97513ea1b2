"""EMSource: the `alertd.source.Source` contract over one Enterprise Manager.

This module owns which EM requests answer the pipeline's questions:

* ``failures``: ``State==Completed;(Result==Failed,Result==Warning);EndTime>="..."``, sorted by
  EndTime, every page (reference §6.4).
* ``successes``: ``State==Completed;Result==Success;JobUid=="<guid>";EndTime>"..."`` when the job's
  id is known (JobUid is a documented BackupTaskSession filter field), else ``JobName==``.
* ``job_runs``: a few runs (up to `BATCH_FROM` - 1) one by one: each job session's entity, ``GET
  /api/backupSessions/{guid}?format=Entity``, plus its task count from one ``pageSize=1`` query
  (``JobSessionUid==``), read only for PagesCount: two small requests per run, in parallel. More
  runs (a storm brings hundreds) in batches of `BATCH_SIZE`: one ``type=BackupJobSession`` query
  OR-ing their ``UID==`` (UID is a documented BackupJobSession filter field, reference §3.3; OR is
  ``,``, §2.1) for the entities, and one BackupTaskSession query for the tasks of those runs that
  the latest failure read did not return (its exact complement, so the two add up to every task of
  the run); the task count is what the failure read held plus what that query returns. Two
  requests per batch instead of two per run. The pipeline reads each run once and caches it.
  Enrichment is best effort: a job session EM cannot serve is logged and left out, never raised.

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
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Final

import structlog

from alertd.em._fields import guid_of, text_field
from alertd.em._raw import DecodeError, RawEntity
from alertd.em.client import EMClient, EMConnection
from alertd.em.errors import EMError
from alertd.em.filters import (
    UidForm,
    all_of,
    any_of,
    cond,
    failed_since,
    successes_of_job,
    tasks_of_job_session,
    uid_value,
)
from alertd.em.jobs import job_run_of
from alertd.em.probe import probe_em
from alertd.em.transport import Clock, utc_now
from alertd.model import JobRef, JobRun
from alertd.source import Batch, ProbeReport

__all__ = ["EMSource"]

_log = structlog.get_logger(__name__)

# Kinds after which no further job session is worth asking for in this call: EM cannot be
# reached or refuses us, and each further request would only wait for the same failure.
_GIVE_UP: Final = frozenset({"unreachable", "timeout", "tls", "auth"})
#: From this many job runs in one call on, they are read in batches (below it, one by one: two
#: requests per run, sent in parallel, finish in about the time of one batch's two).
BATCH_FROM: Final = 5
#: Job runs per batch query. EM documents no limit on a query's length; its REST service sits on
#: HTTP.sys, and the smallest limit a proxy in front of it commonly sets is IIS's 2,048-byte query
#: string. 25 UIDs OR-ed, percent-encoded, stay under 1,800 bytes.
BATCH_SIZE: Final = 25


class _FailureRead:
    """What the latest failure read asked for and how many of its sessions each job run held."""

    def __init__(self, start: datetime, results: Sequence[str], per_run: Counter[str]) -> None:
        self.start = start
        self.results = tuple(results)
        self.per_run = per_run


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
        self._last_read: _FailureRead | None = None

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
        per_run = Counter(guid_of(s.job_session_uid).lower() for s in read.sessions if s.job_session_uid)
        self._last_read = _FailureRead(ended_after, results, per_run)
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
        if len(wanted) >= BATCH_FROM:
            return await self._job_runs_batched(wanted, gate, abandoned)
        return await self._job_runs_one_by_one(wanted, gate, abandoned)

    async def _job_runs_one_by_one(
        self, wanted: list[str], gate: asyncio.Semaphore, abandoned: list[EMError]
    ) -> list[JobRun]:
        """Each run's entity and task count: two small requests per run, ``gate`` of them at a time."""

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

    async def _job_runs_batched(
        self, wanted: list[str], gate: asyncio.Semaphore, abandoned: list[EMError]
    ) -> list[JobRun]:
        """The runs in batches of `BATCH_SIZE`, ``gate`` batches at a time, in the order asked."""

        async def batch(uids: list[str]) -> list[JobRun]:
            async with gate:
                if abandoned:
                    return []
                try:
                    return await self._read_batch(uids)
                except EMError as e:
                    if e.kind in _GIVE_UP:
                        if not abandoned:
                            self._log.warning("job_runs_abandoned", kind=e.kind, error=e.message)
                        abandoned.append(e)
                        return []
                    # A refused or unreadable batch query: these runs are read one by one instead.
                    self._log.warning("job_run_batch_failed", runs=len(uids), kind=e.kind, error=e.message)
            return await self._job_runs_one_by_one(uids, gate, abandoned)

        chunks = [wanted[i : i + BATCH_SIZE] for i in range(0, len(wanted), BATCH_SIZE)]
        found = {run.uid: run for runs in await asyncio.gather(*(batch(c) for c in chunks)) for run in runs}
        return [found[uid] for uid in wanted if uid in found]

    async def _read_batch(self, uids: list[str]) -> list[JobRun]:
        """One batch: the job-session entities by UID, then the task counts. Raises EMError."""
        asked = {guid_of(uid).lower(): uid for uid in uids}
        entities = await self._job_session_entities(list(asked.values()))
        if entities is None:
            # Neither UID form matched any run we hold tasks of: read them one by one, which
            # needs no UID filter for the entity (it is in the path) and logs what is wrong.
            raise EMError("malformed", "no job session matched a UID filter in either form")
        runs: dict[str, JobRun] = {}
        for entity in entities:
            key = guid_of(text_field(entity.fields, "uid") or "").lower()
            if key not in asked or asked[key] in runs:
                continue
            try:
                run, problems = job_run_of(entity, uid=asked[key])
            except DecodeError as e:
                self._log.warning(
                    "job_run_unreadable", uid=asked[key], kind="malformed", status=None, error=str(e)
                )
                continue
            if problems:
                self._log.warning("job_session_incomplete", uid=asked[key], problems=list(problems))
            runs[key] = run
        for key, uid in asked.items():
            if key not in runs:
                self._log.warning(
                    "job_run_unreadable",
                    uid=uid,
                    kind="http",
                    status=None,
                    error="EM's job-session query did not return it",
                )
        read = self._last_read
        held = [key for key in runs if read is not None and key in read.per_run]
        counts = await self._task_counts(held)
        for key in runs.keys() - set(held):
            # Not in the latest failure read (job_runs asked on its own): counted one by one.
            counts[key] = await self._task_count(asked[key])
        return [replace(run, task_count=counts.get(key)) for key, run in runs.items()]

    async def _job_session_entities(self, uids: list[str]) -> list[RawEntity] | None:
        """The entities of ``uids`` (one query); None when neither UID form matches any of them."""
        found = await self._client.query_entities(
            "BackupJobSession", self._uid_filter("UID", uids, self._uid_form)
        )
        if found:
            return found
        # alertd only asks about job runs it holds a task of, so nothing at all means the UID form is wrong.
        other: UidForm = "urn" if self._uid_form == "guid" else "guid"
        found = await self._client.query_entities("BackupJobSession", self._uid_filter("UID", uids, other))
        if not found:
            self._log.warning("em_uid_filter_matched_nothing", uid=uids[0], forms=["guid", "urn"])
            return None
        self._switch(other, uids[0])
        return found

    async def _task_counts(self, keys: list[str]) -> dict[str, int | None]:
        """Task counts of the runs ``keys`` (lower-case GUIDs, each holding sessions of the latest
        failure read), from that read plus one query for the rest of their tasks; {} when that query
        fails (logged)."""
        read = self._last_read
        if not keys or read is None:
            return {}
        rest = all_of(
            self._uid_filter("JobSessionUid", keys, self._uid_form),
            # Exactly what the failure filter (State==Completed;(Result==...);EndTime>=start) left out.
            any_of(
                cond("State", "!=", "Completed"),
                all_of(*(cond("Result", "!=", r) for r in read.results)),
                cond("EndTime", "<", read.start),
            ),
        )
        try:
            entities = await self._client.query_entities("BackupTaskSession", rest)
        except EMError as e:
            if e.kind in _GIVE_UP:
                raise
            self._log.warning("job_run_task_count_failed", runs=len(keys), kind=e.kind, error=e.message)
            return {}
        counts = Counter(read.per_run)
        counts.update(guid_of(text_field(e.fields, "jobsessionuid") or "").lower() for e in entities)
        return {key: counts[key] for key in keys}

    @staticmethod
    def _uid_filter(field: str, uids: Sequence[str], form: UidForm) -> str:
        """``(<field>=="a",<field>=="b",...)`` with each UID in ``form``."""
        return any_of(*(cond(field, "==", uid_value(uid, form, "BackupJobSession")) for uid in uids))

    async def newest_end(self) -> datetime | None:
        """The newest completed task session's EndTime: ``sortDesc=EndTime``, one row (reference §2.2)."""
        peek = await self._client.peek_task_sessions(cond("State", "==", "Completed"), sort_desc="EndTime")
        return peek.first.end_time if peek.first is not None else None

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

"""Synthetic EM data for the state-growth benchmark: a fleet of jobs whose VMs fail, then recover.

Batch ``k`` is one simulated poll: ``batch`` failed task sessions (whole job runs of 20 VMs),
ending during the ``step`` before that poll. Every VM that failed in batch ``k - 1`` has a
successful session by poll ``k``, so incidents open and close as they would in production.
``FleetSource`` answers alertd's questions (`alertd.source.Source`) from that data, as EM would,
without HTTP.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from alertd.model import (
    AlertGroup,
    BodyFormat,
    JobRef,
    JobRun,
    NotifyType,
    RenderedMessage,
    TaskSession,
)
from alertd.render import Renderer
from alertd.source import Batch, ProbeReport

VMS_PER_RUN = 20
JOBS = 500
SERVER = "vbr01.corp.local"
REASON = (
    "Error: Failed to create VM snapshot. Timed out waiting for the snapshot operation to complete "
    "on host esx{n:02d}.corp.local (task-{n}); retry after checking datastore free space."
)


def job_uid(job: int) -> str:
    """The fleet's JobUid of job ``job`` (EM's job-session entity carries it)."""
    return f"urn:veeam:Job:00000000-0000-4000-8000-{job:012d}"


class FleetSource:
    """An `alertd.source.Source` answering from the synthetic fleet's last two batches, without HTTP.

    ``queries`` counts the questions asked, as ``requests_made`` (one request each).
    """

    def __init__(self, batch: int, step: timedelta, source: str, seed: int = 3) -> None:
        self.batch = batch
        self.step = step
        self.source = source
        self._rng = random.Random(seed)
        self._current: list[TaskSession] = []
        self._previous: list[TaskSession] = []
        self._successes: dict[str, list[TaskSession]] = {}
        self._runs: dict[str, JobRun] = {}
        self.queries = 0

    @property
    def current(self) -> list[TaskSession]:
        """The failed sessions of the latest batch."""
        return list(self._current)

    @property
    def succeeded(self) -> list[TaskSession]:
        """The successes of the previous batch's VMs, seen by the latest poll, with their JobUid (as
        `alertd.reading` sets it from the success query's job)."""
        return [replace(s, job_uid=job) for job, batch in self._successes.items() for s in batch]

    def runs_of(self, sessions: Sequence[TaskSession]) -> list[JobRun]:
        """The job runs of ``sessions``, as `job_runs` answers."""
        uids = dict.fromkeys(s.job_session_uid for s in sessions)
        return [self._runs[u] for u in uids if u in self._runs]

    @staticmethod
    def with_run(session: TaskSession, runs: dict[str, JobRun]) -> TaskSession:
        """``session`` with its run's JobUid, as `alertd.reading` applies it."""
        run = runs.get(session.job_session_uid)
        return replace(session, job_uid=run.job_uid) if run is not None else session

    def _uid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def _session(
        self, job: int, vm: int, run: int, result: str, end: datetime, reason: str = ""
    ) -> TaskSession:
        name = f"vm-{job:03d}-{vm:02d}"
        return TaskSession(
            uid=f"urn:veeam:BackupTaskSession:{self._uid()}",
            name=f"{name}@{end:%Y-%m-%d %H:%M:%S}",
            vm=name,
            vm_uid=f"urn:VMware:Vm:7f1c2d3e-0000-4000-8000-000000000001.vm-{job * 100 + vm}",
            job_session_uid=f"urn:veeam:BackupJobSession:{job:04d}-{run:06d}",
            job_name=f"Backup Job {job:03d}",
            backup_server=SERVER,
            creation_time=end - timedelta(minutes=3),
            end_time=end,
            state="Completed",
            result=result,
            reason=reason,
            total_size=0 if result == "Failed" else 50 << 30,
            source=self.source,
        )

    def advance(self, k: int, now: datetime) -> None:
        """Make batch ``k`` (polled at ``now``) current; batch ``k - 1``'s VMs have succeeded since."""
        self._successes = {}
        for s in self._current:
            job, vm = int(s.vm[3:6]), int(s.vm[7:9])
            ok = self._session(job, vm, k, "Success", now - timedelta(minutes=5))
            self._successes.setdefault(job_uid(job), []).append(ok)
        self._previous, self._current = self._current, []
        runs = max(self.batch // VMS_PER_RUN, 1)
        for r in range(runs):
            job = (k * runs + r) % JOBS
            for vm in range(VMS_PER_RUN):
                end = now - self.step + self.step * ((r * VMS_PER_RUN + vm + 1) / (runs * VMS_PER_RUN + 1))
                self._current.append(self._session(job, vm, k, "Failed", end, REASON.format(n=vm)))
            uid = self._current[-1].job_session_uid
            self._runs[uid] = JobRun(
                uid,
                job_uid(job),
                f"Backup Job {job:03d}",
                "Backup",
                False,
                "Stopped",
                "Failed",
                now - self.step,
                now,
                SERVER,
                VMS_PER_RUN,
            )

    # -- alertd.source.Source ------------------------------------------------------------------

    @property
    def clock_skew(self) -> timedelta | None:
        """The fleet shares alertd's clock."""
        return timedelta(0)

    @property
    def requests_made(self) -> int:
        """One request per question (EM would need more for long answers)."""
        return self.queries

    async def failures(self, ended_after: datetime, results: Sequence[str]) -> Batch:
        """The failed sessions of the last two batches that ended at or after ``ended_after``."""
        self.queries += 1
        # EM filters on whole seconds, rounding down (alertd.window): so does the fleet.
        since = ended_after.replace(microsecond=0)
        return Batch(
            [
                s
                for s in (*self._previous, *self._current)
                if s.end_time is not None and s.end_time >= since and s.result in results
            ]
        )

    async def successes(self, job: JobRef, ended_after: datetime) -> Batch:
        """The latest batch's successes of ``job`` (by JobUid; the fleet always knows it)."""
        self.queries += 1
        found = self._successes.get(job.job_uid or "", [])
        return Batch([s for s in found if s.end_time is not None and s.end_time > ended_after])

    async def job_runs(self, job_session_uids: Sequence[str]) -> list[JobRun]:
        """The runs asked for, as EM's job-session entities would describe them."""
        self.queries += 1
        return [self._runs[u] for u in job_session_uids if u in self._runs]

    async def newest_end(self) -> datetime | None:
        """The newest EndTime of the latest batch (the fleet's newest finished session)."""
        self.queries += 1
        ends = [s.end_time for s in (*self._current, *self.successes) if s.end_time is not None]
        return max(ends, default=None)

    async def probe(self) -> ProbeReport:
        """Nothing to probe: the fleet is in memory."""
        return ProbeReport(self.source, "fleet", None, None, timedelta(0), None)

    async def close(self) -> None:
        """Nothing to release."""


class CannedRenderer:
    """Renders every group with one body rendered once by the real renderer (Jinja costs excluded)."""

    def __init__(self, sample: list[TaskSession]) -> None:
        group = AlertGroup(key="sample", receiver="ops", alerts=tuple(sample), details={})
        self._body = Renderer().render(group, "chat").body

    def render(self, group: AlertGroup, kind: str, *, links: object = None) -> RenderedMessage:
        title = f"[Failed] {group.alerts[0].job_name} on {SERVER}: {len(group.alerts)} failed"
        return RenderedMessage(title, self._body, BodyFormat.MARKDOWN, NotifyType.FAILURE)


def sample_sessions(source: str) -> list[TaskSession]:
    """One job run's worth of failed sessions, for rendering the canned body."""
    fleet = FleetSource(VMS_PER_RUN, timedelta(hours=1), source)
    fleet.advance(0, datetime(2026, 1, 1, tzinfo=UTC))
    return fleet.current

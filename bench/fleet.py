"""Synthetic EM data for the state-growth benchmark: a fleet of jobs whose VMs fail, then recover.

Batch ``k`` is one simulated poll: ``batch`` failed task sessions (whole job runs of 20 VMs),
ending during the ``step`` before that poll. Every VM that failed in batch ``k - 1`` has a
successful session by poll ``k``, so incidents open and close as they would in production.
``FleetSource`` answers alertd's queries from that data, as EM would, without HTTP.
"""

from __future__ import annotations

import random
import re
import uuid
from datetime import UTC, datetime, timedelta

from alertd.model import AlertGroup, BodyFormat, NotifyType, RenderedMessage, TaskSession
from alertd.render import Renderer

VMS_PER_RUN = 20
JOBS = 500
SERVER = "vbr01.corp.local"
REASON = (
    "Error: Failed to create VM snapshot. Timed out waiting for the snapshot operation to complete "
    "on host esx{n:02d}.corp.local (task-{n}); retry after checking datastore free space."
)
_END_AFTER = re.compile(r'EndTime>="([^"]+)"')
_JOB = re.compile(r'JobName=="((?:[^"]|"")*)"')


class FleetSource:
    """Answers alertd's failure and success queries from the synthetic fleet's last two batches."""

    def __init__(self, batch: int, step: timedelta, source: str, seed: int = 3) -> None:
        self.batch = batch
        self.step = step
        self.source = source
        self._rng = random.Random(seed)
        self._current: list[TaskSession] = []
        self._previous: list[TaskSession] = []
        self._successes: dict[str, list[TaskSession]] = {}
        self.queries = 0

    @property
    def current(self) -> list[TaskSession]:
        """The failed sessions of the latest batch."""
        return list(self._current)

    @property
    def successes(self) -> list[TaskSession]:
        """The successes of the previous batch's VMs, seen by the latest poll."""
        return [s for batch in self._successes.values() for s in batch]

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
            self._successes.setdefault(s.job_name, []).append(ok)
        self._previous, self._current = self._current, []
        runs = max(self.batch // VMS_PER_RUN, 1)
        for r in range(runs):
            job = (k * runs + r) % JOBS
            for vm in range(VMS_PER_RUN):
                end = now - self.step + self.step * ((r * VMS_PER_RUN + vm + 1) / (runs * VMS_PER_RUN + 1))
                self._current.append(self._session(job, vm, k, "Failed", end, REASON.format(n=vm)))

    async def query_task_sessions(self, filter: str, *, sort_asc: str = "EndTime") -> list[TaskSession]:
        """The sessions EM would return for one of alertd's filters."""
        self.queries += 1
        if "Result==Success" in filter:
            job = _JOB.search(filter)
            return list(self._successes.get(job.group(1).replace('""', '"'), [])) if job else []
        start = _END_AFTER.search(filter)
        since = datetime.fromisoformat(start.group(1)) if start else datetime.min.replace(tzinfo=UTC)
        return [
            s for s in (*self._previous, *self._current) if s.end_time is not None and s.end_time >= since
        ]


class CannedRenderer:
    """Renders every group with one body rendered once by the real renderer (Jinja costs excluded)."""

    def __init__(self, sample: list[TaskSession]) -> None:
        group = AlertGroup(key="sample", receiver="ops", alerts=tuple(sample), details={})
        self._body = Renderer().render(group, "chat").body

    def render(self, group: AlertGroup, kind: str) -> RenderedMessage:
        title = f"[Failed] {group.alerts[0].job_name} on {SERVER}: {len(group.alerts)} failed"
        return RenderedMessage(title, self._body, BodyFormat.MARKDOWN, NotifyType.FAILURE)


def sample_sessions(source: str) -> list[TaskSession]:
    """One job run's worth of failed sessions, for rendering the canned body."""
    fleet = FleetSource(VMS_PER_RUN, timedelta(hours=1), source)
    fleet.advance(0, datetime(2026, 1, 1, tzinfo=UTC))
    return fleet.current

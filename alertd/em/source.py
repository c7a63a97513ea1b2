"""Enterprise Manager as an `alertd.source.Source`: the pipeline's questions as EM queries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from alertd.em.client import EMClient
from alertd.em.filters import all_of, cond, failed_since
from alertd.model import JobRef, JobRun
from alertd.source import Batch, ProbeReport


class EMSource:
    """One EM, read through `EMClient`'s query service."""

    def __init__(self, client: EMClient) -> None:
        self.client = client

    @property
    def clock_skew(self) -> timedelta | None:
        """Not measured yet."""
        return None

    @property
    def requests_made(self) -> int:
        """HTTP requests sent so far."""
        return self.client.requests_made

    async def failures(self, ended_after: datetime, results: Sequence[str]) -> Batch:
        """Completed Failed/Warning task sessions that ended at or after ``ended_after``."""
        return Batch(await self.client.query_task_sessions(failed_since(ended_after, results)))

    async def successes(self, job: JobRef, ended_after: datetime) -> Batch:
        """Successful task sessions of ``job`` that ended after ``ended_after``."""
        query = all_of(
            cond("State", "==", "Completed"),
            cond("Result", "==", "Success"),
            cond("JobName", "==", job.job_name),
            cond("EndTime", ">", ended_after),
        )
        return Batch(await self.client.query_task_sessions(query))

    async def job_runs(self, job_session_uids: Sequence[str]) -> list[JobRun]:
        """Not read yet."""
        return []

    async def probe(self) -> ProbeReport:
        """Not implemented yet."""
        raise NotImplementedError

    async def close(self) -> None:
        """Log off EM."""
        await self.client.close()

"""Job runs for the simulated server: one session with a task session per object, and retries.

A run's shape follows reference §4: a retry is a new session that processes only the failed
objects again, linked to the first run by ``originalSessionId`` (1.3-rev2); a job session's result
is the worst of its tasks unless a job-level step fails on its own (a synthetic full or merge,
Veeam's example message "Creating synthetic full backup (22% done)").
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from alertd.simulator.vbr.records import SessionRecord, TaskRecord
from alertd.simulator.vbr.store import VBRStore

__all__ = ["REASONS", "JobRun", "add_job_run", "job_id_for"]

_RANK: Final = {"Success": 0, "Warning": 1, "Failed": 2}
_JOBS_NAMESPACE: Final = uuid.UUID("5d2c8f0e-3f7b-4c53-9a55-6d1d0a1c9e21")
#: Realistic task messages (Veeam console wording).
REASONS: Final = {
    "Failed": (
        "Error: Failed to create VM snapshot. The operation is not allowed in the current state.",
        "Error: Cannot connect to the host: the remote procedure call failed",
        "Error: Insufficient free space on the backup repository",
    ),
    "Warning": (
        "Changed block tracking cannot be enabled: the VM has existing snapshots",
        "Unable to truncate SQL Server transaction logs",
    ),
}


@dataclass(frozen=True, slots=True)
class JobRun:
    """One stored run: its session and its task sessions."""

    session: SessionRecord
    tasks: tuple[TaskRecord, ...] = field(default_factory=tuple)

    @property
    def failed_objects(self) -> list[str]:
        return [t.name for t in self.tasks if t.result == "Failed"]


def job_id_for(job_name: str) -> str:
    """A stable job id per job name, so every run of a job shares its ``jobId``."""
    return str(uuid.uuid5(_JOBS_NAMESPACE, job_name))


def add_job_run(
    store: VBRStore,
    rng: random.Random,
    *,
    job_name: str,
    objects: Sequence[str],
    results: Mapping[str, str],
    reasons: Mapping[str, str],
    start: datetime,
    session_type: str,
    task_type: str,
    job_result: str | None,
    job_message: str | None,
    retry_of: JobRun | None,
    running: bool,
) -> JobRun:
    """Store a session and one task per object; see `SimulatedVBR.add_job_run`."""
    session_id = str(uuid.uuid4())
    original = retry_of.session.original_session_id or retry_of.session.id if retry_of else None
    number = (retry_of.session.retry_number or 0) + 1 if retry_of else None
    tasks: list[TaskRecord] = []
    end = start
    for i, name in enumerate(objects):
        created = start + timedelta(seconds=30 + 90 * i)
        result = "None" if running else results.get(name, "Success")
        message = reasons.get(name) or (rng.choice(REASONS[result]) if result in REASONS else "")
        end = created + timedelta(minutes=2)
        tasks.append(
            TaskRecord(
                id=str(uuid.uuid4()),
                session_id=session_id,
                session_type=session_type,
                type=task_type,
                name=name,
                creation_time=created,
                end_time=None if running else end,
                state="Working" if running else "Stopped",
                result=result,
                message=message,
                usn=store.next_usn(),
                processed_size=0 if result in ("Failed", "None") else rng.randrange(1 << 30, 200 << 30),
            )
        )
    worst = max((t.result for t in tasks), key=lambda r: _RANK.get(r, -1), default="Success")
    result = "None" if running else (job_result or worst)
    session = SessionRecord(
        id=session_id,
        job_id=job_id_for(job_name),
        job_name=job_name,
        session_type=session_type,
        creation_time=start,
        end_time=None if running else end + timedelta(minutes=1),
        state="Working" if running else "Stopped",
        result=result,
        message=job_message if job_message is not None else _job_message(result, tasks),
        usn=store.next_usn(),
        original_session_id=original or session_id,
        retry_number=number,
    )
    store.put_session(session)
    for task in tasks:
        store.put_task(task)
    return JobRun(session, tuple(tasks))


def _job_message(result: str, tasks: Sequence[TaskRecord]) -> str:
    failed = sum(1 for t in tasks if t.result == "Failed")
    warned = sum(1 for t in tasks if t.result == "Warning")
    if result == "Success":
        return "Success"
    if result == "None":
        return ""
    return f"{failed} of {len(tasks)} VMs failed, {warned} with warnings"

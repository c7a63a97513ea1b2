"""The simulated server's jobs, sessions and task sessions, with a global update sequence number."""

from __future__ import annotations

import dataclasses
from typing import Any

from alertd.simulator.vbr.records import JobRecord, SessionRecord, TaskRecord

__all__ = ["VBRStore"]


class VBRStore:
    """Jobs, sessions and task sessions by id (lower-case GUIDs).

    A job is registered, with `JobRecord`'s defaults, by the first session that names it.
    """

    def __init__(self) -> None:
        self.jobs: dict[str, JobRecord] = {}
        self.sessions: dict[str, SessionRecord] = {}
        self.tasks: dict[str, TaskRecord] = {}
        self._usn = 160_000  # Veeam's task examples show usn values around 162437-173280 (§5)

    def next_usn(self) -> int:
        self._usn += 1
        return self._usn

    def put_session(self, record: SessionRecord) -> SessionRecord:
        if record.job_id not in self.jobs:
            self.jobs[record.job_id] = JobRecord(record.job_id, record.job_name, record.session_type)
        self.sessions[record.id] = record
        return record

    def put_task(self, record: TaskRecord) -> TaskRecord:
        if record.session_id not in self.sessions:
            raise KeyError(f"task {record.id} names unknown session {record.session_id}")
        self.tasks[record.id] = record
        return record

    def update_session(self, session_id: str, **changes: Any) -> SessionRecord:
        """Replace a session with ``changes`` applied and a new usn."""
        record = dataclasses.replace(self.sessions[session_id.lower()], **changes, usn=self.next_usn())
        return self.put_session(record)

    def update_task(self, task_id: str, **changes: Any) -> TaskRecord:
        """Replace a task session with ``changes`` applied and a new usn."""
        record = dataclasses.replace(self.tasks[task_id.lower()], **changes, usn=self.next_usn())
        return self.put_task(record)

    def tasks_of(self, session_id: str) -> list[TaskRecord]:
        return [task for task in self.tasks.values() if task.session_id == session_id]

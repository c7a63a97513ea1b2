"""The stored shapes of a VBR server's data: jobs, job sessions and task sessions.

Records are frozen: the store swaps whole records on change and bumps ``usn`` ("update sequence
number", required on both, §5), as the real server is presumed to (open question 11).
Times are aware UTC datetimes; rendering writes them in the server's zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["JobRecord", "SessionRecord", "TaskRecord"]


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """One session of ``/api/v1/sessions`` (a job run, or another operation)."""

    id: str
    job_id: str
    job_name: str
    session_type: str
    creation_time: datetime
    end_time: datetime | None
    state: str
    result: str
    message: str
    usn: int
    is_canceled: bool = False
    #: The first session of the run chain (equals ``id`` for the original run, §4).
    original_session_id: str | None = None
    #: 1-based retry number; None for the original run.
    retry_number: int | None = None

    @property
    def is_retry(self) -> bool:
        return self.retry_number is not None


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """One task session of ``/api/v1/taskSessions``: one object in one session."""

    id: str
    session_id: str
    session_type: str
    type: str
    name: str
    creation_time: datetime
    end_time: datetime | None
    state: str
    result: str
    message: str
    usn: int
    is_canceled: bool = False
    processed_size: int = 0


@dataclass(frozen=True, slots=True)
class JobRecord:
    """One job of ``/api/v1/jobs/{id}``: what alertd reads of it, its retry settings.

    The defaults are Veeam's own example job (``vSphereBackupJobModelExample`` in every subset:
    scheduled, ``retry: {isEnabled: true, retryCount: 3, awaitMinutes: 10}``), which match the
    help page's "3 retries" (reference §4).
    """

    id: str
    name: str
    session_type: str
    run_automatically: bool = True
    retry_enabled: bool = True
    retry_count: int = 3
    await_minutes: int = 10
    is_disabled: bool = False

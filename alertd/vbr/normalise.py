"""Map VBR sessions and task sessions to alertd's model (`TaskSession`, `JobRun`).

Pure. The labels match the EM source's (``source``, ``backup_server``, ``job_name``, ``vm``,
``result``, ``reason``), so routes, silences, holds and messages work unchanged. Mapping from
reference §8.3; which rows count is decided here too:

* only final rows: ``state == Stopped`` and a result other than ``None`` (§3.3, §8.2); their state
  is written ``Completed``, the model's word for a finished task (EM's vocabulary);
* only ``Backup`` and ``Replica`` task sessions: ``Antivirus`` rows have no result and ``Restore``
  rows are not backups (§3.3);
* a job-level alert is a job session whose result is worse than every task session it has (a
  synthetic full or merge failing after every VM succeeded, §4 "Job failures with no failed task").

UIDs: ``vbr:<source>:task:<id>`` and ``vbr:<source>:session:<id>``. Veeam's ids are GUIDs, but the
state keeps one dedup table for every source, so the source name keeps two servers (or one server
configured twice, or a configuration restored onto a second server, which keeps its ids) from
ever suppressing each other's alerts. Renaming a source therefore starts it afresh, as its
watermark (kept per source name) already does.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Final

from alertd.model import JobRef, JobRun, Result, TaskSession
from alertd.vbr.decode import SessionRow, TaskRow

__all__ = [
    "JOB_SESSION_TYPES",
    "TASK_TYPES",
    "canonical_result",
    "ends_after",
    "final_in",
    "is_final",
    "is_job_session",
    "is_uuid",
    "job_level_session",
    "job_name",
    "job_run",
    "parse_session_uid",
    "same_job",
    "session_uid",
    "task_session",
    "task_uid",
    "unexplained",
    "wanted_task",
]

#: Task-session types that are backups (``ETaskSessionType``: Backup, Restore, Antivirus, Replica).
TASK_TYPES: Final = frozenset({"backup", "replica"})

#: Session types that are backup or replication job runs, whose failures alert even without a
#: failed task. ``Job`` covers every job in 1.1-rev0 (§2.2); the rest are the job-like values of
#: ``ESessionType`` in 1.2-rev1, 1.3-rev0 and 1.3-rev2. Restores, failovers, rescans and other
#: operations are not backups and do not alert. ``BackupCopyJobParent`` is left out because its
#: ``BackupCopyJob`` children carry the same failure.
JOB_SESSION_TYPES: Final = frozenset(
    t.lower()
    for t in (
        "Job",
        "BackupJob",
        "ReplicaJob",
        "BackupCopyJob",
        "CopyBackup",
        "PerVmCopyBackup",
        "AgentBackup",
        "AgentPolicy",
        "AgentManagement",
        "EndpointBackup",
        "SqlLogBackup",
        "OracleLogBackup",
        "PostgreSqlLogBackup",
        "ArchiveBackup",
        "UnstructuredDataBackupCopy",
        "PlatformBackupJob",
        "PlatformSnapshotJob",
        "PlatformSnapshotCopyJob",
        "IrisBackup",
        "ConfigurationBackup",
    )
)

_RANK: Final = {"success": 0, "warning": 1, "failed": 2}
# The console titles a retry "<job> (Retry 2)"; whether REST names carry it is open question 5.
_RETRY_SUFFIX: Final = re.compile(r"^(.*\S)\s+\(Retry\s+([0-9]+)\)$", re.IGNORECASE)


def task_uid(source: str, task_id: str) -> str:
    """The dedup key of a task session."""
    return f"vbr:{source}:task:{task_id.lower()}"


def session_uid(source: str, session_id: str) -> str:
    """The key of a job session: ``TaskSession.job_session_uid``, ``JobRun.uid``, a job-level alert's uid."""
    return f"vbr:{source}:session:{session_id.lower()}"


def parse_session_uid(source: str, uid: str) -> str | None:
    """The session id inside ``session_uid(source, id)``, or None for any other uid."""
    prefix = f"vbr:{source}:session:"
    return uid[len(prefix) :] if uid.startswith(prefix) and len(uid) > len(prefix) else None


def job_name(raw: str) -> tuple[str, int | None]:
    """The job's name and retry number from a session name: ``"SQL (Retry 2)"`` -> ``("SQL", 2)``."""
    m = _RETRY_SUFFIX.match(raw.strip())
    return (m.group(1), int(m.group(2))) if m else (raw.strip(), None)


def is_final(state: str | None, result: str | None) -> bool:
    """A finished row: ``Stopped`` with a real result (reference §8.2, "Rows that are not final")."""
    return (state or "").lower() == "stopped" and (result or "None").lower() in _RANK


def _reason(message: str, canceled: bool) -> str:
    # isCanceled is its own reason (§8.3); the message usually says more, so it is kept.
    if canceled and "cancel" not in message.lower():
        return f"Canceled: {message}" if message else "Canceled"
    return message


def _name(label: str, row_time: object) -> str:
    # EM's Name is "<object>@<YYYY-MM-DD hh:mm:ss>" in UTC; the same form keeps rendering uniform.
    return f"{label}@{row_time:%Y-%m-%d %H:%M:%S}"


def task_session(row: TaskRow, run: SessionRow | None, *, source: str, backup_server: str) -> TaskSession:
    """One final Backup/Replica task session; ``run`` is its job session when known."""
    name, _ = job_name(run.name) if run else ("", None)
    vm = row.name or f"(unnamed object {row.id})"
    return TaskSession(
        uid=task_uid(source, row.id),
        name=_name(vm, row.creation_time),
        vm=vm,
        vm_uid=None,  # task sessions carry no object id (TaskSessionModel, every revision)
        job_session_uid=session_uid(source, row.session_id),
        job_name=name,
        backup_server=backup_server,
        creation_time=row.creation_time,
        end_time=row.end_time,
        state="Completed" if is_final(row.state, row.result) else (row.state or ""),
        result=row.result or "None",
        reason=_reason(row.message, row.is_canceled),
        total_size=row.processed_size,
        source=source,
        job_uid=run.job_id if run else None,
    )


def job_level_session(run: SessionRow, *, source: str, backup_server: str) -> TaskSession:
    """A job session's own result as an alert (``vm`` empty, ``uid`` the session's key)."""
    name, _ = job_name(run.name)
    return TaskSession(
        uid=session_uid(source, run.id),
        name=_name(name, run.creation_time),
        vm="",
        vm_uid=None,
        job_session_uid=session_uid(source, run.id),
        job_name=name,
        backup_server=backup_server,
        creation_time=run.creation_time,
        end_time=run.end_time,
        state="Completed" if is_final(run.state, run.result) else run.state,
        result=run.result or "None",
        reason=_reason(run.message, run.is_canceled),
        total_size=0,
        source=source,
        job_uid=run.job_id,
        job_level=True,
    )


def job_run(
    run: SessionRow,
    *,
    source: str,
    backup_server: str,
    task_count: int | None = None,
    by_settings: bool | None = None,
) -> JobRun:
    """A job session as the model's JobRun. Whether it is Veeam's retry, first answer wins:

    1. ``retryInfo`` / ``originalSessionId`` (1.3-rev2, reference §4);
    2. ``by_settings``: the job's retry settings and its earlier sessions (`alertd.vbr.jobs`),
       None when they could not tell;
    3. a " (Retry N)" suffix on the name, the console's title (open question 5: no document says
       REST names carry it), the last resort.
    """
    name, retry_number = job_name(run.name)
    if run.has_retry_info or run.original_session_id:
        # "For any retry session, the value equals the id of the original run" (§4).
        is_retry = run.has_retry_info or run.original_session_id != run.id
    elif by_settings is not None:
        is_retry = by_settings
    else:
        is_retry = retry_number is not None
    return JobRun(
        uid=session_uid(source, run.id),
        job_uid=run.job_id,
        job_name=name,
        job_type=run.session_type or None,
        is_retry=is_retry,
        state="Completed" if is_final(run.state, run.result) else run.state,
        result=run.result,
        creation_time=run.creation_time,
        end_time=run.end_time,
        backup_server=backup_server,
        task_count=task_count,
    )


def unexplained(run: SessionRow, tasks: Iterable[TaskRow]) -> bool:
    """Whether ``run``'s result is worse than the worst result among ``tasks`` (its own task sessions)."""
    worst = max((_RANK.get((t.result or "").lower(), -1) for t in tasks), default=-1)
    return _RANK.get((run.result or "").lower(), -1) > max(worst, 0)


def is_job_session(run: SessionRow) -> bool:
    """A backup or replication job run (see JOB_SESSION_TYPES)."""
    return run.session_type.lower() in JOB_SESSION_TYPES


def canonical_result(result: str) -> str:
    """``failed`` -> ``Failed``; ValueError for anything but Success, Warning or Failed."""
    for known in Result:
        if known.value.lower() == result.strip().lower():
            return known.value
    raise ValueError(f"unknown result {result!r}; expected Success, Warning or Failed")


def ends_after(end: datetime | None, bound: datetime) -> bool:
    """Ended, strictly after ``bound``."""
    return end is not None and end > bound


def final_in(
    state: str | None, result: str | None, end: datetime | None, wanted: Iterable[str], bound: datetime
) -> bool:
    """Final, with one of the ``wanted`` results, ended at or after ``bound``."""
    return (
        is_final(state, result)
        and result is not None
        and result in wanted
        and end is not None
        and end >= bound
    )


def wanted_task(
    kind: str,
    state: str | None,
    result: str | None,
    end: datetime | None,
    wanted: Iterable[str],
    bound: datetime,
) -> bool:
    """A Backup/Replica task row for the failure batch."""
    return kind.lower() in TASK_TYPES and final_in(state, result, end, wanted, bound)


def is_uuid(text: str | None) -> bool:
    """jobIdFilter takes a uuid; any other job id (another source's) falls back to the name."""
    try:
        uuid.UUID(text or "")
    except ValueError:
        return False
    return True


def same_job(run: SessionRow, job: JobRef) -> bool:
    """``run`` belongs to ``job``: by job id when it is a uuid, else by name (retry suffix removed)."""
    if is_uuid(job.job_uid):
        return run.job_id == (job.job_uid or "").lower()
    return job_name(run.name)[0] == job.job_name

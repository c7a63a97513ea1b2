"""The stored shapes of EM's session data: task sessions, job sessions and their enums.

Records are frozen: the store swaps whole records on change, which keeps query caches honest.
UIDs are kept as bare lower-case GUIDs; the ``urn`` properties give EM's ``urn:veeam:...`` form.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from alertd.simulator.timefmt import format_name_time

#: Task-session states in EM's enum order (filters compare enums by index).
TASK_STATES = ("InProgress", "Pending", "Completed")
#: Results in enum order. ``None`` (what a running job shows) sorts below Success, as in VBR's
#: enum where None = -1; the documented order Success < Warning < Failed is kept.
RESULTS = ("None", "Success", "Warning", "Failed")
#: Job-session states, in the order the docs list them.
JOB_STATES = ("Starting", "Stopping", "Working", "Pausing", "Resuming", "Stopped")
JOB_TYPES = (
    "Backup",
    "BackupCopy",
    "ImmediateBackupCopy",
    "ImmediateBackupCopyWorker",
    "AgentBackup",
    "AgentManagement",
    "NasBackup",
)


def canonical(value: str, choices: tuple[str, ...], what: str) -> str:
    """Map a case-insensitive enum spelling to EM's spelling, or raise ValueError."""
    for choice in choices:
        if choice.lower() == value.lower():
            return choice
    raise ValueError(f"unknown {what} {value!r}; expected one of {', '.join(choices)}")


def bare_uid(uid: str) -> str:
    """``urn:veeam:Job:ABC`` -> ``abc``; bare GUIDs are just lower-cased."""
    return uid.rsplit(":", 1)[-1].lower() if uid.lower().startswith("urn:") else uid.lower()


@dataclass(frozen=True, slots=True)
class JobSessionRecord:
    """One job run (EM's BackupJobSession)."""

    uid: str
    job_uid: str
    job_name: str
    job_type: str
    backup_server: str
    backup_server_uid: str
    creation_time: datetime
    end_time: datetime | None
    state: str
    result: str
    progress: int
    is_retry: bool
    visible: bool = True
    #: Name the run with fractions of a second, ``"Backup Job 2@2025-08-15 20:00:24.003406"``, as
    #: every job session of the 13.1 get_query_backupjobsession.html example is (the fraction
    #: matches CreationTimeUTC's); the task-session link of the 13.1 task example has none.
    name_fraction: bool = False

    @property
    def name(self) -> str:
        """``"<JobName>@<YYYY-MM-DD hh:mm:ss[.f]>"``, the BackupJobSessionReference Name.

        A backup-copy child's JobName is ``"<parent>\\<child>"``, so its runs are named
        ``"Periodic Backup Copy Job\\Backup Job 1@2025-08-16 05:17:38.22142"`` (same page).
        """
        return f"{self.job_name}@{format_name_time(self.creation_time, fraction=self.name_fraction)}"

    @property
    def urn(self) -> str:
        return f"urn:veeam:BackupJobSession:{self.uid}"

    @property
    def job_urn(self) -> str:
        return f"urn:veeam:Job:{self.job_uid}"


@dataclass(frozen=True, slots=True)
class TaskSessionRecord:
    """One VM inside one job run (EM's BackupTaskSession), with the fields filters can see.

    ``visible`` models EM's collection lag: a hidden session exists on the backup server but
    EM has not collected it yet, so no query returns it.
    """

    uid: str
    vm: str
    vm_uid: str
    job_session_uid: str
    job_session_name: str
    job_uid: str
    job_name: str
    backup_server: str
    backup_server_uid: str
    creation_time: datetime
    end_time: datetime | None
    state: str
    result: str
    reason: str
    total_size: int
    visible: bool = True

    @property
    def name(self) -> str:
        """``"<vm>@<YYYY-MM-DD hh:mm:ss>"`` in UTC, as in every doc example."""
        return f"{self.vm}@{format_name_time(self.creation_time)}"

    @property
    def urn(self) -> str:
        return f"urn:veeam:BackupTaskSession:{self.uid}"

    @property
    def job_session_urn(self) -> str:
        return f"urn:veeam:BackupJobSession:{self.job_session_uid}"

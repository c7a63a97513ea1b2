"""Value objects shared by every stage: task sessions, alert groups and rendered messages.

This module imports nothing from alertd, so every other module may depend on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

#: The labels a route matcher may name.
MATCHER_LABELS = ("source", "backup_server", "job_name", "vm", "result", "reason", "streak")


class Result(StrEnum):
    """A task session's result, in EM's enum order (Success < Warning < Failed)."""

    SUCCESS = "Success"
    WARNING = "Warning"
    FAILED = "Failed"


@dataclass(frozen=True, slots=True)
class TaskSession:
    """One VM (or object) inside one job run, as read from Enterprise Manager.

    Times are timezone-aware UTC datetimes. ``end_time`` is None while the task runs.
    """

    uid: str
    name: str
    vm: str
    vm_uid: str | None
    job_session_uid: str
    job_name: str
    backup_server: str
    creation_time: datetime
    end_time: datetime | None
    state: str
    result: str
    reason: str
    total_size: int
    source: str
    #: The job's own id (EM: JobUid from the job-session entity; VBR: jobId), when known.
    job_uid: str | None = None
    #: A job-level failure with no failed task behind it (VBR: a synthetic full or merge failing);
    #: ``vm`` is then empty and ``uid`` is the job session's id.
    job_level: bool = False

    def labels(self) -> dict[str, str]:
        """The labels routes match on."""
        return {
            "source": self.source,
            "backup_server": self.backup_server,
            "job_name": self.job_name,
            "vm": self.vm,
            "result": self.result,
            "reason": self.reason,
            "job_session": self.job_session_uid,
        }


@dataclass(frozen=True, slots=True)
class JobRun:
    """One job run (EM: a BackupJobSession entity; VBR: a session of /api/v1/sessions).

    Read once per run and cached in the state: the job's identity (``job_uid``), its real name
    (task sessions only carry ``"<job name>@<time>"``), whether it is Veeam's own retry, and, when
    the source can count them cheaply, how many task sessions (VMs) the run holds.
    """

    uid: str
    job_uid: str | None
    job_name: str
    job_type: str | None = None
    is_retry: bool = False
    state: str | None = None
    result: str | None = None
    creation_time: datetime | None = None
    end_time: datetime | None = None
    backup_server: str = ""
    task_count: int | None = None


@dataclass(frozen=True, slots=True)
class JobRef:
    """A job as success queries name it: by its id when known, else by its name."""

    job_uid: str | None
    job_name: str


class GroupKind(StrEnum):
    """What a group's message reports."""

    FIRING = "firing"
    RESOLVED = "resolved"
    RECOVERED_ON_RETRY = "recovered_on_retry"
    FLAPPING = "flapping"


@dataclass(frozen=True, slots=True)
class AlertDetail:
    """Per-alert facts beyond the task session, from incident tracking.

    ``attempts``: failed task sessions of this VM folded into this alert (Veeam's own retries);
    ``streak``: consecutive failed runs of this VM in this job, this one included;
    ``failed_runs`` and ``since``: for a recovery, how many runs failed and since when;
    ``late_by``: set when the session reached alertd late (EM collected it after the normal
    window had passed it): the time from its EndTime to when alertd first saw it.
    """

    attempts: int = 1
    streak: int = 1
    failed_runs: int = 0
    since: datetime | None = None
    late_by: timedelta | None = None


@dataclass(frozen=True, slots=True)
class AlertGroup:
    """The alerts of one group flushed to one receiver: the input of rendering.

    ``sequence`` is 1 for the first message of a group key and grows with each follow-up;
    ``earlier_count`` is how many alerts of this group key went out in earlier messages.
    """

    key: str
    receiver: str
    alerts: tuple[TaskSession, ...]
    sequence: int = 1
    earlier_count: int = 0
    labels: dict[str, str] = field(default_factory=dict)
    kind: GroupKind = GroupKind.FIRING
    details: dict[str, AlertDetail] = field(default_factory=dict)
    #: The job runs the alerts belong to, by job-session uid, when the source could read them.
    job_runs: dict[str, JobRun] = field(default_factory=dict)

    def detail(self, uid: str) -> AlertDetail:
        """The incident facts of one alert (defaults when none were recorded)."""
        return self.details.get(uid, AlertDetail())

    @property
    def is_follow_up(self) -> bool:
        """True when an earlier message of the same group already went out."""
        return self.sequence > 1


class NotifyType(StrEnum):
    """Severity of a message, mapped to apprise's NotifyType at the edge."""

    INFO = "info"
    SUCCESS = "success"
    WARNING = "warning"
    FAILURE = "failure"


class BodyFormat(StrEnum):
    """How a rendered body is written, mapped to apprise's NotifyFormat at the edge.

    ``JSON`` is a native payload (Slack Block Kit, a Teams Adaptive Card) posted as it is.
    """

    MARKDOWN = "markdown"
    HTML = "html"
    TEXT = "text"
    JSON = "json"


class Channel(StrEnum):
    """What a target's messages are laid out for: one rendering per channel per message."""

    CHAT = "chat"  # Markdown through apprise (any chat-like service)
    EMAIL = "email"  # HTML with a text part, through apprise's email plugins
    SLACK = "slack"  # native Block Kit, posted by alertd
    TEAMS = "teams"  # native Adaptive Card through a Workflows webhook, posted by alertd


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file sent with a message (e.g. the full VM list of a large run as CSV)."""

    name: str
    mime_type: str
    content: str


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    """A message ready for one target: what the outbox stores and the notifier sends.

    ``text`` is a plain-text alternative (an email's text/plain part, Slack's notification
    line); ``attachments`` travel with channels that can carry files.
    """

    title: str
    body: str
    body_format: BodyFormat
    notify_type: NotifyType
    text: str | None = None
    attachments: tuple[Attachment, ...] = ()

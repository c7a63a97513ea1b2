"""What every body renderer (XML, JSON) must produce, plus the tables both share."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from http import HTTPStatus
from typing import Protocol

from alertd.simulator.links import Hrefs
from alertd.simulator.query import QueryPage
from alertd.simulator.records import JobSessionRecord, TaskSessionRecord

#: (Rel, Type, collection path) of the Down links a LogonSession lists (EM lists about 60).
#: A subset of the ~60 links of the documented LogonSession body (em_rest/logging_on.html).
LOGON_LINKS = (
    ("Down", "BackupServerReferenceList", "backupServers"),
    ("Down", "JobReferenceList", "jobs"),
    ("Down", "BackupJobSessionReferenceList", "backupSessions"),
    ("Down", "BackupTaskSessionReferenceList", "backupTaskSessions"),
    ("Down", "ReplicaJobSessionReferenceList", "replicaSessions"),
    ("Down", "RestoreSessionReferenceList", "restoreSessions"),
    ("Down", "QueryService", "querySvc"),
)
#: API versions EM 13 answers for (``latest`` means the last one; em_rest/em_web_api_versions.html).
VERSIONS = ("v1_5", "v1_6", "v1_7")


def error_status(status: int) -> str | None:
    """The ``Status`` attribute: .NET's HttpStatusCode name, missing for 400 and 5xx.

    Both real samples in the reference lack it (a 500 in XML, a 400 in JSON), so the
    simulator keeps it only on the auth and routing errors, exercising both shapes.
    """
    if status == 400 or status >= 500:
        return None
    try:
        return HTTPStatus(status).phrase.replace(" ", "")
    except ValueError:
        return None


def restore_point_uid(task_uid: str) -> str:
    """A stable VmRestorePoint id for a successful task's Related link (em_rest/backuptasksessions_id.html)."""
    return str(uuid.uuid5(uuid.NAMESPACE_OID, task_uid))


def plural(type_name: str) -> str:
    """The Entities list name for a query type: BackupTaskSession -> BackupTaskSessions."""
    return type_name + "s"


class Renderer(Protocol):
    """Turns simulator data into one representation (XML or JSON)."""

    content_type: str
    hrefs: Hrefs

    def versions(self) -> bytes: ...

    def logon(self, session_id: str, username: str) -> bytes: ...

    def error(self, status: int, message: str) -> bytes: ...

    def query(self, page: QueryPage) -> bytes: ...

    def task_list(self, tasks: Sequence[TaskSessionRecord], *, entity: bool) -> bytes: ...

    def job_list(self, jobs: Sequence[JobSessionRecord], *, entity: bool) -> bytes: ...

    def task(self, task: TaskSessionRecord, *, entity: bool) -> bytes: ...

    def job(self, job: JobSessionRecord, *, entity: bool) -> bytes: ...

    def oversized_prefix(self) -> bytes:
        """The first bytes of a huge, never-ending query result (padding follows)."""
        ...

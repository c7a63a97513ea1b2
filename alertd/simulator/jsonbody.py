"""JSON bodies shaped like EM's: PascalCase keys, double-wrapped lists, null branches, a BOM.

Optionally camelCase keys, to test clients against the unverified "EM 13" rumour.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TypeAlias

from alertd.simulator.links import Hrefs
from alertd.simulator.query import QueryPage
from alertd.simulator.records import JobSessionRecord, TaskSessionRecord
from alertd.simulator.render import LOGON_LINKS, VERSIONS, error_status, plural, restore_point_uid
from alertd.simulator.timefmt import format_utc

Json: TypeAlias = dict[str, "Json"] | list["Json"] | str | int | bool | None
Obj: TypeAlias = dict[str, Json]

BOM = b"\xef\xbb\xbf"
#: Sibling lists of ``Entities`` that stay null, as in EM's serialisation of QueryResult.
_ENTITY_LISTS = (
    "BackupJobSessions",
    "BackupTaskSessions",
    "ReplicaJobSessions",
    "ReplicaTaskSessions",
    "RestoreSessions",
)


def camel(key: str) -> str:
    """``VmUid`` -> ``vmUid``, ``UID`` -> ``uid``, ``CreationTimeUTC`` -> ``creationTimeUTC``."""
    return key.lower() if key.isupper() else key[:1].lower() + key[1:]


def _camel_keys(value: Json) -> Json:
    if isinstance(value, dict):
        return {camel(key): _camel_keys(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_camel_keys(item) for item in value]
    return value


def _link(rel: str, href: str, name: str | None = None, type_: str | None = None) -> Obj:
    return {"Rel": rel, "Href": href, "Name": name, "Type": type_}


class JsonRenderer:
    """EM's JSON representation."""

    content_type = "application/json"

    def __init__(
        self, hrefs: Hrefs, *, bom: bool = True, camel_case: bool = False, vm_uid: bool = True
    ) -> None:
        self.hrefs = hrefs
        self.bom = bom
        self.camel_case = camel_case
        self.vm_uid = vm_uid

    def _dump(self, body: Json) -> bytes:
        if self.camel_case:
            body = _camel_keys(body)
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        return BOM + data if self.bom else data

    def versions(self) -> bytes:
        create = self.hrefs.collection("sessionMngr/?v=")
        supported: list[Json] = [
            {"Name": version, "Links": [_link("Create", create + version, None, "LogonSession")]}
            for version in VERSIONS
        ]
        return self._dump(
            {
                "Links": [
                    _link("Down", self.hrefs.collection("logonSessions"), None, "LogonSessionList"),
                    _link("Create", create + "latest", None, "LogonSession"),
                ],
                "SupportedVersions": {"SupportedVersions": supported},
            }
        )

    def logon(self, session_id: str, username: str) -> bytes:
        href = self.hrefs.logon_session(session_id)
        links: list[Json] = [
            _link(rel, self.hrefs.collection(path), None, type_) for rel, type_, path in LOGON_LINKS
        ]
        links.append(_link("Delete", href))
        return self._dump(
            {
                "UserName": username,
                "SessionId": session_id,
                "Links": links,
                "Href": href,
                "Type": "LogonSession",
            }
        )

    def error(self, status: int, message: str) -> bytes:
        return self._dump(
            {
                "FirstChanceExceptionMessage": message if status >= 500 else None,
                "Message": message,
                "StackTrace": None,
                "Status": error_status(status),
                "StatusCode": status,
            }
        )

    def query(self, page: QueryPage) -> bytes:
        request = page.request
        rows: list[Json] = [self._task(t, entity=request.entities) for t in page.tasks]
        rows += [self._job(j, entity=request.entities) for j in page.jobs]
        name = plural(request.type_name)
        entities: Obj | None = None
        if request.entities:
            entities = dict.fromkeys(_ENTITY_LISTS)
            entities[name] = {name: rows}
        return self._dump(
            {
                "Refs": None if request.entities else {"Refs": rows},
                "Entities": entities,
                "Resources": None,
                "Links": None,
                "PagingInfo": {
                    "Links": [_link(rel, href) for rel, href in page.links],
                    "PageNum": request.page,
                    "PageSize": page.page_size,
                    "PagesCount": page.pages_count,
                },
            }
        )

    # Plain collections are not double-wrapped: {"Refs":[...]} or {"BackupTaskSessions":[...]}.
    def task_list(self, tasks: Sequence[TaskSessionRecord], *, entity: bool) -> bytes:
        rows: list[Json] = [self._task(task, entity=entity) for task in tasks]
        return self._dump({"BackupTaskSessions" if entity else "Refs": rows})

    def job_list(self, jobs: Sequence[JobSessionRecord], *, entity: bool) -> bytes:
        rows: list[Json] = [self._job(job, entity=entity) for job in jobs]
        return self._dump({"BackupJobSessions" if entity else "Refs": rows})

    def task(self, task: TaskSessionRecord, *, entity: bool) -> bytes:
        return self._dump(self._task(task, entity=entity))

    def job(self, job: JobSessionRecord, *, entity: bool) -> bytes:
        return self._dump(self._job(job, entity=entity))

    def oversized_prefix(self) -> bytes:
        head = b'{"Refs":null,"Entities":{"BackupTaskSessions":{"BackupTaskSessions":['
        return BOM + head if self.bom else head

    def _ref(self, urn: str, name: str, href: str, type_: str) -> Obj:
        return {
            "Links": [_link("Alternate", href + "?format=Entity", name, type_)],
            "UID": urn,
            "Name": name,
            "Href": href,
            "Type": type_ + "Reference",
        }

    def _task(self, task: TaskSessionRecord, *, entity: bool) -> Obj:
        hrefs = self.hrefs
        if not entity:
            return self._ref(task.urn, task.name, hrefs.task(task.uid), "BackupTaskSession")
        links: list[Json] = [
            _link(
                "Up", hrefs.backup_server(task.backup_server_uid), task.backup_server, "BackupServerReference"
            ),
            _link(
                "Up",
                hrefs.job_session(task.job_session_uid),
                task.job_session_name,
                "BackupJobSessionReference",
            ),
            _link("Alternate", hrefs.task(task.uid), task.name, "BackupTaskSessionReference"),
        ]
        if task.state == "Completed" and task.result != "Failed":
            rp = restore_point_uid(task.uid)
            links.append(
                _link(
                    "Related",
                    hrefs.collection(f"vmRestorePoints/{rp}?format=Entity"),
                    task.name,
                    "VmRestorePoint",
                )
            )
        body: Obj = {"JobSessionUid": task.job_session_urn, "CreationTimeUTC": format_utc(task.creation_time)}
        if task.end_time is not None:  # the key is missing, not null, while the task runs
            body["EndTimeUTC"] = format_utc(task.end_time)
        body |= {
            "State": task.state,
            "Result": task.result,
            "Reason": task.reason,
            "TotalSize": task.total_size,
        }
        if self.vm_uid:  # 13.x docs; absent on EM 9.x (audit notes)
            body["VmUid"] = task.vm_uid
        return body | {
            "VmDisplayName": task.vm,
            "Name": task.name,
            "UID": task.urn,
            "Links": links,
            "Href": hrefs.task(task.uid, entity=True),
            "Type": "BackupTaskSession",
        }

    def _job(self, job: JobSessionRecord, *, entity: bool) -> Obj:
        hrefs = self.hrefs
        if not entity:
            return self._ref(job.urn, job.name, hrefs.job_session(job.uid), "BackupJobSession")
        body: Obj = {
            "JobUid": job.job_urn,
            "JobName": job.job_name,
            "JobType": job.job_type,
            "CreationTimeUTC": format_utc(job.creation_time),
        }
        if job.end_time is not None:
            body["EndTimeUTC"] = format_utc(job.end_time)
        return body | {
            "State": job.state,
            "Result": job.result,
            "Progress": job.progress,
            "IsRetry": job.is_retry,
            "Name": job.name,
            "UID": job.urn,
            "Links": [
                _link(
                    "Up",
                    hrefs.backup_server(job.backup_server_uid),
                    job.backup_server,
                    "BackupServerReference",
                ),
                _link("Up", hrefs.job(job.job_uid), job.job_name, "JobReference"),
                _link("Down", hrefs.job_session_tasks(job.uid), None, "BackupTaskSessionReferenceList"),
                _link("Alternate", hrefs.job_session(job.uid), job.name, "BackupJobSessionReference"),
            ],
            "Href": hrefs.job_session(job.uid, entity=True),
            "Type": "BackupJobSession",
        }

"""XML bodies shaped like EM's (reference section 3.1): prolog, namespaces, attribute order."""

from __future__ import annotations

from collections.abc import Sequence

from alertd.simulator.links import Hrefs
from alertd.simulator.query import QueryPage
from alertd.simulator.records import JobSessionRecord, TaskSessionRecord
from alertd.simulator.render import LOGON_LINKS, VERSIONS, error_status, plural, restore_point_uid
from alertd.simulator.timefmt import format_utc

NAMESPACES = (
    ("xmlns", "http://www.veeam.com/ent/v1.0"),
    ("xmlns:xsd", "http://www.w3.org/2001/XMLSchema"),
    ("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance"),
)
Attrs = Sequence[tuple[str, str | None]]


def _escape(text: str) -> str:
    """Escape text content; a CR is written as a reference so parsers keep Reasons' CRLFs."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#xD;")


def _escape_attr(text: str) -> str:
    """Attribute values also need quotes and whitespace escaped (parsers normalise them)."""
    return _escape(text).replace('"', "&quot;").replace("\n", "&#xA;").replace("\t", "&#x9;")


def _attrs(attrs: Attrs) -> str:
    return "".join(f' {key}="{_escape_attr(value)}"' for key, value in attrs if value is not None)


class _Doc:
    """An indented XML document; the first element opened gets the namespace declarations."""

    def __init__(self) -> None:
        self.lines = ['<?xml version="1.0" encoding="utf-8"?>']
        self.depth = 0

    def _tag(self, name: str, attrs: Attrs) -> str:
        extra = NAMESPACES if len(self.lines) == 1 else ()
        return f"{name}{_attrs([*attrs, *extra])}"

    def open(self, name: str, attrs: Attrs = ()) -> None:
        self.lines.append("  " * self.depth + f"<{self._tag(name, attrs)}>")
        self.depth += 1

    def close(self, name: str) -> None:
        self.depth -= 1
        self.lines.append("  " * self.depth + f"</{name}>")

    def leaf(self, name: str, text: str | None = None, attrs: Attrs = ()) -> None:
        """``<Name>text</Name>``, or ``<Name />`` when text is empty (EM's ``<Reason />``)."""
        tag = self._tag(name, attrs)
        body = f"<{tag} />" if not text else f"<{tag}>{_escape(text)}</{name}>"
        self.lines.append("  " * self.depth + body)

    def link(self, rel: str, type_: str | None, href: str, name: str | None = None) -> None:
        self.leaf("Link", attrs=[("Rel", rel), ("Type", type_), ("Href", href), ("Name", name)])

    def bytes(self) -> bytes:
        return ("\r\n".join(self.lines) + "\r\n").encode()


class XmlRenderer:
    """EM's XML representation."""

    content_type = "application/xml"

    def __init__(self, hrefs: Hrefs, *, vm_uid: bool = True) -> None:
        self.hrefs = hrefs
        self.vm_uid = vm_uid

    def versions(self) -> bytes:
        doc = _Doc()
        doc.open("EnterpriseManager")
        doc.open("Links")
        create = self.hrefs.collection("sessionMngr/?v=")
        doc.leaf(
            "Link",
            attrs=[
                ("Href", self.hrefs.collection("logonSessions")),
                ("Type", "LogonSessionList"),
                ("Rel", "Down"),
            ],
        )
        doc.leaf("Link", attrs=[("Href", create + "latest"), ("Type", "LogonSession"), ("Rel", "Create")])
        doc.close("Links")
        doc.open("SupportedVersions")
        for version in VERSIONS:
            doc.open("SupportedVersion", [("Name", version)])
            doc.open("Links")
            doc.leaf("Link", attrs=[("Href", create + version), ("Type", "LogonSession"), ("Rel", "Create")])
            doc.close("Links")
            doc.close("SupportedVersion")
        doc.close("SupportedVersions")
        doc.close("EnterpriseManager")
        return doc.bytes()

    def logon(self, session_id: str, username: str) -> bytes:
        doc = _Doc()
        href = self.hrefs.logon_session(session_id)
        doc.open("LogonSession", [("Type", "LogonSession"), ("Href", href)])
        doc.open("Links")
        for rel, type_, path in LOGON_LINKS:
            doc.link(rel, type_, self.hrefs.collection(path))
        doc.link("Delete", None, href)
        doc.close("Links")
        doc.leaf("UserName", username)
        doc.leaf("SessionId", session_id)
        doc.close("LogonSession")
        return doc.bytes()

    def error(self, status: int, message: str) -> bytes:
        doc = _Doc()
        attrs = [("Message", message), ("StatusCode", str(status)), ("Status", error_status(status))]
        if status >= 500:  # the real 500 sample carries the exception text as a child
            doc.open("Error", attrs)
            doc.leaf("FirstChanceExceptionMessage", message)
            doc.close("Error")
        else:
            doc.leaf("Error", attrs=attrs)
        return doc.bytes()

    def query(self, page: QueryPage) -> bytes:
        doc = _Doc()
        doc.open("QueryResult")
        rows: Sequence[TaskSessionRecord | JobSessionRecord] = page.tasks or page.jobs
        outer = "Entities" if page.request.entities else "Refs"
        inner = plural(page.request.type_name) if page.request.entities else None
        if not rows:
            if inner:
                doc.open(outer)
                doc.leaf(inner)
                doc.close(outer)
            else:
                doc.leaf(outer)
        else:
            doc.open(outer)
            if inner:
                doc.open(inner)
            for row in rows:
                self._row(doc, row, entity=page.request.entities)
            if inner:
                doc.close(inner)
            doc.close(outer)
        doc.open(
            "PagingInfo",
            [
                ("PagesCount", str(page.pages_count)),
                ("PageSize", str(page.page_size)),
                ("PageNum", str(page.request.page)),
            ],
        )
        doc.open("Links")
        for rel, href in page.links:
            doc.leaf("Link", attrs=[("Rel", rel), ("Href", href)])
        doc.close("Links")
        doc.close("PagingInfo")
        doc.close("QueryResult")
        return doc.bytes()

    def task_list(self, tasks: Sequence[TaskSessionRecord], *, entity: bool) -> bytes:
        return self._list("BackupTaskSessionEntityList", tasks, entity=entity)

    def job_list(self, jobs: Sequence[JobSessionRecord], *, entity: bool) -> bytes:
        return self._list("BackupJobSessionEntityList", jobs, entity=entity)

    def task(self, task: TaskSessionRecord, *, entity: bool) -> bytes:
        doc = _Doc()
        self._row(doc, task, entity=entity)
        return doc.bytes()

    def job(self, job: JobSessionRecord, *, entity: bool) -> bytes:
        doc = _Doc()
        self._row(doc, job, entity=entity)
        return doc.bytes()

    def oversized_prefix(self) -> bytes:
        doc = _Doc()
        doc.open("QueryResult")
        doc.open("Entities")
        doc.open("BackupTaskSessions")
        return doc.bytes()

    def _list(
        self, entity_root: str, rows: Sequence[TaskSessionRecord | JobSessionRecord], *, entity: bool
    ) -> bytes:
        doc = _Doc()
        root = entity_root if entity else "EntityReferences"
        doc.open(root)
        for row in rows:
            self._row(doc, row, entity=entity)
        doc.close(root)
        return doc.bytes()

    def _row(self, doc: _Doc, row: TaskSessionRecord | JobSessionRecord, *, entity: bool) -> None:
        if isinstance(row, TaskSessionRecord):
            if entity:
                self._task_entity(doc, row)
            else:
                self._ref(doc, row.urn, row.name, self.hrefs.task(row.uid), "BackupTaskSession")
        elif entity:
            self._job_entity(doc, row)
        else:
            self._ref(doc, row.urn, row.name, self.hrefs.job_session(row.uid), "BackupJobSession")

    def _ref(self, doc: _Doc, urn: str, name: str, href: str, type_: str) -> None:
        doc.open("Ref", [("UID", urn), ("Name", name), ("Href", href), ("Type", type_ + "Reference")])
        doc.open("Links")
        doc.link("Alternate", type_, href + "?format=Entity", name)
        doc.close("Links")
        doc.close("Ref")

    def _task_entity(self, doc: _Doc, task: TaskSessionRecord) -> None:
        hrefs = self.hrefs
        doc.open(
            "BackupTaskSession",
            [
                ("Type", "BackupTaskSession"),
                ("Href", hrefs.task(task.uid, entity=True)),
                ("Name", task.name),
                ("VmDisplayName", task.vm),
                ("UID", task.urn),
            ],
        )
        doc.open("Links")
        doc.link(
            "Up", "BackupServerReference", hrefs.backup_server(task.backup_server_uid), task.backup_server
        )
        doc.link(
            "Up", "BackupJobSessionReference", hrefs.job_session(task.job_session_uid), task.job_session_name
        )
        doc.link("Alternate", "BackupTaskSessionReference", hrefs.task(task.uid), task.name)
        if task.state == "Completed" and task.result != "Failed":
            rp = restore_point_uid(task.uid)
            doc.link(
                "Related",
                "VmRestorePoint",
                hrefs.collection(f"vmRestorePoints/{rp}?format=Entity"),
                task.name,
            )
        doc.close("Links")
        doc.leaf("JobSessionUid", task.job_session_urn)
        doc.leaf("CreationTimeUTC", format_utc(task.creation_time))
        if task.end_time is not None:  # absent while the task runs
            doc.leaf("EndTimeUTC", format_utc(task.end_time))
        doc.leaf("State", task.state)
        doc.leaf("Result", task.result)
        doc.leaf("Reason", task.reason)
        doc.leaf("TotalSize", str(task.total_size))
        if self.vm_uid:  # 13.x docs; absent on EM 9.x (audit notes)
            doc.leaf("VmUid", task.vm_uid)
        doc.close("BackupTaskSession")

    def _job_entity(self, doc: _Doc, job: JobSessionRecord) -> None:
        hrefs = self.hrefs
        doc.open(
            "BackupJobSession",
            [
                ("Href", hrefs.job_session(job.uid, entity=True)),
                ("Type", "BackupJobSession"),
                ("Name", job.name),
                ("UID", job.urn),
            ],
        )
        doc.open("Links")
        doc.link("Up", "BackupServerReference", hrefs.backup_server(job.backup_server_uid), job.backup_server)
        doc.link("Up", "JobReference", hrefs.job(job.job_uid), job.job_name)
        doc.link("Down", "BackupTaskSessionReferenceList", hrefs.job_session_tasks(job.uid))
        doc.link("Alternate", "BackupJobSessionReference", hrefs.job_session(job.uid), job.name)
        doc.close("Links")
        doc.leaf("JobUid", job.job_urn)
        doc.leaf("JobName", job.job_name)
        doc.leaf("JobType", job.job_type)
        doc.leaf("CreationTimeUTC", format_utc(job.creation_time))
        if job.end_time is not None:
            doc.leaf("EndTimeUTC", format_utc(job.end_time))
        doc.leaf("State", job.state)
        doc.leaf("Result", job.result)
        doc.leaf("Progress", str(job.progress))
        doc.leaf("IsRetry", "true" if job.is_retry else "false")
        doc.close("BackupJobSession")

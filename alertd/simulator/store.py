"""In-memory session data: what EM "knows", with collection-lag visibility and job aggregates.

The store is clock-free and knows nothing about HTTP; callers pass every time explicitly, and
``collection_due`` (set by `alertd.simulator.collection`) says when a change becomes visible.
``tasks`` holds what EM shows (a record not yet collected is there with ``visible=False``);
changes EM has not collected yet wait in a queue per session and are applied by `collect`, in
order, so a running task stays visible as running until its completion is collected.
Each mutation bumps ``version`` so the query layer can cache filtered, sorted results.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime

from alertd.simulator.records import (
    RESULTS,
    TASK_STATES,
    JobSessionRecord,
    TaskSessionRecord,
    bare_uid,
    canonical,
)

DEFAULT_JOB = "SQL Daily"
DEFAULT_SERVER = "vbr01.corp.local"


class SessionStore:
    """Task and job sessions in insertion order, plus stable per-name identifiers."""

    def __init__(self, seed: int | None = None) -> None:
        self._rng = random.Random(seed)
        self.tasks: dict[str, TaskSessionRecord] = {}
        self.jobs: dict[str, JobSessionRecord] = {}
        self._tasks_of_job: dict[str, list[str]] = {}
        self._server_uids: dict[str, str] = {}
        self._job_uids: dict[tuple[str, str], str] = {}
        self._vm_uids: dict[tuple[str, str], str] = {}
        self.version = 0
        #: When a change of (backup server, stamp) becomes visible; None: now. Always now by default.
        self.collection_due: Callable[[str, datetime], datetime | None] = lambda server, stamp: None
        # Per task UID: (due, record) changes EM has not collected yet, oldest first.
        self._pending: dict[str, list[tuple[datetime, TaskSessionRecord]]] = {}

    # -- identifiers -------------------------------------------------------------------------

    def new_uid(self) -> str:
        """A random (seeded, hence reproducible) version-4 GUID."""
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def server_uid(self, server: str) -> str:
        return self._server_uids.setdefault(server.lower(), self.new_uid())

    def job_uid(self, server: str, job_name: str) -> str:
        return self._job_uids.setdefault((server.lower(), job_name.lower()), self.new_uid())

    def vm_uid(self, server: str, vm: str) -> str:
        """``urn:VMware:Vm:<vCenter instance>.vm-<moref>``, stable per server and VM name."""
        key = (server.lower(), vm.lower())
        if key not in self._vm_uids:
            vcenter = self._server_uids.setdefault(f"vcenter:{server.lower()}", self.new_uid())
            self._vm_uids[key] = f"urn:VMware:Vm:{vcenter}.vm-{self._rng.randrange(100, 99999)}"
        return self._vm_uids[key]

    # -- creation ----------------------------------------------------------------------------

    def add_job_session(
        self,
        *,
        job_name: str = DEFAULT_JOB,
        backup_server: str = DEFAULT_SERVER,
        creation_time: datetime,
        end_time: datetime | None = None,
        state: str = "Working",
        result: str = "None",
        is_retry: bool = False,
        job_type: str = "Backup",
        visible: bool = True,
        uid: str | None = None,
        name_fraction: bool = False,
    ) -> JobSessionRecord:
        """Store a job run; its state and result follow its tasks once tasks are added.

        It stays hidden until its first task is collected when EM would not show it yet.
        """
        visible = visible and self.collection_due(backup_server, creation_time) is None
        record = JobSessionRecord(
            uid=bare_uid(uid) if uid else self.new_uid(),
            job_uid=self.job_uid(backup_server, job_name),
            job_name=job_name,
            job_type=job_type,
            backup_server=backup_server,
            backup_server_uid=self.server_uid(backup_server),
            creation_time=creation_time,
            end_time=end_time,
            state=state,
            result=canonical(result, RESULTS, "result"),
            progress=100 if end_time else 0,
            is_retry=is_retry,
            visible=visible,
            name_fraction=name_fraction,
        )
        if record.uid in self.jobs:
            raise ValueError(f"job session {record.uid} already exists")
        self.jobs[record.uid] = record
        self._tasks_of_job[record.uid] = []
        self.version += 1
        return record

    def add_task_session(
        self,
        *,
        vm: str,
        creation_time: datetime,
        end_time: datetime | None,
        state: str,
        result: str,
        reason: str = "",
        total_size: int = 0,
        job_name: str | None = None,
        backup_server: str | None = None,
        job_session_uid: str | None = None,
        vm_uid: str | None = None,
        visible: bool = True,
        uid: str | None = None,
        job_type: str = "Backup",
        name_fraction: bool = False,
    ) -> TaskSessionRecord:
        """Store one task; an unknown or missing ``job_session_uid`` creates that job run.

        ``visible=False`` hides it until `publish`; otherwise EM shows it when ``collection_due``
        says so. ``job_type`` and ``name_fraction`` apply to a job run created here.
        """
        state = canonical(state, TASK_STATES, "state")
        if (state == "Completed") != (end_time is not None):
            raise ValueError("end_time is required for Completed tasks and forbidden otherwise")
        job = self._job_for(
            job_session_uid, job_name, backup_server, creation_time, visible, job_type, name_fraction
        )
        due = self.collection_due(job.backup_server, end_time or creation_time) if visible else None
        record = TaskSessionRecord(
            uid=bare_uid(uid) if uid else self.new_uid(),
            vm=vm,
            vm_uid=vm_uid or self.vm_uid(job.backup_server, vm),
            job_session_uid=job.uid,
            job_session_name=job.name,
            job_uid=job.job_uid,
            job_name=job.job_name,
            backup_server=job.backup_server,
            backup_server_uid=job.backup_server_uid,
            creation_time=creation_time,
            end_time=end_time,
            state=state,
            result=canonical(result, RESULTS, "result"),
            reason=reason,
            total_size=total_size,
            visible=visible and due is None,
        )
        if record.uid in self.tasks:
            raise ValueError(f"task session {record.uid} already exists")
        self.tasks[record.uid] = record
        self._tasks_of_job[job.uid].append(record.uid)
        if due is not None:
            self._pending[record.uid] = [(due, replace(record, visible=True))]
        elif record.visible and not job.visible:
            self.jobs[job.uid] = replace(job, visible=True)
        self._refresh_job(job.uid)
        return record

    def _job_for(
        self,
        job_session_uid: str | None,
        job_name: str | None,
        backup_server: str | None,
        creation_time: datetime,
        visible: bool,
        job_type: str,
        name_fraction: bool,
    ) -> JobSessionRecord:
        existing = self.jobs.get(bare_uid(job_session_uid)) if job_session_uid else None
        if existing is None:
            return self.add_job_session(
                job_name=job_name or DEFAULT_JOB,
                backup_server=backup_server or DEFAULT_SERVER,
                creation_time=creation_time,
                visible=visible,
                uid=job_session_uid,
                job_type=job_type,
                name_fraction=name_fraction,
            )
        mismatch = (job_name and job_name != existing.job_name) or (
            backup_server and backup_server != existing.backup_server
        )
        if mismatch:
            raise ValueError(f"job session {existing.uid} belongs to {existing.name}")
        return existing

    # -- mutation ----------------------------------------------------------------------------

    def task(self, uid: str) -> TaskSessionRecord:
        try:
            return self.tasks[bare_uid(uid)]
        except KeyError:
            raise KeyError(f"no task session {uid}") from None

    def latest(self, uid: str) -> TaskSessionRecord:
        """A task as the backup server has it: its newest change, collected by EM or not."""
        record = self.task(uid)
        pending = self._pending.get(record.uid)
        return pending[-1][1] if pending else record

    def update_task(self, uid: str, **changes: object) -> TaskSessionRecord:
        """Change fields of a task (validated by the dataclass); returns its newest version.

        The change is visible when ``collection_due`` says so (after any change still waiting),
        except for a hidden task (it shows at `publish`) or a change of ``visible`` itself.
        """
        shown = self.task(uid)
        record = replace(self.latest(uid), **changes)  # type: ignore[arg-type]
        waiting = self._pending.get(record.uid, [])
        due = None
        if (shown.visible or waiting) and "visible" not in changes:
            due = self.collection_due(record.backup_server, record.end_time or record.creation_time)
            if due is None and waiting:
                due = waiting[-1][0]  # changes are collected in the order they happened
        if due is not None:
            self._pending[record.uid] = [*waiting, (max([due, *(d for d, _ in waiting)]), record)]
            return record
        self._pending.pop(record.uid, None)
        self.tasks[record.uid] = record
        self._refresh_job(record.job_session_uid)
        return record

    def complete(
        self,
        uid: str,
        *,
        result: str,
        end_time: datetime,
        reason: str | None = None,
        total_size: int | None = None,
    ) -> TaskSessionRecord:
        """InProgress/Pending -> Completed."""
        record = self.task(uid)
        if record.state == "Completed":
            raise ValueError(f"task session {record.uid} is already Completed")
        return self.update_task(
            uid,
            state="Completed",
            result=canonical(result, RESULTS, "result"),
            end_time=end_time,
            reason=record.reason if reason is None else reason,
            total_size=record.total_size if total_size is None else total_size,
        )

    def publish(self, uids: Iterable[str]) -> None:
        """Make sessions visible with all their changes, as a collection run that catches up does.

        Their job runs become visible too. Lags and stalls do not hold this back.
        """
        for uid in uids:
            record = self.latest(uid)
            self._pending.pop(record.uid, None)
            self._show(record)
        self.version += 1

    def collect(self, cutoff: Callable[[str], datetime]) -> int:
        """Apply every waiting change due at or before ``cutoff(backup server)``; returns how many tasks changed."""
        if not self._pending:
            return 0
        changed = 0
        limits: dict[str, datetime] = {}
        for uid, waiting in list(self._pending.items()):
            server = waiting[0][1].backup_server
            limit = limits[server] if server in limits else limits.setdefault(server, cutoff(server))
            ready = [record for due, record in waiting if due <= limit]
            if not ready:
                continue
            del waiting[: len(ready)]
            if not waiting:
                del self._pending[uid]
            self._show(ready[-1])
            changed += 1
        return changed

    @property
    def pending(self) -> int:
        """How many tasks have changes EM has not collected yet."""
        return len(self._pending)

    def hidden_task_uids(self) -> list[str]:
        """Tasks EM does not show at all, or shows in an older state."""
        return [uid for uid, record in self.tasks.items() if not record.visible or uid in self._pending]

    def _show(self, record: TaskSessionRecord) -> None:
        self.tasks[record.uid] = replace(record, visible=True)
        job = self.jobs[record.job_session_uid]
        if not job.visible:
            self.jobs[job.uid] = replace(job, visible=True)
        self._refresh_job(job.uid)

    def tasks_of_job(self, job_session_uid: str) -> list[TaskSessionRecord]:
        return [self.tasks[uid] for uid in self._tasks_of_job.get(bare_uid(job_session_uid), [])]

    def _refresh_job(self, job_uid: str) -> None:
        """A job run is Stopped once all its tasks completed, with the worst task result.

        Stopped is the finished job-session state and Result's enum order is Success < Warning <
        Failed (reference §3.3, §2.1); that a run takes its worst task's result is inferred (the
        13.1 example's Failed backup-copy run).
        """
        self.version += 1
        tasks = self.tasks_of_job(job_uid)
        if not tasks:
            return
        done = [task for task in tasks if task.state == "Completed"]
        job = self.jobs[job_uid]
        if len(done) == len(tasks):
            ends = [task.end_time for task in done if task.end_time is not None]
            worst = max((task.result for task in done), key=RESULTS.index)
            self.jobs[job_uid] = replace(job, state="Stopped", end_time=max(ends), result=worst, progress=100)
        else:
            progress = len(done) * 100 // len(tasks)
            self.jobs[job_uid] = replace(
                job, state="Working", end_time=None, result="None", progress=progress
            )

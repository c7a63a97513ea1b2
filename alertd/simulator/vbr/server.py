"""SimulatedVBR: the one object tests, benchmarks and demos use to run a simulated VBR REST API.

It wires the store, tokens, faults, request log and HTTP server together and offers data helpers
whose times default to the injected clock. Like the EM simulator, it shares no code with the
client (``alertd.vbr``): a fake that shares the client's bugs proves nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import ssl
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Self

from alertd.simulator.clock import Clock, as_utc, utc_now
from alertd.simulator.faults import FaultPlan
from alertd.simulator.requestlog import RequestLog
from alertd.simulator.server import Served, Server
from alertd.simulator.vbr.backend import BACKEND, Backend
from alertd.simulator.vbr.exchange import Exchange
from alertd.simulator.vbr.generator import JobRun, add_job_run, job_id_for
from alertd.simulator.vbr.handlers import add_routes
from alertd.simulator.vbr.middleware import vbr_middleware
from alertd.simulator.vbr.profiles import PROFILES
from alertd.simulator.vbr.records import JobRecord, SessionRecord, TaskRecord
from alertd.simulator.vbr.settings import VBRSettings
from alertd.simulator.vbr.store import VBRStore
from alertd.simulator.vbr.tokens import TokenStore

__all__ = ["SimulatedVBR"]


class SimulatedVBR(Served):
    """A Veeam Backup & Replication REST API over real HTTP(S), with data and fault controls."""

    def __init__(
        self,
        *,
        username: str = "CORP\\svc-alertd",
        password: str = "secret",
        clock: Clock | None = None,
        settings: VBRSettings | None = None,
        profile: str | None = None,
        seed: int | None = None,
        observer: Callable[[Exchange], None] | None = None,
    ) -> None:
        """``profile`` ("12.0", "12.2", "12.3.1", "13.0", "13.1") overrides ``settings.profile``."""
        self.clock: Clock = clock or utc_now
        self.settings = settings or VBRSettings()
        if profile is not None:
            self.settings.profile = profile
        if self.settings.profile not in PROFILES:
            raise ValueError(f"unknown profile {self.settings.profile!r}; one of {', '.join(PROFILES)}")
        self.store = VBRStore()
        self.rng = random.Random(seed)
        self.tokens = TokenStore(self._now, username, password)
        self.faults = FaultPlan(self.tokens.expire_all)
        self.requests = RequestLog()
        self._backend = Backend(
            self.store, self.tokens, self.faults, self.requests, self.settings, self._now, observer
        )
        self._server = Server(self._backend, BACKEND, vbr_middleware, add_routes)
        self._live: asyncio.Task[None] | None = None
        self.url = ""

    def _now(self) -> datetime:
        return as_utc(self.clock())

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(
        self, host: str = "127.0.0.1", port: int = 0, ssl_context: ssl.SSLContext | None = None
    ) -> str:
        """Serve on ``host:port`` (0 picks a free port); returns the base URL, e.g. ``https://127.0.0.1:PORT``.

        The real API is HTTPS only (§1.1); plain HTTP is offered for poking at it with curl.
        """
        self.url = await self._server.start(host, port, ssl_context)
        return self.url

    async def __aenter__(self) -> Self:
        return self

    # -- data --------------------------------------------------------------------------------

    def add_job_run(
        self,
        *,
        job_name: str = "SQL Daily",
        vms: Sequence[str] = ("dbserver01", "dbserver02"),
        results: Mapping[str, str] | None = None,
        reasons: Mapping[str, str] | None = None,
        start: datetime | None = None,
        session_type: str = "BackupJob",
        task_type: str = "Backup",
        job_result: str | None = None,
        job_message: str | None = None,
        retry_of: JobRun | None = None,
        running: bool = False,
    ) -> JobRun:
        """One session plus a task session per VM; VMs missing from ``results`` succeed.

        ``start`` defaults to an hour ago; tasks start 90 s apart and take 2 minutes; the session
        ends a minute after the last task. ``job_result`` overrides the session's result (a job-level
        failure such as a failed synthetic full); ``vms=()`` makes a run without task sessions (an
        agent job, §3.3). ``retry_of`` makes this run a retry of an earlier one (§4).
        """
        return add_job_run(
            self.store,
            self.rng,
            job_name=job_name,
            objects=tuple(vms),
            results=results or {},
            reasons=reasons or {},
            start=as_utc(start) if start else self._now() - timedelta(hours=1),
            session_type=session_type,
            task_type=task_type,
            job_result=job_result,
            job_message=job_message,
            retry_of=retry_of,
            running=running,
        )

    def add_session(
        self,
        *,
        job_name: str = "SQL Daily",
        session_type: str = "BackupJob",
        result: str = "Success",
        message: str = "",
        state: str = "Stopped",
        creation_time: datetime | None = None,
        end_time: datetime | None = None,
        session_id: str | None = None,
    ) -> SessionRecord:
        """One bare session (no task sessions); a Stopped one ends 10 minutes after creation."""
        created = as_utc(creation_time) if creation_time else self._now() - timedelta(minutes=30)
        if end_time is None and state == "Stopped":
            end_time = created + timedelta(minutes=10)
        sid = (session_id or str(uuid.uuid4())).lower()
        return self.store.put_session(
            SessionRecord(
                id=sid,
                job_id=job_id_for(job_name),
                job_name=job_name,
                session_type=session_type,
                creation_time=created,
                end_time=as_utc(end_time) if end_time else None,
                state=state,
                result=result,
                message=message,
                usn=self.store.next_usn(),
                original_session_id=sid,
            )
        )

    def add_task(
        self,
        session: SessionRecord,
        *,
        name: str = "dbserver01",
        result: str = "Success",
        message: str = "",
        state: str = "Stopped",
        type: str = "Backup",
        creation_time: datetime | None = None,
        end_time: datetime | None = None,
        task_id: str | None = None,
    ) -> TaskRecord:
        """One task session in ``session``; a Stopped one ends 2 minutes after creation."""
        created = as_utc(creation_time) if creation_time else session.creation_time + timedelta(seconds=30)
        if end_time is None and state == "Stopped":
            end_time = created + timedelta(minutes=2)
        return self.store.put_task(
            TaskRecord(
                id=(task_id or str(uuid.uuid4())).lower(),
                session_id=session.id,
                session_type=session.session_type,
                type=type,
                name=name,
                creation_time=created,
                end_time=as_utc(end_time) if end_time else None,
                state=state,
                result=result,
                message=message,
                usn=self.store.next_usn(),
            )
        )

    def set_job(self, job_name: str, *, session_type: str = "BackupJob", **changes: Any) -> JobRecord:
        """Register or change the job ``job_name`` (its retry settings: ``retry_enabled``,
        ``retry_count``, ``await_minutes``, ``run_automatically``; see `JobRecord`)."""
        job_id = job_id_for(job_name)
        current = self.store.jobs.get(job_id) or JobRecord(job_id, job_name, session_type)
        self.store.jobs[job_id] = record = dataclasses.replace(current, **changes)
        return record

    def update_session(self, session_id: str, **changes: Any) -> SessionRecord:
        """Change fields of a stored session (a new usn is assigned)."""
        return self.store.update_session(session_id, **changes)

    def update_task(self, task_id: str, **changes: Any) -> TaskRecord:
        """Change fields of a stored task session (a new usn is assigned)."""
        return self.store.update_task(task_id, **changes)

    def generate_job_runs(
        self,
        count: int,
        *,
        interval: timedelta = timedelta(hours=1),
        jobs: Sequence[tuple[str, Sequence[str]]] = (
            ("SQL Daily", ("dbserver01", "dbserver02", "dbserver03")),
            ("File Servers", ("fs01", "fs02")),
            ("Web Farm", ("web01", "web02", "web03", "web04")),
        ),
        failure_rate: float = 0.1,
        warning_rate: float = 0.1,
        job_failure_rate: float = 0.05,
    ) -> list[JobRun]:
        """``count`` runs, jobs taking turns, the last ending about now; failed runs get one retry."""
        runs: list[JobRun] = []
        first = self._now() - interval * count
        for i in range(count):
            name, vms = jobs[i % len(jobs)]
            runs.extend(
                self._random_run(
                    name, vms, first + interval * i, failure_rate, warning_rate, job_failure_rate
                )
            )
        return runs

    def _random_run(
        self, name: str, vms: Sequence[str], start: datetime, fail: float, warn: float, job_fail: float
    ) -> list[JobRun]:
        results = {}
        for vm in vms:
            roll = self.rng.random()
            results[vm] = "Failed" if roll < fail else "Warning" if roll < fail + warn else "Success"
        job_level = self.rng.random() < job_fail
        run = self.add_job_run(
            job_name=name,
            vms=vms,
            results=results,
            start=start,
            job_result="Failed" if job_level else None,
            job_message="Creating synthetic full backup (22% done)" if job_level else None,
        )
        if not run.failed_objects:
            return [run]
        retry = self.add_job_run(
            job_name=name, vms=run.failed_objects, start=start + timedelta(minutes=15), retry_of=run
        )
        return [run, retry]

    def start_live(self, run_every: timedelta = timedelta(seconds=30)) -> None:
        """Add a random job run (ending now) every ``run_every`` of real time until ``stop()``."""
        if self._live is not None:
            raise RuntimeError("live mode is already running")
        self._live = asyncio.create_task(self._run_live(run_every), name="simulated-vbr-live")

    async def _run_live(self, every: timedelta) -> None:
        i = 0
        while True:
            await asyncio.sleep(every.total_seconds())
            i += 1
            name, vms = (
                ("SQL Daily", ("dbserver01", "dbserver02", "dbserver03"))
                if i % 2
                else ("Web Farm", ("web01", "web02"))
            )
            self._random_run(name, vms, self._now() - timedelta(minutes=6), 0.3, 0.2, 0.1)

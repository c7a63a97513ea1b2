"""SimulatedEM: the one object tests, benchmarks and ``alertd demo`` use.

It wires the store, tokens, faults, request log, collection model and HTTP server together and
offers data helpers whose times default to EM's clock (the injected clock plus
``settings.clock_skew``), and scenario controls: backup servers with their own collection lag and
clock (`backup_server`), collection stalls (`stall_collection`), queries refused on purpose
(``faults.refuse_query``).
"""

from __future__ import annotations

import asyncio
import random
import ssl
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Self

from alertd.simulator.auth import TokenStore
from alertd.simulator.catalog import DEFAULT_JOBS, JobSpec
from alertd.simulator.clock import Clock, as_utc, utc_now
from alertd.simulator.collection import BackupServer, Collection
from alertd.simulator.context import BACKEND, Backend
from alertd.simulator.faults import FaultPlan
from alertd.simulator.generator import JobRun, add_job_run, generate_job_runs
from alertd.simulator.handlers import add_routes
from alertd.simulator.live import LiveDriver
from alertd.simulator.middleware import em_middleware
from alertd.simulator.query import QueryEngine
from alertd.simulator.records import JobSessionRecord, TaskSessionRecord, bare_uid
from alertd.simulator.requestlog import RequestLog
from alertd.simulator.server import Served, Server
from alertd.simulator.settings import EMSettings
from alertd.simulator.store import DEFAULT_JOB, DEFAULT_SERVER, SessionStore


class SimulatedEM(Served):
    """A Veeam Enterprise Manager REST API over real HTTP, with data and fault controls."""

    def __init__(
        self,
        *,
        username: str = "CORP\\svc-alertd",
        password: str = "secret",
        clock: Clock | None = None,
        json_bom: bool = True,
        json_camel_case: bool = False,
        seed: int | None = None,
        settings: EMSettings | None = None,
    ) -> None:
        self.clock: Clock = clock or utc_now
        # An explicit settings object wins over the two shortcut flags.
        self.settings = settings or EMSettings(json_bom=json_bom, json_camel_case=json_camel_case)
        self.store = SessionStore(seed)
        self.collection = Collection(self._now)
        self.store.collection_due = self.collection.due
        self.rng = random.Random(seed)
        self.tokens = TokenStore(self._now, username, password)
        self.faults = FaultPlan(self.tokens.expire_all)
        self.requests = RequestLog()
        self._backend = Backend(
            self.store,
            self.tokens,
            self.faults,
            self.requests,
            self.settings,
            self._now,
            QueryEngine(self.store, self.settings),
            collect=self.collect,
        )
        self._server = Server(self._backend, BACKEND, em_middleware, add_routes)
        self._live: asyncio.Task[None] | None = None
        self.url = ""

    def _now(self) -> datetime:
        """EM's clock: the injected clock plus ``settings.clock_skew``."""
        return as_utc(self.clock()) + self.settings.clock_skew

    def now(self) -> datetime:
        """EM's clock now (what its Date header says)."""
        return self._now()

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(
        self, host: str = "127.0.0.1", port: int = 0, ssl_context: ssl.SSLContext | None = None
    ) -> str:
        """Serve on ``host:port`` (0 picks a free port); returns the base URL, e.g. ``http://127.0.0.1:PORT``."""
        self.url = await self._server.start(host, port, ssl_context)
        return self.url

    async def __aenter__(self) -> Self:
        if not self._server.running:
            await self.start()
        return self

    @property
    def api_url(self) -> str:
        """``<base>/api/``, what a client is configured with."""
        return f"{self.url}/api/"

    # -- data --------------------------------------------------------------------------------

    def add_task_session(
        self,
        *,
        job_name: str | None = None,
        vm: str = "dbserver01",
        result: str | None = None,
        state: str = "Completed",
        creation_time: datetime | None = None,
        end_time: datetime | None = None,
        reason: str = "",
        backup_server: str | None = None,
        job_session_uid: str | None = None,
        vm_uid: str | None = None,
        visible: bool = True,
        total_size: int | None = None,
        uid: str | None = None,
        job_type: str = "Backup",
        name_fraction: bool = False,
    ) -> TaskSessionRecord:
        """Store one task session and return it (``.uid`` bare GUID, ``.urn`` EM's UID).

        Defaults: created 5 minutes ago on its backup server's clock; a Completed task ended 2
        minutes after creation; ``result`` Success when Completed and None while running;
        ``job_name``/``backup_server`` "SQL Daily"/"vbr01.corp.local", or those of
        ``job_session_uid`` when it exists (an unknown ``job_session_uid`` creates that job run,
        with ``job_type`` and ``name_fraction``). EM shows it once collected (see `backup_server`);
        ``visible=False`` hides it until `publish`. The record returned is EM's current view.
        """
        server = self._server_of(job_session_uid, backup_server)
        now = self._now() + self.collection.settings_of(server).clock_offset
        created = as_utc(creation_time) if creation_time else now - timedelta(minutes=5)
        completed = state.lower() == "completed"
        if completed and end_time is None:
            end_time = created + timedelta(minutes=2)
        result = result or ("Success" if completed else "None")
        if total_size is None:
            total_size = self.rng.randrange(1 << 30, 500 << 30) if completed and result != "Failed" else 0
        if job_session_uid is None:
            job_name, backup_server = job_name or DEFAULT_JOB, backup_server or DEFAULT_SERVER
        return self.store.add_task_session(
            vm=vm,
            creation_time=created,
            end_time=as_utc(end_time) if end_time else None,
            state=state,
            result=result,
            reason=reason,
            total_size=total_size,
            job_name=job_name,
            backup_server=backup_server,
            job_session_uid=job_session_uid,
            vm_uid=vm_uid,
            visible=visible,
            uid=uid,
            job_type=job_type,
            name_fraction=name_fraction,
        )

    def _server_of(self, job_session_uid: str | None, backup_server: str | None) -> str:
        job = self.store.jobs.get(bare_uid(job_session_uid)) if job_session_uid else None
        return job.backup_server if job else backup_server or DEFAULT_SERVER

    def complete(
        self,
        uid: str,
        *,
        result: str = "Success",
        end_time: datetime | None = None,
        reason: str | None = None,
        total_size: int | None = None,
    ) -> TaskSessionRecord:
        """InProgress/Pending -> Completed (``end_time`` defaults to now on the server's clock).

        Returns the completed record; EM shows the completion once collected.
        """
        offset = self.collection.settings_of(self.store.task(uid).backup_server).clock_offset
        end = as_utc(end_time) if end_time else self._now() + offset
        return self.store.complete(uid, result=result, end_time=end, reason=reason, total_size=total_size)

    def update(self, uid: str, **changes: Any) -> TaskSessionRecord:
        """Change any fields of a stored task session (records are frozen; this replaces it)."""
        return self.store.update_task(uid, **changes)

    def publish(self, *uids: str) -> None:
        """EM's collection catches up now on these sessions (no uids: all), lags and stalls aside."""
        self.store.publish(uids or self.store.hidden_task_uids())

    def collect(self) -> int:
        """Apply the changes EM has collected by now (every request does this first); returns how many."""
        return self.store.collect(self.collection.cutoff)

    def task_session(self, uid: str) -> TaskSessionRecord:
        """A task session as EM shows it now (``visible`` False while not collected)."""
        self.collect()
        return self.store.task(uid)

    @property
    def task_sessions(self) -> list[TaskSessionRecord]:
        """Every task session as EM shows it now, hidden ones included."""
        self.collect()
        return list(self.store.tasks.values())

    @property
    def job_sessions(self) -> list[JobSessionRecord]:
        """Every job session as EM shows it now, hidden ones included."""
        self.collect()
        return list(self.store.jobs.values())

    # -- scenario controls -------------------------------------------------------------------

    def backup_server(
        self,
        name: str,
        *,
        collection_lag: timedelta | None = None,
        clock_offset: timedelta | None = None,
    ) -> BackupServer:
        """Configure backup server ``name`` behind this EM (unset values are kept).

        ``collection_lag``: EM shows this server's sessions that long after they happen (e.g.
        50 minutes for a server EM's collection job could not reach). ``clock_offset``: the
        server's clock minus EM's; its sessions' default times are stamped with it (positive:
        in the future). See `alertd.simulator.collection`.
        """
        return self.collection.server(name, collection_lag=collection_lag, clock_offset=clock_offset)

    def stall_collection(self, server: str | None = None) -> None:
        """EM's collection job stops (for every server, or one): EM keeps showing what it has."""
        self.collection.stall(server)

    def resume_collection(self, server: str | None = None) -> None:
        """EM's collection job runs again: what piled up during the stall becomes visible."""
        self.collection.resume(server)

    def add_job_run(
        self,
        *,
        job_name: str = DEFAULT_JOB,
        backup_server: str = DEFAULT_SERVER,
        vms: Sequence[str] = ("dbserver01", "dbserver02"),
        results: Mapping[str, str] | None = None,
        reasons: Mapping[str, str] | None = None,
        start: datetime | None = None,
        is_retry: bool = False,
        running: bool = False,
        visible: bool = True,
        job_type: str = "Backup",
        name_fraction: bool = False,
    ) -> JobRun:
        """One job session plus a task per VM; VMs missing from ``results`` succeed.

        Failed/Warning tasks without a given reason get a realistic one. ``start`` defaults
        to an hour ago on the backup server's clock; ``running`` leaves every task InProgress.
        ``job_type`` (e.g. ``ImmediateBackupCopyWorker`` for a ``Parent\\Child`` job name) and
        ``name_fraction`` (fractions of a second in the run's name) shape the job session.
        """
        offset = self.collection.settings_of(backup_server).clock_offset
        begin = as_utc(start) if start else self._now() + offset - timedelta(hours=1)
        job = JobSpec(job_name, backup_server, tuple(vms))
        return add_job_run(
            self.store,
            self.rng,
            job=job,
            start=begin,
            results=results,
            reasons=reasons,
            is_retry=is_retry,
            running=running,
            visible=visible,
            job_type=job_type,
            name_fraction=name_fraction,
        )

    def generate_job_runs(
        self,
        count: int,
        *,
        seed: int | None = None,
        start: datetime | None = None,
        interval: timedelta = timedelta(hours=1),
        jobs: Sequence[JobSpec] = DEFAULT_JOBS,
        failure_rate: float = 0.1,
        warning_rate: float = 0.15,
        retry_rate: float = 0.8,
        retry_success: float = 0.6,
        max_retries: int = 2,
        visible: bool = True,
    ) -> list[JobRun]:
        """``count`` scheduled runs (jobs take turns, each every ``interval``) plus their retries.

        ``start`` defaults so the last scheduled run begins about ``interval`` before now.
        A ``seed`` makes the data reproducible independently of earlier calls.
        """
        rng = random.Random(seed) if seed is not None else self.rng
        begin = as_utc(start) if start else self._now() - interval * (count // max(len(jobs), 1) + 1)
        return generate_job_runs(
            self.store,
            rng,
            count=count,
            start=begin,
            interval=interval,
            jobs=jobs,
            failure_rate=failure_rate,
            warning_rate=warning_rate,
            retry_rate=retry_rate,
            retry_success=retry_success,
            max_retries=max_retries,
            visible=visible,
        )

    def start_live(self, **options: Any) -> LiveDriver:
        """Run a LiveDriver in the background until ``stop()`` (options: see LiveDriver)."""
        if self._live is not None:
            raise RuntimeError("live mode is already running")
        driver = LiveDriver(self.store, self.rng, self._now, **options)
        self._live = asyncio.create_task(driver.run(), name="simulated-em-live")
        return driver

    def live_driver(self, **options: Any) -> LiveDriver:
        """A LiveDriver not yet running, for tests that call ``step()`` with a manual clock."""
        return LiveDriver(self.store, self.rng, self._now, **options)

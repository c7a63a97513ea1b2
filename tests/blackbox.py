"""One small adapter per source kind, so a black-box test can run unchanged against the EM simulator
and the VBR simulator: start it (EM over HTTP, VBR over HTTPS as the real API is), add a failed job
run or a task that completes later, read what the simulator received, arm faults, and name the
config keys alertd needs to reach it.

The ``src`` fixture (parametrised over both kinds) is in the plugin `blackbox_fixtures`. The VBR
adapter plugs the OpenAPI contract observer into its simulator: every exchange of a
black-box test is checked against Veeam's documents too (see ``vbr_contract``).
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from e2e import run_ending
from vbr_contract import ContractObserver
from vbr_support import Tls

from alertd.simulator import SimulatedEM
from alertd.simulator.faults import FaultAction, FaultPlan
from alertd.simulator.requestlog import LoggedRequest, RequestLog
from alertd.simulator.vbr import SimulatedVBR

USER = "CORP\\svc-alertd"
PASSWORD = "secret"


class ShiftedClock:
    """The wall clock plus an offset that tests move forward; shared by a simulator and alertd."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)


@dataclass(frozen=True)
class Late:
    """A job run with one task already failed and one still running (completed later)."""

    run: str
    running: str


class SourceUnderTest(ABC):
    """A running simulator of one source kind, seen the same way whatever the kind."""

    kind: str
    #: The log events of a token the server rejected, of a failed request, and of a logout.
    token_rejected_event: str
    request_failed_event: str
    logout_event: str

    #: The simulator, made by the subclass with `clock`.
    sim: SimulatedEM | SimulatedVBR

    def __init__(self, tls: Tls) -> None:
        self.tls = tls
        #: The simulator's clock; pass it to alertd too when a test moves time forward.
        self.clock = ShiftedClock()
        self.url = ""
        self.https = False
        self._port = 0

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self, *, https: bool) -> str:
        """Serve (again, on the same port after a stop); returns the base URL."""
        self.https = https
        context = self.tls.server_context if https else None
        self.url = await self.sim.start(port=self._port, ssl_context=context)
        self._port = int(self.url.rsplit(":", 1)[1])
        return self.url

    async def stop(self) -> None:
        await self.sim.stop()

    # -- config ------------------------------------------------------------------------------

    @abstractmethod
    def trust(self) -> dict[str, Any]:
        """The TLS keys that make alertd trust the simulator's certificate."""

    def source(self, *, trusted: bool = True, **extra: Any) -> dict[str, Any]:
        """``sources[0]`` of a config reaching this simulator."""
        doc: dict[str, Any] = {
            "name": f"{self.kind}1",
            "kind": self.kind,
            "url": self.url,
            "username": USER,
            "password": PASSWORD,
        }
        if self.https and trusted:
            doc.update(self.trust())
        doc.update(extra)
        return doc

    # -- data --------------------------------------------------------------------------------

    def failed_run(self, job: str, vms: Sequence[str], results: Mapping[str, str], start: datetime) -> None:
        """A finished job run; VMs missing from ``results`` succeed."""
        self.sim.add_job_run(job_name=job, vms=vms, results=results, start=start)

    @abstractmethod
    def run_ending(self, job: str, vm: str, result: str, end: datetime) -> None:
        """A job run of one VM with ``result``, created 5 minutes before ``end`` and ending at ``end``."""

    @abstractmethod
    def late_run(self, job: str, failed: str, running: str, start: datetime) -> Late:
        """A job run with ``failed`` done (Failed) and ``running`` still running."""

    @abstractmethod
    def complete(self, late: Late, end: datetime, reason: str) -> None:
        """The running task of ``late`` fails at ``end`` (and its job run ends Failed)."""

    @abstractmethod
    def add_running(self, job: str, vm: str) -> None:
        """A task that is still running (never alerted)."""

    # -- what the simulator saw ----------------------------------------------------------------

    @property
    def faults(self) -> FaultPlan:
        return self.sim.faults

    @property
    def requests(self) -> RequestLog:
        return self.sim.requests

    @abstractmethod
    def is_failure_query(self, entry: LoggedRequest) -> bool:
        """Whether ``entry`` asked for Failed task sessions (one request per page)."""

    @abstractmethod
    def is_logon(self, entry: LoggedRequest) -> bool:
        """Whether ``entry`` was a logon (a token or session request)."""

    @abstractmethod
    def page_of(self, entry: LoggedRequest) -> int:
        """The 1-based page number of a failure query."""

    def failure_pages(self) -> int:
        """Answered requests for the Failed task sessions, one per page."""
        return sum(1 for r in self.requests if self.is_failure_query(r) and r.status == 200)

    def logons(self) -> int:
        """Logons the simulator answered."""
        return sum(1 for r in self.requests if self.is_logon(r) and r.status in (200, 201))

    def on_failure_page(self, page: int, action: Callable[[], object]) -> None:
        """Run ``action`` (arm a fault, expire tokens) when the first query for ``page`` of the
        Failed task sessions arrives, before it is answered."""
        before = self.faults.before
        fired = False
        requests = self.requests

        def hook(path: str) -> FaultAction:
            nonlocal fired
            last = requests[-1]  # logged before faults are consulted (both simulators)
            if not fired and self.is_failure_query(last) and self.page_of(last) == page:
                fired = True
                action()
            return before(path)

        self.faults.before = hook  # type: ignore[method-assign]

    @abstractmethod
    def malformed_failure_page(self, page: int) -> None:
        """The answer to ``page`` of the Failed task sessions is cut in half, once."""


class EMUnderTest(SourceUnderTest):
    """The Enterprise Manager simulator (HTTP unless a test asks for HTTPS)."""

    kind = "em"
    sim: SimulatedEM
    token_rejected_event = "em_token_rejected"
    request_failed_event = "em_request_failed"
    logout_event = "em_logoff"

    def __init__(self, tls: Tls) -> None:
        super().__init__(tls)
        self.sim = SimulatedEM(username=USER, password=PASSWORD, clock=self.clock)

    def trust(self) -> dict[str, Any]:
        return {"ca_file": str(self.tls.ca_file)}

    def run_ending(self, job: str, vm: str, result: str, end: datetime) -> None:
        run_ending(self.sim, job, vm, result, end)

    def late_run(self, job: str, failed: str, running: str, start: datetime) -> Late:
        run = str(uuid.uuid4())
        self.sim.add_task_session(
            job_name=job,
            job_session_uid=run,
            vm=failed,
            result="Failed",
            creation_time=start,
            end_time=start + timedelta(minutes=8),
        )
        task = self.sim.add_task_session(
            job_session_uid=run, vm=running, state="InProgress", creation_time=start + timedelta(minutes=1)
        )
        return Late(run, task.uid)

    def complete(self, late: Late, end: datetime, reason: str) -> None:
        self.sim.complete(late.running, result="Failed", end_time=end, reason=reason)

    def add_running(self, job: str, vm: str) -> None:
        self.sim.add_task_session(job_name=job, vm=vm, state="InProgress")

    def is_failure_query(self, entry: LoggedRequest) -> bool:
        return entry.path == "/api/query" and "Result==Failed" in entry.query.get("filter", "")

    def is_logon(self, entry: LoggedRequest) -> bool:
        return entry.method == "POST" and entry.path.startswith("/api/sessionMngr")

    def page_of(self, entry: LoggedRequest) -> int:
        return int(entry.query.get("page", "1"))

    def malformed_failure_page(self, page: int) -> None:
        self.sim.faults.malformed_page(page)


class VBRUnderTest(SourceUnderTest):
    """The VBR simulator (HTTPS, a trustme certificate pinned by its SHA-256 fingerprint)."""

    kind = "vbr"
    sim: SimulatedVBR
    token_rejected_event = "vbr_token_rejected"
    request_failed_event = "vbr_request_failed"
    logout_event = "vbr_logout"

    def __init__(self, tls: Tls) -> None:
        super().__init__(tls)
        self.contract = ContractObserver()
        self.sim = SimulatedVBR(username=USER, password=PASSWORD, clock=self.clock, observer=self.contract)

    def trust(self) -> dict[str, Any]:
        return {"tls_fingerprint": self.tls.fingerprint}

    def run_ending(self, job: str, vm: str, result: str, end: datetime) -> None:
        reason = "" if result == "Success" else "Error: Failed to create VM snapshot"
        session = self.sim.add_session(
            job_name=job,
            result=result,
            message=reason or "Success",
            creation_time=end - timedelta(minutes=5),
            end_time=end,
        )
        self.sim.add_task(
            session,
            name=vm,
            result=result,
            message=reason,
            creation_time=end - timedelta(minutes=5),
            end_time=end,
        )

    def late_run(self, job: str, failed: str, running: str, start: datetime) -> Late:
        session = self.sim.add_session(
            job_name=job, state="Working", result="None", creation_time=start, end_time=None
        )
        self.sim.add_task(
            session,
            name=failed,
            result="Failed",
            message="Error: Failed to create VM snapshot",
            creation_time=start,
            end_time=start + timedelta(minutes=8),
        )
        task = self.sim.add_task(
            session, name=running, state="Working", result="None", creation_time=start + timedelta(minutes=1)
        )
        return Late(session.id, task.id)

    def complete(self, late: Late, end: datetime, reason: str) -> None:
        self.sim.update_task(late.running, state="Stopped", result="Failed", end_time=end, message=reason)
        self.sim.update_session(
            late.run, state="Stopped", result="Failed", end_time=end, message="2 of 2 VMs failed"
        )

    def add_running(self, job: str, vm: str) -> None:
        self.sim.add_job_run(job_name=job, vms=[vm], running=True)

    def is_failure_query(self, entry: LoggedRequest) -> bool:
        return (
            entry.path == "/api/v1/taskSessions"
            and entry.query.get("resultFilter") == "Failed"
            and "sessionIdFilter" not in entry.query
        )

    def is_logon(self, entry: LoggedRequest) -> bool:
        return entry.method == "POST" and entry.path == "/api/oauth2/token"

    def page_of(self, entry: LoggedRequest) -> int:
        limit = int(entry.query.get("limit", "1"))
        return int(entry.query.get("skip", "0")) // limit + 1

    def malformed_failure_page(self, page: int) -> None:
        self.on_failure_page(page, lambda: self.sim.faults.malformed_next(1, path="/api/v1/taskSessions"))


KINDS: dict[str, type[SourceUnderTest]] = {"em": EMUnderTest, "vbr": VBRUnderTest}

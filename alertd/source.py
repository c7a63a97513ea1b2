"""The contract between the pipeline and a backup source (Enterprise Manager, or one VBR server).

The pipeline never builds a filter or a URL: it asks a source for the Failed/Warning task
sessions that ended after an instant, for one job's successes after an instant, and for the job
runs behind task sessions. Each source kind (``alertd.em.source``, ``alertd.vbr.source``) turns
those questions into its own API calls, normalises the answers to `alertd.model` values and raises
`SourceError` for anything that makes an answer incomplete (so nothing is recorded from it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, Protocol

from alertd.model import JobRef, JobRun, TaskSession

#: What went wrong, as counted in ``alertd_em_errors_total{kind}`` and shown to self-monitoring.
#: ``unreachable`` (no connection), ``timeout`` (connect or read), ``tls`` (certificate, handshake or
#: pin), ``auth`` (401/403, refused logon), ``http`` (any other non-2xx), ``malformed`` (a body or
#: protocol the server should never send), ``too_large`` (over the size cap), ``version`` (no API
#: revision both sides speak).
SourceErrorKind = Literal[
    "unreachable", "timeout", "tls", "auth", "http", "malformed", "too_large", "version"
]


class SourceError(Exception):
    """A source could not answer completely. ``message`` is safe to log (no secrets)."""

    def __init__(self, kind: SourceErrorKind, message: str, status: int | None = None) -> None:
        # All three in args, so the exception pickles and copies (e.g. across process pools).
        super().__init__(kind, message, status)
        self.kind: SourceErrorKind = kind
        self.message = message
        self.status = status

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True, slots=True)
class Batch:
    """Sessions read by one question, every page of it.

    ``undecodable``: entities that could not be fully decoded (each already logged with its UID
    by the source); a Failed/Warning one is still in ``sessions`` with what could be read.
    """

    sessions: list[TaskSession]
    undecodable: int = 0


@dataclass(frozen=True, slots=True)
class EndpointCheck:
    """One endpoint alertd needs, as ``check-config --probe`` reports it."""

    name: str
    ok: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ProbeReport:
    """What ``alertd check-config --probe`` prints for one source."""

    source: str
    kind: str
    api_version: str | None
    server_time: datetime | None
    clock_skew: timedelta | None
    sessions_24h: int | None
    endpoints: tuple[EndpointCheck, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        """Every endpoint answered."""
        return all(e.ok for e in self.endpoints)


class Source(Protocol):
    """One configured source, as the pipeline uses it. Safe to share between tasks of one loop."""

    @property
    def clock_skew(self) -> timedelta | None:
        """The server's clock minus alertd's, from the latest response (None before the first)."""
        ...

    @property
    def requests_made(self) -> int:
        """HTTP requests sent so far (for benchmarks)."""
        ...

    async def failures(self, ended_after: datetime, results: Sequence[str]) -> Batch:
        """Completed task sessions with one of ``results`` that ended at or after ``ended_after``."""
        ...

    async def successes(self, job: JobRef, ended_after: datetime) -> Batch:
        """Completed, successful task sessions of ``job`` that ended after ``ended_after``."""
        ...

    async def job_runs(self, job_session_uids: Sequence[str]) -> list[JobRun]:
        """The job runs with these uids that the source can read (missing ones are left out)."""
        ...

    async def newest_end(self) -> datetime | None:
        """The EndTime of the newest finished session of any result (one small request; None: none).

        Only asked when ``self_alerts.stale_after`` is set: it tells "no backup has ended" apart
        from "no backup has failed".
        """
        ...

    async def probe(self) -> ProbeReport:
        """Log on and check every endpoint alertd needs (``alertd check-config --probe``)."""
        ...

    async def close(self) -> None:
        """Log off and release connections; safe to call twice."""
        ...

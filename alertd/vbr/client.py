"""The VBR REST API client: connection settings, JSON GETs with error mapping, and paging.

This module owns the calls alertd makes (reference §2, §3, §4): ``serverTime``, ``sessions``,
``sessions/{id}``, ``sessions/{id}/taskSessions``, ``taskSessions`` and ``jobs/{id}`` (a job's
retry settings, `alertd.vbr.jobs`), the collections paged with
``skip``/``limit`` to the end. `alertd.vbr.auth` owns tokens and revisions, `alertd.vbr.transport`
the wire (over `alertd.wire`, which also checks the connection's limits and encodes queries),
`alertd.vbr.decode` the bodies. Which question to ask is `alertd.vbr.source`'s job.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Final, Generic, TypeVar
from urllib.parse import quote

import structlog

from alertd.vbr.auth import Clock, Session
from alertd.vbr.decode import (
    DecodeError,
    Page,
    Problem,
    ServerTime,
    SessionRow,
    TaskRow,
    decode_server_time,
    decode_session,
    decode_sessions,
    decode_task_sessions,
)
from alertd.vbr.errors import VBRError, status_error
from alertd.vbr.jobs import RetrySettings, decode_retry_settings
from alertd.vbr.transport import Transport, base_url, parse_fingerprint
from alertd.vbr.versions import KNOWN_REVISIONS
from alertd.wire import check_limits, encode_query

__all__ = ["Collected", "VBRClient", "VBRConnection"]

_log = structlog.get_logger(__name__)

T = TypeVar("T", SessionRow, TaskRow)
T2 = TypeVar("T2")
Params = Sequence[tuple[str, str]]
# A guard against a server whose pagination never lets the loop end (200 x 10k = 2M rows).
_MAX_PAGES: Final = 10_000


@dataclass(frozen=True)
class VBRConnection:
    """How to reach one VBR server's REST API. ``url`` is the server root, e.g. ``https://vbr01:9419``.

    ``tls_fingerprint`` pins the server certificate's SHA-256 digest (hex, ``:`` optional) and then
    replaces CA verification; ``api_version`` is ``auto`` or a revision such as ``1.3-rev2``;
    ``backup_server`` is the name alerts show (default: the url's host).
    """

    source: str
    url: str
    username: str
    password: str = field(repr=False)
    verify_tls: bool = True
    ca_file: str | None = None
    tls_fingerprint: str | None = None
    page_size: int = 200
    connect_timeout: float = 10
    read_timeout: float = 60
    max_response_bytes: int = 32 * 1024 * 1024
    api_version: str = "auto"
    backup_server: str | None = None


@dataclass(frozen=True, slots=True)
class Collected(Generic[T]):
    """Every page of one question: rows de-duplicated by id (pages shift while data changes)."""

    rows: list[T]
    dropped: list[Problem]
    flawed: list[Problem]
    total: int


def check_connection(conn: VBRConnection) -> None:
    """Raise ValueError naming the first bad setting of ``conn``."""
    base_url(conn.url)
    check_limits(conn)
    if not conn.username or not conn.password:
        raise ValueError("username and password are required")
    if conn.api_version != "auto" and conn.api_version not in KNOWN_REVISIONS:
        raise ValueError(f"api_version must be auto or one of {', '.join(KNOWN_REVISIONS)}")
    if conn.tls_fingerprint is not None:
        parse_fingerprint(conn.tls_fingerprint)
        if conn.ca_file is not None:
            raise ValueError("set either tls_fingerprint or ca_file, not both: the pin replaces the CA check")


class VBRClient:
    """A VBR REST API client: one logon reused across calls; ``close`` logs out.

    Safe to share between tasks of one event loop.
    """

    def __init__(self, conn: VBRConnection, *, clock: Clock | None = None) -> None:
        """Check ``conn`` and build its TLS settings; raises ValueError, or VBRError(kind="tls") for ca_file."""
        check_connection(conn)
        self.conn = conn
        self._wire = Transport(
            base_url(conn.url),
            verify_tls=conn.verify_tls,
            ca_file=conn.ca_file,
            tls_fingerprint=conn.tls_fingerprint,
            connect_timeout=conn.connect_timeout,
            read_timeout=conn.read_timeout,
            max_response_bytes=conn.max_response_bytes,
        )
        self.base = self._wire.base
        self.log = _log.bind(source=conn.source)
        self.auth = Session(
            self._wire,
            username=conn.username,
            password=conn.password,
            api_version=conn.api_version,
            clock=clock or (lambda: datetime.now(UTC)),
            log=self.log,
        )
        self._closed = False

    @property
    def requests_made(self) -> int:
        """Every HTTP request sent so far, token and logout requests included."""
        return self._wire.requests_made

    @property
    def revision(self) -> str | None:
        """The negotiated ``x-api-version`` (None before the first answer)."""
        return self.auth.revision

    async def server_time(self) -> ServerTime:
        """``GET /api/v1/serverTime``: needs no token (``security: []``)."""
        what = "GET /api/v1/serverTime"
        body = await self._get("/api/v1/serverTime", (), what, auth=False)
        return self._decode(body, what, decode_server_time)

    async def task_sessions(self, params: Params, zone: tzinfo) -> Collected[TaskRow]:
        """Every page of ``GET /api/v1/taskSessions`` with ``params``."""
        return await self._pages("/api/v1/taskSessions", params, zone, decode_task_sessions)

    async def sessions(self, params: Params, zone: tzinfo) -> Collected[SessionRow]:
        """Every page of ``GET /api/v1/sessions`` with ``params``."""
        return await self._pages("/api/v1/sessions", params, zone, decode_sessions)

    async def newest_session(self, zone: tzinfo) -> SessionRow | None:
        """The session that ended last: ``orderColumn=EndTime``, ``orderAsc=false``, ``stateFilter=Stopped``,
        one row (reference §2.1: all documented parameters of ``GET /api/v1/sessions``)."""
        params = [("orderColumn", "EndTime"), ("orderAsc", "false"), ("stateFilter", "Stopped")]
        body = await self._get(
            "/api/v1/sessions", [*params, ("skip", "0"), ("limit", "1")], "GET /api/v1/sessions (newest)"
        )
        page = self._decode(body, "GET /api/v1/sessions", lambda b: decode_sessions(b, zone))
        return page.rows[0] if page.rows else None

    async def session(self, session_id: str, zone: tzinfo) -> SessionRow | None:
        """``GET /api/v1/sessions/{id}``; None when the server has no such session (404)."""
        path = f"/api/v1/sessions/{quote(session_id, safe='')}"
        body = await self._get(path, (), "GET /api/v1/sessions/{id}", missing_ok=True)
        if body is None:
            return None
        return self._decode(body, "GET /api/v1/sessions/{id}", lambda b: decode_session(b, zone))

    async def session_tasks(self, session_id: str, zone: tzinfo, *, paged: bool) -> Collected[TaskRow]:
        """``GET /api/v1/sessions/{id}/taskSessions``: paged from 1.3-rev1, a single answer before."""
        path = f"/api/v1/sessions/{quote(session_id, safe='')}/taskSessions"
        if paged:
            return await self._pages(path, (), zone, decode_task_sessions)
        what = "GET /api/v1/sessions/{id}/taskSessions"
        page = self._decode(await self._get(path, (), what), what, lambda b: decode_task_sessions(b, zone))
        return Collected(page.rows, page.dropped, page.flawed, page.pagination.total)

    async def job_retry_settings(self, job_id: str) -> RetrySettings | None:
        """``GET /api/v1/jobs/{id}``'s ``schedule.retry``; None for a 404 or a job model without one.

        A failure is not logged here: `alertd.vbr.jobs.JobSettingsCache` logs it once per job.
        """
        path = f"/api/v1/jobs/{quote(job_id, safe='')}"
        what = "GET /api/v1/jobs/{id}"
        body = await self._get(path, (), what, missing_ok=True, quiet=True)
        if body is None:
            return None
        try:
            return decode_retry_settings(body)
        except DecodeError as e:
            raise VBRError("malformed", f"VBR at {self.base} sent an unreadable body for {what}: {e}") from e

    async def sample(self, path: str, params: Params, zone: tzinfo) -> tuple[int, list[str]]:
        """One row of ``path`` (``limit=1``): the matching total and the ids of the rows returned."""
        query = [*params, ("skip", "0"), ("limit", "1")]
        decode = decode_task_sessions if path.endswith("taskSessions") else decode_sessions
        body = await self._get(path, query, f"GET {path} (limit 1)")
        page: Page[TaskRow] | Page[SessionRow] = self._decode(body, f"GET {path}", lambda b: decode(b, zone))
        return page.pagination.total, [row.id for row in page.rows]

    async def close(self) -> None:
        """Log out (best effort, short timeout) and close the connection pool; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            await self.auth.logout()
        finally:
            await self._wire.close()

    async def _pages(
        self, path: str, params: Params, zone: tzinfo, decode: Callable[[bytes, tzinfo], Page[T]]
    ) -> Collected[T]:
        """Read ``skip``/``limit`` pages until ``skip >= total`` or a page comes back empty (§2.2).

        ``skip`` advances by the rows received, not the limit asked: a server may cap ``limit``
        silently (open question 2).
        """
        found: dict[str, T] = {}
        dropped: list[Problem] = []
        flawed: list[Problem] = []
        skip = 0
        what = f"GET {path}"
        for number in range(1, _MAX_PAGES + 1):
            query = [*params, ("skip", str(skip)), ("limit", str(self.conn.page_size))]
            body = await self._get(path, query, f"{what} (skip {skip})")
            page = self._decode(body, what, lambda b: decode(b, zone))
            for row in page.rows:
                found[row.id] = row
            dropped += page.dropped
            flawed += page.flawed
            received = len(page.rows) + len(page.dropped)
            skip += received
            self.log.debug("vbr_page", path=path, page=number, rows=received, total=page.pagination.total)
            if received == 0 or skip >= page.pagination.total:
                return Collected(list(found.values()), dropped, flawed, page.pagination.total)
        raise VBRError("malformed", f"VBR at {self.base} kept paging {path} past {_MAX_PAGES} pages")

    async def _get(
        self,
        path: str,
        params: Params,
        what: str,
        *,
        auth: bool = True,
        missing_ok: bool = False,
        quiet: bool = False,
    ) -> bytes | None:
        if self._closed:
            raise RuntimeError("VBR client is closed")
        # Percent-encode every value: a '+' in a time offset would otherwise read as a space.
        query = encode_query(params)
        try:
            reply = await self.auth.request("GET", f"{path}?{query}" if query else path, what, auth=auth)
            if missing_ok and reply.status == 404:
                return None
            if not reply.ok:
                raise status_error(self.base, reply.status, reply.reason, reply.body, what)
        except VBRError as e:
            if not quiet:
                self.log.warning("vbr_request_failed", kind=e.kind, status=e.status, error=e.message)
            raise
        return reply.body

    def _decode(self, body: bytes | None, what: str, decode: Callable[[bytes], T2]) -> T2:
        try:
            return decode(body or b"")
        except DecodeError as e:
            self.log.warning("vbr_body_unreadable", what=what, error=str(e))
            raise VBRError("malformed", f"VBR at {self.base} sent an unreadable body for {what}: {e}") from e

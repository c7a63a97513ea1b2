"""The Enterprise Manager client: version discovery, paged task-session queries, job sessions.

This module owns EM's query protocol (reference §2.2, §3.3): the paging loop (one page requested
ahead), raw entity queries, single job-session entities, and HTTP status errors carrying EM's own
Error message. Entities that cannot be fully decoded are counted per read and logged by
`alertd.em.undecodable`. `alertd.em.session` owns the logon session (token, one re-logon on 401,
logoff); `alertd.em.transport` owns the wire (TLS, timeouts, size cap, EM's clock; over
`alertd.wire`, which also checks the connection's limits and encodes queries); `alertd.em.decode`
and `alertd.em.jobs` own the bodies. The password and the token never reach a log line or an
exception.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final, Literal
from urllib.parse import quote

import structlog

from alertd.em._fields import guid_of
from alertd.em._raw import RawEntity
from alertd.em._wire import read_query
from alertd.em.decode import (
    DecodeError,
    TaskSessionPage,
    decode_task_sessions,
    decode_versions,
    page_info,
)
from alertd.em.errors import HINTS, EMError, EMErrorKind
from alertd.em.jobs import decode_job_session
from alertd.em.session import EMSession
from alertd.em.transport import Clock, Transport, base_url, utc_now
from alertd.em.undecodable import UndecodableReporter
from alertd.model import JobRun, TaskSession
from alertd.wire import check_limits, encode_query

__all__ = ["EMClient", "EMConnection", "EMError", "EMErrorKind", "TaskSessionPeek", "TaskSessionRead"]

_log = structlog.get_logger(__name__)

_MEDIA_TYPES: Final = {"xml": "application/xml", "json": "application/json"}
# A guard against a server whose PagingInfo never lets the loop end (200 x 10k = 2M rows).
_MAX_PAGES: Final = 10_000
_JOB_SESSION_HINTS: Final = {
    **HINTS,
    404: ": EM does not know this job session (EM keeps sessions 13 weeks by default)",
}


@dataclass(frozen=True)
class EMConnection:
    """How to reach one Enterprise Manager. ``url`` is the server root, e.g. ``https://em:9398``."""

    source: str
    url: str
    username: str
    password: str = field(repr=False)
    verify_tls: bool = True
    ca_file: str | None = None
    format: Literal["xml", "json"] = "xml"
    page_size: int = 200
    connect_timeout: float = 10
    read_timeout: float = 60
    max_response_bytes: int = 32 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class TaskSessionRead:
    """Every session a query matched, and how many entities could not be fully decoded.

    ``undecodable`` counts the UIDs (plus entities without one) skipped or kept with gaps that this
    client had not reported before: a session re-read every poll is counted once. Each was logged
    as ``session_undecodable``.
    """

    sessions: list[TaskSession]
    undecodable: int = 0


@dataclass(frozen=True, slots=True)
class TaskSessionPeek:
    """How many sessions a query matches (None when EM's paging cannot tell) and the first one."""

    count: int | None
    first: TaskSession | None


class EMClient:
    """An EM REST API client: one logon reused across calls, re-logon once on 401, logoff on close.

    Use as ``async with EMClient(conn) as em: await em.query_task_sessions(...)``, or call
    `close` yourself. Safe to share between tasks of one event loop. ``clock`` is alertd's own
    clock, against which `clock_skew` is measured.
    """

    def __init__(self, conn: EMConnection, *, clock: Clock = utc_now) -> None:
        """Check ``conn`` and build its TLS context; raises ValueError, or EMError(kind="tls") for ca_file."""
        if conn.format not in _MEDIA_TYPES:
            raise ValueError(f"format must be 'xml' or 'json', not {conn.format!r}")
        check_limits(conn)
        if ":" in conn.username:
            raise ValueError("username must not contain ':' (HTTP Basic authentication cannot carry it)")
        self._conn = conn
        self._wire = Transport(
            base_url(conn.url),
            verify_tls=conn.verify_tls,
            ca_file=conn.ca_file,
            connect_timeout=conn.connect_timeout,
            read_timeout=conn.read_timeout,
            max_response_bytes=conn.max_response_bytes,
            clock=clock,
        )
        self._base = self._wire.base
        self._media = _MEDIA_TYPES[conn.format]
        self._log = _log.bind(source=conn.source)
        self._session = EMSession(
            self._wire, username=conn.username, password=conn.password, media=self._media, log=self._log
        )
        self._undecodable = UndecodableReporter(self._log)

    @property
    def source(self) -> str:
        """The configured source name."""
        return self._conn.source

    @property
    def requests_made(self) -> int:
        """Every HTTP request sent so far, logon and logoff included (for benchmarks)."""
        return self._wire.requests_made

    @property
    def clock_skew(self) -> timedelta | None:
        """EM's clock minus ours at the latest response, from its ``Date`` header (None before one)."""
        return self._wire.clock_skew

    @property
    def server_time(self) -> datetime | None:
        """EM's clock at the latest response, from its ``Date`` header (None before one)."""
        return self._wire.server_time

    async def __aenter__(self) -> EMClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def api_versions(self) -> list[str]:
        """The API versions ``GET /api/`` lists (no logon needed), e.g. ``["v1_5", "v1_6", "v1_7"]``."""
        what = "GET /api/ (version discovery)"
        reply = await self._wire.send("GET", "/api/", what, headers=self._session.headers(None))
        if not reply.ok:
            raise self._session.status_error(reply, what)
        try:
            return decode_versions(reply.body)
        except DecodeError as e:
            raise EMError("malformed", f"EM at {self._base} sent an unreadable body for {what}: {e}") from e

    async def logon(self) -> None:
        """Log on now unless a token is already held; raises EMError."""
        await self._session.logon()

    async def query_task_sessions(self, filter: str, *, sort_asc: str = "EndTime") -> list[TaskSession]:
        """Every BackupTaskSession matching ``filter``, from all pages; raises EMError on any bad page.

        Sessions are de-duplicated by UID, since pages shift while EM's data changes: a
        session seen twice keeps its first position and its latest value.
        """
        return (await self.read_task_sessions(filter, sort_asc=sort_asc)).sessions

    async def read_task_sessions(self, filter: str, *, sort_asc: str = "EndTime") -> TaskSessionRead:
        """`query_task_sessions`, also counting the entities that could not be fully decoded.

        Once the page count is known, the next page is requested while this one is decoded, so
        EM's time to answer overlaps alertd's time to read (one request ahead, never more).
        """
        found: dict[str, TaskSession] = {}
        undecodable: set[str] = set()
        anonymous = 0
        page, pages_count = 1, 0
        sort = ("sortAsc", sort_asc)
        ahead: asyncio.Task[bytes] | None = None
        try:
            body = await self._fetch_page(filter, sort, self._conn.page_size, page)
            while True:
                if page < pages_count:
                    ahead = asyncio.create_task(
                        self._fetch_page(filter, sort, self._conn.page_size, page + 1)
                    )
                    # A new task only starts at the loop's next turn, and decoding never yields:
                    # without this the request would leave after the decode, overlapping nothing.
                    # One turn writes it on a kept-alive connection (a new one needs more turns,
                    # and then overlaps less; never incorrect).
                    await asyncio.sleep(0)
                decoded = self._decode_page(body, page)
                anonymous += self._undecodable.report(decoded, page, undecodable)
                for session in decoded.sessions:
                    found[session.uid] = session
                page_num, pages_count = decoded.page.page_num, decoded.page.pages_count
                if page_num >= pages_count:
                    return TaskSessionRead(list(found.values()), len(undecodable) + anonymous)
                if page_num != page or page >= _MAX_PAGES:
                    raise EMError(
                        "malformed",
                        f"EM at {self._base} answered page {page} of a query with PageNum={page_num} of "
                        f"PagesCount={pages_count}; paging cannot continue",
                    )
                page += 1
                fetch, ahead = ahead, None
                body = await (fetch or self._fetch_page(filter, sort, self._conn.page_size, page))
        except EMError as e:
            self._log.warning("em_request_failed", kind=e.kind, status=e.status, error=e.message, page=page)
            raise
        finally:
            if ahead is not None:
                ahead.cancel()
                await asyncio.gather(ahead, return_exceptions=True)

    async def peek_task_sessions(self, filter: str, *, sort_desc: str = "EndTime") -> TaskSessionPeek:
        """How many sessions match ``filter``, and the first by ``sort_desc``: one request, one row.

        Asks ``pageSize=1`` and reads PagesCount; an empty page means 0 whatever PagesCount says
        (its value for an empty result is undocumented, reference §2.2). If EM ignores the page
        size, the count is only known when everything fits on one page.
        """
        try:
            decoded = await self._page(filter, ("sortDesc", sort_desc), 1, 1)
        except EMError as e:
            self._log.warning("em_request_failed", kind=e.kind, status=e.status, error=e.message, page=1)
            raise
        self._undecodable.report(decoded, 1, set())
        rows = len(decoded.sessions) + len(decoded.skipped)
        info = decoded.page
        count: int | None
        if rows == 0:
            count = 0
        elif info.page_size == 1:
            count = info.pages_count
        else:
            count = rows if info.pages_count <= 1 else None
        return TaskSessionPeek(count, decoded.sessions[0] if decoded.sessions else None)

    async def query_entities(
        self, entity_type: str, filter: str, *, sort_asc: str | None = None
    ) -> list[RawEntity]:
        """Every ``entity_type`` entity (``BackupJobSession``, ``BackupTaskSession``) matching ``filter``,
        from all pages, undecoded: for callers that need a few fields of many rows (job runs, task
        counts). Items that are no entity at all are left out. Raises EMError on any bad page."""
        found: list[RawEntity] = []
        page = 1
        while True:
            params = [("type", entity_type), ("format", "Entities")]
            if sort_asc is not None:
                params.append(("sortAsc", sort_asc))
            params += [("pageSize", str(self._conn.page_size)), ("page", str(page)), ("filter", filter)]
            what = f"GET /api/query ({entity_type}) page {page}"
            try:
                body = await self._session.get(f"/api/query?{encode_query(params)}", what)
                try:
                    raw = read_query(body, entity_type)
                    info = page_info(raw.paging)
                except DecodeError as e:
                    raise EMError(
                        "malformed", f"EM at {self._base} sent an unreadable body for {what}: {e}"
                    ) from e
                found += [item for item in raw.entities if isinstance(item, RawEntity)]
                if info.page_num >= info.pages_count:
                    return found
                if info.page_num != page or page >= _MAX_PAGES:
                    raise EMError(
                        "malformed",
                        f"EM at {self._base} answered page {page} of a query with PageNum={info.page_num} of "
                        f"PagesCount={info.pages_count}; paging cannot continue",
                    )
            except EMError as e:
                self._log.warning(
                    "em_request_failed", kind=e.kind, status=e.status, error=e.message, page=page
                )
                raise
            page += 1

    async def job_session(self, uid: str) -> JobRun:
        """The job run behind ``uid`` (a job session's URN or GUID), read from its entity.

        ``GET /api/backupSessions/{guid}?format=Entity`` (reference §3.3). Raises EMError: status
        404 when EM does not know the session, ``malformed`` when the body is no job session.
        """
        guid = guid_of(uid)
        if not guid:
            raise ValueError(f"no job session id in {uid!r}")
        what = "GET /api/backupSessions/{id} (job session)"
        reply = await self._session.get(
            f"/api/backupSessions/{quote(guid, safe='')}?format=Entity", what, hints=_JOB_SESSION_HINTS
        )
        try:
            run, problems = decode_job_session(reply, uid=uid)
        except DecodeError as e:
            raise EMError("malformed", f"EM at {self._base} sent an unreadable body for {what}: {e}") from e
        if problems:
            self._log.warning("job_session_incomplete", uid=uid, problems=list(problems))
        return run

    async def close(self) -> None:
        """Log off (best effort, short timeout) and close the connection pool; safe to call twice."""
        if self._session.closed:
            return
        try:
            await self._session.close()
        finally:
            await self._wire.close()

    async def _page(self, filter: str, sort: tuple[str, str], page_size: int, page: int) -> TaskSessionPage:
        """Fetch and decode one ``format=Entities`` page of a BackupTaskSession query."""
        return self._decode_page(await self._fetch_page(filter, sort, page_size, page), page)

    async def _fetch_page(self, filter: str, sort: tuple[str, str], page_size: int, page: int) -> bytes:
        """The body of one ``format=Entities`` page of a BackupTaskSession query."""
        params = [
            ("type", "BackupTaskSession"),
            ("format", "Entities"),
            sort,
            ("pageSize", str(page_size)),
            ("page", str(page)),
            ("filter", filter),
        ]
        return await self._session.get(f"/api/query?{encode_query(params)}", f"GET /api/query page {page}")

    def _decode_page(self, body: bytes, page: int) -> TaskSessionPage:
        """One page's body as sessions and paging info; an unreadable body is a ``malformed`` EMError."""
        try:
            decoded = decode_task_sessions(body, source=self._conn.source)
        except DecodeError as e:
            raise EMError(
                "malformed", f"EM at {self._base} sent an unreadable body for GET /api/query page {page}: {e}"
            ) from e
        self._log.debug(
            "em_query_page", page=page, pages_count=decoded.page.pages_count, sessions=len(decoded.sessions)
        )
        return decoded

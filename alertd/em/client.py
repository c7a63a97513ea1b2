"""The Enterprise Manager client: logon, token reuse, paged task-session queries, logoff.

This module owns EM's session protocol (reference §1.2-§1.4, §2.2): Basic-auth logon, the
``X-RestSvcSessionId`` token and its one re-logon on 401, the paging loop, and HTTP status
errors carrying EM's own Error message. `alertd.em.transport` owns the wire (TLS, timeouts,
size cap); `alertd.em.decode` owns the bodies. The password and the token never reach a
log line or an exception.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass, field
from typing import Final, Literal
from urllib.parse import quote

import structlog

from alertd.em.decode import DecodeError, decode_error, decode_logon_session, decode_task_sessions
from alertd.em.errors import EMError, EMErrorKind
from alertd.em.transport import Reply, Transport, base_url
from alertd.model import TaskSession

__all__ = ["EMClient", "EMConnection", "EMError", "EMErrorKind"]

_log = structlog.get_logger(__name__)

_MEDIA_TYPES: Final = {"xml": "application/xml", "json": "application/json"}
_TOKEN_HEADER: Final = "X-RestSvcSessionId"
# Logoff is a courtesy to EM's session table; it must never hold up shutdown.
_LOGOFF_SECONDS: Final = 5.0
# A guard against a server whose PagingInfo never lets the loop end (200 x 10k = 2M rows).
_MAX_PAGES: Final = 10_000
_HINTS: Final = {
    403: ": the account lacks rights; use a Portal Administrator account",
    404: ": check that url points at EM's REST API, e.g. https://em.example:9398",
    500: ": EM failed internally; check the filter and EM's own logs",
    503: ": EM is overloaded or in maintenance; the next poll retries",
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


class EMClient:
    """An EM REST API client: one logon reused across calls, re-logon once on 401, logoff on close.

    Use as ``async with EMClient(conn) as em: await em.query_task_sessions(...)``, or call
    `close` yourself. Safe to share between tasks of one event loop.
    """

    def __init__(self, conn: EMConnection) -> None:
        """Check ``conn`` and build its TLS context; raises ValueError, or EMError(kind="tls") for ca_file."""
        if conn.format not in _MEDIA_TYPES:
            raise ValueError(f"format must be 'xml' or 'json', not {conn.format!r}")
        if conn.page_size < 1 or conn.max_response_bytes < 1:
            raise ValueError("page_size and max_response_bytes must be positive")
        if conn.connect_timeout <= 0 or conn.read_timeout <= 0:
            raise ValueError("connect_timeout and read_timeout must be positive")
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
        )
        self._base = self._wire.base
        self._media = _MEDIA_TYPES[conn.format]
        self._token: str | None = None
        self._session_id: str | None = None
        self._logon_lock = asyncio.Lock()
        self._closed = False
        self._log = _log.bind(source=conn.source)

    @property
    def requests_made(self) -> int:
        """Every HTTP request sent so far, logon and logoff included (for benchmarks)."""
        return self._wire.requests_made

    async def __aenter__(self) -> EMClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def query_task_sessions(self, filter: str, *, sort_asc: str = "EndTime") -> list[TaskSession]:
        """Every BackupTaskSession matching ``filter``, from all pages; raises EMError on any bad page.

        Sessions are de-duplicated by UID, since pages shift while EM's data changes: a
        session seen twice keeps its first position and its latest value.
        """
        found: dict[str, TaskSession] = {}
        page = 1
        while True:
            try:
                page_num, pages_count = await self._read_page(filter, sort_asc, page, found)
                if page_num >= pages_count:
                    return list(found.values())
                if page_num != page or page >= _MAX_PAGES:
                    raise EMError(
                        "malformed",
                        f"EM at {self._base} answered page {page} of a query with PageNum={page_num} of "
                        f"PagesCount={pages_count}; paging cannot continue",
                    )
            except EMError as e:
                self._log.warning(
                    "em_request_failed", kind=e.kind, status=e.status, error=e.message, page=page
                )
                raise
            page += 1

    async def close(self) -> None:
        """Log off (best effort, short timeout) and close the connection pool; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._token is not None and self._session_id is not None:
                await self._logoff(self._session_id)
        finally:
            self._token = None
            await self._wire.close()

    async def _read_page(
        self, filter: str, sort_asc: str, page: int, found: dict[str, TaskSession]
    ) -> tuple[int, int]:
        """Fetch and decode one page into ``found``; return its (PageNum, PagesCount)."""
        params = [
            ("type", "BackupTaskSession"),
            ("format", "Entities"),
            ("sortAsc", sort_asc),
            ("pageSize", str(self._conn.page_size)),
            ("page", str(page)),
            ("filter", filter),
        ]
        # Percent-encode every reserved character, as EM's own paging links do, so no layer
        # can take the filter's ';' or ',' for a query separator.
        query = "&".join(f"{k}={quote(v, safe='')}" for k, v in params)
        what = f"GET /api/query page {page}"
        body = await self._authed_get(f"/api/query?{query}", what)
        try:
            decoded = decode_task_sessions(body, source=self._conn.source)
        except DecodeError as e:
            raise EMError("malformed", f"EM at {self._base} sent an unreadable body for {what}: {e}") from e
        for skipped in decoded.skipped:
            self._log.warning("em_entity_skipped", uid=skipped.uid, reason=skipped.reason, page=page)
        for session in decoded.sessions:
            found[session.uid] = session
        self._log.debug(
            "em_query_page", page=page, pages_count=decoded.page.pages_count, sessions=len(decoded.sessions)
        )
        return decoded.page.page_num, decoded.page.pages_count

    async def _authed_get(self, path_and_query: str, what: str) -> bytes:
        """GET with the session token, logging on first if needed and once more on a 401."""
        if self._closed:
            raise RuntimeError("EM client is closed")
        if self._token is None:
            await self._logon(stale=None)
        token = self._token
        reply = await self._wire.send("GET", path_and_query, what, headers=self._headers(token))
        if reply.status == 401:
            self._log.info("em_token_rejected", what=what)
            await self._logon(stale=token)
            reply = await self._wire.send("GET", path_and_query, what, headers=self._headers(self._token))
            if reply.status == 401:
                raise EMError(
                    "auth",
                    f"EM at {self._base} refused a fresh session token for {what} (401)"
                    f"{_detail(reply.body)}: check the account's role and EM's REST service",
                    401,
                )
        if not reply.ok:
            raise self._status_error(reply, what)
        return reply.body

    async def _logon(self, *, stale: str | None) -> None:
        """Log on, unless another task replaced the ``stale`` token while this one waited."""
        async with self._logon_lock:
            if self._token is not None and self._token != stale:
                return
            self._token = None
            what = "POST /api/sessionMngr/ (logon)"
            reply = await self._wire.send(
                "POST",
                "/api/sessionMngr/?v=latest",
                what,
                headers={"Accept": self._media, "Authorization": self._basic_auth()},
            )
            if reply.status == 401:
                raise EMError(
                    "auth",
                    f"EM at {self._base} refused logon for user {self._conn.username!r} (401)"
                    f"{_detail(reply.body)}: check username and password",
                    401,
                )
            if not reply.ok:
                raise self._status_error(reply, what)
            token = reply.headers.get(_TOKEN_HEADER, "").strip()
            if not token:
                raise EMError(
                    "malformed",
                    f"EM at {self._base} answered logon with {reply.status} but no {_TOKEN_HEADER} header: "
                    "check that url points at Enterprise Manager's REST API (port 9398)",
                    reply.status,
                )
            try:
                self._session_id = decode_logon_session(reply.body).session_id
            except DecodeError as e:
                # The token is all requests need; without a SessionId only the logoff is lost.
                self._session_id = None
                self._log.warning("em_logon_body_unreadable", error=str(e))
            self._token = token
            self._log.info("em_logon", url=self._base, relogon=stale is not None)

    async def _logoff(self, session_id: str) -> None:
        try:
            reply = await self._wire.send(
                "DELETE",
                f"/api/logonSessions/{quote(session_id, safe='')}",
                "DELETE /api/logonSessions (logoff)",
                headers=self._headers(self._token),
                total_seconds=_LOGOFF_SECONDS,
            )
        except EMError as e:
            self._log.warning("em_logoff_failed", kind=e.kind, error=e.message)
            return
        if reply.ok:
            self._log.info("em_logoff")
        else:
            self._log.warning("em_logoff_failed", status=reply.status, error=_em_says(reply.body))

    def _basic_auth(self) -> str:
        # Built by hand: aiohttp.BasicAuth is deprecated from 3.14 and its successor is missing
        # before it. UTF-8 is what RFC 7617 servers expect for non-ASCII credentials.
        pair = f"{self._conn.username}:{self._conn.password}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")

    def _headers(self, token: str | None) -> dict[str, str]:
        # Exactly one media type: EM has failed requests whose Accept listed both.
        headers = {"Accept": self._media}
        if token is not None:
            headers[_TOKEN_HEADER] = token
        return headers

    def _status_error(self, reply: Reply, what: str) -> EMError:
        status = reply.status
        kind: EMErrorKind = "auth" if status in (401, 403) else "http"
        hint = _HINTS.get(status, "")
        if 300 <= status < 400:
            location = reply.headers.get("Location", "?")
            hint = f": EM redirected to {location}; set url to the address EM answers on"
        return EMError(
            kind,
            f"EM at {self._base} answered {status} {reply.reason} to {what}{_detail(reply.body)}{hint}",
            status,
        )


def _em_says(body: bytes) -> str | None:
    """EM's Error Message and StatusCode from an error body, or None when it holds no Error."""
    try:
        err = decode_error(body)
    except DecodeError:
        return None
    parts = []
    if err.message:
        # Bounded: the message goes into a log line, and EM may append a stack trace.
        parts.append(err.message.strip()[:500])
    if err.status_code is not None:
        parts.append(f"(StatusCode {err.status_code})")
    return " ".join(parts)


def _detail(body: bytes) -> str:
    said = _em_says(body)
    return f": EM says: {said}" if said else ""

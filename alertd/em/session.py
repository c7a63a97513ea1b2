"""An Enterprise Manager logon session: Basic-auth logon, the token, one re-logon on 401, logoff.

Reference §1.1-§1.4: ``POST /api/sessionMngr/?v=latest`` with Basic auth answers with the
``X-RestSvcSessionId`` token that every later request carries; a 401 on a request means the
token expired, so alertd logs on once more and repeats the request; ``DELETE
/api/logonSessions/{id}`` ends the session. `alertd.em.client` asks its questions through
`EMSession.get`. The password and the token never reach a log line or an exception.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import quote

from alertd.em.decode import DecodeError, decode_logon_session
from alertd.em.errors import HINTS, EMError, detail, em_says, status_error
from alertd.em.transport import Reply, Transport

_TOKEN_HEADER: Final = "X-RestSvcSessionId"
# Logoff is a courtesy to EM's session table; it must never hold up shutdown.
_LOGOFF_SECONDS: Final = 5.0


class EMSession:
    """The token a client's requests carry, logged on when first needed and renewed once on a 401."""

    def __init__(self, wire: Transport, *, username: str, password: str, media: str, log: Any) -> None:
        self._wire = wire
        self._base = wire.base
        self._username = username
        self._password = password
        self._media = media
        self._token: str | None = None
        self._session_id: str | None = None
        self._logon_lock = asyncio.Lock()
        self.closed = False
        self.log = log

    @property
    def logged_on(self) -> bool:
        """A token is held."""
        return self._token is not None

    async def logon(self) -> None:
        """Log on now unless a token is already held; raises EMError."""
        if self._token is None:
            await self._logon(stale=None)

    async def close(self) -> None:
        """Log off (best effort, short timeout); safe to call twice."""
        if self.closed:
            return
        self.closed = True
        try:
            if self._token is not None and self._session_id is not None:
                await self._logoff(self._session_id)
        finally:
            self._token = None

    async def get(self, path_and_query: str, what: str, *, hints: Mapping[int, str] | None = None) -> bytes:
        """GET with the session token, logging on first if needed and once more on a 401."""
        if self.closed:
            raise RuntimeError("EM client is closed")
        if self._token is None:
            await self._logon(stale=None)
        token = self._token
        reply = await self._wire.send("GET", path_and_query, what, headers=self.headers(token))
        if reply.status == 401:
            self.log.info("em_token_rejected", what=what)
            await self._logon(stale=token)
            reply = await self._wire.send("GET", path_and_query, what, headers=self.headers(self._token))
            if reply.status == 401:
                raise EMError(
                    "auth",
                    f"EM at {self._base} refused a fresh session token for {what} (401)"
                    f"{detail(reply.body)}: check the account's role and EM's REST service",
                    401,
                )
        if not reply.ok:
            raise self.status_error(reply, what, hints or HINTS)
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
                    f"EM at {self._base} refused logon for user {self._username!r} (401)"
                    f"{detail(reply.body)}: check username and password",
                    401,
                )
            if not reply.ok:
                raise self.status_error(reply, what)
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
                self.log.warning("em_logon_body_unreadable", error=str(e))
            self._token = token
            self.log.info("em_logon", url=self._base, relogon=stale is not None)

    async def _logoff(self, session_id: str) -> None:
        """DELETE the logon session (best effort: a failure is logged, never raised)."""
        try:
            reply = await self._wire.send(
                "DELETE",
                f"/api/logonSessions/{quote(session_id, safe='')}",
                "DELETE /api/logonSessions (logoff)",
                headers=self.headers(self._token),
                total_seconds=_LOGOFF_SECONDS,
            )
        except EMError as e:
            self.log.warning("em_logoff_failed", kind=e.kind, error=e.message)
            return
        if reply.ok:
            self.log.info("em_logoff")
        else:
            self.log.warning("em_logoff_failed", status=reply.status, error=em_says(reply.body))

    def _basic_auth(self) -> str:
        # Built by hand: aiohttp.BasicAuth is deprecated from 3.14 and its successor is missing
        # before it. UTF-8 is what RFC 7617 servers expect for non-ASCII credentials.
        pair = f"{self._username}:{self._password}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")

    def headers(self, token: str | None) -> dict[str, str]:
        """The request headers: one media type, and the token when there is one."""
        # Exactly one media type: EM has failed requests whose Accept listed both.
        headers = {"Accept": self._media}
        if token is not None:
            headers[_TOKEN_HEADER] = token
        return headers

    def status_error(self, reply: Reply, what: str, hints: Mapping[int, str] = HINTS) -> EMError:
        location = reply.headers.get("Location")
        return status_error(
            self._base, reply.status, reply.reason, reply.body, what, location=location, hints=hints
        )

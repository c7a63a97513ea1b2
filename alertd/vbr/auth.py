"""Logon, token lifetime and ``x-api-version`` negotiation for one VBR server.

This module owns reference §1.2-§1.4: the OAuth2 password grant (form-urlencoded, no bearer),
refresh at 80 % of ``expires_in`` (the documents disagree between 15 and 60 minutes, so the
server's own figure is used), refresh-token rotation (a refresh token works once), the password
grant again when a refresh is refused, one re-logon on a 401, a back-off after refused logons
(VBR 13 counts "too many invalid requests" against the account), and logout. Every request
carries ``x-api-version``; a 400 "Unsupported RESTAPI version" answer is parsed and the newest
revision both sides speak is chosen. Tokens and the password never reach a log line or an error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Final
from urllib.parse import urlencode

from alertd.vbr.decode import DecodeError, decode_error, decode_token
from alertd.vbr.errors import ACCOUNT_HINT, VBRError, server_says
from alertd.vbr.transport import Reply, Transport
from alertd.vbr.versions import KNOWN_REVISIONS, choose, next_older, parse_supported

__all__ = ["Clock", "Session"]

Clock = Callable[[], datetime]

TOKEN_PATH: Final = "/api/oauth2/token"
LOGOUT_PATH: Final = "/api/oauth2/logout"
_REFRESH_AT: Final = 0.8
# When expires_in is unusable: the shortest lifetime any document states (reference §1.3).
_DEFAULT_LIFETIME: Final = 900
_BACKOFF_FIRST: Final = timedelta(seconds=30)
_BACKOFF_MAX: Final = timedelta(minutes=15)
# Logout is a courtesy to the server's token table; it must never hold up shutdown.
_LOGOUT_SECONDS: Final = 5.0
_FORM: Final = "application/x-www-form-urlencoded"


class Session:
    """One logged-on conversation with a VBR server. Safe to share between tasks of one loop."""

    def __init__(
        self, wire: Transport, *, username: str, password: str, api_version: str, clock: Clock, log: Any
    ) -> None:
        self._wire = wire
        self._username = username
        self._password = password
        self._pinned = None if api_version == "auto" else api_version
        self._clock = clock
        self._log = log
        self._revision: str | None = self._pinned
        self._access: str | None = None
        self._refresh: str | None = None
        self._renew_at: datetime | None = None
        self._lock = asyncio.Lock()
        self._refusals = 0
        self._retry_at: datetime | None = None
        self._refusal: VBRError | None = None
        #: The latest token lifetime the server stated (seconds), for the probe.
        self.expires_in: int | None = None
        #: Successful token requests by grant type, for metrics.
        self.grants = {"password": 0, "refresh_token": 0}

    @property
    def revision(self) -> str | None:
        """The ``x-api-version`` in use (None before the first answer in auto mode)."""
        return self._revision

    async def request(self, method: str, path_and_query: str, what: str, *, auth: bool = True) -> Reply:
        """Send with ``x-api-version`` (and a bearer token when ``auth``), re-logging on once on 401."""
        if not auth:
            return await self._send(method, path_and_query, what, {})
        token = await self._bearer()
        reply = await self._send(method, path_and_query, what, {"Authorization": f"Bearer {token}"})
        if reply.status != 401:
            return reply
        self._log.info("vbr_token_rejected", what=what)
        await self._logon(stale=token)
        token = await self._bearer()
        reply = await self._send(method, path_and_query, what, {"Authorization": f"Bearer {token}"})
        if reply.status == 401:
            raise VBRError(
                "auth",
                f"VBR at {self._wire.base} refused a fresh access token for {what} (401)"
                f"{server_says(reply.body)}: {ACCOUNT_HINT}",
                401,
            )
        return reply

    async def logon(self) -> None:
        """Make sure a valid access token is held (logging on or refreshing as needed)."""
        await self._bearer()

    async def logout(self) -> None:
        """``POST /api/oauth2/logout`` (best effort, short timeout); forgets the tokens either way."""
        token, self._access, self._refresh = self._access, None, None
        if token is None:
            return
        try:
            reply = await self._send(
                "POST",
                LOGOUT_PATH,
                "POST /api/oauth2/logout",
                {"Authorization": f"Bearer {token}"},
                total_seconds=_LOGOUT_SECONDS,
            )
        except VBRError as e:
            self._log.warning("vbr_logout_failed", kind=e.kind, error=e.message)
            return
        if reply.ok:
            self._log.info("vbr_logout")
        else:
            self._log.warning("vbr_logout_failed", status=reply.status, error=server_says(reply.body))

    # -- versions ------------------------------------------------------------------------------

    async def _send(
        self,
        method: str,
        path_and_query: str,
        what: str,
        extra: dict[str, str],
        *,
        body: bytes | None = None,
        total_seconds: float | None = None,
    ) -> Reply:
        """One request with ``x-api-version``, stepping down while the server refuses the revision."""
        revision = self._revision or KNOWN_REVISIONS[0]
        for _ in range(len(KNOWN_REVISIONS)):
            headers = {"Accept": "application/json", "x-api-version": revision, **extra}
            if body is not None:
                headers["Content-Type"] = _FORM
            reply = await self._wire.send(
                method, path_and_query, what, headers=headers, body=body, total_seconds=total_seconds
            )
            refused = _refused_revision(reply)
            if refused is None:
                if revision != self._revision:
                    self._revision = revision
                    self._log.info("vbr_api_version", api_version=revision, url=self._wire.base)
                return reply
            revision = self._next_revision(revision, refused, what)
        raise VBRError("version", f"VBR at {self._wire.base} refused every API revision alertd knows")

    def _next_revision(self, revision: str, supported: list[str], what: str) -> str:
        listed = ", ".join(supported) or "none listed"
        if self._pinned is not None:
            raise VBRError(
                "version",
                f"VBR at {self._wire.base} does not support api_version {revision} (it supports: {listed}): "
                "set api_version to one of them, or to auto",
                400,
            )
        # A list names exactly what the server speaks; without one (1.3-rev2's own example has
        # none) alertd tries the next older revision it knows.
        nxt = choose(supported, below=revision) if supported else next_older(revision)
        if nxt is None:
            raise VBRError(
                "version",
                f"VBR at {self._wire.base} supports no API revision alertd reads (it supports: {listed}; "
                f"alertd reads {KNOWN_REVISIONS[-1]} to {KNOWN_REVISIONS[0]}, i.e. VBR 12.0 or later)",
                400,
            )
        self._log.info("vbr_api_version_refused", refused=revision, supported=listed, next=nxt, what=what)
        return nxt

    # -- tokens --------------------------------------------------------------------------------

    async def _bearer(self) -> str:
        token = self._access
        if token is None:
            await self._logon(stale=None)
        elif self._renew_at is not None and self._clock() >= self._renew_at:
            await self._renew(stale=token)
        assert self._access is not None
        return self._access

    async def _logon(self, *, stale: str | None) -> None:
        """Password grant, unless another task replaced the ``stale`` token while this one waited."""
        async with self._lock:
            if self._access is not None and self._access != stale:
                return
            self._access = None
            await self._password_grant()

    async def _renew(self, *, stale: str) -> None:
        """Refresh grant before expiry; the password grant when the refresh is refused."""
        async with self._lock:
            if self._access != stale:
                return
            if self._refresh is not None:
                form = {"grant_type": "refresh_token", "refresh_token": self._refresh}
                reply = await self._grant(form, "POST /api/oauth2/token (refresh)")
                if reply.ok:
                    self._accept(reply, "refresh")
                    return
                if reply.status not in (400, 401, 403):
                    raise self._grant_error(reply, "refresh")
                self._log.info("vbr_refresh_refused", status=reply.status, error=server_says(reply.body))
            self._access = None
            await self._password_grant()

    async def _password_grant(self) -> None:
        now = self._clock()
        if self._retry_at is not None and self._refusal is not None and now < self._retry_at:
            raise VBRError(
                "auth",
                f"{self._refusal.message} (alertd waits until {self._retry_at.isoformat(timespec='seconds')} "
                "before trying this account again, so as not to lock it out)",
                self._refusal.status,
            )
        form = {"grant_type": "password", "username": self._username, "password": self._password}
        reply = await self._grant(form, "POST /api/oauth2/token (logon)")
        if reply.ok:
            self._accept(reply, "password")
            self._refusals, self._retry_at, self._refusal = 0, None, None
            return
        error = self._grant_error(reply, "logon")
        if error.kind == "auth":
            self._refusals += 1
            self._retry_at = now + min(_BACKOFF_FIRST * 2 ** (self._refusals - 1), _BACKOFF_MAX)
            self._refusal = error
        raise error

    async def _grant(self, form: dict[str, str], what: str) -> Reply:
        # Lowercase grant types, as every document's examples send (reference §1.3, open question 8).
        return await self._send("POST", TOKEN_PATH, what, {}, body=urlencode(form).encode("ascii"))

    def _accept(self, reply: Reply, grant: str) -> None:
        try:
            token = decode_token(reply.body)
        except DecodeError as e:
            raise VBRError(
                "malformed",
                f"VBR at {self._wire.base} answered {grant} with an unreadable token: {e}",
                reply.status,
            ) from e
        lifetime = token.expires_in
        if lifetime is None:
            self._log.warning("vbr_token_lifetime_missing", assumed_seconds=_DEFAULT_LIFETIME)
            lifetime = _DEFAULT_LIFETIME
        self.expires_in = lifetime
        self.grants["refresh_token" if grant == "refresh" else "password"] += 1
        self._access, self._refresh = token.access_token, token.refresh_token
        self._renew_at = self._clock() + timedelta(seconds=lifetime * _REFRESH_AT)
        self._log.info("vbr_logon", url=self._wire.base, grant=grant, expires_in=lifetime)

    def _grant_error(self, reply: Reply, grant: str) -> VBRError:
        status = reply.status
        said = server_says(reply.body)
        if status in (400, 401, 403):
            return VBRError(
                "auth",
                f"VBR at {self._wire.base} refused {grant} for user {self._username!r} ({status}){said}: "
                f"check username and password; {ACCOUNT_HINT}",
                status,
            )
        return VBRError(
            "http",
            f"VBR at {self._wire.base} answered {status} {reply.reason} to the token request{said}",
            status,
        )


def _refused_revision(reply: Reply) -> list[str] | None:
    """The supported revisions when ``reply`` refuses the requested one, else None.

    Observed as a 400 with errorCode NotImplemented and "Unsupported RESTAPI version. The following
    versions are supported: v1.0-rev1, ..." (reference §1.2); 1.3-rev2 documents the same code with
    "The specified API version is not supported." and no list.
    """
    if reply.status not in (400, 501):
        return None
    err = decode_error(reply.body)
    text = (err.message or "") if err else reply.body[:500].decode("utf-8", "replace")
    if "version" not in text.lower() or (err is not None and err.error_code not in (None, "NotImplemented")):
        return None
    return parse_supported(text)

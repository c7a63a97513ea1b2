"""Logon sessions: Basic-auth logon, opaque tokens, idle expiry on the injected clock, logoff.

The token is random and unrelated to the SessionId (EM 9.5 used base64(SessionId); v1_7 does
not), so a client that derives one from the other fails here as it would on a real EM.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from alertd.simulator.clock import Clock

TOKEN_HEADER = "X-RestSvcSessionId"


@dataclass(slots=True)
class LogonSession:
    """One logged-on client."""

    session_id: str
    token: str
    username: str
    last_seen: datetime


class TokenStore:
    """Live logon sessions keyed by token."""

    def __init__(self, clock: Clock, username: str, password: str) -> None:
        self._clock = clock
        self.username = username
        self.password = password
        self._by_token: dict[str, LogonSession] = {}

    def check_basic(self, header: str | None) -> bool:
        """Windows account names are case-insensitive; passwords are not (Windows logon rules).

        Bad credentials or no Authorization header: 401 with ``WWW-Authenticate`` (reference §1.2).
        """
        if not header or header[:6].lower() != "basic ":
            return False
        try:
            user, _, password = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return user.lower() == self.username.lower() and hmac.compare_digest(password, self.password)

    def logon(self) -> LogonSession:
        session = LogonSession(
            session_id=str(uuid.uuid4()),
            token=base64.b64encode(secrets.token_bytes(16)).decode(),  # like O9Msj3rq7EGUhtSMBQx+mw==
            username=self.username,
            last_seen=self._clock(),
        )
        self._by_token[session.token] = session
        return session

    def touch(self, token: str, idle_timeout: timedelta) -> LogonSession | None:
        """The session for a token, refreshing its idle timer; None when unknown or expired."""
        session = self._by_token.get(token)
        if session is None:
            return None
        now = self._clock()
        if now - session.last_seen >= idle_timeout:
            del self._by_token[token]
            return None
        session.last_seen = now
        return session

    def logoff(self, session_id: str) -> bool:
        for token, session in list(self._by_token.items()):
            if session.session_id.lower() == session_id.lower():
                del self._by_token[token]
                return True
        return False

    def expire_all(self) -> int:
        """Forget every token (EM restarted, or all idled out); returns how many there were."""
        count = len(self._by_token)
        self._by_token.clear()
        return count

    @property
    def active(self) -> int:
        return len(self._by_token)

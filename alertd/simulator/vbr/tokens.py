"""OAuth2 tokens of the simulated server (reference §1.3).

Access tokens expire after ``expires_in`` seconds on the injected clock; a refresh token works
once ("A refresh token can be used only once", TokenModel) and lives 14 days; logout expires both
("After you log out, access and refresh tokens are expired", OVERVIEW 1.3-rev0).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from alertd.simulator.clock import Clock

__all__ = ["Grant", "TokenStore"]


@dataclass(slots=True)
class Grant:
    """One access/refresh pair."""

    access: str
    refresh: str
    issued: datetime
    access_expires: datetime
    refresh_expires: datetime
    refresh_used: bool = False


class TokenStore:
    """Live grants, looked up by access or refresh token."""

    def __init__(self, clock: Clock, username: str, password: str) -> None:
        self._clock = clock
        self.username = username
        self.password = password
        self._by_access: dict[str, Grant] = {}
        self._by_refresh: dict[str, Grant] = {}
        #: How many grants each grant type issued, for tests ("one password grant, then refreshes").
        self.issued = {"password": 0, "refresh_token": 0}

    def check_password(self, username: str, password: str) -> bool:
        """Windows account names are case-insensitive; passwords are not."""
        return username.lower() == self.username.lower() and hmac.compare_digest(password, self.password)

    def issue(self, grant_type: str, expires_in: int, refresh_lifetime: timedelta) -> Grant:
        now = self._clock()
        # JWT-like opaque strings; the client must treat them as opaque.
        grant = Grant(
            access="eyJ" + secrets.token_urlsafe(48),
            refresh="eyJ" + secrets.token_urlsafe(48),
            issued=now,
            access_expires=now + timedelta(seconds=expires_in),
            refresh_expires=now + refresh_lifetime,
        )
        self._by_access[grant.access] = grant
        self._by_refresh[grant.refresh] = grant
        self.issued[grant_type] += 1
        return grant

    def valid(self, access: str) -> bool:
        grant = self._by_access.get(access)
        return grant is not None and self._clock() < grant.access_expires

    def redeem(self, refresh: str) -> bool:
        """Use up a refresh token; False when unknown, used, expired or logged out."""
        grant = self._by_refresh.get(refresh)
        if grant is None or grant.refresh_used or self._clock() >= grant.refresh_expires:
            return False
        grant.refresh_used = True
        return True

    def logout(self, access: str) -> bool:
        grant = self._by_access.pop(access, None)
        if grant is None:
            return False
        self._by_refresh.pop(grant.refresh, None)
        return True

    def expire_access(self) -> int:
        """Every access token expires now (refresh tokens stay good); returns how many were live."""
        now = self._clock()
        live = [g for g in self._by_access.values() if now < g.access_expires]
        for grant in live:
            grant.access_expires = now
        return len(live)

    def expire_all(self) -> int:
        """Forget every token (the service restarted); returns how many grants there were."""
        count = len(self._by_access)
        self._by_access.clear()
        self._by_refresh.clear()
        return count

    @property
    def active(self) -> int:
        now = self._clock()
        return sum(1 for g in self._by_access.values() if now < g.access_expires)

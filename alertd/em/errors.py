"""The one exception the EM client raises, `EMError`, and the kinds it comes in.

Kept apart from `alertd.em.client` so callers (the poller, health reporting) can import and
match on it without importing aiohttp.
"""

from __future__ import annotations

from typing import Literal, get_args

from alertd.source import SourceError

__all__ = ["EMError", "EMErrorKind"]

#: What went wrong, coarse enough to act on:
#: ``unreachable`` (no connection), ``timeout`` (connect or read), ``tls`` (certificate or
#: handshake), ``auth`` (401/403, refused logon), ``http`` (any other non-2xx),
#: ``malformed`` (a body or protocol EM should never send), ``too_large`` (over the size cap).
EMErrorKind = Literal["unreachable", "timeout", "tls", "auth", "http", "malformed", "too_large"]
_KINDS = frozenset(get_args(EMErrorKind))


class EMError(SourceError):
    """A failed exchange with Enterprise Manager; ``message`` says what to check or change.

    Messages never contain the password or the session token.
    """

    def __init__(self, kind: EMErrorKind, message: str, status: int | None = None) -> None:
        if kind not in _KINDS:
            raise ValueError(f"unknown EMError kind {kind!r}")
        super().__init__(kind, message, status)
        self.kind: EMErrorKind = kind

    def __repr__(self) -> str:
        return f"EMError(kind={self.kind!r}, message={self.message!r}, status={self.status!r})"

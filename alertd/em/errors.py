"""The one exception the EM client raises, `EMError`, the kinds it comes in, and HTTP status errors.

Kept apart from `alertd.em.client` so callers (the poller, health reporting) can import and
match on it without importing aiohttp. `status_error` turns a non-2xx answer into an EMError
carrying EM's own Error message (reference §5) and a hint about what to check.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal, get_args

from alertd.em.decode import DecodeError, decode_error
from alertd.source import SourceError

__all__ = ["EMError", "EMErrorKind", "detail", "em_says", "status_error"]

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


#: What to check, per status, appended to the message of a failed request.
HINTS: Final[Mapping[int, str]] = {
    403: ": the account lacks rights; use a Portal Administrator account",
    404: ": check that url points at EM's REST API, e.g. https://em.example:9398",
    500: ": EM failed internally; check the filter and EM's own logs",
    503: ": EM is overloaded or in maintenance; the next poll retries",
}


def status_error(
    base: str,
    status: int,
    reason: str,
    body: bytes,
    what: str,
    *,
    location: str | None = None,
    hints: Mapping[int, str] = HINTS,
) -> EMError:
    """The EMError for a non-2xx answer: ``auth`` for 401/403, ``http`` for the rest."""
    kind: EMErrorKind = "auth" if status in (401, 403) else "http"
    hint = hints.get(status, "")
    if 300 <= status < 400:
        hint = f": EM redirected to {location or '?'}; set url to the address EM answers on"
    return EMError(kind, f"EM at {base} answered {status} {reason} to {what}{detail(body)}{hint}", status)


def em_says(body: bytes) -> str | None:
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


def detail(body: bytes) -> str:
    """``": EM says: <message>"`` for an Error body, else ""."""
    said = em_says(body)
    return f": EM says: {said}" if said else ""

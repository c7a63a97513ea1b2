"""The one exception the VBR edge raises, `VBRError`, and the wording of HTTP status errors.

Kept apart from the client so callers can match on it without importing aiohttp.
"""

from __future__ import annotations

from typing import get_args

from alertd.source import SourceError, SourceErrorKind
from alertd.vbr.decode import decode_error

__all__ = ["ACCOUNT_HINT", "VBRError", "server_says", "status_error"]

_KINDS = frozenset(get_args(SourceErrorKind))


class VBRError(SourceError):
    """A failed exchange with a VBR server; ``message`` says what to check or change.

    Messages never contain the password, an access token or a refresh token.
    """

    def __init__(self, kind: SourceErrorKind, message: str, status: int | None = None) -> None:
        if kind not in _KINDS:
            raise ValueError(f"unknown VBRError kind {kind!r}")
        super().__init__(kind, message, status)

    def __repr__(self) -> str:
        return f"VBRError(kind={self.kind!r}, message={self.message!r}, status={self.status!r})"


#: What a VBR service account needs, said in every refused logon (reference §1.3).
ACCOUNT_HINT = (
    "the account needs a built-in VBR role that may read sessions (Backup Viewer is enough; custom "
    "roles can log on only from VBR 13.1) and must not have multi-factor authentication: Veeam does "
    "not support MFA for REST API connections, so use a service account with MFA disabled"
)

_HINTS = {
    403: ": the account lacks rights: give it the Backup Viewer role (or any built-in role that reads sessions)",
    404: ": check that url points at the backup server's REST API, e.g. https://vbr01:9419",
    500: ": the server failed internally; see its Svc.ResAPI.log",
    503: ": the REST service is unavailable; the next poll retries",
}


def server_says(body: bytes) -> str:
    """``": VBR says: <errorCode>: <message>"`` from an Error body, or "" when it holds none."""
    err = decode_error(body)
    if err is None:
        return ""
    # Bounded: the message goes into a log line and the server may append a stack trace.
    said = ": ".join(part for part in (err.error_code, (err.message or "").strip()[:300]) if part)
    return f": VBR says: {said}"


def status_error(base: str, status: int, reason: str, body: bytes, what: str) -> VBRError:
    """The error for a non-2xx answer: ``auth`` for 401/403, ``http`` for anything else."""
    kind: SourceErrorKind = "auth" if status in (401, 403) else "http"
    hint = _HINTS.get(status, "")
    if 300 <= status < 400:
        hint = ": the server answered with a redirect; set url to the address the REST API answers on"
    return VBRError(
        kind, f"VBR at {base} answered {status} {reason} to {what}{server_says(body)}{hint}", status
    )

"""The request log: every request a simulator (EM or VBR) received, so tests and benchmarks count them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from aiohttp import web


@dataclass(slots=True)
class LoggedRequest:
    """One request. ``status`` is None when the connection was reset without an answer."""

    method: str
    path: str
    query: dict[str, str]
    status: int | None
    at: datetime
    fault: str | None = None
    #: Whether the request carried a logon token (header or cookie).
    authenticated: bool = False
    #: The request's Content-Type header, if it sent one.
    content_type: str | None = None


class RequestLog(list[LoggedRequest]):
    """A plain list of LoggedRequest with counting helpers."""

    def record(
        self, request: web.Request, at: datetime, *, authenticated: bool, content_type: str | None = None
    ) -> LoggedRequest:
        """Log ``request`` as it arrives (no status yet); the caller fills in status and fault."""
        entry = LoggedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            status=None,
            at=at,
            authenticated=authenticated,
            content_type=content_type,
        )
        self.append(entry)
        return entry

    def count_matching(
        self, *, path: str | None = None, method: str | None = None, status: int | None = None
    ) -> int:
        """How many requests match; ``path`` is a prefix, compared case-insensitively."""
        return sum(
            1
            for entry in self
            if (path is None or entry.path.lower().startswith(path.lower()))
            and (method is None or entry.method == method.upper())
            and (status is None or entry.status == status)
        )

    def queries(self) -> list[LoggedRequest]:
        """The ``/api/query`` requests only."""
        return [entry for entry in self if entry.path.lower() == "/api/query"]

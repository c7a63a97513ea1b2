"""The request log: every request EM received, so tests and benchmarks can count them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


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

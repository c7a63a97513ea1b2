"""One request and its answer as the simulator saw them, handed to an observer (e.g. a validator)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Exchange"]


@dataclass(frozen=True, slots=True)
class Exchange:
    """What was asked and answered. ``fault`` names an injected misbehaviour (then the answer is
    deliberately off-document); ``status`` is None when the connection was reset unanswered."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    headers: tuple[tuple[str, str], ...]
    body: bytes
    status: int | None
    response_headers: tuple[tuple[str, str], ...]
    response_body: bytes
    fault: str | None

    def header(self, name: str) -> str | None:
        """A request header, case-insensitively (the first when repeated)."""
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

"""Fault injection: armed, counted misbehaviours the server applies to its next requests.

Tests arm faults while the server runs (same event loop, plain attribute access). Each armed
fault counts down per matching request; ``path`` limits a fault to request paths starting with
it. At most one answer-replacing fault (reset, 401, error status, oversized) fires per request,
in that order, so faults armed together queue up across requests; delays and malformed bodies
combine with anything. A query refusal (`FaultPlan.refuse_query`) answers every query that
matches it, for as long as it stays armed, unless an armed fault answered the request first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

QUERY_PATH = "/api/query"
#: The message of the one real 500 the reference has (9.5U4, reference §5, observed).
INTERNAL_ERROR = "Object reference not set to an instance of an object."
#: HTTP.sys's text for a 503, which is what a real EM in maintenance would send.
UNAVAILABLE = (
    "The server is temporarily unable to service your request due to maintenance downtime or "
    "capacity problems. Please try again later."
)


@dataclass(slots=True)
class _Armed:
    kind: str
    remaining: int
    path: str | None
    status: int = 503
    message: str = UNAVAILABLE
    size: int = 0
    declare_length: bool = True
    seconds: float = 0.0
    page: int | None = None

    def matches(self, path: str) -> bool:
        return self.remaining > 0 and (self.path is None or path.lower().startswith(self.path.lower()))


@dataclass(slots=True)
class QueryRefusal:
    """A standing refusal of matching ``/api/query`` requests; ``hits`` counts the refused ones."""

    filter_contains: str | None
    where: Callable[[Mapping[str, str]], bool] | None
    status: int
    message: str
    remaining: int | None
    hits: int = 0

    def matches(self, params: Mapping[str, str]) -> bool:
        """Parameter names are compared case-insensitively (EM accepts ``Filter=``; reference §2.1)."""
        if self.remaining is not None and self.remaining < 1:
            return False
        lowered = {key.lower(): value for key, value in params.items()}
        if self.filter_contains is not None and (
            self.filter_contains.lower() not in lowered.get("filter", "").lower()
        ):
            return False
        return self.where is None or self.where(lowered)


@dataclass(frozen=True, slots=True)
class FaultAction:
    """What the server must do to one request instead of (or before) answering normally."""

    kind: str | None = None  # reset | unauthorized | fail | oversized | refused
    status: int = 0
    message: str = ""
    size: int = 0
    declare_length: bool = True
    delay: float = 0.0


_ANSWERS = ("reset", "unauthorized", "fail", "oversized")


class FaultPlan:
    """The fault knobs. ``delay`` (seconds) slows every response until set back to 0."""

    def __init__(self, expire_tokens: Callable[[], int] | None = None) -> None:
        self.delay = 0.0
        self._armed: list[_Armed] = []
        self._refusals: list[QueryRefusal] = []
        self._expire = expire_tokens

    # -- arming (test side) ------------------------------------------------------------------

    def fail_next(
        self, n: int = 1, *, status: int = 503, message: str = UNAVAILABLE, path: str | None = None
    ) -> None:
        """The next ``n`` requests answer ``status`` with an Error body."""
        self._arm(_Armed("fail", n, path, status=status, message=message))

    def unauthorized_next(self, n: int = 1, *, path: str | None = None) -> None:
        """The next ``n`` requests answer 401, valid token and credentials notwithstanding."""
        self._arm(_Armed("unauthorized", n, path))

    def reset_next(self, n: int = 1, *, path: str | None = None) -> None:
        """The next ``n`` requests get their connection reset (RST) without any answer.

        Note aiohttp's client silently retries an idempotent request once after a reset, so a
        client built on it only sees an error from two resets in a row.
        """
        self._arm(_Armed("reset", n, path))

    def oversized_next(
        self,
        n: int = 1,
        *,
        size: int = 50_000_000,
        declare_length: bool = True,
        path: str | None = QUERY_PATH,
    ) -> None:
        """The next ``n`` matching requests get a 200 body of ``size`` bytes, streamed.

        With ``declare_length`` the Content-Length header announces the size up front; without
        it the body is chunked, so only counting received bytes can catch it.
        """
        self._arm(_Armed("oversized", n, path, size=size, declare_length=declare_length))

    def delay_next(self, n: int = 1, *, seconds: float, path: str | None = None) -> None:
        """The next ``n`` matching requests are answered ``seconds`` late (on top of ``delay``)."""
        self._arm(_Armed("delay", n, path, seconds=seconds))

    def malformed_next(self, n: int = 1, *, path: str | None = QUERY_PATH) -> None:
        """The next ``n`` matching 2xx answers have their body cut in half (invalid XML/JSON)."""
        self._arm(_Armed("malformed", n, path))

    def malformed_page(self, page: int, *, times: int = 1) -> None:
        """Query answers for ``page`` are cut in half, ``times`` times."""
        self._arm(_Armed("malformed", times, QUERY_PATH, page=page))

    def refuse_query(
        self,
        *,
        filter_contains: str | None = None,
        where: Callable[[Mapping[str, str]], bool] | None = None,
        status: int = 500,
        message: str = INTERNAL_ERROR,
        times: int | None = None,
    ) -> QueryRefusal:
        """Refuse matching ``/api/query`` requests with ``status`` and an Error body.

        ``filter_contains``: a case-insensitive substring of the (decoded) filter, e.g.
        ``"Result==Success"`` to refuse success queries only; ``where``: a predicate over the
        query parameters (names lower-cased). Both must hold when both are given. ``times``
        limits the refusals (None: until `clear` or `QueryRefusal` is removed with
        `stop_refusing`). Why EM would refuse a query it documents is unknown; the default body
        is the one real 500 the reference has.
        """
        refusal = QueryRefusal(filter_contains, where, status, message, times)
        self._refusals.append(refusal)
        return refusal

    def stop_refusing(self, refusal: QueryRefusal | None = None) -> None:
        """Remove one refusal, or all of them."""
        self._refusals = [r for r in self._refusals if refusal is not None and r is not refusal]

    def refusal(self, path: str, params: Mapping[str, str]) -> FaultAction | None:
        """The refusal answering this request, if one matches (consumes one of its ``times``)."""
        if path.lower() != QUERY_PATH:
            return None
        for refusal in self._refusals:
            if refusal.matches(params):
                refusal.hits += 1
                if refusal.remaining is not None:
                    refusal.remaining -= 1
                return FaultAction("refused", refusal.status, refusal.message)
        return None

    def expire_tokens(self) -> int:
        """Invalidate every logon token now; returns how many were live."""
        return self._expire() if self._expire else 0

    def clear(self) -> None:
        """Disarm everything, stop every refusal and remove the delay."""
        self._armed.clear()
        self._refusals.clear()
        self.delay = 0.0

    @property
    def pending(self) -> dict[str, int]:
        """Remaining count per fault kind, for assertions ("all faults were consumed")."""
        counts: dict[str, int] = {}
        for armed in self._armed:
            counts[armed.kind] = counts.get(armed.kind, 0) + armed.remaining
        return {kind: count for kind, count in counts.items() if count}

    def _arm(self, armed: _Armed) -> None:
        if armed.remaining < 1:
            raise ValueError("a fault must be armed for at least one request")
        self._armed.append(armed)

    # -- consuming (server side) -------------------------------------------------------------

    def _take(self, kind: str, path: str, page: int | None = None) -> _Armed | None:
        for armed in self._armed:
            if armed.kind == kind and armed.matches(path) and (armed.page is None or armed.page == page):
                armed.remaining -= 1
                return armed
        return None

    def before(self, path: str) -> FaultAction:
        """Consume the faults that apply to a request before it is handled."""
        delayed = self._take("delay", path)
        delay = self.delay + (delayed.seconds if delayed else 0.0)
        action = FaultAction(delay=delay)
        for kind in _ANSWERS:
            armed = self._take(kind, path)
            if armed is not None:
                action = FaultAction(
                    kind, armed.status, armed.message, armed.size, armed.declare_length, delay
                )
                break
        self._armed = [armed for armed in self._armed if armed.remaining > 0]
        return action

    def malformed(self, path: str, page: int | None) -> bool:
        """Whether this (successful) answer's body must be truncated."""
        return self._take("malformed", path, page) is not None

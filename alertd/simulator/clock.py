"""Time sources for the simulator: the wall clock and a hand-driven clock for tests.

Everything time-dependent in the simulator (token idle expiry, default timestamps, the live
driver) reads the time through a ``Clock`` so tests never need real sleeps.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

#: A callable returning the current time as a timezone-aware UTC datetime.
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The real wall clock, in UTC."""
    return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to: ``clock.advance(minutes=16)``."""

    __slots__ = ("_now",)

    def __init__(self, start: datetime | None = None) -> None:
        self._now = as_utc(start or datetime(2025, 8, 15, 6, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta | None = None, /, **kwargs: float) -> datetime:
        """Move forward by ``delta`` or by ``timedelta(**kwargs)``; returns the new time."""
        self._now += delta if delta is not None else timedelta(**kwargs)
        return self._now

    def set(self, when: datetime) -> None:
        """Jump to an absolute time (backwards too, for clock-skew scenarios)."""
        self._now = as_utc(when)


def as_utc(when: datetime) -> datetime:
    """Reject naive datetimes: EM is UTC-only and a silent local-time guess hides bugs."""
    if when.tzinfo is None:
        raise ValueError(f"naive datetime {when!r}: pass a timezone-aware UTC datetime")
    return when.astimezone(UTC)

"""Whether Alertmanager-style time intervals cover an instant, and when that next changes. Pure.

``spec_contains``, ``interval_active`` and ``any_active`` decide whether a named interval covers
an instant; ``next_change`` says when that answer next flips (the flush sleeps until a mute
window ends instead of polling it). No I/O and no clock: callers pass ``now`` as an aware
datetime. The semantics are described in `alertd.timeintervals`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta, tzinfo

from alertd.timeintervals import (
    MINUTES_PER_DAY,
    IntPair,
    NamedTimeInterval,
    TimeIntervalSpec,
    UnknownTimeIntervalError,
)

__all__ = ["DEFAULT_HORIZON", "any_active", "interval_active", "mute_end", "next_change", "spec_contains"]

DEFAULT_HORIZON = timedelta(days=8)
"""How far ahead ``next_change`` looks by default."""


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be a timezone-aware datetime, got naive {now.isoformat()}")


def _days_in_month(year: int, month: int) -> int:
    if month == 12:
        return 31
    return (datetime(year, month + 1, 1) - datetime(year, month, 1)).days


def _in_ranges(value: int, ranges: tuple[IntPair, ...]) -> bool:
    return any(begin <= value <= end for begin, end in ranges)


def _day_matches(local: datetime, ranges: tuple[IntPair, ...]) -> bool:
    last = _days_in_month(local.year, local.month)
    for begin, end in ranges:
        first_day = last + begin + 1 if begin < 0 else begin
        last_day = last + end + 1 if end < 0 else end
        if first_day > last:
            continue  # e.g. '31' in a 30-day month: skipped, not clamped into the next month
        if max(first_day, 1) <= local.day <= min(last_day, last):
            return True
    return False


def spec_contains(spec: TimeIntervalSpec, now: datetime) -> bool:
    """Whether the aware instant ``now`` falls inside one interval entry (all given fields match)."""
    _require_aware(now)
    local = now.astimezone(spec.zone)
    if spec.times is not None:
        minute = local.hour * 60 + local.minute
        if not any(r.start_minute <= minute < r.end_minute for r in spec.times):
            return False
    if spec.weekdays is not None and not _in_ranges((local.weekday() + 1) % 7, spec.weekdays):
        return False
    if spec.days_of_month is not None and not _day_matches(local, spec.days_of_month):
        return False
    if spec.months is not None and not _in_ranges(local.month, spec.months):
        return False
    return spec.years is None or _in_ranges(local.year, spec.years)


def interval_active(interval: NamedTimeInterval, now: datetime) -> bool:
    """Whether any entry of the named interval contains ``now``."""
    _require_aware(now)
    return any(spec_contains(spec, now) for spec in interval.time_intervals)


def any_active(intervals: Mapping[str, NamedTimeInterval], names: Sequence[str], now: datetime) -> bool:
    """Whether any of the named intervals is active at ``now``; an unknown name is an error."""
    _require_aware(now)
    for name in names:
        if name not in intervals:
            raise UnknownTimeIntervalError(f"time interval {name!r} is not defined in time_intervals")
    return any(interval_active(intervals[name], now) for name in names)


def _boundaries(spec: TimeIntervalSpec) -> list[int]:
    """Minutes of the local day (excluding midnight) at which this entry's ``times`` can flip."""
    if spec.times is None:
        return []
    edges = {r.start_minute for r in spec.times} | {r.end_minute for r in spec.times}
    return sorted(edge for edge in edges if 0 < edge < MINUTES_PER_DAY)


def _offset_change(zone: tzinfo, after: datetime, before: datetime) -> datetime:
    """The first whole second in (after, before] where ``zone``'s UTC offset differs from at ``after``."""
    offset = after.astimezone(zone).utcoffset()
    low, high = math.floor(after.timestamp()), math.ceil(before.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == offset:
            low = middle
        else:
            high = middle
    return datetime.fromtimestamp(high, UTC)


def _next_event(spec: TimeIntervalSpec, after: datetime) -> datetime:
    """The next UTC instant after ``after`` at which ``spec_contains`` might change.

    Between events the local date is fixed and the minute of day crosses no range edge, so the
    answer is constant; a UTC-offset change (DST) in between is itself an event.
    """
    zone = spec.zone
    local = after.astimezone(zone)
    wall = local.replace(tzinfo=None)
    midnight = wall.replace(hour=0, minute=0, second=0, microsecond=0)
    minute = local.hour * 60 + local.minute
    edge = next((e for e in _boundaries(spec) if e > minute), None)
    target = midnight + (timedelta(minutes=edge) if edge is not None else timedelta(days=1))
    event = after + (target - wall)
    if event.astimezone(zone).utcoffset() != local.utcoffset():
        event = _offset_change(zone, after, event)
    return event


def next_change(
    interval: NamedTimeInterval, now: datetime, *, horizon: timedelta = DEFAULT_HORIZON
) -> datetime | None:
    """The first instant after ``now`` at which ``interval_active`` flips, or None within ``horizon``.

    The result is in ``now``'s time zone. It steps over candidate boundaries (range edges,
    local midnights, DST transitions) rather than every minute, so it is cheap to call.
    """
    _require_aware(now)
    if not interval.time_intervals:
        return None
    active = interval_active(interval, now)
    current = now.astimezone(UTC)  # UTC so that + and < are elapsed-time arithmetic
    limit = current + horizon
    while True:
        current = min(_next_event(spec, current) for spec in interval.time_intervals)
        if current > limit:
            return None
        if interval_active(interval, current) != active:
            return current.astimezone(now.tzinfo)


def mute_end(
    intervals: Mapping[str, NamedTimeInterval], names: Sequence[str], now: datetime
) -> datetime | None:
    """When the mute windows ``names`` stop covering ``now`` (None when none covers it).

    With overlapping windows this is when the first of them ends; the caller looks again then.
    Past `DEFAULT_HORIZON` without a change, the answer is ``now + DEFAULT_HORIZON``.
    """
    active = [name for name in names if any_active(intervals, (name,), now)]
    if not active:
        return None
    return min(next_change(intervals[name], now) or now + DEFAULT_HORIZON for name in active)

"""What a poll reads (its EndTime windows) and how its progress moves afterwards. Pure.

Three instants per source, all on the source's own clock:

* the **watermark**: the newest EndTime read so far. Each poll re-reads from ``watermark - overlap``
  so that a session that completed late, or that EM collected a little late, is still seen.
* the **sweep**: every ``reconcile_every`` a poll also re-reads the last ``reconcile_window``, so a
  backup server that EM collected much later than the others (its sessions older than the
  overlap) is still seen. Only UIDs never seen before are alerted.
* the **horizon**: no read ever starts before it, and every UID with an EndTime at or after it is
  remembered. It starts where the first poll started (alertd was not responsible before) and
  moves forward as pruning forgets older UIDs. A reload that widens a window is clamped to it.

EM filters on whole seconds and rounds down, so a read from instant S returns sessions ending
up to one second before S: pruning keeps that second too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from alertd.records import SourceCursor

#: A session stamped further in the future than this (a backup server with a wrong clock) is
#: alerted, but never moves the watermark.
FUTURE_TOLERANCE = timedelta(minutes=5)
#: The filter's whole-second rounding, and then some.
ROUNDING = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class ReadPlan:
    """The windows of one poll: the normal one, and the sweep's when one is due."""

    start: datetime
    sweep_start: datetime | None = None
    #: Set when a configured window reached before the horizon and was cut back to it.
    clamped_from: datetime | None = None


def plan_read(
    cursor: SourceCursor,
    *,
    overlap: timedelta,
    initial_lookback: timedelta,
    reconcile_every: timedelta,
    reconcile_window: timedelta,
    now: datetime,
) -> ReadPlan:
    """The windows of the next poll at ``now`` (the source's clock).

    The first poll ever looks back ``initial_lookback`` only and sweeps nothing. A sweep that
    would reach before the horizon (the first day after install, or after ``reconcile_window``
    was widened) reads from the horizon.
    """
    if cursor.watermark is None:
        return ReadPlan(start=now - initial_lookback)
    horizon = current_horizon(cursor, overlap)
    wanted = cursor.watermark - overlap
    start = max(wanted, horizon)
    sweep: datetime | None = None
    if cursor.last_sweep is None or not cursor.last_sweep <= now < cursor.last_sweep + reconcile_every:
        sweep = max(now - reconcile_window, horizon)
        if sweep >= start:
            sweep = None  # nothing older than the normal window to read
    return ReadPlan(start=start, sweep_start=sweep, clamped_from=wanted if wanted < horizon else None)


def current_horizon(cursor: SourceCursor, overlap: timedelta) -> datetime:
    """The stored horizon; a state file from before horizons were kept starts at the overlap's reach."""
    assert cursor.watermark is not None
    return cursor.horizon or cursor.watermark - overlap


def advance(
    watermark: datetime | None,
    start: datetime,
    overlap: timedelta,
    end_times: Iterable[datetime],
    now: datetime,
) -> datetime:
    """The watermark after a successful poll from ``start`` that returned sessions ending at ``end_times``.

    It never moves back, and on the first poll it starts where that poll started (plus the overlap
    the next window subtracts again), so a quiet first poll does not let the window slide with the
    wall clock and skip what happens while alertd is stopped. A session stamped more than
    `FUTURE_TOLERANCE` ahead of ``now`` does not move it at all (its alert still goes out), and
    nothing moves it past ``now``: a backup server with a wrong clock must not push the window past
    failures that end before that time.
    """
    floor = watermark if watermark is not None else start + overlap
    plausible = [t for t in end_times if t <= now + FUTURE_TOLERANCE]
    return max(floor, min(max([floor, *plausible]), now))


def next_horizon(
    cursor: SourceCursor,
    start: datetime,
    watermark: datetime,
    *,
    overlap: timedelta,
    reconcile_window: timedelta,
    now: datetime,
) -> datetime:
    """The horizon after a poll: where the first poll started, then the earliest start a read still wants."""
    if cursor.watermark is None:
        return start
    reach = min(watermark - overlap, now - reconcile_window)
    return max(current_horizon(cursor, overlap), reach)


def prune_cutoff(horizon: datetime) -> datetime:
    """UIDs of sessions that ended before this instant can never be returned again by a read."""
    return horizon.replace(microsecond=0) - ROUNDING

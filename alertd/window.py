"""The poll window: which EndTime range to ask EM for, and how the watermark moves. Pure.

The watermark is the newest EndTime read so far from a source. Each poll re-reads from
``watermark - overlap`` so that a session EM collected late (its times older than what was
already read) or one that completed late is still seen; UIDs already alerted are skipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta


def window_start(
    watermark: datetime | None, *, overlap: timedelta, initial_lookback: timedelta, now: datetime
) -> datetime:
    """The EndTime lower bound of the next poll.

    The first poll ever looks back ``initial_lookback`` only; later polls re-read ``overlap``
    before the watermark.
    """
    if watermark is None:
        return now - initial_lookback
    return watermark - overlap


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
    wall clock and skip what happens while alertd is stopped. It never moves past ``now`` either:
    one session stamped in the future by a backup server with a wrong clock must not push the
    window past failures that end before that time.
    """
    floor = watermark if watermark is not None else start + overlap
    return max(floor, min(max([floor, *end_times]), now))


def prune_before(watermark: datetime | None, overlap: timedelta) -> datetime | None:
    """UIDs of sessions that ended before this instant can never be returned again by a poll."""
    return None if watermark is None else watermark - overlap

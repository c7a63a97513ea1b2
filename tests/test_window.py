"""Windows, watermark, sweep and horizon: what a poll reads and how its progress moves. Pure tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alertd.records import SourceCursor
from alertd.window import FUTURE_TOLERANCE, ReadPlan, advance, next_horizon, plan_read, prune_cutoff

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
OVERLAP = 30 * MIN
LOOKBACK = timedelta(hours=1)
EVERY = 15 * MIN
DAY = timedelta(hours=24)


def plan(cursor: SourceCursor, now: datetime = NOW, overlap: timedelta = OVERLAP) -> ReadPlan:
    return plan_read(
        cursor,
        overlap=overlap,
        initial_lookback=LOOKBACK,
        reconcile_every=EVERY,
        reconcile_window=DAY,
        now=now,
    )


@pytest.mark.parametrize(
    ("cursor", "expected"),
    [
        # first poll: initial_lookback only, no sweep
        (SourceCursor(), ReadPlan(NOW - LOOKBACK)),
        # steady state, sweep ran 5 minutes ago: the overlap before the watermark only
        (
            SourceCursor(NOW - 5 * MIN, NOW - DAY, NOW - 5 * MIN),
            ReadPlan(NOW - 35 * MIN),
        ),
        # sweep due: it reads the whole reconcile window
        (
            SourceCursor(NOW - 5 * MIN, NOW - 2 * DAY, NOW - 16 * MIN),
            ReadPlan(NOW - 35 * MIN, sweep_start=NOW - DAY),
        ),
        # sweep due but the horizon is younger (first day after install): clamped to the horizon
        (
            SourceCursor(NOW - 5 * MIN, NOW - 3 * LOOKBACK, None),
            ReadPlan(NOW - 35 * MIN, sweep_start=NOW - 3 * LOOKBACK),
        ),
        # sweep due but nothing older than the normal window is remembered: no sweep
        (SourceCursor(NOW - 5 * MIN, NOW - 35 * MIN, None), ReadPlan(NOW - 35 * MIN)),
        # a state file from before horizons: the horizon is the overlap's reach
        (SourceCursor(NOW - 5 * MIN, None, None), ReadPlan(NOW - 35 * MIN)),
        # the source's clock went back (last sweep in its future): sweep again
        (
            SourceCursor(NOW - 5 * MIN, NOW - 2 * DAY, NOW + 3 * MIN),
            ReadPlan(NOW - 35 * MIN, sweep_start=NOW - DAY),
        ),
    ],
)
def test_plan_read(cursor: SourceCursor, expected: ReadPlan) -> None:
    """The normal window re-reads the overlap; every reconcile_every a sweep reads the reconcile window, never past the horizon."""
    assert plan(cursor) == expected


def test_widened_overlap_is_clamped_to_the_horizon() -> None:
    """A reload that widens the overlap never reads back past the stored horizon, and says so."""
    cursor = SourceCursor(NOW - 5 * MIN, NOW - 40 * MIN, NOW - MIN)
    got = plan(cursor, overlap=2 * LOOKBACK)
    assert got.start == NOW - 40 * MIN
    assert got.clamped_from == NOW - 5 * MIN - 2 * LOOKBACK


@pytest.mark.parametrize(
    ("watermark", "ends", "expected"),
    [
        # quiet first poll pins the window; it does not slide with the clock
        (None, [], NOW - LOOKBACK + OVERLAP),
        (None, [NOW - 2 * MIN], NOW - 2 * MIN),
        # never moves back
        (NOW - 10 * MIN, [NOW - 20 * MIN], NOW - 10 * MIN),
        (NOW - 10 * MIN, [NOW - MIN, NOW - 3 * MIN], NOW - MIN),
        # slightly ahead of now (within tolerance): moves only up to now
        (NOW - 10 * MIN, [NOW + MIN], NOW),
        # stamped far in the future: does not move it at all
        (NOW - 10 * MIN, [NOW + 3 * timedelta(hours=1)], NOW - 10 * MIN),
        (NOW - 10 * MIN, [NOW - 2 * MIN, NOW + FUTURE_TOLERANCE + MIN], NOW - 2 * MIN),
    ],
)
def test_advance(watermark: datetime | None, ends: list[datetime], expected: datetime) -> None:
    """The watermark is the newest plausible EndTime read, never earlier than before, never past now."""
    start = NOW - LOOKBACK if watermark is None else watermark - OVERLAP
    assert advance(watermark, start, OVERLAP, ends, NOW) == expected


def test_future_session_then_collection_stall_misses_nothing() -> None:
    """A future-stamped session does not drag the window along, so what EM collects after a long stall is still read."""
    mark = advance(NOW - 10 * MIN, NOW - 40 * MIN, OVERLAP, [NOW + timedelta(hours=3)], NOW)
    later = NOW + 2 * timedelta(hours=1)  # collection stalled for two hours
    stalled_failure_end = NOW - 2 * MIN  # collected only now
    assert stalled_failure_end >= plan(SourceCursor(mark, NOW - DAY, later), now=later).start


def test_quiet_first_poll_then_downtime_misses_nothing() -> None:
    """After a quiet first poll and a long stop, the next window still starts where the first one did."""
    first = plan(SourceCursor()).start
    mark = advance(None, first, OVERLAP, [], NOW)
    later = plan(SourceCursor(mark, first, NOW), now=NOW + 5 * timedelta(hours=1))
    assert later.start == first


@pytest.mark.parametrize(
    ("cursor", "watermark", "expected"),
    [
        # first poll: where it started
        (SourceCursor(), NOW - LOOKBACK + OVERLAP, NOW - LOOKBACK),
        # later: the earliest start a read still wants (the sweep's reach)...
        (SourceCursor(NOW - 5 * MIN, NOW - 2 * DAY), NOW - MIN, NOW - DAY),
        # ...never moving back
        (SourceCursor(NOW - 5 * MIN, NOW - LOOKBACK), NOW - MIN, NOW - LOOKBACK),
        # a state file from before horizons starts at the overlap's reach
        (SourceCursor(NOW - 5 * MIN), NOW - MIN, NOW - 35 * MIN),
    ],
)
def test_next_horizon(cursor: SourceCursor, watermark: datetime, expected: datetime) -> None:
    """The horizon starts at the first poll's start and only moves forward, to what reads still reach."""
    start = NOW - LOOKBACK
    assert next_horizon(cursor, start, watermark, overlap=OVERLAP, reconcile_window=DAY, now=NOW) == expected


def test_prune_cutoff_keeps_the_rounded_second() -> None:
    """EM filters on whole seconds, so a session ending in the second before a window's start is still remembered."""
    horizon = NOW.replace(second=5, microsecond=700_000)
    cutoff = prune_cutoff(horizon)
    returned_by_em = NOW.replace(second=5, microsecond=200_000)  # EndTime>="...:05Z" returns it
    assert returned_by_em > cutoff
    assert cutoff == NOW.replace(second=4)

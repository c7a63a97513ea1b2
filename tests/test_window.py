"""The poll window and watermark: the two traps (late completion, collection lag) and the first poll."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alertd.window import advance, prune_before, window_start

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
OVERLAP = timedelta(minutes=30)
LOOKBACK = timedelta(hours=1)


@pytest.mark.parametrize(
    ("watermark", "start"),
    [
        (None, NOW - LOOKBACK),
        (NOW - timedelta(minutes=5), NOW - timedelta(minutes=35)),
        (NOW - timedelta(days=3), NOW - timedelta(days=3, minutes=30)),
    ],
)
def test_window_start(watermark: datetime | None, start: datetime) -> None:
    """The first poll looks back initial_lookback only; later polls re-read the overlap before the watermark."""
    assert window_start(watermark, overlap=OVERLAP, initial_lookback=LOOKBACK, now=NOW) == start


@pytest.mark.parametrize(
    ("watermark", "ends", "expected"),
    [
        (
            None,
            [],
            NOW - LOOKBACK + OVERLAP,
        ),  # quiet first poll pins the window; it does not slide with the clock
        (None, [NOW - timedelta(minutes=2)], NOW - timedelta(minutes=2)),
        (
            NOW - timedelta(minutes=10),
            [NOW - timedelta(minutes=20)],
            NOW - timedelta(minutes=10),
        ),  # never moves back
        (
            NOW - timedelta(minutes=10),
            [NOW - timedelta(minutes=1), NOW - timedelta(minutes=3)],
            NOW - timedelta(minutes=1),
        ),
    ],
)
def test_advance(watermark: datetime | None, ends: list[datetime], expected: datetime) -> None:
    """The watermark is the newest EndTime read, never earlier than before."""
    start = window_start(watermark, overlap=OVERLAP, initial_lookback=LOOKBACK, now=NOW)
    assert advance(watermark, start, OVERLAP, ends, NOW) == expected


def test_quiet_first_poll_then_downtime_misses_nothing() -> None:
    """After a quiet first poll and a long stop, the next window still starts where the first one did."""
    first = window_start(None, overlap=OVERLAP, initial_lookback=LOOKBACK, now=NOW)
    mark = advance(None, first, OVERLAP, [], NOW)
    later = window_start(mark, overlap=OVERLAP, initial_lookback=LOOKBACK, now=NOW + timedelta(hours=5))
    assert later == first


def test_late_completion_is_inside_the_next_window() -> None:
    """A task created long before the watermark but ended after it falls in the next EndTime window."""
    mark = NOW
    window = window_start(mark, overlap=OVERLAP, initial_lookback=LOOKBACK, now=NOW + timedelta(minutes=1))
    created, ended = NOW - timedelta(hours=3), NOW + timedelta(seconds=30)
    assert created < mark and ended >= window


def test_collection_lag_is_inside_the_overlap() -> None:
    """A session collected late, ending 10 minutes before the newest already read, is still re-read."""
    window = window_start(NOW, overlap=OVERLAP, initial_lookback=LOOKBACK, now=NOW + timedelta(minutes=15))
    assert NOW - timedelta(minutes=10) >= window


def test_prune_boundary_matches_window() -> None:
    """What may be forgotten is exactly what the next window can no longer return."""
    assert prune_before(NOW, OVERLAP) == window_start(
        NOW, overlap=OVERLAP, initial_lookback=LOOKBACK, now=NOW
    )
    assert prune_before(None, OVERLAP) is None


def test_future_end_time_does_not_push_the_watermark_past_now() -> None:
    """A session stamped in the future (a backup server's clock ahead) moves the watermark only up to now."""
    window = window_start(NOW - timedelta(minutes=5), overlap=OVERLAP, initial_lookback=LOOKBACK, now=NOW)
    assert advance(NOW - timedelta(minutes=5), window, OVERLAP, [NOW + timedelta(hours=3)], NOW) == NOW

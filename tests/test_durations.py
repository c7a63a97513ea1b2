"""Duration parsing: the forms the config accepts and the ones it refuses."""

from __future__ import annotations

import contextlib
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alertd.durations import DurationError, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("500ms", timedelta(milliseconds=500)),
        ("10s", timedelta(seconds=10)),
        ("5m", timedelta(minutes=5)),
        ("1h", timedelta(hours=1)),
        ("1d", timedelta(days=1)),
        ("1h30m", timedelta(minutes=90)),
        ("1.5h", timedelta(minutes=90)),
        (" 30s ", timedelta(seconds=30)),
        ("45", timedelta(seconds=45)),
        (60, timedelta(seconds=60)),
        (0.25, timedelta(milliseconds=250)),
        ("0s", timedelta(0)),
    ],
)
def test_parse_accepts(text: object, expected: timedelta) -> None:
    """Each documented form parses to the right length."""
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text", ["", "abc", "5x", "m5", "5 m", "-5s", "1h-", "nan", "inf", True, None, [1], "5m5"]
)
def test_parse_refuses(text: object) -> None:
    """Garbage raises DurationError with the offending value in the message."""
    with pytest.raises(DurationError, match="invalid duration"):
        parse_duration(text)


@given(st.integers(min_value=0, max_value=10**7))
def test_seconds_round_trip(seconds: int) -> None:
    """Any whole number of seconds written as '<n>s' reads back unchanged."""
    assert parse_duration(f"{seconds}s") == timedelta(seconds=seconds)


@given(st.text(max_size=12))
def test_garbage_only_raises_duration_error(text: str) -> None:
    """Arbitrary text either parses or raises DurationError, never anything else."""
    with contextlib.suppress(DurationError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(seconds=42), "42s"),
        (timedelta(hours=14), "14h"),
        (timedelta(days=2, hours=3, minutes=5), "2d 3h"),
    ],
)
def test_format(delta: timedelta, text: str) -> None:
    """Durations read compactly in messages."""
    assert format_duration(delta) == text

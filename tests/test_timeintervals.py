"""Time intervals: config validation, Alertmanager matching semantics, and next_change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from alertd.timeactive import any_active, interval_active, next_change, spec_contains
from alertd.timeintervals import NamedTimeInterval, TimeIntervalSpec, UnknownTimeIntervalError

BERLIN = ZoneInfo("Europe/Berlin")


def spec(**fields: Any) -> TimeIntervalSpec:
    return TimeIntervalSpec.model_validate(fields)


def named(*entries: dict[str, Any], name: str = "window") -> NamedTimeInterval:
    return NamedTimeInterval.model_validate({"name": name, "time_intervals": list(entries)})


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def hours(start: str, end: str) -> list[dict[str, str]]:
    return [{"start_time": start, "end_time": end}]


# --------------------------------------------------------------------------- matching tables
# 2026-01-01 is a Thursday: Jan 3 = Sat, Jan 4 = Sun, Jan 5 = Mon, Jan 9 = Fri.


@pytest.mark.parametrize(
    ("weekdays", "when", "expected"),
    [
        (["monday:friday"], utc(2026, 1, 5, 12), True),
        (["monday:friday"], utc(2026, 1, 9, 23, 59), True),
        (["monday:friday"], utc(2026, 1, 3, 12), False),
        (["monday:friday"], utc(2026, 1, 4, 0, 0), False),
        (["saturday", "sunday"], utc(2026, 1, 4, 12), True),
        (["saturday", "sunday"], utc(2026, 1, 5, 0, 0), False),
        (["sunday:saturday"], utc(2026, 1, 7, 3), True),
        (["Monday"], utc(2026, 1, 5, 1), True),
        (["wednesday"], utc(2026, 1, 7, 1), True),
        (["wednesday"], utc(2026, 1, 8, 1), False),
    ],
)
def test_weekdays(weekdays: list[str], when: datetime, expected: bool) -> None:
    """Weekday lists match single days and inclusive ranges (sunday first), case-insensitively."""
    assert spec_contains(spec(weekdays=weekdays), when) is expected


@pytest.mark.parametrize(
    ("start", "end", "when", "expected"),
    [
        ("22:00", "24:00", utc(2026, 1, 5, 22, 0), True),
        ("22:00", "24:00", utc(2026, 1, 5, 23, 59, 59), True),
        ("22:00", "24:00", utc(2026, 1, 6, 0, 0), False),
        ("22:00", "24:00", utc(2026, 1, 5, 21, 59, 59), False),
        ("09:00", "17:00", utc(2026, 1, 5, 9, 0), True),
        ("09:00", "17:00", utc(2026, 1, 5, 16, 59), True),
        ("09:00", "17:00", utc(2026, 1, 5, 17, 0), False),
        ("00:00", "00:01", utc(2026, 1, 5, 0, 0, 59), True),
        ("00:00", "00:01", utc(2026, 1, 5, 0, 1), False),
    ],
)
def test_times(start: str, end: str, when: datetime, expected: bool) -> None:
    """Time ranges include the start minute, exclude the end minute, and allow a 24:00 end."""
    assert spec_contains(spec(times=hours(start, end)), when) is expected


def test_times_any_of_several_ranges() -> None:
    """Several time ranges in one entry are alternatives (OR within the field)."""
    entry = spec(times=hours("01:00", "02:00") + hours("05:00", "06:00"))
    assert [spec_contains(entry, utc(2026, 1, 5, h, 30)) for h in (0, 1, 3, 5, 6)] == [
        False,
        True,
        False,
        True,
        False,
    ]


@pytest.mark.parametrize(
    ("days", "when", "expected"),
    [
        (["1:5"], utc(2026, 1, 1), True),
        (["1:5"], utc(2026, 1, 5, 23, 59), True),
        (["1:5"], utc(2026, 1, 6), False),
        (["-1"], utc(2026, 2, 28), True),  # February 2026 has 28 days
        (["-1"], utc(2026, 2, 27), False),
        (["-1"], utc(2028, 2, 29), True),  # leap year
        (["-1"], utc(2026, 1, 31), True),
        (["-3:-1"], utc(2026, 2, 26), True),
        (["-3:-1"], utc(2026, 2, 25), False),
        (["-3:-1"], utc(2026, 1, 29), True),
        (["1:-1"], utc(2026, 4, 30), True),
        (["15:-1"], utc(2026, 4, 14), False),
        (["31"], utc(2026, 4, 30), False),  # beyond the month's end: skipped, not clamped back
        (["31"], utc(2026, 5, 31), True),
        (["25:31"], utc(2026, 2, 28), True),  # end clamped to the month's last day
        (["-31:-28"], utc(2026, 2, 1), True),  # start before the 1st clamps to the 1st
        (["-31:-28"], utc(2026, 2, 2), False),
        (["7", "21"], utc(2026, 3, 21), True),
    ],
)
def test_days_of_month(days: list[str], when: datetime, expected: bool) -> None:
    """days_of_month resolves negative days from the month's end and clamps ranges to the month."""
    assert spec_contains(spec(days_of_month=days), when) is expected


@pytest.mark.parametrize(
    ("months", "when", "expected"),
    [
        (["january:march"], utc(2026, 2, 14), True),
        (["january:march"], utc(2026, 3, 31, 23, 59), True),
        (["january:march"], utc(2026, 4, 1), False),
        (["12"], utc(2026, 12, 24), True),
        (["12"], utc(2026, 11, 24), False),
        (["4:6"], utc(2026, 5, 1), True),
        (["March"], utc(2026, 3, 1), True),
        (["june:8"], utc(2026, 7, 1), True),
    ],
)
def test_months(months: list[str], when: datetime, expected: bool) -> None:
    """Months match by name or number, as single months or inclusive ranges."""
    assert spec_contains(spec(months=months), when) is expected


@pytest.mark.parametrize(
    ("years", "when", "expected"),
    [
        (["2026:2027"], utc(2026, 1, 1), True),
        (["2026:2027"], utc(2027, 12, 31, 23, 59), True),
        (["2026:2027"], utc(2028, 1, 1), False),
        (["2025:2025"], utc(2026, 1, 1), False),
        (["2020", 2030], utc(2030, 6, 1), True),
    ],
)
def test_years(years: list[Any], when: datetime, expected: bool) -> None:
    """Years match single years and inclusive ranges (YAML integers accepted)."""
    assert spec_contains(spec(years=years), when) is expected


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (utc(2026, 1, 15, 21, 0), True),  # winter: 22:00 CET = 21:00 UTC
        (utc(2026, 1, 15, 20, 59), False),
        (utc(2026, 1, 15, 22, 59), True),
        (utc(2026, 1, 15, 23, 0), False),  # 00:00 CET next day
        (utc(2026, 7, 15, 20, 0), True),  # summer: 22:00 CEST = 20:00 UTC
        (utc(2026, 7, 15, 19, 59), False),
        (utc(2026, 7, 15, 21, 0), True),  # 23:00 CEST: would be outside if read as UTC+1
        (utc(2026, 7, 15, 22, 0), False),
        (datetime(2026, 7, 15, 22, 30, tzinfo=BERLIN), True),  # same instant, other zone on input
        (datetime(2026, 7, 15, 16, 30, tzinfo=ZoneInfo("America/New_York")), True),
    ],
)
def test_location_is_dst_aware(when: datetime, expected: bool) -> None:
    """With a location, times are local wall-clock times and follow that zone's DST."""
    assert spec_contains(spec(times=hours("22:00", "24:00"), location="Europe/Berlin"), when) is expected


@pytest.mark.parametrize(
    ("fields", "when", "expected"),
    [
        ({"weekdays": ["monday"]}, utc(2026, 1, 4, 23, 30), True),  # Sunday UTC, Monday 00:30 Berlin
        ({"days_of_month": ["1"]}, utc(2026, 1, 31, 23, 30), True),  # Feb 1st in Berlin
        ({"months": ["february"]}, utc(2026, 1, 31, 23, 30), True),
        ({"years": ["2027"]}, utc(2026, 12, 31, 23, 30), True),
        ({"years": ["2027"]}, utc(2026, 12, 31, 22, 59), False),
    ],
)
def test_location_applies_to_date_fields(fields: dict[str, Any], when: datetime, expected: bool) -> None:
    """The location also decides the local weekday, day, month and year."""
    assert spec_contains(spec(location="Europe/Berlin", **fields), when) is expected


def test_fields_are_anded_within_an_entry() -> None:
    """Within one entry every given field must match."""
    entry = spec(weekdays=["saturday"], times=hours("22:00", "24:00"))
    assert spec_contains(entry, utc(2026, 1, 3, 22, 30))
    assert not spec_contains(entry, utc(2026, 1, 3, 12, 0))  # right day, wrong time
    assert not spec_contains(entry, utc(2026, 1, 4, 22, 30))  # right time, wrong day


def test_entries_are_ored_within_an_interval() -> None:
    """A named interval is active when any one of its entries matches."""
    interval = named({"weekdays": ["saturday"]}, {"times": hours("03:00", "04:00")})
    assert interval_active(interval, utc(2026, 1, 3, 12))
    assert interval_active(interval, utc(2026, 1, 5, 3, 30))
    assert not interval_active(interval, utc(2026, 1, 5, 12))


def test_entry_without_fields_always_matches_and_empty_interval_never() -> None:
    """An entry with no fields matches every instant; an interval with no entries matches none."""
    assert interval_active(named({}), utc(2026, 5, 17, 8, 13))
    assert not interval_active(named(), utc(2026, 5, 17, 8, 13))


def test_any_active() -> None:
    """any_active is true when one referenced interval is active, false for no names."""
    intervals = {
        i.name: i
        for i in (
            named({"weekdays": ["saturday"]}, name="weekend"),
            named({"months": ["12"]}, name="december"),
        )
    }
    assert any_active(intervals, ["december", "weekend"], utc(2026, 1, 3, 12))
    assert not any_active(intervals, ["december"], utc(2026, 1, 3, 12))
    assert not any_active(intervals, [], utc(2026, 1, 3, 12))


def test_any_active_refuses_unknown_name() -> None:
    """A route naming an undefined interval raises UnknownTimeIntervalError naming it."""
    with pytest.raises(UnknownTimeIntervalError, match="'nope' is not defined"):
        any_active({}, ["nope"], utc(2026, 1, 3, 12))


@pytest.mark.parametrize(
    "call",
    [
        lambda now: spec_contains(spec(), now),
        lambda now: interval_active(named({}), now),
        lambda now: any_active({}, [], now),
        lambda now: next_change(named({}), now),
    ],
)
def test_naive_now_is_refused(call: Any) -> None:
    """Every evaluation function refuses a naive datetime."""
    with pytest.raises(ValueError, match="timezone-aware"):
        call(datetime(2026, 1, 1, 12, 0))


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("fields", "loc", "message"),
    [
        ({"weekdays": ["funday"]}, ("weekdays", 0), "'funday' is not a weekday name"),
        ({"weekdays": ["saturday:sunday"]}, ("weekdays", 0), "saturday comes after sunday"),
        ({"weekdays": ["monday:tuesday:friday"]}, ("weekdays", 0), "one 'start:end' range"),
        ({"weekdays": ["monday:"]}, ("weekdays", 0), "one 'start:end' range"),
        ({"weekdays": [True]}, ("weekdays", 0), "expected a string"),
        ({"weekdays": []}, ("weekdays",), "must not be an empty list"),
        ({"times": hours("10:00", "10:00")}, ("times", 0), "start_time 10:00 must be before end_time 10:00"),
        ({"times": hours("22:00", "06:00")}, ("times", 0), "cannot cross midnight"),
        ({"times": hours("24:00", "24:00")}, ("times", 0), "must be before"),
        ({"times": hours("25:00", "24:00")}, ("times", 0, "start_time"), "invalid time '25:00'"),
        ({"times": hours("9:00", "10:00")}, ("times", 0, "start_time"), "use HH:MM"),
        ({"times": hours("10:00", "24:01")}, ("times", 0, "end_time"), "invalid time '24:01'"),
        ({"times": hours("10:60", "11:00")}, ("times", 0, "start_time"), "use HH:MM"),
        ({"times": [{"start_time": 1320, "end_time": "24:00"}]}, ("times", 0, "start_time"), "'22:00'"),
        ({"times": [{"start_time": "10:00"}]}, ("times", 0, "end_time"), "Field required"),
        ({"times": []}, ("times",), "must not be an empty list"),
        ({"days_of_month": ["0"]}, ("days_of_month", 0), "0 is not allowed"),
        ({"days_of_month": ["32"]}, ("days_of_month", 0), "32 is out of range"),
        ({"days_of_month": ["-32:-1"]}, ("days_of_month", 0), "-32 is out of range"),
        ({"days_of_month": ["-3:5"]}, ("days_of_month", 0), "must also end with a negative day"),
        ({"days_of_month": ["5:3"]}, ("days_of_month", 0), "end day 3 comes before start day 5"),
        ({"days_of_month": ["-1:-3"]}, ("days_of_month", 0), "end day -3 comes before start day -1"),
        ({"days_of_month": ["28:-5"]}, ("days_of_month", 0), "comes before"),
        ({"days_of_month": ["first"]}, ("days_of_month", 0), "'first' is not a number"),
        ({"months": ["smarch"]}, ("months", 0), "'smarch' is neither a month name"),
        ({"months": ["13"]}, ("months", 0), "number 1..12"),
        ({"months": ["0"]}, ("months", 0), "number 1..12"),
        ({"months": ["december:january"]}, ("months", 0), "december comes after january"),
        ({"years": ["2027:2026"]}, ("years", 0), "end year 2026 comes before start year 2027"),
        ({"years": ["0"]}, ("years", 0), "0 is not a year"),
        ({"years": ["10000"]}, ("years", 0), "10000 is not a year"),
        ({"years": ["next"]}, ("years", 0), "'next' is not a number"),
        ({"location": "Mars/Base"}, ("location",), "unknown time zone 'Mars/Base'"),
        ({"location": "europe/berlin"}, ("location",), "unknown time zone 'europe/berlin'"),
        ({"location": ""}, ("location",), "unknown time zone ''"),
        ({"location": "../etc/passwd"}, ("location",), "unknown time zone"),
        ({"location": "Europe"}, ("location",), "unknown time zone 'Europe'"),
        ({"weekday": ["monday"]}, ("weekday",), "Extra inputs are not permitted"),
    ],
)
def test_validation_errors(fields: dict[str, Any], loc: tuple[str | int, ...], message: str) -> None:
    """Bad entries fail validation at the right loc with a self-explanatory message."""
    with pytest.raises(ValidationError) as caught:
        NamedTimeInterval.model_validate({"name": "x", "time_intervals": [fields]})
    errors = caught.value.errors()
    assert len(errors) == 1, errors
    assert errors[0]["loc"] == ("time_intervals", 0, *loc)
    assert message in errors[0]["msg"]


@pytest.mark.parametrize("name", ["", "   "])
def test_interval_name_must_not_be_empty(name: str) -> None:
    """A named interval needs a non-blank name."""
    with pytest.raises(ValidationError, match="name must not be empty"):
        named(name=name)


def test_models_are_frozen_hashable_and_round_trip() -> None:
    """Models are immutable, hashable, and dump to canonical strings that validate back."""
    interval = named(
        {
            "weekdays": ["saturday", "sunday", "monday:friday"],
            "times": hours("22:00", "24:00"),
            "days_of_month": ["1:5", "-3:-1"],
            "months": ["january:march", "12"],
            "years": ["2026:2027"],
            "location": "Europe/Berlin",
        }
    )
    dumped = interval.model_dump()
    entry = dumped["time_intervals"][0]
    assert entry["weekdays"] == ("saturday", "sunday", "monday:friday")
    assert entry["months"] == ("january:march", "december")
    assert entry["days_of_month"] == ("1:5", "-3:-1")
    assert NamedTimeInterval.model_validate(dumped) == interval
    assert hash(interval) == hash(NamedTimeInterval.model_validate(dumped))
    with pytest.raises(ValidationError, match="frozen"):
        interval.name = "other"  # type: ignore[misc]


# --------------------------------------------------------------------------- next_change


@pytest.mark.parametrize(
    ("entries", "now", "expected"),
    [
        ([{"times": hours("22:00", "24:00")}], utc(2026, 1, 5, 12), utc(2026, 1, 5, 22)),
        ([{"times": hours("22:00", "24:00")}], utc(2026, 1, 5, 22, 30), utc(2026, 1, 6, 0)),
        ([{"times": hours("22:00", "24:00")}], utc(2026, 1, 5, 22, 0), utc(2026, 1, 6, 0)),
        (  # adjacent ranges across midnight stay active until 06:00
            [{"times": hours("22:00", "24:00")}, {"times": hours("00:00", "06:00")}],
            utc(2026, 1, 5, 23),
            utc(2026, 1, 6, 6),
        ),
        ([{"weekdays": ["saturday", "sunday"]}], utc(2026, 1, 3, 9, 15, 42), utc(2026, 1, 5)),
        ([{"weekdays": ["monday:friday"]}], utc(2026, 1, 2, 8), utc(2026, 1, 3)),
        ([{"days_of_month": ["-1"]}], utc(2026, 2, 22), utc(2026, 2, 28)),
        (  # Berlin winter: 22:00 CET is 21:00 UTC
            [{"times": hours("22:00", "24:00"), "location": "Europe/Berlin"}],
            utc(2026, 1, 15, 12),
            utc(2026, 1, 15, 21),
        ),
        (  # spring forward: 01:30 CET active; at 01:00 UTC the wall clock jumps to 03:00 CEST
            [{"times": hours("01:00", "02:30"), "location": "Europe/Berlin"}],
            utc(2026, 3, 29, 0, 30),
            utc(2026, 3, 29, 1, 0),
        ),
        (  # fall back: 02:00-03:00 happens twice, so the window lasts two real hours
            [{"times": hours("02:00", "03:00"), "location": "Europe/Berlin"}],
            utc(2026, 10, 25, 0, 0),
            utc(2026, 10, 25, 2, 0),
        ),
        ([{"years": ["2030"]}], utc(2026, 1, 1), None),  # beyond the horizon
        ([{}], utc(2026, 1, 1), None),  # always active
        ([], utc(2026, 1, 1), None),  # never active
        ([{"times": hours("00:00", "24:00")}], utc(2026, 1, 1), None),
    ],
)
def test_next_change(entries: list[dict[str, Any]], now: datetime, expected: datetime | None) -> None:
    """next_change returns the exact instant the active state flips, or None within the horizon."""
    assert next_change(named(*entries), now) == expected


def test_next_change_keeps_callers_zone_and_honours_horizon() -> None:
    """The result is in now's zone, and a flip beyond ``horizon`` is reported as None."""
    interval = named({"weekdays": ["saturday"]})
    now = datetime(2026, 1, 5, 12, tzinfo=BERLIN)
    result = next_change(interval, now)
    assert result == datetime(2026, 1, 10, 0, tzinfo=UTC)
    assert result is not None and result.tzinfo is BERLIN
    assert next_change(interval, now, horizon=timedelta(days=2)) is None


# --------------------------------------------------------------------------- properties

ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "America/St_Johns",
]

instants = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)
)


def _ordered(low: int, high: int) -> st.SearchStrategy[tuple[int, int]]:
    return st.tuples(st.integers(low, high), st.integers(low, high)).map(lambda p: (min(p), max(p)))


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _optional_list(items: st.SearchStrategy[Any]) -> st.SearchStrategy[list[Any] | None]:
    return st.none() | st.lists(items, min_size=1, max_size=3)


weekday_names = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]
entries = st.fixed_dictionaries(
    {},
    optional={
        "times": st.lists(
            _ordered(0, 1440)
            .filter(lambda p: p[0] < p[1])
            .map(lambda p: {"start_time": _hhmm(p[0]), "end_time": _hhmm(p[1])}),
            min_size=1,
            max_size=3,
        ),
        "weekdays": st.lists(
            _ordered(0, 6).map(lambda p: f"{weekday_names[p[0]]}:{weekday_names[p[1]]}"),
            min_size=1,
            max_size=3,
        ),
        "days_of_month": st.lists(
            (_ordered(1, 31) | _ordered(-31, -1)).map(lambda p: f"{p[0]}:{p[1]}"), min_size=1, max_size=2
        ),
        "months": st.lists(_ordered(1, 12).map(lambda p: f"{p[0]}:{p[1]}"), min_size=1, max_size=2),
        "location": st.sampled_from(ZONES),
    },
)
intervals = st.lists(entries, max_size=3).map(lambda es: named(*es))


@given(now=instants, zone=st.sampled_from(ZONES))
def test_full_day_times_always_active(now: datetime, zone: str) -> None:
    """An interval whose only field is times 00:00-24:00 is active at every instant, in any zone."""
    interval = named({"times": hours("00:00", "24:00"), "location": zone})
    assert interval_active(interval, now)
    assert next_change(interval, now) is None


@given(interval=intervals, now=instants, fraction=st.floats(0, 0.999))
@settings(max_examples=200, deadline=None)
def test_next_change_really_flips(interval: NamedTimeInterval, now: datetime, fraction: float) -> None:
    """next_change's instant has the opposite state, and the state is unchanged everywhere before it."""
    before = interval_active(interval, now)
    flip = next_change(interval, now)
    if flip is None:
        return
    assert now < flip <= now + timedelta(days=8)
    assert interval_active(interval, flip) is not before
    assert interval_active(interval, flip - timedelta(microseconds=1)) is before
    assert interval_active(interval, now + (flip - now) * fraction) is before


@given(interval=intervals, now=instants)
@settings(max_examples=40, deadline=None)
def test_next_change_matches_minute_by_minute_scan(interval: NamedTimeInterval, now: datetime) -> None:
    """next_change agrees with a brute-force scan of every UTC minute over a one-day horizon."""
    horizon = timedelta(days=1)
    before = interval_active(interval, now)
    expected = None
    minute = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while minute <= now + horizon:
        if interval_active(interval, minute) is not before:
            expected = minute
            break
        minute += timedelta(minutes=1)
    assert next_change(interval, now, horizon=horizon) == expected


@given(now=instants, offset_minutes=st.integers(-14 * 60, 14 * 60))
def test_result_independent_of_input_zone(now: datetime, offset_minutes: int) -> None:
    """The same instant expressed in another zone gives the same answer."""
    interval = named(
        {"times": hours("22:00", "24:00"), "weekdays": ["monday:friday"], "location": "Europe/Berlin"}
    )
    shifted = now.astimezone(timezone(timedelta(minutes=offset_minutes)))
    assert interval_active(interval, shifted) is interval_active(interval, now)
    assert next_change(interval, shifted) == next_change(interval, now)

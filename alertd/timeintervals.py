"""Alertmanager-style time intervals: the ``time_intervals`` configuration block and its validation.

This module owns the config models (``NamedTimeInterval`` / ``TimeIntervalSpec`` / ``TimeRange``);
`alertd.timeactive` owns the pure "is it active now, and until when?" evaluation.

Semantics follow Alertmanager's ``time_interval``:

* within one entry every given field must match (AND); an omitted field matches anything;
  a named interval is active when any of its entries matches (OR);
* ``times`` are ``HH:MM`` wall-clock ranges, start inclusive, end exclusive, ``24:00`` allowed
  as an end; a range cannot cross midnight (split it in two);
* ``weekdays``, ``days_of_month``, ``months`` and ``years`` are lists of single values or
  inclusive ``start:end`` ranges; weeks run sunday..saturday, so ``saturday:sunday`` is refused;
  names are case-insensitive;
* negative ``days_of_month`` count from the month's end (``-1`` is the last day); a range is
  clamped to the month, and skipped when it starts after the month's last day;
* all fields are evaluated in ``location`` (an IANA zone, default ``UTC``), DST included.

Deliberate difference: an empty list (``weekdays: []``) is refused rather than silently
matching everything or nothing; omit the field to match everything.
"""

from __future__ import annotations

import re
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, field_validator, model_validator

__all__ = [
    "DayOfMonthRange",
    "MonthRange",
    "NamedTimeInterval",
    "TimeIntervalSpec",
    "TimeRange",
    "UnknownTimeIntervalError",
    "WeekdayRange",
    "YearRange",
]

MINUTES_PER_DAY = 24 * 60
_HHMM = re.compile(r"(?:[01][0-9]|2[0-3]):[0-5][0-9]|24:00")

# Alertmanager numbering: sunday is 0, so a range like monday:friday is 1..5.
_WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
_MONTHS = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_SHORTEST_MONTH = 28
_MAX_YEAR = 9999


class UnknownTimeIntervalError(LookupError):
    """A route refers to a time interval name that is not defined."""


# --------------------------------------------------------------------------- range parsing


def _split_range(value: object, what: str) -> tuple[str, str]:
    """Split ``'a:b'`` (or a single ``'a'``) into its two ends, lower-cased and stripped."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"invalid {what} {value!r}: expected a string such as 'a' or 'a:b'")
    text = str(value).strip().lower()
    parts = text.split(":")
    if len(parts) == 1:
        return parts[0], parts[0]
    if len(parts) == 2 and parts[0] and parts[1]:
        return parts[0], parts[1]
    raise ValueError(f"invalid {what} {value!r}: expected a single value or one 'start:end' range")


def _to_int(text: str, what: str, original: object) -> int:
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        raise ValueError(f"invalid {what} {original!r}: {text!r} is not a number")
    return int(text)


def _weekday(text: str, original: object) -> int:
    try:
        return _WEEKDAYS.index(text)
    except ValueError:
        raise ValueError(
            f"invalid weekday {original!r}: {text!r} is not a weekday name "
            f"(use lowercase full names: {', '.join(_WEEKDAYS)})"
        ) from None


def _parse_weekday_range(value: object) -> tuple[int, int]:
    first, last = _split_range(value, "weekday range")
    begin, end = _weekday(first, value), _weekday(last, value)
    if begin > end:
        raise ValueError(
            f"invalid weekday range {value!r}: {first} comes after {last} "
            "(weeks run sunday..saturday and ranges do not wrap; list the days separately, "
            "e.g. ['saturday', 'sunday'])"
        )
    return begin, end


def _format_weekday_range(value: tuple[int, int]) -> str:
    begin, end = (_WEEKDAYS[day] for day in value)
    return begin if begin == end else f"{begin}:{end}"


def _month(text: str, original: object) -> int:
    if text in _MONTHS:
        return _MONTHS.index(text) + 1
    if re.fullmatch(r"[0-9]+", text) and 1 <= int(text) <= 12:
        return int(text)
    raise ValueError(
        f"invalid month {original!r}: {text!r} is neither a month name (january..december) nor a number 1..12"
    )


def _parse_month_range(value: object) -> tuple[int, int]:
    first, last = _split_range(value, "month range")
    begin, end = _month(first, value), _month(last, value)
    if begin > end:
        raise ValueError(
            f"invalid month range {value!r}: {_MONTHS[begin - 1]} comes after {_MONTHS[end - 1]} "
            "(ranges do not wrap around the new year; list two ranges instead)"
        )
    return begin, end


def _format_month_range(value: tuple[int, int]) -> str:
    begin, end = (_MONTHS[month - 1] for month in value)
    return begin if begin == end else f"{begin}:{end}"


def _day_of_month(text: str, original: object) -> int:
    day = _to_int(text, "day-of-month range", original)
    if day == 0 or not -31 <= day <= 31:
        raise ValueError(
            f"invalid day-of-month range {original!r}: {day} is out of range "
            "(use 1..31, or -31..-1 to count back from the month's last day; 0 is not allowed)"
        )
    return day


def _parse_day_of_month_range(value: object) -> tuple[int, int]:
    first, last = _split_range(value, "day-of-month range")
    begin, end = _day_of_month(first, value), _day_of_month(last, value)
    if begin < 0 < end:
        raise ValueError(
            f"invalid day-of-month range {value!r}: a range starting from the month's end "
            "must also end with a negative day"
        )

    # Resolve negatives against the shortest month: a range empty there is a typo, not intent.
    def resolve(day: int) -> int:
        return _SHORTEST_MONTH + day + 1 if day < 0 else day

    if resolve(begin) > resolve(end):
        raise ValueError(
            f"invalid day-of-month range {value!r}: end day {end} comes before start day {begin}"
        )
    return begin, end


def _format_int_range(value: tuple[int, int]) -> str:
    begin, end = value
    return str(begin) if begin == end else f"{begin}:{end}"


def _parse_year_range(value: object) -> tuple[int, int]:
    first, last = _split_range(value, "year range")
    begin, end = _to_int(first, "year range", value), _to_int(last, "year range", value)
    for year in (begin, end):
        if not 1 <= year <= _MAX_YEAR:
            raise ValueError(f"invalid year range {value!r}: {year} is not a year between 1 and {_MAX_YEAR}")
    if begin > end:
        raise ValueError(f"invalid year range {value!r}: end year {end} comes before start year {begin}")
    return begin, end


IntPair = tuple[int, int]

WeekdayRange = Annotated[
    IntPair, BeforeValidator(_parse_weekday_range), PlainSerializer(_format_weekday_range, return_type=str)
]
"""An inclusive weekday range, 0 = sunday .. 6 = saturday; written ``'monday:friday'`` or ``'sunday'``."""

DayOfMonthRange = Annotated[
    IntPair, BeforeValidator(_parse_day_of_month_range), PlainSerializer(_format_int_range, return_type=str)
]
"""An inclusive day-of-month range; negative days count from the month's end (``'-3:-1'``)."""

MonthRange = Annotated[
    IntPair, BeforeValidator(_parse_month_range), PlainSerializer(_format_month_range, return_type=str)
]
"""An inclusive month range, 1 = january; written by name or number (``'january:march'``, ``'12'``)."""

YearRange = Annotated[
    IntPair, BeforeValidator(_parse_year_range), PlainSerializer(_format_int_range, return_type=str)
]
"""An inclusive year range (``'2026:2027'``)."""


# --------------------------------------------------------------------------- models


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


class TimeRange(BaseModel):
    """A wall-clock range within one day: ``start_time`` inclusive, ``end_time`` exclusive."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start_time: str
    end_time: str

    @field_validator("start_time", "end_time", mode="before")
    @classmethod
    def _check_hhmm(cls, value: object) -> object:
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MINUTES_PER_DAY:
            # PyYAML (YAML 1.1) reads an unquoted 22:00 as the base-60 integer 1320.
            hours, minutes = divmod(value, 60)
            raise ValueError(
                f"got the number {value}, not a time: quote times in YAML ('{hours:02d}:{minutes:02d}'), "
                "an unquoted HH:MM is read as a base-60 integer"
            )
        if not isinstance(value, str) or not _HHMM.fullmatch(value):
            raise ValueError(
                f"invalid time {value!r}: use HH:MM from 00:00 to 23:59, or 24:00 as an end time"
            )
        return value

    @model_validator(mode="after")
    def _check_order(self) -> TimeRange:
        if self.start_minute >= self.end_minute:
            raise ValueError(
                f"start_time {self.start_time} must be before end_time {self.end_time} "
                "(a range cannot cross midnight: split it, e.g. 22:00-24:00 and 00:00-06:00)"
            )
        return self

    @property
    def start_minute(self) -> int:
        """Minutes after local midnight at which the range starts (inclusive)."""
        return _minutes(self.start_time)

    @property
    def end_minute(self) -> int:
        """Minutes after local midnight at which the range ends (exclusive); up to 1440."""
        return _minutes(self.end_time)


class TimeIntervalSpec(BaseModel):
    """One entry of a named interval: every given field must match; omitted fields match anything."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    times: tuple[TimeRange, ...] | None = None
    weekdays: tuple[WeekdayRange, ...] | None = None
    days_of_month: tuple[DayOfMonthRange, ...] | None = None
    months: tuple[MonthRange, ...] | None = None
    years: tuple[YearRange, ...] | None = None
    location: str = "UTC"

    @field_validator("times", "weekdays", "days_of_month", "months", "years")
    @classmethod
    def _not_empty(cls, value: tuple[object, ...] | None) -> tuple[object, ...] | None:
        if value is not None and not value:
            raise ValueError("must not be an empty list: omit the field to match any value")
        return value

    @field_validator("location")
    @classmethod
    def _check_location(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise ValueError(
                f"unknown time zone {value!r}: use an IANA zone name such as 'Europe/Berlin' or 'UTC' "
                "(names are case-sensitive)"
            ) from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        """The zone every field of this entry is evaluated in."""
        return ZoneInfo(self.location)


class NamedTimeInterval(BaseModel):
    """A named set of entries, referenced from routes by name; active when any entry matches."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    time_intervals: tuple[TimeIntervalSpec, ...]

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("time interval name must not be empty")
        return value

"""Times as people read them: in the configured display time zone, with UTC kept in brackets.

``display.timezone: Europe/Berlin`` shows ``2025-06-05 03:04 CEST (01:04 UTC)``; with the
default UTC only ``2025-06-05 01:04 UTC``. Naive datetimes are taken to be UTC (EM's ``*UTC``
fields).
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class TimeZoneError(ValueError):
    """A display time zone that is not an IANA name known to this system."""


def zone(name: str | None) -> tzinfo:
    """The IANA zone called ``name`` (UTC for None, "" and "UTC"); raises TimeZoneError."""
    if not name or name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise TimeZoneError(f"unknown time zone {name!r}: use an IANA name such as Europe/Berlin") from exc


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class TimeFormat:
    """Formats instants and spans in one display zone, UTC in brackets when the zone is not UTC."""

    def __init__(self, tz: tzinfo = UTC) -> None:
        self.tz = tz
        self.is_utc = tz is UTC

    def at(self, value: datetime | None, seconds: bool = False) -> str:
        """``2025-06-05 03:04 CEST (01:04 UTC)``, or ``—`` for None."""
        if value is None:
            return "—"
        clock = "%H:%M:%S" if seconds else "%H:%M"
        utc = _aware(value).astimezone(UTC)
        if self.is_utc:
            return utc.strftime(f"%Y-%m-%d {clock} UTC")
        local = utc.astimezone(self.tz)
        utc_part = utc.strftime(clock if utc.date() == local.date() else f"%Y-%m-%d {clock}")
        return f"{local.strftime(f'%Y-%m-%d {clock} %Z')} ({utc_part} UTC)"

    def utc(self, value: datetime | None) -> str:
        """Always UTC: ``2025-06-05 01:04 UTC``."""
        return "—" if value is None else _aware(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")

    def span(self, start: datetime, end: datetime | None) -> str:
        """A run from start to end: ``2025-06-05 03:04 → 04:31 CEST (01:04 → 02:31 UTC)``."""
        if end is None:
            return f"{self.at(start)} → still running"
        s_utc, e_utc = _aware(start).astimezone(UTC), _aware(end).astimezone(UTC)
        if self.is_utc:
            return f"{_from_to(s_utc, e_utc)} UTC"
        s_loc, e_loc = s_utc.astimezone(self.tz), e_utc.astimezone(self.tz)
        utc_part = _from_to(s_utc, e_utc, date=s_utc.date() != s_loc.date())
        return f"{_from_to(s_loc, e_loc)} {e_loc.strftime('%Z')} ({utc_part} UTC)"


def _from_to(start: datetime, end: datetime, date: bool = True) -> str:
    first = start.strftime("%Y-%m-%d %H:%M" if date else "%H:%M")
    second = end.strftime("%H:%M" if end.date() == start.date() else "%Y-%m-%d %H:%M")
    return f"{first} → {second}"

"""Times on a VBR server: reading its timestamps, writing its filter values, knowing its zone.

Pure. Reference §2.3: timestamps are the backup server's local time, some with an offset
(sessions), some without (task sessions, the token's ``.issued``), with up to 7 fraction digits.
Filter values are written in the server's own offset (§8.2): they then name the same instant
whether the server honours the offset or drops it and reads the value as its local time (open
question 1), whereas a ``Z`` value would skip hours on a server west of UTC in the second case.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["ServerZone", "format_filter", "parse_time", "split_time"]

_TIME: Final = re.compile(
    r"^([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.([0-9]{1,9}))?(Z|[+-][0-9]{2}:?[0-9]{2})?$"
)


@dataclass(frozen=True, slots=True)
class ServerZone:
    """The backup server's time zone: an IANA zone (DST-aware, 13.1+) or its current UTC offset."""

    tz: tzinfo
    name: str
    dst_aware: bool

    @classmethod
    def fixed(cls, offset: timedelta) -> ServerZone:
        """A zone known only by its current offset (``serverTime`` before 13.1 has no IANA id)."""
        return cls(timezone(offset), _offset_text(offset, utc_name="UTC+00:00", prefix="UTC"), False)

    @classmethod
    def named(cls, iana: str) -> ServerZone | None:
        """The IANA zone ``iana`` (``ianaTimeZoneId``, 1.3-rev2), or None when unknown here."""
        try:
            return cls(ZoneInfo(iana), iana, True)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            return None

    def offset_at(self, instant: datetime) -> timedelta:
        """The zone's UTC offset at an aware instant."""
        return instant.astimezone(self.tz).utcoffset() or timedelta(0)


def split_time(text: str) -> tuple[datetime, timedelta | None]:
    """Read a VBR timestamp as its wall-clock time (naive) and its UTC offset (None when absent).

    .NET writes up to 7 fraction digits; Python keeps 6, so the rest are truncated.
    Raises ValueError for anything that is not an ISO 8601 date and time.
    """
    m = _TIME.match(text.strip())
    if m is None:
        raise ValueError(f"not a date and time: {text[:40]!r}")
    year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
    micro = int((m.group(7) or "0")[:6].ljust(6, "0"))
    wall = datetime(year, month, day, hour, minute, second, micro)
    suffix = m.group(8)
    if suffix is None:
        return wall, None
    if suffix == "Z":
        return wall, timedelta(0)
    digits = suffix[1:].replace(":", "")
    offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return wall, -offset if suffix[0] == "-" else offset


def parse_time(text: str, zone: tzinfo) -> datetime:
    """Read a VBR timestamp as an aware UTC datetime; a value without an offset is in ``zone``."""
    wall, offset = split_time(text)
    tz = zone if offset is None else timezone(offset)
    return wall.replace(tzinfo=tz).astimezone(UTC)


def format_filter(instant: datetime, zone: tzinfo) -> str:
    """Write an aware instant as ``YYYY-MM-DDThh:mm:ss±hh:mm`` in the server's offset at that instant.

    Fractions are dropped (toward the past): a lower bound then selects a superset, never less.
    """
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"naive datetime {instant.isoformat()!r}: filters need an aware datetime")
    local = instant.astimezone(zone)
    offset = local.utcoffset() or timedelta(0)
    return (
        f"{local.year:04d}-{local.month:02d}-{local.day:02d}T"
        f"{local.hour:02d}:{local.minute:02d}:{local.second:02d}{_offset_text(offset)}"
    )


def _offset_text(offset: timedelta, *, utc_name: str | None = None, prefix: str = "") -> str:
    if utc_name is not None and not offset:
        return utc_name
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{prefix}{sign}{minutes // 60:02d}:{minutes % 60:02d}"

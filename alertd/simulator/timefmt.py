"""EM's textual time formats: ``*TimeUTC`` values, names' ``@time`` part, and filter values."""

from __future__ import annotations

import re
from datetime import UTC, datetime

# EM accepts quoted or bare ``YYYY-MM-DDTHH:MM:SS[.f]Z`` and date-only values. A time part without
# ``Z`` is rejected: the docs say "accepts only UTC-formatted DateTime values", and a fake that is
# stricter than the reference catches clients that send local or offset times.
_FILTER_TIME = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:T(?P<h>\d{2}):(?P<m>\d{2})(?::(?P<s>\d{2})(?:\.(?P<f>\d{1,7}))?)?Z)?",
    re.IGNORECASE,
)


def format_utc(when: datetime) -> str:
    """``2025-06-05T01:04:29.56Z``: .NET's ``FFFFFF`` style, trailing zeros trimmed (0-6 digits)."""
    when = when.astimezone(UTC)
    text = when.strftime("%Y-%m-%dT%H:%M:%S")
    if when.microsecond:
        text += "." + f"{when.microsecond:06d}".rstrip("0")
    return text + "Z"


def format_name_time(when: datetime, *, fraction: bool = False) -> str:
    """The ``@YYYY-MM-DD hh:mm:ss[.f]`` suffix of session names, in UTC as in every doc example.

    With ``fraction`` the seconds carry CreationTimeUTC's fraction, trailing zeros trimmed
    (``05:17:38.22142``, 13.1 get_query_backupjobsession.html); without, none (the task example).
    """
    if fraction:
        return format_utc(when).removesuffix("Z").replace("T", " ")
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def parse_filter_time(text: str) -> datetime:
    """Parse a filter DateTime value; raises ValueError when EM would refuse it."""
    match = _FILTER_TIME.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not a UTC DateTime value: {text!r}")
    year, month, day = (int(part) for part in match["date"].split("-"))
    fraction = (match["f"] or "").ljust(6, "0")[:6]  # .NET has 7 digits; Python keeps 6
    return datetime(
        year,
        month,
        day,
        int(match["h"] or 0),
        int(match["m"] or 0),
        int(match["s"] or 0),
        int(fraction or 0),
        tzinfo=UTC,
    )

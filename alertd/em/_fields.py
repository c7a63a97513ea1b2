"""Read single values out of EM's neutral field dicts: text, integers, UTC times, link names.

This module owns the scalar rules every decoder shares: what counts as text, how an integer may
be written, how an EM ``*TimeUTC`` value reads, and that a year of 1900 or earlier is no date at
all (VBR writes 1900-01-01 for "not set", SQL Server's minimum 1753-01-01 appears too; reference
§6.7). It is pure and raises nothing but ValueError from `parse_time`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Literal

from alertd.em._raw import Fields

# EM writes 0 to 6 fraction digits and "Z"; more digits (.NET's 7) are truncated, an offset is
# honoured, and a missing zone means UTC because every field read here is named *UTC.
_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.([0-9]{1,9}))?(Z|[+-][0-9]{2}:?[0-9]{2})?"
)
_INT = re.compile(r"-?[0-9]{1,19}")
#: The last year that is a placeholder, not a date: VBR's null date is 1900-01-01 and SQL
#: Server's minimum is 1753-01-01; no backup session happened in or before 1900.
LAST_NULL_YEAR = 1900

#: Why a time field gave no value: absent (or empty), a null date, or text that is no EM time.
TimeGap = Literal["absent", "null", "unreadable"]


def parse_time(text: str) -> datetime | None:
    """Read an EM ``*TimeUTC`` value into an aware UTC datetime; None for a null date (year <= 1900).

    Raises ValueError if ``text`` is not such a time.
    """
    m = _TIME.fullmatch(text.strip())
    if m is None:
        raise ValueError(f"not an EM time: {text[:40]!r}")
    if int(m.group(1)) <= LAST_NULL_YEAR:
        return None
    # The regex has checked the shape; datetime.fromisoformat (C) reads every form it lets
    # through (T or space, 1 to 9 fraction digits, truncated to 6 as before, "Z", "+hh:mm",
    # "+hhmm", no zone) several times faster than converting each group in Python.
    try:
        value = datetime.fromisoformat(m.group(0))
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        elif value.tzinfo is not UTC:
            value = value.astimezone(UTC)
    except (ValueError, OverflowError) as e:
        raise ValueError(f"not an EM time: {text[:40]!r} ({e})") from e
    return None if value.year <= LAST_NULL_YEAR else value


def time_field(fields: Fields, key: str, label: str) -> tuple[datetime | None, TimeGap | None, str]:
    """``(value, gap, problem)``: the time, or why there is none and a sentence saying so."""
    text = text_field(fields, key)
    if text is None or not text.strip():
        return None, "absent", f"no {label}"
    try:
        value = parse_time(text)
    except ValueError as e:
        return None, "unreadable", f"unreadable {label} ({e})"
    if value is None:
        return None, "null", f"null-date {label} ({text.strip()[:40]})"
    return value, None, ""


def text_field(fields: Fields, key: str) -> str | None:
    """A field as text: strings as they are, numbers written out, anything else absent."""
    value = fields.get(key)
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def int_field(fields: Fields, key: str) -> int | None:
    """A field as an integer (native, or decimal text as XML carries it); anything else absent."""
    value = fields.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INT.fullmatch(value.strip()):
        return int(value.strip())
    return None


def bool_field(fields: Fields, key: str) -> bool | None:
    """A field as a boolean: JSON's true/false, or XML's text ``true``/``false`` (any case)."""
    value = fields.get(key)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def find_link(links: list[Fields], link_type: str) -> Fields | None:
    """The first link of ``link_type`` (lower-case, e.g. ``backupserverreference``), if any."""
    for link in links:
        if (text_field(link, "type") or "").strip().lower() == link_type:
            return link
    return None


def link_name(links: list[Fields], link_type: str) -> str:
    """The Name of the first link of ``link_type``; "" when the link or its Name is missing."""
    link = find_link(links, link_type)
    return (text_field(link, "name") or "") if link is not None else ""


def before_last_at(name: str) -> str:
    """``"<name>@<time>"`` -> ``<name>``: session names end in ``@<time>``; names may hold '@'."""
    return name.rpartition("@")[0] if "@" in name else name


def guid_of(uid: str) -> str:
    """The GUID ending a UID: ``urn:veeam:BackupJobSession:<guid>`` -> ``<guid>``; bare ones as they are."""
    uid = uid.strip()
    return uid.rpartition(":")[2] if uid.lower().startswith("urn:") else uid


def href_guid(href: str, collection: str) -> str | None:
    """The id after ``/<collection>/`` in an Href (``backupSessions`` -> the job session's GUID)."""
    _, sep, tail = href.partition(f"/{collection}/")
    guid = tail.split("?", 1)[0].split("/", 1)[0].strip()
    return guid if sep and guid else None

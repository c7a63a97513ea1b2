"""Parse and format the durations used in configuration (``500ms``, ``10s``, ``5m``, ``1h``, ``1d``)."""

from __future__ import annotations

import math
import re
from datetime import timedelta

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d|w)")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_MAX_SECONDS = 10 * 365 * 86400.0


class DurationError(ValueError):
    """A duration string that cannot be read."""


def parse_duration(value: object) -> timedelta:
    """Read ``value`` as a duration: a number of seconds, or a string like ``1h30m`` or ``500ms``."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise DurationError(f"invalid duration {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = _parse_text(value.strip())
    else:
        raise DurationError(f"invalid duration {value!r}: expected a string like '30s' or a number")
    if not math.isfinite(seconds) or seconds < 0:
        raise DurationError(f"invalid duration {value!r}: must be a finite, non-negative amount")
    if seconds > _MAX_SECONDS:
        raise DurationError(f"invalid duration {value!r}: longer than ten years")
    return timedelta(seconds=seconds)


def _parse_text(text: str) -> float:
    if not text:
        raise DurationError("invalid duration '': empty")
    if _NUMBER.fullmatch(text):
        return float(text)
    pos = 0
    total = 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or pos == 0:
        raise DurationError(f"invalid duration {text!r}: use e.g. 500ms, 10s, 5m, 1h, 1d")
    return total


def format_duration(delta: timedelta) -> str:
    """Render a duration compactly for humans: ``2d 3h``, ``14h``, ``5m``, ``42s``."""
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return f"{seconds}s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        amount, seconds = divmod(seconds, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return " ".join(parts[:2])

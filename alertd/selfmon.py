"""Self-monitoring: decide when alertd must say it cannot watch a source, and when it can again. Pure.

A source that has failed to poll for longer than ``self_alerts.after`` gets one alert; the first
successful poll after that gets one recovery message. Short blips send nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum


class Action(StrEnum):
    """What the daemon should send after a poll."""

    NONE = "none"
    ALERT = "alert"
    RECOVER = "recover"


@dataclass(frozen=True, slots=True)
class SourceHealth:
    """What is known about one source's polling."""

    failing_since: datetime | None = None
    last_error: str | None = None
    last_success: datetime | None = None
    alerted: bool = False


def observe(
    health: SourceHealth, *, ok: bool, now: datetime, after: timedelta, error: str | None = None
) -> tuple[SourceHealth, Action]:
    """Fold one poll outcome into ``health`` and say what to send."""
    if ok:
        action = Action.RECOVER if health.alerted else Action.NONE
        return SourceHealth(last_success=now), action
    since = health.failing_since or now
    updated = replace(health, failing_since=since, last_error=error)
    if not health.alerted and now - since >= after:
        return replace(updated, alerted=True), Action.ALERT
    return updated, Action.NONE

"""Grouping: which open groups become a message now, and when to look again. Pure.

A group is every open member sharing a group key. It is due ``group_wait`` after its oldest
open member arrived, so the failures of one job run that arrive over a few polls travel together.
Members that join a key after its message went out form a new group: the follow-up. A group also
waits while any member is held for Veeam's own retry, and while its route is in a mute window.

The flush first looks at one summary row per group (`GroupDue`) and loads the members of the
due groups only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from alertd.records import GroupDue, OpenMember

#: When a route's mute window ends (None: the route is not muted at that instant).
MuteEnd = Callable[[str, datetime], datetime | None]


def _never_muted(route: str, now: datetime) -> datetime | None:
    return None


@dataclass(frozen=True, slots=True)
class DueGroup:
    """Open members of one group key that should be flushed now."""

    key: str
    members: tuple[OpenMember, ...]
    receivers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Schedule:
    """The groups to flush now, oldest first, and when the earliest other group may fall due."""

    due: tuple[str, ...]
    next_check: datetime | None


def schedule(
    groups: Sequence[GroupDue], now: datetime, *, flush_all: bool = False, mute_end: MuteEnd = _never_muted
) -> Schedule:
    """Which groups are due at ``now``.

    ``flush_all`` skips the group wait (``alertd once``) but never a retry hold or a mute window:
    those are promises about what not to send yet.
    """
    due: list[str] = []
    later: list[datetime] = []
    for group in sorted(groups, key=lambda g: g.due_at):
        when = group.due_at if not flush_all else now
        if group.hold_until is not None:
            when = max(when, group.hold_until)
        muted_until = mute_end(group.route, now)
        if muted_until is not None:
            when = max(when, muted_until)
        if when <= now:
            due.append(group.key)
        else:
            later.append(when)
    return Schedule(tuple(due), min(later, default=None))


def due_group(key: str, members: Sequence[OpenMember]) -> DueGroup:
    """The due group of ``key`` from its open members (in arrival order), with every receiver once."""
    receivers: dict[str, None] = {}
    for member in members:
        receivers.update(dict.fromkeys(member.receivers))
    return DueGroup(key, tuple(members), tuple(receivers))

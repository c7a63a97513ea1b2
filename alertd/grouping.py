"""Grouping: which open group members are due to become a message now. Pure.

A group is every open member sharing a group key. It is due ``group_wait`` after its oldest
open member arrived, so the failures of one job run that arrive over a few polls travel together.
Members that join a key after its message went out form a new group: the follow-up. A group also
waits while any member is held for Veeam's own retry, and while its route is in a mute window.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from alertd.store import OpenMember


@dataclass(frozen=True, slots=True)
class DueGroup:
    """Open members of one group key that should be flushed now."""

    key: str
    members: tuple[OpenMember, ...]
    receivers: tuple[str, ...]


def group_members(members: Sequence[OpenMember]) -> dict[str, list[OpenMember]]:
    """Open members by group key, in arrival order."""
    groups: dict[str, list[OpenMember]] = {}
    for member in members:
        groups.setdefault(member.group_key, []).append(member)
    return groups


def due_at(members: Sequence[OpenMember]) -> datetime:
    """When a group of open members is due: its oldest member's arrival plus the group wait."""
    return min(m.added_at + m.group_wait for m in members)


def held_until(members: Sequence[OpenMember]) -> datetime | None:
    """The end of the longest retry hold in the group, if any member is held."""
    holds = [m.hold_until for m in members if m.hold_until is not None]
    return max(holds) if holds else None


def _not_muted(route: str, now: datetime) -> bool:
    return False


def due_groups(
    members: Sequence[OpenMember],
    now: datetime,
    *,
    flush_all: bool = False,
    muted: Callable[[str, datetime], bool] = _not_muted,
) -> list[DueGroup]:
    """The groups to flush at ``now``, oldest first.

    ``flush_all`` skips the group wait (``alertd once``) but never a retry hold or a mute window:
    those are promises about what not to send yet.
    """
    due = []
    for key, items in group_members(members).items():
        hold = held_until(items)
        if hold is not None and hold > now:
            continue
        if muted(items[0].route, now):
            continue
        if flush_all or due_at(items) <= now:
            receivers: dict[str, None] = {}
            for m in items:
                receivers.update(dict.fromkeys(m.receivers))
            due.append(DueGroup(key, tuple(items), tuple(receivers)))
    return due


#: How often a group waiting for a mute window to end is looked at again.
MUTE_RECHECK = timedelta(minutes=1)


def next_check(
    members: Sequence[OpenMember],
    now: datetime,
    *,
    muted: Callable[[str, datetime], bool] = _not_muted,
) -> datetime | None:
    """When the earliest group not due at ``now`` may become due (None when nothing is waiting)."""
    times = []
    for items in group_members(members).values():
        hold = held_until(items)
        candidates = [due_at(items)] + ([hold] if hold is not None else [])
        when = max(candidates)
        if muted(items[0].route, now):
            when = max(when, now + MUTE_RECHECK)
        if when > now:
            times.append(when)
    return min(times) if times else None

"""Grouping: when open members become a message (group wait, retry holds, mute windows). Pure tables."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from factories import T0, session

from alertd.grouping import due_groups, next_check
from alertd.store import OpenMember


def member(
    mid: int, key: str, added: timedelta, wait: timedelta, hold: timedelta | None = None, route: str = "r"
) -> OpenMember:
    return OpenMember(
        id=mid,
        session=session(f"vm{mid}"),
        group_key=key,
        receivers=("ops",),
        group_wait=wait,
        added_at=T0 + added,
        route=route,
        hold_until=None if hold is None else T0 + hold,
    )


S = timedelta(seconds=1)


@pytest.mark.parametrize(
    ("members", "at", "due_keys", "next_at"),
    [
        ([member(1, "a", 0 * S, 30 * S)], 10 * S, [], 30 * S),
        ([member(1, "a", 0 * S, 30 * S)], 30 * S, ["a"], None),
        # a later member does not push the group's wait back: the oldest member decides
        ([member(1, "a", 0 * S, 30 * S), member(2, "a", 25 * S, 30 * S)], 31 * S, ["a"], None),
        ([member(1, "a", 0 * S, 30 * S), member(2, "b", 20 * S, 30 * S)], 35 * S, ["a"], 50 * S),
        # a held member keeps its whole group until the hold ends
        ([member(1, "a", 0 * S, 0 * S, hold=600 * S), member(2, "a", 0 * S, 0 * S)], 60 * S, [], 600 * S),
        ([member(1, "a", 0 * S, 0 * S, hold=600 * S)], 600 * S, ["a"], None),
    ],
)
def test_due_and_next_check(
    members: list[OpenMember], at: timedelta, due_keys: list[str], next_at: timedelta | None
) -> None:
    """Groups fall due group_wait after their oldest member, never before a retry hold ends; next_check says when."""
    now = T0 + at
    due = due_groups(members, now)
    assert [g.key for g in due] == due_keys
    left = [m for m in members if m.group_key not in due_keys]
    assert next_check(left, now) == (None if next_at is None else T0 + next_at)


def test_flush_all_skips_wait_but_not_hold_or_mute() -> None:
    """`alertd once` flushes at once, but a retry hold or a mute window still holds the group."""
    members = [
        member(1, "a", 0 * S, 30 * S),
        member(2, "b", 0 * S, 0 * S, hold=60 * S),
        member(3, "c", 0 * S, 0 * S, route="m"),
    ]
    due = due_groups(members, T0, flush_all=True, muted=lambda route, now: route == "m")
    assert [g.key for g in due] == ["a"]
    later: datetime | None = next_check(members[1:], T0, muted=lambda route, now: route == "m")
    assert later == T0 + 60 * S

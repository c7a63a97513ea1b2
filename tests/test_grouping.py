"""Grouping: when open groups become a message (group wait, retry holds, mute windows). Pure tables."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from factories import T0

from alertd.grouping import schedule
from alertd.records import GroupDue

S = timedelta(seconds=1)


def group(key: str, due: timedelta, hold: timedelta | None = None, route: str = "r") -> GroupDue:
    return GroupDue(key, route, T0 + due, None if hold is None else T0 + hold)


@pytest.mark.parametrize(
    ("groups", "at", "due_keys", "next_at"),
    [
        ([group("a", 30 * S)], 10 * S, [], 30 * S),
        ([group("a", 30 * S)], 30 * S, ["a"], None),
        ([group("a", 30 * S), group("b", 50 * S)], 35 * S, ["a"], 50 * S),
        # oldest due first, whatever order the store returned them in
        ([group("b", 20 * S), group("a", 10 * S)], 35 * S, ["a", "b"], None),
        # a held group waits until the hold ends
        ([group("a", 0 * S, hold=600 * S)], 60 * S, [], 600 * S),
        ([group("a", 0 * S, hold=600 * S)], 600 * S, ["a"], None),
    ],
)
def test_due_and_next_check(
    groups: list[GroupDue], at: timedelta, due_keys: list[str], next_at: timedelta | None
) -> None:
    """Groups fall due group_wait after their oldest member, never before a retry hold ends; next_check says when."""
    plan = schedule(groups, T0 + at)
    assert list(plan.due) == due_keys
    assert plan.next_check == (None if next_at is None else T0 + next_at)


def test_flush_all_skips_wait_but_not_hold_or_mute() -> None:
    """`alertd once` flushes at once, but a retry hold or a mute window still holds the group."""
    groups = [group("a", 30 * S), group("b", 0 * S, hold=60 * S), group("c", 0 * S, route="m")]

    def mute_end(route: str, now: datetime) -> datetime | None:
        return T0 + 120 * S if route == "m" else None

    plan = schedule(groups, T0, flush_all=True, mute_end=mute_end)
    assert list(plan.due) == ["a"]
    assert plan.next_check == T0 + 60 * S


def test_mute_window_end_is_the_next_check() -> None:
    """A muted group is looked at again exactly when its mute window ends, not on a fixed timer."""
    plan = schedule([group("c", 0 * S, route="m")], T0, mute_end=lambda route, now: T0 + 3600 * S)
    assert plan.due == () and plan.next_check == T0 + 3600 * S

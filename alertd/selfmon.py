"""Self-monitoring: decide when alertd must say it cannot watch a source, and when it can again. Pure.

Two checks per source, each with its own stored `CheckState`:

* ``poll``: the source cannot be polled. Failing for longer than ``self_alerts.after`` sends one
  alert; the first successful poll after that sends one recovery message. Short blips send nothing.
* ``stale``: the source polls fine but its watermark (the newest EndTime alertd has read from it)
  is older than ``self_alerts.stale_after``: EM's data has stopped flowing (a stalled collection
  job, a backup server cut off). One alert, and one recovery message when data flows again.

The daemon stores every state this module returns before it acts on it, together with the
message it sends, so a restart neither repeats an alert nor loses a recovery.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum


class Action(StrEnum):
    """What the daemon should send after a poll."""

    NONE = "none"
    ALERT = "alert"
    RECOVER = "recover"


class Check(StrEnum):
    """What a self-alert is about."""

    POLL = "poll"
    STALE = "stale"


@dataclass(frozen=True, slots=True)
class CheckState:
    """One check of one source, as stored: failing since when, why, and whether its alert was sent."""

    failing_since: datetime | None = None
    detail: str | None = None
    alerted: bool = False


@dataclass(frozen=True, slots=True)
class Verdict:
    """A check's new state after a poll and what to send; ``previous`` is the state before it."""

    check: Check
    state: CheckState
    previous: CheckState
    action: Action

    @property
    def since(self) -> datetime | None:
        """When the problem began (for the message)."""
        return self.previous.failing_since if self.action is Action.RECOVER else self.state.failing_since

    @property
    def problem(self) -> str:
        """What is (or was) wrong, for the message."""
        source = self.previous if self.action is Action.RECOVER else self.state
        return source.detail or "unknown error"


@dataclass(frozen=True, slots=True)
class SourceHealth:
    """What readiness needs to know about one source's polling (kept in memory only)."""

    last_success: datetime | None = None


def observe(
    state: CheckState,
    *,
    failing: bool,
    now: datetime,
    after: timedelta,
    detail: str | None = None,
    since: datetime | None = None,
) -> tuple[CheckState, Action]:
    """Fold one observation into ``state`` and say what to send.

    ``since``: when the problem began, if known better than "now" (the stale check's watermark).
    """
    if not failing:
        return CheckState(), Action.RECOVER if state.alerted else Action.NONE
    start = state.failing_since or since or now
    updated = replace(state, failing_since=start, detail=detail)
    if not state.alerted and now - start >= after:
        return replace(updated, alerted=True), Action.ALERT
    return updated, Action.NONE


def assess(
    states: Mapping[Check, CheckState],
    *,
    ok: bool,
    now: datetime,
    after: timedelta,
    stale_after: timedelta | None,
    error: str | None = None,
    watermark: datetime | None = None,
) -> list[Verdict]:
    """The checks one poll outcome changes, with their new states and what to send.

    A failed poll says nothing about staleness (the ``poll`` check covers it). With
    ``stale_after`` off, a stale check that had alerted is cleared without a message: no recovery
    was observed, so none is claimed.
    """
    verdicts = []
    previous = states.get(Check.POLL, CheckState())
    state, action = observe(previous, failing=not ok, now=now, after=after, detail=error)
    verdicts.append(Verdict(Check.POLL, state, previous, action))
    if not ok:
        return [v for v in verdicts if v.state != v.previous or v.action is not Action.NONE]
    previous = states.get(Check.STALE, CheckState())
    if stale_after is None or watermark is None:
        state, action = CheckState(), Action.NONE
    else:
        stale = now - watermark >= stale_after
        detail = (
            f"EM data is stale: polls work, but no task session read has ended for over {_human(stale_after)}"
        )
        state, action = observe(
            previous, failing=stale, now=now, after=timedelta(0), detail=detail, since=watermark
        )
    verdicts.append(Verdict(Check.STALE, state, previous, action))
    return [v for v in verdicts if v.state != v.previous or v.action is not Action.NONE]


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"

"""What one poll means: from what was read and the state read with it, the record to write. Pure.

`decide_poll` runs inside the poll's transaction. It drops what was already alerted, moves an
incident found under an older identity to the session's own key, marks what only the sweep found
as late, folds everything through `alertd.decide`, and moves the source's cursor (watermark,
horizon, last sweep) and the per-job success cursors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from alertd.config import FlappingConfig, SourceConfig
from alertd.decide import ActiveSilence, Decision, decide
from alertd.incidents import Incident, IncidentKey, alias_keys, incident_key, rekey
from alertd.model import TaskSession
from alertd.reading import Fetched
from alertd.records import PollState, SourceCursor
from alertd.routing import Route
from alertd.window import ReadPlan, advance, next_horizon, prune_cutoff


@dataclass(frozen=True, slots=True)
class PollContext:
    """The configuration one poll decides with."""

    source: SourceConfig
    routes: Sequence[Route]
    flapping: FlappingConfig
    silences: Sequence[ActiveSilence]
    prune: bool


def incident_keys(fetched: Fetched) -> list[IncidentKey]:
    """Every incident key (and older alias) the poll's sessions may touch, for the state to load.

    The key and the aliases of `alertd.incidents.alias_keys`, written out (repeats are harmless:
    the state looks each key up once): a storm asks this for ten thousand sessions.
    """
    keys: list[IncidentKey] = []
    for session in (*fetched.failures, *fetched.successes):
        job, vm = incident_key(session)
        job_name, vm_name = f"name:{session.job_name}", f"name:{session.vm}"
        keys += ((job, vm), (job, vm_name), (job_name, vm), (job_name, vm_name))
    return keys


def _merge_aliases(
    sessions: Sequence[TaskSession], incidents: Mapping[IncidentKey, Incident]
) -> tuple[dict[IncidentKey, Incident], list[tuple[IncidentKey, IncidentKey]]]:
    """Incidents by the sessions' own keys, an incident found under an older identity moved over."""
    found = dict(incidents)
    moved: list[tuple[IncidentKey, IncidentKey]] = []
    if not found:
        return found, moved  # nothing to move (a storm of first failures: no alias to look up)
    for session in sessions:
        key = incident_key(session)
        if key in found:
            continue
        for alias in alias_keys(session):
            old = found.pop(alias, None)
            if old is not None:
                found[key] = rekey(old, session)
                moved.append((alias, key))
                break
    return found, moved


def decide_poll(
    ctx: PollContext, state: PollState, fetched: Fetched, plan: ReadPlan, now: datetime
) -> Decision:
    """The poll's decision and everything it writes; ``now`` is alertd's clock."""
    source_now = now + fetched.skew
    fresh = list({s.uid: s for s in fetched.failures if s.uid not in state.seen}.values())
    if state.cursor.watermark is None:
        # The first poll's window was placed with alertd's clock before the source's was known;
        # what ended before initial_lookback on the source's clock is history, not news.
        first_start = source_now - ctx.source.initial_lookback
        fresh = [s for s in fresh if s.end_time is None or s.end_time >= first_start]
    incidents, moved = _merge_aliases([*fresh, *fetched.successes], state.incidents)
    notified = dict(state.notified)
    for alias, key in moved:
        notified[key] = (*notified.get(key, ()), *notified.pop(alias, ()))
    late = {
        s.uid: source_now - s.end_time
        for s in fresh
        if s.uid in fetched.sweep_only and s.end_time is not None
    }
    decision = decide(
        failures=fresh,
        successes=fetched.successes,
        incidents=incidents,
        notified=notified,
        open_members=state.held,
        silences=ctx.silences,
        routes=ctx.routes,
        flapping=ctx.flapping,
        now=now,
        late=late,
        skew=fetched.skew,
    )
    record = decision.record
    for alias, key in moved:
        record.retired.append((alias, key))
        record.incidents.setdefault(key, incidents[key])
    record.job_runs = fetched.new_runs
    record.checked = fetched.checked
    record.cursor = _next_cursor(ctx.source, state.cursor, fetched, plan, source_now)
    if ctx.prune and record.cursor.horizon is not None:
        record.prune_before = prune_cutoff(record.cursor.horizon)
    return decision


def _next_cursor(
    source: SourceConfig, cursor: SourceCursor, fetched: Fetched, plan: ReadPlan, source_now: datetime
) -> SourceCursor:
    """Watermark, horizon and last sweep after this poll (all on the source's clock)."""
    # The first poll ever: its window is recomputed on the source's clock, now that it is known,
    # so a wrong local clock at first start cannot place the window in the source's future.
    start = source_now - source.initial_lookback if cursor.watermark is None else plan.start
    ends = (s.end_time for s in fetched.failures if s.end_time is not None)
    watermark = advance(cursor.watermark, start, source.overlap, ends, source_now)
    horizon = next_horizon(
        cursor,
        start,
        watermark,
        overlap=source.overlap,
        reconcile_window=source.reconcile_window,
        now=source_now,
    )
    swept = plan.sweep_start is not None or cursor.watermark is None
    return SourceCursor(watermark, horizon, source_now if swept else cursor.last_sweep)

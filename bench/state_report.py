"""Report section and summary rows for the state-growth benchmark."""

from __future__ import annotations

import math
from pathlib import Path

from bench.fmt import num, status, table
from bench.state import Checkpoint, StateResult

#: keep_history (7 days, the default Pipeline.poll leaves in place) plus a day of slack.
HORIZON_DAYS = 8.0
#: "Within a few minutes" for the 1M run.
MILLION_GOAL_S = 300.0
_ALERTD = Path(__file__).resolve().parent.parent / "alertd"


def _prune_history_called() -> bool:
    """Whether any alertd module outside the state package calls ``prune_history``."""
    return any(
        "prune_history(" in p.read_text(errors="replace")
        for p in _ALERTD.rglob("*.py")
        if "state" not in p.relative_to(_ALERTD).parts
    )


def _past_horizon(s: StateResult) -> list[Checkpoint]:
    return [c for c in s.checkpoints if c.simulated_days >= HORIZON_DAYS]


def _bounded(points: list[Checkpoint], value: str) -> bool | None:
    """None when fewer than two checkpoints are past the horizon; else growth between them under 10 %."""
    if len(points) < 2:
        return None
    first, last = points[0], points[-1]
    a = first.file_mb if value == "file" else first.rows[value]
    b = last.file_mb if value == "file" else last.rows[value]
    return b <= a * 1.10


def projected_s(s: StateResult) -> float | None:
    """Seconds the run would need to reach its goal, from the rate between the last two checkpoints."""
    if len(s.checkpoints) < 2:
        return None
    a, b = s.checkpoints[-2], s.checkpoints[-1]
    rate = (b.alerted - a.alerted) / (b.elapsed_s - a.elapsed_s) if b.elapsed_s > a.elapsed_s else 0.0
    return b.elapsed_s + (s.goal - b.alerted) / rate if rate > 0 else None


def state_summary(s: StateResult) -> list[tuple[str, str, str, str]]:
    """Summary rows: alerts bounded, file bounded, 1M reached in time."""
    if not s.checkpoints:
        return [("State growth", "no checkpoint reached", "", status(None))]
    last = s.checkpoints[-1]
    past = _past_horizon(s)
    reached = last.alerted >= s.goal
    projection = projected_s(s)
    when = (
        f"in {num(last.elapsed_s, 0)} s"
        if reached
        else (
            f"stopped at {last.alerted:,} after {num(last.elapsed_s, 0)} s"
            + (f"; 1M projected at ~{num(projection / 60, 0)} min" if projection else "")
        )
    )
    return [
        (
            "State growth",
            f"alerts rows {last.rows['alerts']:,} after {last.alerted:,} UIDs",
            "bounded by pruning",
            status(_bounded(past, "alerts")),
        ),
        (
            "State growth",
            f"state file {num(last.file_mb, 0)} MB after {last.alerted:,} UIDs",
            "bounded",
            status(_bounded(past, "file")),
        ),
        (
            "State growth",
            f"{s.goal:,} UIDs: {when}",
            f"within ~{num(MILLION_GOAL_S / 60, 0)} min",
            status(reached and last.elapsed_s <= MILLION_GOAL_S),
        ),
    ]


def state_section(s: StateResult) -> list[str]:
    """The growth curve and what it shows."""
    lines = [
        "## State growth",
        "",
        f"{s.batch:,} new Failed sessions per simulated poll (whole job runs of 20 VMs from a fleet of 500 jobs;",
        f"every VM succeeds again by the next poll), simulated time advancing {num(s.step_hours, 0)} h per poll.",
        "Polls go through alertd's `decide_poll` inside `SQLiteStore.record_poll` (pruning below the horizon",
        "from `alertd.window`, `state.keep_history` default 7 days), as `Pipeline.poll` calls them; then, as the",
        "daemon does, the real `Pipeline.flush`, a `mark_sent` per outbox row, and `prune_history` every `PRUNE_EVERY`.",
        "At each checkpoint three real `Pipeline.poll` runs (each re-reading its 30 min overlap and querying",
        "successes) are timed. Flapping detection is off here: this fleet fails and recovers every tenth",
        "poll, which alertd would call flapping from a VM's third failure on, muting most alerts.",
        "",
    ]
    rows = [
        (
            f"{c.alerted:,}",
            c.polls,
            num(c.simulated_days, 1),
            num(c.file_mb, 1),
            f"{c.rows['alerts']:,}",
            f"{c.rows['members']:,}",
            f"{c.rows['incidents']:,}",
            f"{c.rows['messages']:,}",
            f"{c.rows['deliveries']:,}",
            num(c.record_poll_ms, 0),
            num(c.unpruned_ms, 0),
            num(c.pipeline_poll_ms, 0),
            num(c.flush_ms, 0),
            num(c.prune_history_ms, 0),
            num(c.elapsed_s, 0),
        )
        for c in s.checkpoints
    ]
    lines += table(
        [
            "UIDs",
            "polls",
            "sim. days",
            "file MB",
            "alerts",
            "members",
            "incidents",
            "messages",
            "deliveries",
            "record_poll ms",
            "... without pruning",
            "Pipeline.poll ms",
            "flush ms",
            "prune_history ms",
            "elapsed s",
        ],
        rows,
    )
    lines += _notes(s)
    return lines


def _notes(s: StateResult) -> list[str]:
    notes = [
        "`record_poll ms`: median of the last 10 direct polls before the checkpoint; `... without pruning`: "
        "median of 3 direct polls that do not prune (the difference is what pruning costs each poll); "
        "`Pipeline.poll ms`: median of the 3 real polls; `flush ms`: flush plus marking the outbox sent; "
        "`prune_history ms`: `SQLiteStore.prune_history`, run as the daemon's flush loop runs it (every "
        "`PRUNE_EVERY` of simulated time); all medians of the last 10.",
    ]
    if s.stopped_early:
        projection = projected_s(s)
        notes.append(
            f"Stopped early ({s.stopped_early}) at {s.checkpoints[-1].alerted:,} UIDs"
            + (
                f"; at the rate between the last two checkpoints, {s.goal:,} UIDs would take ~{num(projection / 60, 0)} min."
                if projection
                else "."
            )
            + " `--state-budget 0` runs to the end."
        )
    if not _prune_history_called():
        notes.append(
            "alertd never calls `prune_history`: sent messages and deliveries (with their rendered bodies) "
            "are kept forever, so the file keeps growing after `alerts` and `members` level off."
        )
    lines = [*(f"* {n}" for n in notes), ""]
    if s.table_mb:
        lines += ["Space per table and index at the last checkpoint (SQLite `dbstat`):", ""]
        top = sorted(s.table_mb.items(), key=lambda kv: -kv[1])[:10]
        lines += table(["Table or index", "MB"], [(f"`{name}`", num(mb, 1)) for name, mb in top])
    if s.prune_history:
        lines += [
            "`SQLiteStore.prune_history` on a fresh file holding *n* old",
            "sent messages, which it deletes, and *n* recent ones, which it keeps:",
            "",
        ]
        lines += table(["n", "seconds"], [(f"{n:,}", num(sec, 2)) for n, sec in s.prune_history])
        lines += [_growth(s.prune_history), ""]
    return lines


def _growth(points: list[tuple[int, float]]) -> str:
    """How prune_history's time grows with n, from its first and last measurement."""
    (n0, t0), (n1, t1) = points[0], points[-1]
    if n1 <= n0 or t0 <= 0 or t1 <= 0:
        return "Too fast to tell how the time grows with *n*."
    k = math.log(t1 / t0) / math.log(n1 / n0)
    shape = "closer to linear than to the square" if k < 1.5 else "about the square" if k < 2.5 else "worse"
    return f"Time grows about as n^{k:.1f} ({shape}) between n = {n0:,} and {n1:,}."

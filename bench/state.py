"""State growth: the state file and the poll time as 10k ... 1M alerted UIDs pass through.

Most simulated polls drive ``Store.record_poll`` directly: the poll's record comes from alertd's
pure ``decide`` (incidents open on failure and close on the next poll's success), the watermark
and ``prune_before`` from ``alertd.window``, and ``keep_history`` is left at its default, exactly
as ``Pipeline.poll`` calls it. Each poll is followed by the real ``Pipeline.flush`` (with a
canned renderer) and a ``mark_sent`` per outbox row, as the delivery worker would. At each
checkpoint a few polls run the real ``Pipeline.poll`` against ``FleetSource`` and are timed.
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from alertd.config import load_document
from bench.grower import Grower
from bench.prunebench import prune_history_times
from bench.scenario import Sizes, config_doc

TABLES = ("alerts", "members", "incidents", "messages", "deliveries")
#: Real Pipeline.poll runs timed at each checkpoint (the median is reported).
PIPELINE_POLLS = 3
#: Direct polls without pruning timed at each checkpoint, to show pruning's share of record_poll.
UNPRUNED_POLLS = 3


@dataclass
class Checkpoint:
    """The state after ``alerted`` UIDs went through."""

    alerted: int
    polls: int
    simulated_days: float
    file_mb: float
    rows: dict[str, int]
    record_poll_ms: float
    unpruned_ms: float
    pipeline_poll_ms: float
    flush_ms: float
    prune_history_ms: float
    elapsed_s: float


@dataclass
class StateResult:
    """The curve, and where it stopped."""

    batch: int
    step_hours: float
    goal: int
    checkpoints: list[Checkpoint] = field(default_factory=list)
    seconds: float = 0.0
    stopped_early: str | None = None
    table_mb: dict[str, float] = field(default_factory=dict)
    prune_history: list[tuple[int, float]] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """UIDs per second over the whole run."""
        last = self.checkpoints[-1] if self.checkpoints else None
        return last.alerted / last.elapsed_s if last and last.elapsed_s else 0.0


def _file_mb(path: Path) -> float:
    wal = path.with_name(path.name + "-wal")
    return (path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)) / 1024 / 1024


def _rows(path: Path) -> dict[str, int]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return {t: int(db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]) for t in TABLES}


def _table_mb(path: Path) -> dict[str, float]:
    """MiB per table and index (SQLite's dbstat), or {} when this SQLite lacks it."""
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            rows = db.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC").fetchall()
    except sqlite3.Error:
        return {}
    return {str(name): int(size) / 1024 / 1024 for name, size in rows}


async def _checkpoint(
    grower: Grower, path: Path, alerted: int, record_s: list[float], began: float
) -> Checkpoint:
    """Time a few real Pipeline.poll runs and measure the file."""
    pipeline_s, unpruned_s = [], []
    for _ in range(UNPRUNED_POLLS):
        added, seconds = grower.direct_poll(prune=False)
        unpruned_s.append(seconds)
        grower.after_poll()
        alerted += added
    for _ in range(PIPELINE_POLLS):
        added, seconds = await grower.pipeline_poll()
        pipeline_s.append(seconds)
        grower.after_poll()
        alerted += added
    rows = _rows(path)
    return Checkpoint(
        alerted=alerted,
        polls=grower.polls,
        simulated_days=(grower.step * grower.polls).total_seconds() / 86400,
        file_mb=_file_mb(path),
        rows=rows,
        record_poll_ms=1000 * statistics.median(record_s[-10:] or [0.0]),
        unpruned_ms=1000 * statistics.median(unpruned_s),
        pipeline_poll_ms=1000 * statistics.median(pipeline_s),
        flush_ms=1000 * statistics.median(grower.flush_times[-10:]),
        prune_history_ms=1000 * statistics.median(grower.prune_times[-10:] or [float("nan")]),
        elapsed_s=time.perf_counter() - began,
    )


async def _grow(sizes: Sizes, path: Path, result: StateResult, budget_s: float | None) -> None:
    doc = config_doc(path.parent, "https://em.invalid:9398", "json://127.0.0.1:9/hook")
    # See results.md: with flapping detection on, this fleet (each VM fails, then recovers, every
    # tenth poll) is called flapping from its third failure and most alerts are muted.
    doc["flapping"] = {"enabled": False}
    grower = Grower(load_document(doc), path, sizes)
    goals = list(sizes.state_checkpoints)
    alerted = 0
    record_s: list[float] = []
    began = time.perf_counter()
    try:
        while goals:
            added, seconds = grower.direct_poll()
            record_s.append(seconds)
            grower.after_poll()
            alerted += added
            if alerted >= goals[0]:
                goals.pop(0)
                result.checkpoints.append(await _checkpoint(grower, path, alerted, record_s, began))
                alerted = result.checkpoints[-1].alerted
            elif budget_s is not None and time.perf_counter() - began > budget_s:
                result.stopped_early = f"time budget of {budget_s:.0f} s spent"
                result.checkpoints.append(await _checkpoint(grower, path, alerted, record_s, began))
                break
    finally:
        grower.store.close()
    result.seconds = time.perf_counter() - began
    result.table_mb = _table_mb(path)
    result.prune_history = prune_history_times()


def run_state(sizes: Sizes, workdir: Path, budget_s: float | None = None) -> StateResult:
    """Grow a state file to the last checkpoint (or until ``budget_s`` is spent); returns the curve."""
    workdir.mkdir(parents=True, exist_ok=True)
    result = StateResult(sizes.state_batch, sizes.state_step_hours, sizes.state_checkpoints[-1])
    asyncio.run(_grow(sizes, workdir / "state.db", result, budget_s))
    return result

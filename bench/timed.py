"""A Pipeline that records the wall and CPU time of each poll and flush (used inside bench children)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from alertd.config import SourceConfig
from alertd.pipeline import Pipeline, PollResult, SessionSource


@dataclass(frozen=True, slots=True)
class Span:
    """One timed call: wall-clock start (``time.time()``), wall and CPU seconds, and a count."""

    started: float
    wall: float
    cpu: float
    count: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class TimedPipeline(Pipeline):
    """alertd's Pipeline, unchanged, with each poll and flush timed into ``polls`` and ``flushes``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.polls: list[Span] = []
        self.flushes: list[Span] = []

    async def poll(self, source: SourceConfig, client: SessionSource, now: datetime) -> PollResult:
        started, wall, cpu = time.time(), time.perf_counter(), time.process_time()
        result = await super().poll(source, client, now)
        self.polls.append(Span(started, time.perf_counter() - wall, time.process_time() - cpu, result.new))
        return result

    def flush(self, now: datetime, *, flush_all: bool = False) -> int:
        started, wall, cpu = time.time(), time.perf_counter(), time.process_time()
        written = super().flush(now, flush_all=flush_all)
        self.flushes.append(Span(started, time.perf_counter() - wall, time.process_time() - cpu, written))
        return written

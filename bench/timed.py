"""A Pipeline that records the wall and CPU time of each poll and flush (used inside bench children)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from alertd.config import SourceConfig
from alertd.pipeline import FlushResult, Pipeline, PollResult
from alertd.source import Source


@dataclass(frozen=True, slots=True)
class Span:
    """One timed call: wall-clock start (``time.time()``), wall and CPU seconds, a count, and the
    source's HTTP requests during the call (polls only)."""

    started: float
    wall: float
    cpu: float
    count: int
    requests: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class TimedPipeline(Pipeline):
    """alertd's Pipeline, unchanged, with each poll and flush timed into ``polls`` and ``flushes``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.polls: list[Span] = []
        self.flushes: list[Span] = []

    async def poll(self, source: SourceConfig, reader: Source, now: datetime) -> PollResult:
        started, wall, cpu = time.time(), time.perf_counter(), time.process_time()
        before = reader.requests_made
        result = await super().poll(source, reader, now)
        self.polls.append(
            Span(
                started,
                time.perf_counter() - wall,
                time.process_time() - cpu,
                result.new,
                reader.requests_made - before,
            )
        )
        return result

    def flush(self, now: datetime, *, flush_all: bool = False) -> FlushResult:
        started, wall, cpu = time.time(), time.perf_counter(), time.process_time()
        result = super().flush(now, flush_all=flush_all)
        self.flushes.append(
            Span(started, time.perf_counter() - wall, time.process_time() - cpu, result.messages)
        )
        return result

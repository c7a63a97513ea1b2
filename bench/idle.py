"""Idle: ``alertd run`` as a child process, polling every second with nothing new to alert.

The simulator holds one job run of failures that the first poll alerts; after that every poll
re-reads the same window and finds nothing new. CPU time and memory come from /proc.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alertd.simulator import SimulatedEM
from bench.hook import FastHook
from bench.memory import import_rss
from bench.procstat import cpu_seconds, memory_mb
from bench.requests import breakdown
from bench.scenario import Sizes, config_doc, free_port, start_alertd, stop_alertd, write_config

SETTLE_S = 2.0


def is_poll(filter_text: str) -> bool:
    """True for the failure query that starts each poll (not the success query for open incidents)."""
    return filter_text.startswith("State==Completed;(Result==Failed")


@dataclass
class IdleResult:
    """What the idle benchmark measured over its window."""

    seconds: float = 0.0
    cpu_seconds: float = 0.0
    startup_cpu_seconds: float = 0.0
    polls: int = 0
    em_requests: int = 0
    #: The window's requests by purpose (see `bench.requests`).
    requests_by_purpose: dict[str, int] = field(default_factory=dict)
    sessions_per_poll: int = 0
    rss_mb: float = 0.0
    hwm_mb: float = 0.0
    anon_mb: float = 0.0
    file_mb: float = 0.0
    imports: list[tuple[str, float]] = field(default_factory=list)
    exit_code: int | None = None

    @property
    def requests_per_poll(self) -> float:
        """EM requests per poll over the window."""
        return self.em_requests / self.polls if self.polls else float("nan")

    @property
    def cpu_percent(self) -> float:
        """CPU used, as a percentage of one core over the window."""
        return 100 * self.cpu_seconds / self.seconds if self.seconds else 0.0


async def _wait(
    check: Callable[[], bool], proc: asyncio.subprocess.Process, timeout: float, what: str
) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if proc.returncode is not None:
            raise RuntimeError(f"alertd exited ({proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def run_idle(sizes: Sizes, workdir: Path) -> IdleResult:
    """Start ``alertd run``, let it alert the seeded failures, then measure ``idle_seconds`` of quiet."""
    result = IdleResult()
    async with SimulatedEM(seed=11) as sim, FastHook() as hook:
        vms = [f"idle-vm{i:02d}" for i in range(20)]
        sim.add_job_run(
            vms=vms, results=dict.fromkeys(vms, "Failed"), start=datetime.now(UTC) - timedelta(minutes=20)
        )
        result.sessions_per_poll = len(vms)
        doc = config_doc(
            workdir,
            sim.url,
            hook.url,
            poll_interval="1s",
            group_wait="1s",
            min_interval="1s",
            listen=f"127.0.0.1:{free_port()}",
        )
        proc = await start_alertd(write_config(workdir / "alertd.yaml", doc), workdir / "alertd.log")
        try:
            await _wait(lambda: len(hook.posts) >= 1, proc, 60, "the first alert")
            await asyncio.sleep(SETTLE_S)
            requests = len(sim.requests)
            result.startup_cpu_seconds = cpu_before = cpu_seconds(proc.pid)
            began = time.monotonic()
            await asyncio.sleep(sizes.idle_seconds)
            result.cpu_seconds = cpu_seconds(proc.pid) - cpu_before
            result.seconds = time.monotonic() - began
            mem = memory_mb(proc.pid)
            result.rss_mb, result.hwm_mb = mem.get("VmRSS", 0.0), mem.get("VmHWM", 0.0)
            result.anon_mb, result.file_mb = mem.get("RssAnon", 0.0), mem.get("RssFile", 0.0)
            window = sim.requests[requests:]
            result.em_requests = len(window)
            result.requests_by_purpose = breakdown(window)
            result.polls = sum(1 for r in window if is_poll(r.query.get("filter", "")))
            result.exit_code = await stop_alertd(proc)
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
    result.imports = import_rss()
    return result

"""Latency: from a failure appearing in EM to its message reaching the webhook.

``alertd run`` polls every second with a one-second group wait. Failures are added to the
simulator at random moments (exponential gaps) into a few concurrent job runs; each failure's
VM name is unique, so its first appearance in a webhook payload marks its delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import statistics
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alertd.simulator import SimulatedEM
from bench.hook import FastHook
from bench.scenario import Sizes, config_doc, start_alertd, stop_alertd, write_config

POLL_S = 1.0
GROUP_WAIT_S = 1.0
JOBS = 4
VMS_PER_RUN = 20
_VM = re.compile(r"\blat-\d{4}\b")


@dataclass
class LatencyResult:
    """Per-failure latencies in seconds, plus what was sent."""

    injected: int = 0
    latencies: list[float] = field(default_factory=list)
    messages: int = 0
    seconds: float = 0.0
    exit_code: int | None = None

    @property
    def goal_s(self) -> float:
        return POLL_S + GROUP_WAIT_S + 1.0

    def percentile(self, q: float) -> float:
        """The ``q``-th percentile (0-100), nearest-rank."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
        return ordered[rank - 1]

    @property
    def mean(self) -> float:
        return statistics.fmean(self.latencies) if self.latencies else float("nan")


class Injector:
    """Adds Failed task sessions to the simulator, into ``JOBS`` job runs that roll over every 20 VMs."""

    def __init__(self, sim: SimulatedEM) -> None:
        self.sim = sim
        self.runs: dict[int, tuple[str, int]] = {}
        self.added: dict[str, float] = {}

    def add(self, index: int, job: int) -> None:
        now = datetime.now(UTC)
        run_uid, used = self.runs.get(job, ("", VMS_PER_RUN))
        if used >= VMS_PER_RUN:
            run = self.sim.store.add_job_session(
                job_name=f"Latency Job {job}", creation_time=now - timedelta(minutes=2)
            )
            run_uid, used = run.uid, 0
        vm = f"lat-{index:04d}"
        self.sim.add_task_session(
            vm=vm,
            job_session_uid=run_uid,
            result="Failed",
            creation_time=now - timedelta(seconds=90),
            end_time=now,
            reason=f"Error: Failed to create VM snapshot of {vm}",
        )
        self.runs[job] = (run_uid, used + 1)
        self.added[vm] = time.time()


async def run_latency(sizes: Sizes, workdir: Path) -> LatencyResult:
    """Run ``alertd run`` and inject ``latency_alerts`` failures at random moments."""
    result = LatencyResult()
    rng = random.Random(42)
    async with SimulatedEM(seed=5) as sim, FastHook() as hook:
        doc = config_doc(
            workdir, sim.url, hook.url, poll_interval=f"{POLL_S:g}s", group_wait=f"{GROUP_WAIT_S:g}s"
        )
        proc = await start_alertd(write_config(workdir / "alertd.yaml", doc), workdir / "alertd.log")
        injector = Injector(sim)
        began = time.monotonic()
        try:
            # Let alertd log on and finish its first (empty) poll.
            while not any(r.path.lower() == "/api/query" for r in sim.requests):
                if proc.returncode is not None or time.monotonic() - began > 30:
                    raise RuntimeError(f"alertd did not start polling; see {workdir / 'alertd.log'}")
                await asyncio.sleep(0.05)
            await asyncio.sleep(1.5)
            for i in range(sizes.latency_alerts):
                await asyncio.sleep(rng.expovariate(1 / sizes.latency_mean_gap))
                injector.add(i, rng.randrange(JOBS))
            result.injected = len(injector.added)
            await hook.wait_until(lambda: len(_first_seen(hook)) >= result.injected, timeout=15)
            result.seconds = time.monotonic() - began
            result.exit_code = await stop_alertd(proc)
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        seen = _first_seen(hook)
        result.latencies = [seen[vm] - at for vm, at in injector.added.items() if vm in seen]
        result.messages = len(hook.posts)
    return result


def _first_seen(hook: FastHook) -> dict[str, float]:
    seen: dict[str, float] = {}
    for post in hook.posts:
        for vm in _VM.findall(post.text):
            seen.setdefault(vm, post.at)
    return seen

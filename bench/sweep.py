"""The reconciliation sweep: what one sweep over 24 h of failures costs, next to a normal poll.

The EM simulator holds ``sweep_runs`` job runs of failed task sessions spread over the last
23.5 hours. One alertd process (a bench child) polls a fresh state file three times with the
default ``overlap`` (30 min), ``reconcile_every`` (15 min) and ``reconcile_window`` (24 h):

1. the first poll, which looks back 25 h (``initial_lookback``) and alerts everything (catch-up);
2. a normal poll one second later: the overlap window, plus one success query per job with an open
   incident (every failed VM has one now) - the steady state after a storm;
3. a poll ``reconcile_every`` later on alertd's clock, when the sweep is due: it reads the whole
   24 h window again instead of the overlap; every UID is already known, so nothing is alerted.

Requests are counted by purpose from the simulator's log, by the time each poll ran.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alertd.simulator import SimulatedEM
from bench.hook import FastHook
from bench.requests import breakdown
from bench.scenario import Sizes, config_doc, run_bench_child, write_config

#: The seeded failures end within this span before now (inside the 24 h reconcile window).
SPAN = timedelta(hours=23, minutes=30)
POLLS = ("first poll (25 h catch-up)", "normal poll", "sweep poll")


@dataclass
class SweepPoll:
    """One timed poll of the sweep benchmark."""

    name: str
    wall: float
    cpu: float
    new: int
    requests: int
    by_purpose: dict[str, int] = field(default_factory=dict)

    @property
    def pages(self) -> int:
        """Pages of the failure query."""
        return self.by_purpose.get("failures (pages)", 0)


@dataclass
class SweepResult:
    """The sweep benchmark's polls."""

    sessions: int
    runs: int
    page_size: int
    polls: list[SweepPoll] = field(default_factory=list)

    def poll(self, name: str) -> SweepPoll | None:
        return next((p for p in self.polls if p.name == name), None)


def seed_day(sim: SimulatedEM, sizes: Sizes) -> None:
    """``sweep_runs`` runs of ``vms_per_run`` failed VMs, their ends spread over the last `SPAN`."""
    now = datetime.now(UTC)
    step = SPAN / max(sizes.sweep_runs, 1)
    for run in range(sizes.sweep_runs):
        vms = [f"sw{run:03d}-vm{i:02d}" for i in range(sizes.vms_per_run)]
        sim.add_job_run(
            job_name=f"Backup Job {run % 50:02d}",
            vms=vms,
            results=dict.fromkeys(vms, "Failed"),
            start=now - SPAN - timedelta(minutes=30) + run * step,
        )


async def run_sweep(sizes: Sizes, workdir: Path) -> SweepResult:
    """Seed a day of failures and time the three polls in a child process."""
    result = SweepResult(sizes.sweep_runs * sizes.vms_per_run, sizes.sweep_runs, sizes.page_size)
    async with SimulatedEM(seed=13) as sim, FastHook() as hook:
        seed_day(sim, sizes)
        doc = config_doc(workdir, sim.url, hook.url, page_size=sizes.page_size, initial_lookback="25h")
        config = write_config(workdir / "alertd.yaml", doc)
        out, _ = await run_bench_child("sweep", {"config": str(config), "workdir": str(workdir)}, workdir)
        for name, span in zip(POLLS, out["polls"], strict=True):
            began = datetime.fromtimestamp(span["started"], UTC)
            ended = began + timedelta(seconds=span["wall"])
            during = [r for r in sim.requests if began <= r.at <= ended]
            result.polls.append(
                SweepPoll(name, span["wall"], span["cpu"], span["count"], span["requests"], breakdown(during))
            )
    return result


def sweep_child_plan(now: datetime, reconcile_every: timedelta) -> list[datetime]:
    """alertd's clock for each of the child's polls (see the module docstring)."""
    return [now, now + timedelta(seconds=1), now + reconcile_every + timedelta(seconds=2)]

"""Storm and floor: 10,000 failed task sessions in 500 job runs, read, decided and delivered once.

The simulator and the webhook run in this process; alertd (``Daemon.once``) and the floor run in
child processes, so their memory and CPU are their own. The same storm is then served by the VBR
simulator (HTTPS, OAuth2, ``/api/v1``) to a ``kind: vbr`` source.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alertd.simulator import SimulatedEM
from alertd.simulator.requestlog import RequestLog
from alertd.simulator.vbr import SimulatedVBR
from alertd.simulator.vbr.certs import SelfSigned, self_signed
from bench.hook import FastHook
from bench.requests import breakdown
from bench.scenario import Sizes, config_doc, run_bench_child, write_config

LOOKBACK = timedelta(hours=2)
_VM = re.compile(r"\bst\d{3}-vm\d{2}\b")


@dataclass
class StormResult:
    """Everything the storm and floor benchmarks measured."""

    sessions: int
    runs: int
    page_size: int
    exit_code: int = -1
    first_poll_to_last_delivery: float = 0.0
    poll_wall: float = 0.0
    poll_cpu: float = 0.0
    flush_wall: float = 0.0
    deliver_wall: float = 0.0
    em_requests: int = 0
    #: The storm poll's requests by purpose (see `bench.requests`).
    requests_by_purpose: dict[str, int] = field(default_factory=dict)
    messages: int = 0
    vms_delivered: int = 0
    peak_rss_mb: float = 0.0
    rusage_maxrss_mb: float = 0.0
    readdecide: dict[str, Any] = field(default_factory=dict)
    #: The same storm from the VBR simulator (no floor comparison).
    vbr: StormResult | None = None


def seed_storm(sim: SimulatedEM, sizes: Sizes) -> None:
    """``storm_runs`` job runs of ``vms_per_run`` VMs, every task Failed, all ended in the last hour."""
    now = datetime.now(UTC)
    spread = timedelta(minutes=25) / max(sizes.storm_runs, 1)
    for run in range(sizes.storm_runs):
        vms = [f"st{run:03d}-vm{i:02d}" for i in range(sizes.vms_per_run)]
        sim.add_job_run(
            job_name=f"Backup Job {run % 50:02d}",
            vms=vms,
            results=dict.fromkeys(vms, "Failed"),
            start=now - timedelta(minutes=55) + run * spread,
        )


async def _storm_child(
    result: StormResult, requests: RequestLog, hook: FastHook, doc: dict[str, Any], workdir: Path
) -> None:
    """Run one ``Daemon.once`` over the seeded storm in a child and fill ``result`` in."""
    config = write_config(workdir / "alertd.yaml", doc)
    before = len(requests)
    out, maxrss = await run_bench_child("storm", {"config": str(config), "deliver_timeout": 600}, workdir)
    result.em_requests = len(requests) - before
    result.requests_by_purpose = breakdown(requests[before:])
    result.exit_code = int(out["exit_code"])
    result.rusage_maxrss_mb = maxrss
    result.peak_rss_mb = float(out["memory"].get("VmHWM", 0.0))
    polls, flushes = out["polls"], out["flushes"]
    result.poll_wall = sum(p["wall"] for p in polls)
    result.poll_cpu = sum(p["cpu"] for p in polls)
    result.flush_wall = sum(f["wall"] for f in flushes)
    result.messages = len(hook.posts)
    seen = {vm for post in hook.posts for vm in _VM.findall(post.text)}
    result.vms_delivered = len(seen)
    if hook.posts and polls:
        last = max(p.at for p in hook.posts)
        result.first_poll_to_last_delivery = last - polls[0]["started"]
        result.deliver_wall = last - (flushes[-1]["started"] + flushes[-1]["wall"])


async def run_storm(sizes: Sizes, workdir: Path) -> StormResult:
    """Run the storm (one ``Daemon.once``), the floor comparison against the same data, and the
    VBR storm."""
    result = StormResult(sizes.storm_sessions, sizes.storm_runs, sizes.page_size)
    async with SimulatedEM(seed=7) as sim, FastHook() as hook:
        seed_storm(sim, sizes)
        doc = config_doc(
            workdir / "storm",
            sim.url,
            hook.url,
            page_size=sizes.page_size,
            initial_lookback=f"{int(LOOKBACK.total_seconds())}s",
        )
        await _storm_child(result, sim.requests, hook, doc, workdir / "storm")
        result.readdecide, _ = await run_bench_child(
            "readdecide",
            {
                "config": str(write_config(workdir / "floor" / "alertd.yaml", doc)),
                "em_url": sim.url,
                "lookback_s": LOOKBACK.total_seconds(),
                "page_size": sizes.page_size,
                "rounds": sizes.rounds,
                "workdir": str(workdir / "floor"),
            },
            workdir / "floor",
        )
    result.vbr = await run_vbr_storm(sizes, workdir / "vbr")
    return result


async def run_vbr_storm(sizes: Sizes, workdir: Path) -> StormResult:
    """The storm from the VBR simulator over HTTPS (certificate pinned by its SHA-256 fingerprint)."""
    result = StormResult(sizes.storm_sessions, sizes.storm_runs, sizes.page_size)
    cert = _certificate(workdir)
    sim = SimulatedVBR(seed=7)
    url = await sim.start(ssl_context=cert.context)
    try:
        async with FastHook() as hook:
            seed_vbr_storm(sim, sizes)
            doc = config_doc(
                workdir,
                url,
                hook.url,
                page_size=sizes.page_size,
                initial_lookback=f"{int(LOOKBACK.total_seconds())}s",
            )
            source = doc["sources"][0]
            source.update(kind="vbr", tls_fingerprint=cert.fingerprint)
            source.pop("verify_tls", None)
            await _storm_child(result, sim.requests, hook, doc, workdir)
    finally:
        await sim.stop()
    return result


def _certificate(workdir: Path) -> SelfSigned:
    workdir.mkdir(parents=True, exist_ok=True)
    return self_signed(workdir)


def seed_vbr_storm(sim: SimulatedVBR, sizes: Sizes) -> None:
    """The EM storm's shape on VBR: ``storm_runs`` job sessions of ``vms_per_run`` failed tasks."""
    now = datetime.now(UTC)
    spread = timedelta(minutes=25) / max(sizes.storm_runs, 1)
    for run in range(sizes.storm_runs):
        vms = [f"st{run:03d}-vm{i:02d}" for i in range(sizes.vms_per_run)]
        sim.add_job_run(
            job_name=f"Backup Job {run % 50:02d}",
            vms=vms,
            results=dict.fromkeys(vms, "Failed"),
            start=now - timedelta(minutes=55) + run * spread,
        )

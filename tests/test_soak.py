"""Soak: `alertd run` killed with SIGKILL at random moments, over and over, while EM keeps producing
failures and the webhook answers slowly and sometimes with 500. Nothing may be lost, and duplicates
are bounded by the kills. Runs only in `make soak` (``-m slow``); ``SOAK_SEED`` replays a run.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from collections import Counter
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from e2e import em_source, now
from process import AlertdProcess
from support.webhook import Reply, WebhookCollector

from alertd.simulator import SimulatedEM
from alertd.state import SQLiteStore, StateError

ITERATIONS = 40


def doc_for(tmp_path: Path, em_url: str, url: str) -> dict[str, Any]:
    return {
        "sources": [em_source(em_url, page_size=20)],
        "state": {"path": str(tmp_path / "state.db")},
        "receivers": [{"name": "ops", "urls": [url]}],
        "routes": [{"receivers": ["ops"], "group_wait": "200ms"}],
        "delivery": {"min_interval": "10ms", "max_backoff": "300ms", "retry_for": "1h"},
        "http": {"listen": None},
        "log": {"format": "json"},
    }


def backlog(path: Path, proc: AlertdProcess) -> tuple[int, int]:
    """(pending deliveries, group members not yet sent), read beside the running daemon (WAL allows it)."""
    if "alertd_started" not in proc.output():  # the daemon has not opened (and migrated) the file yet
        return (1, 1)
    try:
        with closing(SQLiteStore(path)) as store:
            return store.outbox_depth(), len(store.open_members())
    except StateError:  # e.g. busy for longer than the lock timeout: look again
        return (1, 1)


def delivered(hook: WebhookCollector) -> list[tuple[str, str]]:
    """(title, body) of every message the webhook answered with 200."""
    return [(r.payload["title"], r.payload["message"]) for r in hook.requests if r.status == 200]


@pytest.mark.slow
@pytest.mark.timeout(
    360
)  # 41 daemon starts (about 1.5 s each on 2 cores) plus up to 120 s to deliver the backlog
async def test_random_sigkills_lose_nothing_and_duplicate_at_most_once_per_kill(tmp_path: Path) -> None:
    """40 SIGKILLs at random moments while EM fails VMs and the webhook is slow/flaky: every failed VM is delivered; duplicates <= kills."""
    seed = int(os.environ.get("SOAK_SEED", str(time.time_ns() % 1_000_000)))
    rng = random.Random(seed)
    script = [Reply(500 if rng.random() < 0.1 else 200, delay=rng.uniform(0, 0.3)) for _ in range(5000)]
    failed: list[str] = []
    kills = 0
    #: How many requests the webhook had received right after each SIGKILL.
    boundaries: list[int] = []

    def add_run(i: int, part: int) -> None:
        """A job run of 1-4 VMs that completes now (realistic EndTimes: never ahead of the clock)."""
        vms = [f"it{i:02d}p{part}-vm{j}" for j in range(rng.randint(1, 4))]
        run = sim.add_job_run(
            job_name=f"Job {i:02d}.{part}", vms=vms, start=now() - timedelta(minutes=5), running=True
        )
        for task in run.tasks:
            result = rng.choice(["Failed", "Failed", "Warning", "Success"])
            if result == "Failed":
                failed.append(task.vm)
            sim.complete(task.uid, result=result, end_time=now(), reason=f"{result}: soak {task.vm}")

    with WebhookCollector(script) as hook:
        async with SimulatedEM(seed=seed) as sim:
            doc = doc_for(tmp_path, sim.url, hook.url)
            for i in range(ITERATIONS):
                add_run(i, 0)
                proc = AlertdProcess(tmp_path, doc, name=f"run{i:02d}")
                proc.start()
                try:
                    lifetime = rng.uniform(0.1, 2.0)
                    if rng.random() < 0.5:  # a failure arriving while this process runs
                        await asyncio.sleep(lifetime / 2)
                        add_run(i, 1)
                        lifetime /= 2
                    await asyncio.sleep(lifetime)
                finally:
                    assert proc.proc is not None
                    if proc.proc.poll() is None:
                        kills += 1
                    proc.kill()  # SIGKILL
                    boundaries.append(len(hook.requests))
                assert proc.proc.returncode in (-signal.SIGKILL, None), proc.output()[-2000:]

            final = AlertdProcess(tmp_path, doc, name="final")
            final.start()
            state = tmp_path / "state.db"

            def all_delivered() -> bool:
                text = "\n".join(f"{t}\n{b}" for t, b in delivered(hook))
                return all(vm in text for vm in failed) and backlog(state, final) == (0, 0)

            try:
                await final.wait_for(
                    all_delivered, timeout=120, what=f"every failed VM delivered (seed {seed})"
                )
                # One more failure: once it is delivered too and nothing is pending, every send this
                # process would make (a wrong extra re-send included) has been made.
                run = sim.add_job_run(
                    job_name="Job final", vms=["final-vm"], start=now() - timedelta(minutes=5), running=True
                )
                sim.complete(run.tasks[0].uid, result="Failed", end_time=now(), reason="Failed: soak final")
                failed.append("final-vm")
                await final.wait_for(
                    all_delivered, timeout=60, what=f"the last failure delivered (seed {seed})"
                )
            finally:
                final.signal(signal.SIGTERM)
                await final.wait_exit(15)
                final.kill()

    messages = delivered(hook)
    text = "\n".join(f"{t}\n{b}" for t, b in messages)
    missing = [vm for vm in failed if vm not in text]
    assert not missing, f"seed {seed}: never delivered: {missing}"
    duplicates = sum(n - 1 for n in Counter(messages).values())
    assert duplicates <= kills, f"seed {seed}: {duplicates} duplicates for {kills} kills"
    # Sharper: a message may be repeated only if a copy was the send in flight when a process was
    # killed (the last request before the kill, or one still arriving as it died).
    in_flight = {i for b in boundaries for i in (b - 1, b)}
    counts = Counter(messages)
    for message in (m for m, n in counts.items() if n > 1):
        copies = [
            i
            for i, r in enumerate(hook.requests)
            if r.status == 200 and (r.payload["title"], r.payload["message"]) == message
        ]
        assert len([i for i in copies[:-1] if i in in_flight]) >= len(copies) - 1, (
            f"seed {seed}: {message[0]!r} delivered {len(copies)} times (requests {copies}), "
            f"not explained by kills at {boundaries}"
        )
    assert kills >= ITERATIONS // 2, f"seed {seed}: only {kills} processes were still running when killed"
    assert 500 in hook.statuses, f"seed {seed}: the webhook never failed; the soak tested less than it should"
    print(
        f"soak seed={seed}: {len(failed)} failed VMs, {len(messages)} messages, {kills} kills, {duplicates} duplicates"
    )

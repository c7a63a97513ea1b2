"""End to end over real HTTP: the simulator, the EM client, SQLite state and a local webhook.

Pins the never-miss / never-twice behaviour of polling.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from e2e import e2e_config, now, run_once
from support.webhook import WebhookCollector

from alertd.simulator import SimulatedEM


def vms_in(hook: WebhookCollector) -> str:
    return "\n".join(f"{p['title']}\n{p['message']}" for p in hook.received)


@pytest.mark.parametrize("fmt", ["xml", "json"])
async def test_job_run_becomes_one_message(tmp_path: Path, webhook: WebhookCollector, fmt: str) -> None:
    """A job run with 120 failed and 5 warning VMs, read over 3 pages, becomes one message with the counts."""
    async with SimulatedEM() as sim:
        vms = [f"vm{i:03d}" for i in range(125)]
        results = {vm: ("Warning" if i < 5 else "Failed") for i, vm in enumerate(vms)}
        sim.add_job_run(job_name="SQL Daily", vms=vms, results=results, start=now() - timedelta(minutes=20))
        cfg = e2e_config(tmp_path, sim.url, [webhook.url], source={"format": fmt})
        assert await run_once(cfg) == 0
        pages = [
            r for r in sim.requests if "query" in r.path and "Result==Failed" in r.query.get("filter", "")
        ]
        assert len(pages) == 3  # 125 rows, page_size 50
    assert len(webhook.received) == 1
    title = webhook.received[0]["title"]
    assert "SQL Daily" in title and "120 failed" in title and "5 warning" in title


async def test_restart_does_not_alert_again(tmp_path: Path, webhook: WebhookCollector) -> None:
    """A second run over the same window, after a restart, sends nothing new."""
    async with SimulatedEM() as sim:
        sim.add_job_run(
            vms=["a", "b"], results={"a": "Failed", "b": "Failed"}, start=now() - timedelta(minutes=10)
        )
        cfg = e2e_config(tmp_path, sim.url, [webhook.url])
        assert await run_once(cfg) == 0
        assert await run_once(cfg) == 0
    assert len(webhook.received) == 1


async def test_late_completion_is_alerted(tmp_path: Path, webhook: WebhookCollector) -> None:
    """A task created InProgress before the watermark that fails after it is alerted on the next poll."""
    async with SimulatedEM() as sim:
        early = sim.add_task_session(
            vm="early",
            result="Failed",
            creation_time=now() - timedelta(minutes=50),
            end_time=now() - timedelta(minutes=2),
        )
        running = sim.add_task_session(
            vm="slowvm", state="InProgress", creation_time=now() - timedelta(minutes=40)
        )
        cfg = e2e_config(tmp_path, sim.url, [webhook.url])
        assert await run_once(cfg) == 0
        assert "early" in vms_in(webhook) and "slowvm" not in vms_in(webhook)
        sim.complete(
            running.uid, result="Failed", end_time=now(), reason="Error: Failed to create VM snapshot"
        )
        assert await run_once(cfg) == 0
    assert len(webhook.received) == 2
    assert "slowvm" in webhook.received[1]["message"] and early.vm not in webhook.received[1]["message"]


async def test_collection_lag_is_alerted(tmp_path: Path, webhook: WebhookCollector) -> None:
    """A session EM collects late, 10 minutes older than the newest already read, is still alerted once."""
    async with SimulatedEM() as sim:
        sim.add_task_session(
            vm="newest",
            result="Failed",
            end_time=now() - timedelta(minutes=1),
            creation_time=now() - timedelta(minutes=3),
        )
        lagged = sim.add_task_session(
            vm="lagged",
            result="Warning",
            end_time=now() - timedelta(minutes=11),
            creation_time=now() - timedelta(minutes=15),
            visible=False,
        )
        cfg = e2e_config(tmp_path, sim.url, [webhook.url])
        assert await run_once(cfg) == 0
        assert "lagged" not in vms_in(webhook)
        sim.publish(lagged.uid)
        assert await run_once(cfg) == 0
        assert await run_once(cfg) == 0
    assert len(webhook.received) == 2
    assert "lagged" in webhook.received[1]["message"]


async def test_initial_lookback_limits_first_poll(tmp_path: Path, webhook: WebhookCollector) -> None:
    """The first poll ever ignores failures older than initial_lookback."""
    async with SimulatedEM() as sim:
        sim.add_task_session(
            vm="ancient",
            result="Failed",
            end_time=now() - timedelta(hours=3),
            creation_time=now() - timedelta(hours=3, minutes=5),
        )
        sim.add_task_session(
            vm="recent",
            result="Failed",
            end_time=now() - timedelta(minutes=30),
            creation_time=now() - timedelta(minutes=35),
        )
        cfg = e2e_config(tmp_path, sim.url, [webhook.url], source={"initial_lookback": "1h"})
        assert await run_once(cfg) == 0
    text = vms_in(webhook)
    assert "recent" in text and "ancient" not in text


async def test_malformed_page_is_read_again(tmp_path: Path, webhook: WebhookCollector) -> None:
    """A malformed second page fails the cycle (exit 1, nothing sent) and the next poll alerts everything."""
    async with SimulatedEM() as sim:
        vms = [f"vm{i:02d}" for i in range(80)]
        sim.add_job_run(vms=vms, results=dict.fromkeys(vms, "Failed"), start=now() - timedelta(minutes=20))
        cfg = e2e_config(tmp_path, sim.url, [webhook.url])
        sim.faults.malformed_page(2)
        assert await run_once(cfg) == 1
        assert webhook.received == []
        assert await run_once(cfg) == 0
    assert len(webhook.received) == 1 and "80 failed" in webhook.received[0]["title"]


async def test_em_down_then_up(tmp_path: Path, webhook: WebhookCollector) -> None:
    """503s from EM fail the cycle with exit 1; the next cycle after EM recovers delivers."""
    async with SimulatedEM() as sim:
        sim.add_task_session(vm="x", result="Failed", end_time=now() - timedelta(minutes=1))
        cfg = e2e_config(tmp_path, sim.url, [webhook.url])
        sim.faults.fail_next(10, status=503)
        assert await run_once(cfg) == 1
        sim.faults.clear()
        assert await run_once(cfg) == 0
    assert len(webhook.received) == 1


async def test_successes_and_running_are_not_alerted(tmp_path: Path, webhook: WebhookCollector) -> None:
    """Only Completed Failed/Warning sessions alert; a results filter of [Failed] drops Warnings."""
    async with SimulatedEM() as sim:
        sim.add_job_run(
            vms=["ok", "warn", "bad"],
            results={"warn": "Warning", "bad": "Failed"},
            start=now() - timedelta(minutes=20),
        )
        sim.add_task_session(vm="running", state="InProgress")
        cfg = e2e_config(tmp_path, sim.url, [webhook.url], source={"results": ["Failed"]})
        assert await run_once(cfg) == 0
    text = vms_in(webhook)
    assert "bad" in text and "warn" not in text and "running" not in text and "ok" not in text.split()

"""Never miss, never twice, when EM collects late, clocks are wrong or windows change (issue 9 scenarios).

Each test drives the real daemon over HTTP against the EM simulator, with an injected clock for
alertd; the simulator's data carries absolute times.
"""

from __future__ import annotations

import asyncio
import signal
from datetime import timedelta
from pathlib import Path
from typing import Any

import structlog
from e2e import FakeClock, e2e_config, now, run_once
from support.webhook import WebhookCollector

from alertd.simulator import SimulatedEM
from alertd.state import SQLiteStore

MIN = timedelta(minutes=1)


def messages(hook: WebhookCollector) -> str:
    return "\n".join(f"{p['title']}\n{p['message']}" for p in hook.received)


def mentions(hook: WebhookCollector, vm: str) -> int:
    """How many messages name ``vm``."""
    return sum(1 for p in hook.received if vm in p["message"])


def events(logs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in logs if e["event"] == name]


async def test_backup_server_collected_late_is_alerted_once(
    tmp_path: Path, webhook: WebhookCollector
) -> None:
    """vbr02's failure, collected 50 minutes late while vbr01 keeps the watermark fresh, is alerted once by the sweep."""
    t = now()
    clock = FakeClock(t)
    async with SimulatedEM(clock=clock) as sim:
        late = sim.add_task_session(
            vm="branch-db",
            job_name="Branch Daily",
            backup_server="vbr02.branch.local",
            result="Failed",
            creation_time=t - 55 * MIN,
            end_time=t - 50 * MIN,
            visible=False,
        )
        sim.add_task_session(
            vm="hq-db", job_name="HQ Daily", result="Failed", creation_time=t - 3 * MIN, end_time=t - MIN
        )
        cfg = e2e_config(tmp_path, sim.url, [webhook.url], source={"overlap": "10m", "reconcile_every": "5m"})
        assert await run_once(cfg, clock=clock) == 0
        assert mentions(webhook, "hq-db") == 1 and mentions(webhook, "branch-db") == 0
        clock.advance(minutes=2)
        sim.add_task_session(
            vm="hq-app", job_name="HQ Daily", result="Failed", creation_time=t - MIN, end_time=t + MIN
        )
        assert await run_once(cfg, clock=clock) == 0  # vbr01 moves the watermark on; no sweep due yet
        sim.publish(late.uid)  # EM finally collects vbr02
        clock.advance(minutes=6)
        with structlog.testing.capture_logs() as logs:
            assert await run_once(cfg, clock=clock) == 0
        clock.advance(minutes=6)
        assert await run_once(cfg, clock=clock) == 0
    assert mentions(webhook, "branch-db") == 1
    [found] = events(logs, "late_session")
    assert found["vm"] == "branch-db" and found["backup_server"] == "vbr02.branch.local"
    assert 45 * 60 <= found["late_by_s"] <= 60 * 60


async def test_future_stamped_session_and_collection_stall_lose_nothing(
    tmp_path: Path, webhook: WebhookCollector
) -> None:
    """A session stamped 3 h ahead is alerted but does not move the watermark, so failures EM collects after a 2 h stall arrive."""
    t = now()
    clock = FakeClock(t)
    async with SimulatedEM(clock=clock) as sim:
        sim.add_task_session(
            vm="future-vm", result="Failed", creation_time=t + 170 * MIN, end_time=t + 180 * MIN
        )
        sim.add_task_session(vm="first", result="Failed", creation_time=t - 5 * MIN, end_time=t - 2 * MIN)
        stalled = sim.add_task_session(
            vm="during-stall",
            result="Failed",
            creation_time=t + 5 * MIN,
            end_time=t + 10 * MIN,
            visible=False,
        )
        # No sweep after the first poll: this pins the watermark, not the safety net.
        cfg = e2e_config(tmp_path, sim.url, [webhook.url], source={"reconcile_every": "1d"})
        assert await run_once(cfg, clock=clock) == 0
        for _ in range(4):  # EM's collection stalls for two hours; alertd keeps polling
            clock.advance(minutes=30)
            assert await run_once(cfg, clock=clock) == 0
        sim.publish(stalled.uid)
        assert await run_once(cfg, clock=clock) == 0
        state = SQLiteStore(tmp_path / "state.db")
        mark = state.watermark("em1")
        state.close()
    assert mentions(webhook, "future-vm") == 1
    assert mentions(webhook, "during-stall") == 1
    assert mark is not None and mark <= t + 11 * MIN


async def test_sub_second_edge_is_not_alerted_again_after_pruning(
    tmp_path: Path, webhook: WebhookCollector
) -> None:
    """A session ending in the second EM's whole-second filter rounds down to is kept through pruning, so it is never alerted twice."""
    t = now().replace(microsecond=0)
    clock = FakeClock(t)
    async with SimulatedEM(clock=clock) as sim:
        newest = t - 2 * MIN + timedelta(microseconds=700_000)
        sim.add_task_session(vm="newest", result="Failed", creation_time=newest - MIN, end_time=newest)
        edge_end = newest - 10 * MIN - timedelta(microseconds=400_000)  # same second as watermark - overlap
        sim.add_task_session(vm="edge", result="Failed", creation_time=edge_end - MIN, end_time=edge_end)
        cfg = e2e_config(
            tmp_path,
            sim.url,
            [webhook.url],
            source={"overlap": "10m", "reconcile_window": "10m", "reconcile_every": "1d"},
            state={"path": str(tmp_path / "state.db"), "keep_history": "1m"},
        )
        assert await run_once(cfg, clock=clock) == 0
        assert mentions(webhook, "edge") == 1
        for _ in range(3):  # quiet polls after keep_history: pruning runs, EM still returns "edge"
            clock.advance(minutes=2)
            assert await run_once(cfg, clock=clock) == 0
    assert mentions(webhook, "edge") == 1


async def test_widened_overlap_at_reload_does_not_realert_pruned_sessions(
    tmp_path: Path, webhook: WebhookCollector
) -> None:
    """Raising overlap reads back no further than what alertd still remembers: pruned failures are not alerted again."""
    t = now()
    clock = FakeClock(t)
    async with SimulatedEM(clock=clock) as sim:
        sim.add_task_session(
            vm="old-failure", result="Failed", creation_time=t - 50 * MIN, end_time=t - 45 * MIN
        )
        narrow: dict[str, Any] = {"overlap": "10m", "reconcile_window": "10m", "reconcile_every": "1d"}
        state = {"path": str(tmp_path / "state.db"), "keep_history": "1m"}
        cfg = e2e_config(tmp_path, sim.url, [webhook.url], source=narrow, state=state)
        assert await run_once(cfg, clock=clock) == 0
        sim.add_task_session(vm="new-failure", result="Failed", creation_time=t - 3 * MIN, end_time=t - MIN)
        clock.advance(minutes=3)
        assert await run_once(cfg, clock=clock) == 0  # the watermark moves; old-failure is pruned
        wide = e2e_config(
            tmp_path,
            sim.url,
            [webhook.url],
            source={**narrow, "overlap": "2h", "reconcile_window": "2h"},
            state=state,
        )
        clock.advance(minutes=3)
        with structlog.testing.capture_logs() as logs:
            assert await run_once(wide, clock=clock) == 0
    assert mentions(webhook, "old-failure") == 1
    assert events(logs, "window_clamped")
    assert "2 runs in a row" not in messages(webhook)


async def test_renamed_vm_recovers_by_vm_uid(tmp_path: Path, webhook: WebhookCollector) -> None:
    """A VM renamed between its failure and its next success (same VmUid) is announced as recovered."""
    t = now()
    clock = FakeClock(t)
    async with SimulatedEM(clock=clock) as sim:
        uid = "urn:VMware:Vm:7f1d3a52-0000-4000-8000-000000000001.vm-101"
        sim.add_task_session(
            vm="db01", vm_uid=uid, result="Failed", creation_time=t - 9 * MIN, end_time=t - 8 * MIN
        )
        routes = [{"name": "ops", "receivers": ["ops"], "group_wait": "100ms", "send_resolved": True}]
        cfg = e2e_config(tmp_path, sim.url, [webhook.url], routes=routes)
        assert await run_once(cfg, clock=clock) == 0
        sim.add_task_session(
            vm="db01-new-name", vm_uid=uid, result="Success", creation_time=t - 2 * MIN, end_time=t - MIN
        )
        clock.advance(minutes=1)
        assert await run_once(cfg, clock=clock) == 0
    assert len(webhook.received) == 2
    assert "db01-new-name" in webhook.received[1]["message"]
    assert "recovered" in messages(webhook).lower()


async def test_incident_opened_without_vm_uid_resolves_once_em_sends_it(
    tmp_path: Path, webhook: WebhookCollector
) -> None:
    """An incident opened under the VM's name (EM sent no VmUid) resolves when a success arrives carrying the VmUid."""
    t = now()
    clock = FakeClock(t)
    async with SimulatedEM(clock=clock) as sim:
        uid = "urn:VMware:Vm:7f1d3a52-0000-4000-8000-000000000002.vm-102"
        sim.settings.em9_mode = True  # EM 9.x sends no VmUid
        sim.add_task_session(
            vm="fs01", vm_uid=uid, result="Failed", creation_time=t - 9 * MIN, end_time=t - 8 * MIN
        )
        routes = [{"name": "ops", "receivers": ["ops"], "group_wait": "100ms", "send_resolved": True}]
        cfg = e2e_config(tmp_path, sim.url, [webhook.url], routes=routes)
        assert await run_once(cfg, clock=clock) == 0
        sim.settings.em9_mode = False  # EM upgraded: VmUid from now on
        sim.add_task_session(
            vm="fs01", vm_uid=uid, result="Success", creation_time=t - 2 * MIN, end_time=t - MIN
        )
        clock.advance(minutes=1)
        assert await run_once(cfg, clock=clock) == 0
        sim.add_task_session(vm="fs01", vm_uid=uid, result="Failed", creation_time=t, end_time=t + MIN)
        clock.advance(minutes=2)
        assert await run_once(cfg, clock=clock) == 0
    assert len(webhook.received) == 3
    assert "recovered" in webhook.received[1]["title"].lower() + webhook.received[1]["message"].lower()
    assert "in a row" not in webhook.received[2]["message"]


async def test_alertd_clock_a_day_ahead_at_first_start_misses_nothing(
    tmp_path: Path, webhook: WebhookCollector
) -> None:
    """Started with its clock a day ahead of EM's, alertd places its windows on EM's clock (Date header) and alerts EM's failures."""
    async with SimulatedEM() as sim:
        sim.settings.clock_skew = -timedelta(days=1)  # EM is a day behind alertd
        em_now = sim.now()
        sim.add_task_session(
            vm="today-db", result="Failed", creation_time=em_now - 9 * MIN, end_time=em_now - 8 * MIN
        )
        clock = FakeClock(now())
        cfg = e2e_config(tmp_path, sim.url, [webhook.url])
        with structlog.testing.capture_logs() as logs:
            for _ in range(2):  # the first poll learns EM's clock; its window is placed by it from then on
                assert await run_once(cfg, clock=clock) == 0
                clock.advance(minutes=1)
            clock.now -= timedelta(days=1)  # NTP corrects alertd's clock
            sim.add_task_session(vm="after-fix", result="Failed", creation_time=em_now, end_time=em_now + MIN)
            assert await run_once(cfg, clock=clock) == 0
        state = SQLiteStore(tmp_path / "state.db")
        mark = state.watermark("em1")
        state.close()
    assert mentions(webhook, "today-db") == 1 and mentions(webhook, "after-fix") == 1
    # on EM's clock: the newest EndTime, capped at EM's now (a day behind alertd's first clock)
    assert mark is not None and em_now - MIN < mark <= em_now + MIN
    assert events(logs, "source_clock_skew")


async def test_alertd_clock_behind_at_first_start_alerts_no_old_history(
    tmp_path: Path, webhook: WebhookCollector
) -> None:
    """With EM a day ahead, the first poll still alerts only initial_lookback of EM's history."""
    async with SimulatedEM() as sim:
        sim.settings.clock_skew = timedelta(days=1)
        em_now = sim.now()
        sim.add_task_session(
            vm="old", result="Failed", creation_time=em_now - 5 * 60 * MIN, end_time=em_now - 300 * MIN
        )
        sim.add_task_session(
            vm="recent", result="Failed", creation_time=em_now - 9 * MIN, end_time=em_now - 8 * MIN
        )
        cfg = e2e_config(tmp_path, sim.url, [webhook.url], source={"initial_lookback": "1h"})
        assert await run_once(cfg, clock=FakeClock(now())) == 0
    assert mentions(webhook, "recent") == 1 and mentions(webhook, "old") == 0


async def test_refused_success_query_does_not_stop_failure_alerts(
    tmp_path: Path, webhook: WebhookCollector
) -> None:
    """While EM refuses the success (recovery) query, new failures are still alerted; the recovery arrives once EM answers again."""
    t = now()
    clock = FakeClock(t)
    async with SimulatedEM(clock=clock) as sim:
        sim.add_task_session(vm="db01", result="Failed", creation_time=t - 9 * MIN, end_time=t - 8 * MIN)
        routes = [{"name": "ops", "receivers": ["ops"], "group_wait": "100ms", "send_resolved": True}]
        cfg = e2e_config(tmp_path, sim.url, [webhook.url], routes=routes)
        assert await run_once(cfg, clock=clock) == 0
        refusal = sim.faults.refuse_query(filter_contains="Result==Success")
        sim.add_task_session(vm="db01", result="Success", creation_time=t - 3 * MIN, end_time=t - 2 * MIN)
        sim.add_task_session(
            vm="app01", job_name="App Daily", result="Failed", creation_time=t - 2 * MIN, end_time=t - MIN
        )
        clock.advance(minutes=1)
        with structlog.testing.capture_logs() as logs:
            assert await run_once(cfg, clock=clock) == 0
        assert refusal.hits >= 1
        assert mentions(webhook, "app01") == 1
        assert not any("recovered" in p["message"].lower() for p in webhook.received)
        sim.faults.stop_refusing(refusal)
        clock.advance(minutes=1)
        assert await run_once(cfg, clock=clock) == 0
    assert events(logs, "success_query_failed")
    assert sum("recovered" in (p["title"] + p["message"]).lower() for p in webhook.received) == 1
    assert mentions(webhook, "app01") == 1


async def test_alertd_run_alerts_a_late_collected_server_within_seconds_of_it_appearing(
    tmp_path: Path, webhook: WebhookCollector
) -> None:
    """`alertd run` with the default poll interval and reconcile_every 3s alerts a 50-minute-late failure within 15 s, once."""
    from process import AlertdProcess

    async with SimulatedEM() as sim:
        doc = {
            "sources": [
                {
                    "name": "em1",
                    "url": sim.url,
                    "username": "CORP\\svc-alertd",
                    "password": "secret",
                    "reconcile_every": "3s",
                }
            ],
            "state": {"path": str(tmp_path / "state.db")},
            "receivers": [{"name": "ops", "urls": [webhook.url]}],
            "routes": [{"receivers": ["ops"], "group_wait": "0s"}],
            "delivery": {"min_interval": "10ms"},
            "http": {"listen": None},
            "log": {"format": "json"},
        }
        sim.add_task_session(
            vm="hq-db", result="Failed", backup_server="vbr01.corp.local", end_time=now() - MIN
        )
        proc = AlertdProcess(tmp_path, doc)
        proc.start()
        try:
            await proc.wait_for(lambda: mentions(webhook, "hq-db") == 1, what="vbr01's failure")
            late = sim.add_task_session(
                vm="branch-db",
                result="Failed",
                backup_server="vbr02.branch.local",
                end_time=now() - 50 * MIN,
                visible=False,
            )
            sim.publish(late.uid)  # EM collects vbr02, 50 minutes late
            appeared = asyncio.get_running_loop().time()
            await proc.wait_for(
                lambda: mentions(webhook, "branch-db") == 1, what="the late failure", timeout=15
            )
            took = asyncio.get_running_loop().time() - appeared
            await proc.wait_for(
                lambda: proc.output().count('"late_session"') >= 1, what="the late_session line"
            )
        finally:
            proc.signal(signal.SIGTERM)
            await proc.wait_exit(15)
            proc.kill()
    assert took <= 15
    assert mentions(webhook, "branch-db") == 1 and mentions(webhook, "hq-db") == 1

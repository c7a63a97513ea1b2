"""Simulator-driven: retry holds, recovery messages, streak escalation, flapping, silences and mute windows.

Each step is an ``alertd once`` cycle with a fresh Daemon on the same state file, so everything
here also survives a restart. Time moves through an injected clock, never by sleeping.
"""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from e2e import FakeClock, e2e_config, now, run_ending, run_once
from support.webhook import WebhookCollector

from alertd.simulator import SimulatedEM
from alertd.state import SQLiteStore


def texts(hook: WebhookCollector) -> list[str]:
    return [f"{p['title']}\n{p['message']}" for p in hook.received]


def failed_run(sim: SimulatedEM, vm: str, end: datetime, *, job: str = "SQL Daily") -> None:
    run_ending(sim, job, vm, "Failed", end)


def ok_run(sim: SimulatedEM, vm: str, end: datetime, *, job: str = "SQL Daily") -> None:
    run_ending(sim, job, vm, "Success", end)


async def test_failure_recovered_on_retry_is_not_sent(tmp_path: Path, webhook: WebhookCollector) -> None:
    """A failure whose retry succeeds inside wait_for_retry is dropped (here: one low-priority note only)."""
    clock = FakeClock(now())
    async with SimulatedEM(clock=clock) as sim:
        failed_run(sim, "dbserver01", clock.now - timedelta(minutes=2))
        routes = [
            {
                "receivers": ["ops"],
                "group_wait": "0s",
                "wait_for_retry": "40m",
                "notify_recovered_on_retry": True,
            }
        ]
        cfg = e2e_config(tmp_path, sim.url, [webhook.url], routes=routes)
        assert await run_once(cfg, clock=clock) == 0
        assert webhook.received == []  # held
        ok_run(sim, "dbserver01", clock.advance(minutes=10))
        assert await run_once(cfg, clock=clock) == 0
        clock.advance(hours=1)
        assert await run_once(cfg, clock=clock) == 0
    [note] = texts(webhook)
    assert "Recovered on retry" in note and "dbserver01" in note
    assert webhook.received[0]["type"] == "info"


async def test_unrecovered_failure_sent_once_after_hold_with_attempts(
    tmp_path: Path, webhook: WebhookCollector
) -> None:
    """A VM that fails again on Veeam's retry is sent once, when the hold ends, with its attempt count."""
    clock = FakeClock(now())
    async with SimulatedEM(clock=clock) as sim:
        failed_run(sim, "dbserver01", clock.now - timedelta(minutes=1))
        routes = [{"receivers": ["ops"], "group_wait": "0s", "wait_for_retry": "40m"}]
        cfg = e2e_config(tmp_path, sim.url, [webhook.url], routes=routes)
        assert await run_once(cfg, clock=clock) == 0
        failed_run(sim, "dbserver01", clock.advance(minutes=12))
        assert await run_once(cfg, clock=clock) == 0
        failed_run(sim, "dbserver01", clock.advance(minutes=12))
        assert await run_once(cfg, clock=clock) == 0
        assert webhook.received == []
        clock.advance(minutes=41)
        assert await run_once(cfg, clock=clock) == 0
        assert await run_once(cfg, clock=clock) == 0
    [alert] = texts(webhook)
    assert "dbserver01" in alert and "after 3 attempts" in alert


async def test_resolved_message_follows_success(tmp_path: Path, webhook: WebhookCollector) -> None:
    """With send_resolved, a later success of an alerted VM sends one resolved message with runs and duration."""
    clock = FakeClock(now())
    async with SimulatedEM(clock=clock) as sim:
        failed_run(sim, "dbserver01", clock.now - timedelta(hours=14))
        failed_run(sim, "dbserver01", clock.now - timedelta(hours=2))
        routes = [{"receivers": ["ops"], "group_wait": "0s", "send_resolved": True}]
        cfg = e2e_config(tmp_path, sim.url, [webhook.url], routes=routes, source={"initial_lookback": "1d"})
        assert await run_once(cfg, clock=clock) == 0
        assert len(webhook.received) == 2
        ok_run(sim, "dbserver01", clock.advance(minutes=5))
        assert await run_once(cfg, clock=clock) == 0
        clock.advance(minutes=5)
        assert await run_once(cfg, clock=clock) == 0
    assert len(webhook.received) == 3
    resolved = texts(webhook)[2]
    assert "Resolved" in resolved and "dbserver01" in resolved and "after 2 failed runs" in resolved
    assert "14h" in resolved
    assert webhook.received[2]["type"] == "success"


async def test_streak_of_three_reaches_escalation_route(tmp_path: Path) -> None:
    """The third consecutive failed run of a VM matches streak>=3 and reaches the on-call receiver."""
    clock = FakeClock(now())
    with WebhookCollector() as ops, WebhookCollector() as oncall:
        async with SimulatedEM(clock=clock) as sim:
            cfg = e2e_config(
                tmp_path,
                sim.url,
                [],
                receivers=[{"name": "ops", "urls": [ops.url]}, {"name": "oncall", "urls": [oncall.url]}],
                routes=[
                    {
                        "matchers": ["streak>=3"],
                        "receivers": ["oncall"],
                        "continue": True,
                        "group_wait": "0s",
                    },
                    {"receivers": ["ops"], "group_wait": "0s"},
                ],
            )
            for _ in range(3):
                failed_run(sim, "dbserver01", clock.advance(hours=1) - timedelta(minutes=1))
                assert await run_once(cfg, clock=clock) == 0
    assert len(ops.received) == 3
    [escalated] = texts(oncall)
    assert "dbserver01" in escalated and "3 runs in a row" in escalated


async def test_flapping_vm_is_announced_once_then_quiet(tmp_path: Path, webhook: WebhookCollector) -> None:
    """A VM alternating failure and success gets one flapping message, then silence while it flaps."""
    clock = FakeClock(now())
    async with SimulatedEM(clock=clock) as sim:
        cfg = e2e_config(
            tmp_path, sim.url, [webhook.url], routes=[{"receivers": ["ops"], "group_wait": "0s"}]
        )
        for code in "FSFSFSF":
            end = clock.advance(minutes=30) - timedelta(minutes=1)
            (failed_run if code == "F" else ok_run)(sim, "flappy", end)
            assert await run_once(cfg, clock=clock) == 0
    titles = [p["title"] for p in webhook.received]
    assert sum("Flapping" in t for t in titles) == 1
    assert len(titles) == 3  # two plain failures, the flapping notice, then quiet


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALERTD_")}
    return subprocess.run(
        [sys.executable, "-m", "alertd", *args], capture_output=True, text=True, timeout=60, env=env
    )


def _write(tmp_path: Path, doc: dict[str, Any]) -> Path:
    path = tmp_path / "alertd.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


async def test_silence_from_cli_until_resolved_and_by_time(tmp_path: Path, webhook: WebhookCollector) -> None:
    """A CLI silence stops matching alerts; an until-resolved one ends on recovery, a timed one by time."""
    clock = FakeClock(now())
    async with SimulatedEM(clock=clock) as sim:
        doc = {
            "sources": [
                {"name": "em1", "url": sim.url, "username": "CORP\\svc-alertd", "password": "secret"}
            ],
            "state": {"path": str(tmp_path / "state.db")},
            "receivers": [{"name": "ops", "urls": [webhook.url]}],
            "routes": [{"receivers": ["ops"], "group_wait": "0s"}],
            "delivery": {"min_interval": "10ms", "max_backoff": "100ms"},
        }
        path = _write(tmp_path, doc)
        cfg = e2e_config(tmp_path, sim.url, [webhook.url], routes=doc["routes"])
        added = _cli(
            "silence",
            "add",
            "--config",
            str(path),
            'vm="dbserver01"',
            "--until-resolved",
            "--comment",
            "disk swap",
        )
        assert added.returncode == 0, added.stderr
        timed = _cli(
            "silence",
            "add",
            "--config",
            str(path),
            'job_name=~"Exchange.*"',
            "--for",
            "2h",
            "--comment",
            "upgrade",
        )
        assert timed.returncode == 0, timed.stderr
        listing = _cli("silence", "list", "--config", str(path)).stdout
        assert (
            "disk swap" in listing
            and 'until vm="dbserver01" next succeeds' in listing
            and "upgrade" in listing
        )

        failed_run(sim, "dbserver01", clock.now - timedelta(minutes=2))
        failed_run(sim, "ex01", clock.now - timedelta(minutes=2), job="Exchange Nightly")
        assert await run_once(cfg, clock=clock) == 0
        assert webhook.received == []
        with closing(SQLiteStore(tmp_path / "state.db")) as store:
            assert sorted(store.alert_statuses("em1").values()) == ["silenced", "silenced"]

        ok_run(sim, "dbserver01", clock.advance(minutes=10))
        assert await run_once(cfg, clock=clock) == 0
        failed_run(sim, "dbserver01", clock.advance(minutes=10))
        failed_run(sim, "ex01", clock.now, job="Exchange Nightly")
        assert await run_once(cfg, clock=clock) == 0
        assert ["dbserver01" in t for t in texts(webhook)] == [
            True
        ]  # until-resolved ended; Exchange still silenced

        failed_run(sim, "ex01", clock.advance(hours=3), job="Exchange Nightly")
        assert await run_once(cfg, clock=clock) == 0
    assert len(webhook.received) == 2 and "ex01" in texts(webhook)[1]
    listing = _cli("silence", "list", "--config", str(path), "--all").stdout
    assert "expired" in listing and "resolved" in listing


def test_silence_cli_errors_and_expire(tmp_path: Path) -> None:
    """Bad matchers or durations are refused with exit 2; expire ends a silence and reports unknown ids."""
    doc = {
        "sources": [{"name": "em1", "url": "https://em:9398", "username": "u", "password": "p"}],
        "state": {"path": str(tmp_path / "state.db")},
        "receivers": [{"name": "ops", "urls": ["json://x/"]}],
        "routes": [{"receivers": ["ops"]}],
    }
    path = _write(tmp_path, doc)
    bad = _cli("silence", "add", "--config", str(path), 'colour="red"', "--for", "1h", "--comment", "x")
    assert bad.returncode == 2 and "unknown label 'colour'" in bad.stderr
    bad = _cli("silence", "add", "--config", str(path), 'vm="a"', "--for", "soon", "--comment", "x")
    assert bad.returncode == 2 and "invalid duration" in bad.stderr
    missing = _cli("silence", "add", "--config", str(path), 'vm="a"', "--comment", "x")
    assert missing.returncode == 2
    ok = _cli("silence", "add", "--config", str(path), 'vm="a"', "--for", "1h", "--comment", "x")
    silence_id = ok.stdout.split()[1]
    assert _cli("silence", "expire", "--config", str(path), silence_id).returncode == 0
    assert _cli("silence", "expire", "--config", str(path), silence_id).returncode == 1
    assert "no active silences" in _cli("silence", "list", "--config", str(path)).stdout


async def test_mute_window_holds_warnings(tmp_path: Path) -> None:
    """During a mute window Warnings wait (Failures still go out); after the window the Warnings are sent."""
    monday_1030 = datetime(2026, 11, 30, 10, 30, tzinfo=UTC)
    clock = FakeClock(monday_1030)
    with WebhookCollector() as hook:
        async with SimulatedEM(clock=clock) as sim:
            sim.add_job_run(
                job_name="SQL Daily",
                vms=["w1", "f1"],
                results={"w1": "Warning", "f1": "Failed"},
                start=monday_1030 - timedelta(minutes=10),
            )
            cfg = e2e_config(
                tmp_path,
                sim.url,
                [hook.url],
                source={"initial_lookback": "30d"},
                routes=[
                    {
                        "matchers": ['result="Warning"'],
                        "receivers": ["ops"],
                        "group_wait": "0s",
                        "mute_time_intervals": ["maintenance"],
                    },
                    {"receivers": ["ops"], "group_wait": "0s"},
                ],
                time_intervals=[
                    {
                        "name": "maintenance",
                        "time_intervals": [
                            {
                                "weekdays": ["monday:friday"],
                                "times": [{"start_time": "10:00", "end_time": "11:00"}],
                            }
                        ],
                    }
                ],
            )
            assert await run_once(cfg, clock=clock) == 0
            assert [("f1" in t, "w1" in t) for t in texts(hook)] == [(True, False)]
            clock.now = monday_1030 + timedelta(minutes=31)
            assert await run_once(cfg, clock=clock) == 0
    assert len(hook.received) == 2 and "w1" in texts(hook)[1]


async def test_flapping_that_starts_on_a_success_still_announces_failures(
    tmp_path: Path, webhook: WebhookCollector
) -> None:
    """Flapping detected on a success: the next failure carries the Flapping message; only failures after it are muted."""
    start = now() - timedelta(days=8)
    clock = FakeClock(start)
    days = [("F", 0), ("S", 0.1), ("F", 6), ("S", 6.1), ("F", 7.05), ("S", 7.06), ("F", 7.5), ("F", 7.6)]
    async with SimulatedEM(clock=clock) as sim:
        cfg = e2e_config(
            tmp_path,
            sim.url,
            [webhook.url],
            routes=[{"receivers": ["ops"], "group_wait": "0s"}],
            source={"initial_lookback": "1h"},
        )
        for code, day in days:
            end = start + timedelta(days=day)
            clock.now = end + timedelta(minutes=1)
            (failed_run if code == "F" else ok_run)(sim, "flappy", end)
            assert await run_once(cfg, clock=clock) == 0
        store = SQLiteStore(tmp_path / "state.db")
        statuses = sorted(store.alert_statuses("em1").values())
        store.close()
    titles = [p["title"] for p in webhook.received]
    assert sum("Flapping" in t for t in titles) == 1, titles
    assert titles[-1].startswith("[Flapping]") or "Flapping" in titles[-1]
    # every failure is accounted for: 3 plain alerts, 1 flapping notice, 1 muted after it
    assert len(titles) == 4
    assert statuses.count("flapping") == 1


async def test_silenced_failure_starting_flapping_does_not_mute_the_next(
    tmp_path: Path, webhook: WebhookCollector
) -> None:
    """When the failure that would announce flapping is silenced, the next failure is not muted: it announces it."""
    start = now() - timedelta(days=8)
    clock = FakeClock(start)
    days = [("F", 0), ("S", 0.1), ("F", 6), ("S", 6.1), ("F", 7.05), ("S", 7.06)]
    async with SimulatedEM(clock=clock) as sim:
        cfg = e2e_config(
            tmp_path, sim.url, [webhook.url], routes=[{"receivers": ["ops"], "group_wait": "0s"}]
        )
        for code, day in days:
            end = start + timedelta(days=day)
            clock.now = end + timedelta(minutes=1)
            (failed_run if code == "F" else ok_run)(sim, "flappy", end)
            assert await run_once(cfg, clock=clock) == 0
        store = SQLiteStore(tmp_path / "state.db")
        silence = store.add_silence(
            ['vm="flappy"'],
            comment="t",
            created_by="t",
            now=clock.now,
            ends_at=clock.now + timedelta(hours=2),
            until_resolved=False,
        )
        store.close()
        for day in (7.5, 7.6):
            end = start + timedelta(days=day)
            clock.now = end + timedelta(minutes=1)
            failed_run(sim, "flappy", end)
            assert await run_once(cfg, clock=clock) == 0
    titles = [p["title"] for p in webhook.received]
    assert silence > 0
    assert sum("Flapping" in t for t in titles) == 1, titles
    assert "Flapping" in titles[-1]


async def test_failure_and_retry_first_seen_together_after_downtime_is_not_sent(
    tmp_path: Path, webhook: WebhookCollector
) -> None:
    """A failure and Veeam's successful retry 10 minutes later, both first seen an hour later, are decided together: no alert."""
    clock = FakeClock(now())
    async with SimulatedEM(clock=clock) as sim:
        routes = [{"receivers": ["ops"], "group_wait": "0s", "wait_for_retry": "40m"}]
        cfg = e2e_config(tmp_path, sim.url, [webhook.url], routes=routes)
        assert await run_once(cfg, clock=clock) == 0  # alertd runs, then is down for an hour
        failure_end = clock.advance(minutes=1)
        failed_run(sim, "dbserver01", failure_end)
        ok_run(sim, "dbserver01", failure_end + timedelta(minutes=10))
        clock.advance(minutes=60)
        assert await run_once(cfg, clock=clock) == 0
        clock.advance(minutes=60)
        assert await run_once(cfg, clock=clock) == 0
        store = SQLiteStore(tmp_path / "state.db")
        members = store.open_members()
        store.close()
    assert webhook.received == []
    assert members == []


async def test_resolved_message_survives_a_receiver_edit_of_an_unnamed_route(tmp_path: Path) -> None:
    """An unnamed send_resolved route whose receivers are edited (and a route inserted before it) still owes, and sends, the Resolved message."""
    clock = FakeClock(now())
    with WebhookCollector() as ops, WebhookCollector() as dba:
        receivers = [{"name": "ops", "urls": [ops.url]}, {"name": "dba", "urls": [dba.url]}]
        async with SimulatedEM() as sim:
            failed_run(sim, "dbserver01", clock.now - timedelta(minutes=30))
            route = {"matchers": ['job_name="SQL Daily"'], "group_wait": "0s", "send_resolved": True}
            before = [{**route, "receivers": ["ops"]}, {"receivers": ["ops"]}]
            cfg = e2e_config(tmp_path, sim.url, [], receivers=receivers, routes=before)
            assert await run_once(cfg, clock=clock) == 0
            assert len(ops.received) == 1
            after = [
                {"matchers": ['vm="other"'], "receivers": ["dba"]},
                {**route, "receivers": ["ops", "dba"]},
                {"receivers": ["ops"]},
            ]
            cfg = e2e_config(tmp_path, sim.url, [], receivers=receivers, routes=after)
            ok_run(sim, "dbserver01", clock.advance(minutes=5))
            assert await run_once(cfg, clock=clock) == 0
    resolved = texts(ops)[1:]
    assert len(resolved) == 1 and "Resolved" in resolved[0] and "dbserver01" in resolved[0]

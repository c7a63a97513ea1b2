"""Self-monitoring: the cannot-poll and stale-data checks, their stored state across restarts, once-only alerts."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from e2e import FakeClock, e2e_config, now
from factories import T0

from alertd.config import Config
from alertd.daemon import Daemon
from alertd.selfmon import Action, Check, CheckState, assess
from alertd.simulator import SimulatedEM

AFTER = timedelta(minutes=15)
STALE = timedelta(hours=2)


def run(states: dict[Check, CheckState], **poll: Any) -> tuple[dict[Check, CheckState], list[Action]]:
    """Apply one poll outcome; return the new states and the actions."""
    poll.setdefault("after", AFTER)
    poll.setdefault("stale_after", STALE)
    verdicts = assess(states, **poll)
    updated = dict(states)
    for verdict in verdicts:
        updated[verdict.check] = verdict.state
    return updated, [v.action for v in verdicts if v.action is not Action.NONE]


def test_stale_check_alerts_once_and_recovers_when_data_flows() -> None:
    """Polls that work while the watermark stands still past stale_after alert once; a newer watermark recovers."""
    states: dict[Check, CheckState] = {}
    mark = T0
    states, actions = run(states, ok=True, now=T0 + timedelta(hours=1), watermark=mark)
    assert actions == []
    states, actions = run(states, ok=True, now=T0 + timedelta(hours=2), watermark=mark)
    assert actions == [Action.ALERT] and states[Check.STALE].failing_since == mark
    assert "stale" in (states[Check.STALE].detail or "")
    states, actions = run(states, ok=True, now=T0 + timedelta(hours=5), watermark=mark)
    assert actions == []
    states, actions = run(states, ok=False, now=T0 + timedelta(hours=6), error="503")
    assert actions == [] and states[Check.STALE].alerted  # a failed poll says nothing about staleness
    states, actions = run(states, ok=True, now=T0 + timedelta(hours=7), watermark=T0 + timedelta(hours=7))
    assert actions == [Action.RECOVER] and states[Check.STALE] == CheckState()


def test_stale_check_is_off_by_default_and_turning_it_off_claims_no_recovery() -> None:
    """Without stale_after nothing is checked; switching it off while alerted clears the check without a message."""
    _, actions = run({}, ok=True, now=T0 + timedelta(days=30), watermark=T0, stale_after=None)
    assert actions == []
    states, actions = run({}, ok=True, now=T0 + timedelta(hours=3), watermark=T0)
    assert actions == [Action.ALERT]
    states, actions = run(states, ok=True, now=T0 + timedelta(hours=4), watermark=T0, stale_after=None)
    assert actions == [] and states[Check.STALE] == CheckState()


def config(tmp_path: Path, url: str, hook: str, **self_alerts: str) -> Config:
    return e2e_config(
        tmp_path, url, [hook], self_alerts={"receiver": "ops", **self_alerts}, delivery={"retry_for": "1m"}
    )


def self_titles(daemon: Daemon) -> list[str]:
    """Titles of the self-alerts in the outbox, oldest first."""
    return [row["title"] for row in reversed(daemon.store.history()) if row["title"].startswith("[alertd]")]


async def poll(daemon: Daemon) -> bool:
    return (await daemon.poll_source(daemon.cfg.sources[0])).ok


async def test_self_alert_is_neither_repeated_nor_its_recovery_lost_across_restarts(tmp_path: Path) -> None:
    """A source failing across two restarts gets one alert; the restart after its recovery still sends the recovery."""
    clock = FakeClock(now())
    async with SimulatedEM(clock=clock) as sim:
        sim.faults.fail_next(10_000, status=503, message="Service Unavailable")
        cfg = config(tmp_path, sim.url, "json://127.0.0.1:9/x", after="10m")
        first = Daemon(cfg, clock=clock)
        try:
            assert not await poll(first)
            clock.advance(minutes=11)
            assert not await poll(first)
            assert len(self_titles(first)) == 1
        finally:
            await first.close()
        second = Daemon(cfg, clock=clock)  # restarted while EM still fails
        try:
            clock.advance(minutes=1)
            assert not await poll(second)
            clock.advance(minutes=15)
            assert not await poll(second)
            assert len(self_titles(second)) == 1
        finally:
            await second.close()
        sim.faults.clear()
        third = Daemon(cfg, clock=clock)  # restarted; EM works again
        try:
            assert await poll(third)
            titles = self_titles(third)
        finally:
            await third.close()
    assert len(titles) == 2 and "Problem: em1" in titles[0] and "Recovered: em1" in titles[1]


async def test_stale_em_data_is_alerted_once_and_recovered_when_sessions_end(tmp_path: Path) -> None:
    """Polls that work but read no session ending for longer than stale_after send one alert (not repeated after a restart) and one recovery."""
    clock = FakeClock(now())
    async with SimulatedEM(clock=clock) as sim:
        cfg = config(tmp_path, sim.url, "json://127.0.0.1:9/x", stale_after="2h")
        daemon = Daemon(cfg, clock=clock)
        try:
            assert await poll(daemon)
            clock.advance(hours=1)
            assert await poll(daemon)
            assert self_titles(daemon) == []
            clock.advance(hours=2)
            assert await poll(daemon)
            [alert] = self_titles(daemon)
            assert "Problem: em1" in alert and "stale" in alert
        finally:
            await daemon.close()
        daemon = Daemon(cfg, clock=clock)
        try:
            clock.advance(hours=1)
            assert await poll(daemon)
            assert len(self_titles(daemon)) == 1
            sim.add_task_session(vm="x", result="Failed", end_time=clock.now - timedelta(minutes=1))
            assert await poll(daemon)
            titles = self_titles(daemon)
        finally:
            await daemon.close()
    assert len(titles) == 2 and "Recovered: em1" in titles[1]


async def test_backups_that_succeed_are_not_stale_data(tmp_path: Path) -> None:
    """Sessions that end successfully keep the source fresh: only when nothing ends past stale_after is data stale."""
    clock = FakeClock(now())
    async with SimulatedEM(clock=clock) as sim:
        cfg = config(tmp_path, sim.url, "json://127.0.0.1:9/x", stale_after="2h")
        daemon = Daemon(cfg, clock=clock)
        try:
            for _ in range(5):  # every hour a backup succeeds; none fails
                sim.add_task_session(vm="fine", result="Success", end_time=clock.now - timedelta(minutes=1))
                assert await poll(daemon)
                clock.advance(hours=1)
            assert self_titles(daemon) == []
            clock.advance(hours=2)  # then nothing ends at all
            assert await poll(daemon)
            titles = self_titles(daemon)
        finally:
            await daemon.close()
    assert len(titles) == 1 and "stale" in titles[0]

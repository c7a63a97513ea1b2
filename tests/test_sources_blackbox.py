"""The black-box suite of issue 13, run against both source kinds: the EM simulator and the VBR simulator.

Each test drives the real daemon (``Daemon.once``, a daemon kept open across cycles, or a real
``alertd run`` child killed with SIGKILL) over real HTTP(S), SQLite and a local webhook, and pins
what an operator sees: the messages, the exit code, the error kind of a failed poll. The source is
a parameter (`blackbox.SourceUnderTest`): the shared tests do not know which kind they talk to; the
few at the end are about what only a VBR source has (job-level alerts, degraded mode, the pin).
Every VBR exchange is also checked against Veeam's OpenAPI documents.
"""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, closing
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from blackbox import SourceUnderTest, VBRUnderTest
from e2e import alert_count, e2e_config, now, run_once
from process import AlertdProcess
from support.webhook import Reply, WebhookCollector

from alertd.config import Config
from alertd.daemon import Daemon
from alertd.pipeline import PollResult
from alertd.state import SQLiteStore

pytest_plugins = ["vbr_fixtures", "blackbox_fixtures"]

Logs = list[dict[str, Any]]
JOBS = {f"[Failed] Job {i}" for i in range(4)}


def config(tmp_path: Path, src: SourceUnderTest, hook: WebhookCollector, **source: Any) -> Config:
    """alertd polling ``src`` (page size 50) and delivering to ``hook``."""
    return e2e_config(tmp_path, src.url, [hook.url], source=src.source(**source))


def events(logs: Logs, name: str) -> Logs:
    return [e for e in logs if e["event"] == name]


def delivered(hook: WebhookCollector) -> list[str]:
    """Each delivered message as title and body."""
    return [f"{r.payload['title']}\n{r.payload['message']}" for r in hook.requests if r.status == 200]


def failed_vms(src: SourceUnderTest, n: int, job: str = "SQL Daily") -> list[str]:
    vms = [f"{job.split()[0].lower()}-vm{i:03d}" for i in range(n)]
    src.failed_run(job, vms, dict.fromkeys(vms, "Failed"), src.clock() - timedelta(minutes=20))
    return vms


class Cycles:
    """One daemon kept open across poll and delivery cycles, as ``alertd run`` keeps it."""

    def __init__(self, cfg: Config, clock: Callable[[], datetime] | None = None) -> None:
        self.daemon = Daemon(cfg, clock=clock) if clock is not None else Daemon(cfg)

    async def cycle(self) -> PollResult:
        result = await self.daemon.poll_source(self.daemon.cfg.sources[0])
        self.daemon.pipeline.flush(self.daemon.clock(), flush_all=True)
        await self.daemon.delivery.drain(10.0)
        return result


@asynccontextmanager
async def cycles(cfg: Config, clock: Callable[[], datetime] | None = None) -> AsyncIterator[Cycles]:
    c = Cycles(cfg, clock)
    try:
        yield c
    finally:
        await c.daemon.delivery.stop(5)
        await c.daemon.close()


# --- basic ---------------------------------------------------------------------------------------


async def test_job_run_becomes_one_message(
    tmp_path: Path, webhook: WebhookCollector, src: SourceUnderTest
) -> None:
    """A job run's Failed and Warning VMs become one message with the counts; successes and running tasks are not alerted."""
    results = {"bad1": "Failed", "bad2": "Failed", "warn": "Warning"}
    src.failed_run("SQL Daily", ["okvm", *results], results, now() - timedelta(minutes=20))
    src.add_running("SQL Daily", "busyvm")
    assert await run_once(config(tmp_path, src, webhook)) == 0
    [message] = delivered(webhook)
    title = message.splitlines()[0]
    assert "SQL Daily" in title and "2 failed" in title and "1 warning" in title, title
    assert all(vm in message for vm in results)
    assert "okvm" not in message and "busyvm" not in message


async def test_results_filter_drops_warnings(
    tmp_path: Path, webhook: WebhookCollector, src: SourceUnderTest
) -> None:
    """With results: [Failed] a Warning VM of the same run is not alerted."""
    results = {"bad": "Failed", "warn": "Warning"}
    src.failed_run("SQL Daily", list(results), results, now() - timedelta(minutes=20))
    assert await run_once(config(tmp_path, src, webhook, results=["Failed"])) == 0
    [message] = delivered(webhook)
    assert "bad" in message and "warn" not in message


# --- late completion -----------------------------------------------------------------------------


async def test_late_completion_is_alerted(
    tmp_path: Path, webhook: WebhookCollector, src: SourceUnderTest
) -> None:
    """A task running at one poll that fails before the next is alerted by the next, alone."""
    late = src.late_run("SQL Daily", "early", "slowvm", now() - timedelta(minutes=50))
    cfg = config(tmp_path, src, webhook)
    assert await run_once(cfg) == 0
    [first] = delivered(webhook)
    assert "early" in first and "slowvm" not in first
    src.complete(late, now(), "Error: Failed to create VM snapshot")
    assert await run_once(cfg) == 0
    assert await run_once(cfg) == 0
    _, second = delivered(webhook)
    assert "slowvm" in second and "early" not in second


# --- paging --------------------------------------------------------------------------------------


async def test_paging_reads_every_page(
    tmp_path: Path, webhook: WebhookCollector, src: SourceUnderTest
) -> None:
    """120 failed and 5 warning VMs, read 50 per page, become one message naming the counts."""
    vms = [f"vm{i:03d}" for i in range(125)]
    results = {vm: ("Warning" if i < 5 else "Failed") for i, vm in enumerate(vms)}
    src.failed_run("SQL Daily", vms, results, now() - timedelta(minutes=20))
    assert await run_once(config(tmp_path, src, webhook)) == 0
    assert src.failure_pages() == 3
    [message] = delivered(webhook)
    title = message.splitlines()[0]
    assert "120 failed" in title and "5 warning" in title, title
    assert alert_count(tmp_path / "state.db") == 125


# --- restart without duplicates ------------------------------------------------------------------


async def test_restart_does_not_alert_again(
    tmp_path: Path, webhook: WebhookCollector, src: SourceUnderTest
) -> None:
    """Runs after a restart over the same window send nothing again; a new failure is sent alone."""
    src.failed_run("SQL Daily", ["a", "b"], {"a": "Failed", "b": "Failed"}, now() - timedelta(minutes=10))
    cfg = config(tmp_path, src, webhook)
    assert await run_once(cfg) == 0
    assert await run_once(cfg) == 0
    assert len(delivered(webhook)) == 1
    src.failed_run("File Servers", ["fs01"], {"fs01": "Failed"}, now() - timedelta(minutes=5))
    assert await run_once(cfg) == 0
    assert await run_once(cfg) == 0
    _, second = delivered(webhook)
    assert "fs01" in second and "File Servers" in second and "SQL Daily" not in second


async def test_kill_9_during_delivery_loses_nothing(tmp_path: Path, src: SourceUnderTest) -> None:
    """kill -9 of `alertd run` while deliveries are in flight, then a restart: every job run arrives, at most one twice, and SIGTERM then stops it cleanly (logged out)."""
    with WebhookCollector([Reply(200, delay=0.5)] * 20) as hook:
        for i in range(4):
            src.failed_run(f"Job {i}", [f"vm{i}"], {f"vm{i}": "Failed"}, now() - timedelta(minutes=30))
        doc = {
            "sources": [src.source(poll_interval="1s")],
            "state": {"path": str(tmp_path / "state.db")},
            "receivers": [{"name": "ops", "urls": [hook.url]}],
            "routes": [{"receivers": ["ops"], "group_wait": "200ms"}],
            "delivery": {"min_interval": "10ms", "max_backoff": "200ms", "retry_for": "5m"},
            "http": {"listen": None},
            "log": {"format": "json"},
        }
        proc = AlertdProcess(tmp_path, doc)
        proc.start()
        try:
            await proc.wait_for(lambda: len(hook.requests) >= 2, what="deliveries under way")
        finally:
            proc.kill()  # SIGKILL
        before_kill = len(hook.requests)
        again = AlertdProcess(tmp_path, doc, name="again")
        again.start()
        try:
            await again.wait_for(
                lambda: {p["title"].split(" on ")[0] for p in hook.received} >= JOBS, what="all four messages"
            )
            # Two more polls of the restarted daemon: a wrong re-alert would be recorded by them.
            polls = src.failure_pages()
            await again.wait_for(lambda: src.failure_pages() >= polls + 2, what="two more polls")
            again.signal(signal.SIGTERM)
            assert await again.wait_exit(10) == 0
        finally:
            again.kill()
    assert f'"{src.logout_event}"' in again.output()  # a graceful stop logs out
    titles = [p["title"] for p in hook.received]
    assert len(titles) - len(set(titles)) <= 1, titles  # one target: at most the one in flight
    assert before_kill <= len(titles)
    with closing(SQLiteStore(tmp_path / "state.db")) as store:
        assert len(store.history()) == 4 and store.open_members() == []


# --- outage --------------------------------------------------------------------------------------


async def test_503s_fail_the_cycle_then_it_recovers(
    tmp_path: Path, webhook: WebhookCollector, src: SourceUnderTest
) -> None:
    """While the source answers 503 a run exits 1 with an http error naming the status; the next run after it recovers alerts once."""
    failed_vms(src, 3)
    cfg = config(tmp_path, src, webhook)
    src.faults.fail_next(10_000, status=503)
    with structlog.testing.capture_logs() as logs:
        assert await run_once(cfg) == 1
    [failed] = events(logs, "poll_failed")
    assert failed["kind"] == "http" and "503" in failed["error"]
    assert webhook.requests == [] and alert_count(tmp_path / "state.db") == 0
    src.faults.clear()
    assert await run_once(cfg) == 0
    assert await run_once(cfg) == 0
    [message] = delivered(webhook)
    assert "3 failed" in message


async def test_source_down_then_back(tmp_path: Path, webhook: WebhookCollector, src: SourceUnderTest) -> None:
    """With nothing listening a run exits 1 with an unreachable error; once the source is back on the same address it alerts once."""
    vms = failed_vms(src, 2)
    cfg = config(tmp_path, src, webhook)
    await src.stop()
    with structlog.testing.capture_logs() as logs:
        assert await run_once(cfg) == 1
    [failed] = events(logs, "poll_failed")
    assert failed["kind"] == "unreachable", failed
    await src.start(https=src.https)
    assert await run_once(cfg) == 0
    assert await run_once(cfg) == 0
    [message] = delivered(webhook)
    assert all(vm in message for vm in vms)


async def test_outage_inside_a_running_daemon_costs_nothing(
    tmp_path: Path, webhook: WebhookCollector, src: SourceUnderTest
) -> None:
    """One daemon through an outage: failures that end while the source is down are alerted once it answers again."""
    failed_vms(src, 1, job="Before Outage")
    async with cycles(config(tmp_path, src, webhook)) as c:
        assert (await c.cycle()).ok
        src.faults.fail_next(10_000, status=503)
        failed_vms(src, 2, job="During Outage")
        for _ in range(2):
            result = await c.cycle()
            assert not result.ok and result.error_kind == "http"
        src.faults.clear()
        assert (await c.cycle()).ok
        assert (await c.cycle()).ok
    first, second = delivered(webhook)
    assert "Before Outage" in first and "During Outage" in second and "Before Outage" not in second


# --- token expiry --------------------------------------------------------------------------------


async def test_tokens_expiring_between_and_during_polls(
    tmp_path: Path, webhook: WebhookCollector, src: SourceUnderTest
) -> None:
    """Tokens the server forgets between polls and in the middle of paging cost one logon each and no failed poll."""
    first = failed_vms(src, 3, job="Exchange Nightly")
    with structlog.testing.capture_logs() as logs:
        async with cycles(config(tmp_path, src, webhook)) as c:
            assert (await c.cycle()).ok
            assert src.faults.expire_tokens() == 1
            failed_vms(src, 80)
            src.on_failure_page(2, src.faults.expire_tokens)
            assert (await c.cycle()).ok
            assert src.faults.expire_tokens() == 1
            failed_vms(src, 1, job="Third Job")
            assert (await c.cycle()).ok
    assert src.logons() == 4  # the first, then one per expiry
    assert events(logs, "poll_failed") == [] and events(logs, src.request_failed_event) == []
    assert len(events(logs, src.token_rejected_event)) == 3
    messages = delivered(webhook)
    assert len(messages) == 3
    text = "\n".join(messages)
    assert all(vm in text for vm in first) and "80 failed" in text and "Third Job" in text


async def test_token_lifetime_running_out_between_polls(
    tmp_path: Path, webhook: WebhookCollector, src: SourceUnderTest
) -> None:
    """Two hours without a poll outlive any token; the next poll gets a new one (one more token request) and alerts what failed meanwhile."""
    failed_vms(src, 1, job="Before")
    with structlog.testing.capture_logs() as logs:
        async with cycles(config(tmp_path, src, webhook), clock=src.clock) as c:
            assert (await c.cycle()).ok
            src.clock.advance(hours=2)
            failed_vms(src, 2, job="After")
            assert (await c.cycle()).ok
    assert src.logons() == 2
    if isinstance(src, VBRUnderTest):  # VBR: the refresh token, before the access token is used again
        assert src.sim.tokens.issued == {"password": 1, "refresh_token": 1}
        assert events(logs, src.token_rejected_event) == []
    assert events(logs, "poll_failed") == [] and events(logs, src.request_failed_event) == []
    first, second = delivered(webhook)
    assert "Before" in first and "After" in second and "2 failed" in second


# --- bad input -----------------------------------------------------------------------------------


async def test_malformed_page_is_read_again(
    tmp_path: Path, webhook: WebhookCollector, src: SourceUnderTest
) -> None:
    """A malformed second page fails the run as 'malformed' with nothing recorded or sent; the next run alerts every VM once."""
    failed_vms(src, 80)
    cfg = config(tmp_path, src, webhook)
    src.malformed_failure_page(2)
    with structlog.testing.capture_logs() as logs:
        assert await run_once(cfg) == 1
    [failed] = events(logs, "poll_failed")
    assert failed["kind"] == "malformed", failed
    assert webhook.requests == [] and alert_count(tmp_path / "state.db") == 0
    assert await run_once(cfg) == 0
    assert await run_once(cfg) == 0
    [message] = delivered(webhook)
    assert "80 failed" in message


# --- TLS -----------------------------------------------------------------------------------------


async def test_tls_untrusted_certificate_then_trusted(
    tmp_path: Path, webhook: WebhookCollector, src: SourceUnderTest
) -> None:
    """Over HTTPS a self-signed certificate alertd was not told to trust fails the run as 'tls'; trusting it (ca_file for EM, the SHA-256 pin for VBR) alerts once."""
    await src.stop()
    await src.start(https=True)
    failed_vms(src, 2)
    with structlog.testing.capture_logs() as logs:
        assert (
            await run_once(e2e_config(tmp_path, src.url, [webhook.url], source=src.source(trusted=False)))
            == 1
        )
    [failed] = events(logs, "poll_failed")
    assert failed["kind"] == "tls" and "certificate verify failed" in failed["error"], failed
    assert webhook.requests == []
    assert await run_once(config(tmp_path, src, webhook)) == 0
    [message] = delivered(webhook)
    assert "2 failed" in message


@pytest.mark.parametrize("src", ["vbr"], indirect=True)
async def test_vbr_certificate_not_matching_the_pin(
    tmp_path: Path, webhook: WebhookCollector, src: SourceUnderTest
) -> None:
    """A pinned fingerprint the server's certificate does not have fails the run as 'tls' and names the certificate's real fingerprint."""
    failed_vms(src, 1)
    cfg = config(tmp_path, src, webhook, tls_fingerprint="ab" * 32)
    with structlog.testing.capture_logs() as logs:
        assert await run_once(cfg) == 1
    [failed] = events(logs, "poll_failed")
    assert failed["kind"] == "tls" and "does not match tls_fingerprint" in failed["error"]
    real = ":".join(src.tls.fingerprint[i : i + 2] for i in range(0, 64, 2)).upper()
    assert real in failed["error"]
    assert webhook.requests == []


# --- clocks --------------------------------------------------------------------------------------


@pytest.mark.parametrize("hours", [3, -3], ids=["ahead", "behind"])
async def test_source_clock_off_by_hours(
    tmp_path: Path, webhook: WebhookCollector, src: SourceUnderTest, hours: int
) -> None:
    """A source whose clock is hours off alertd's: failures at its own 'now' are alerted once, and so are later ones.

    (With the source behind, the very first poll's window is placed on alertd's clock before the
    source's is known, so "first" may wait for the second poll: late by one poll, never lost.)
    """
    src.clock.advance(hours=hours)  # the simulator's clock; alertd keeps the wall clock
    src.run_ending("SQL Daily", "first", "Failed", src.clock() - timedelta(minutes=3))
    cfg = config(tmp_path, src, webhook)
    assert await run_once(cfg) == 0
    src.run_ending("File Servers", "second", "Failed", src.clock() - timedelta(seconds=5))
    assert await run_once(cfg) == 0
    assert await run_once(cfg) == 0
    messages = delivered(webhook)
    assert len(messages) == 2
    assert [sum(vm in m for m in messages) for vm in ("first", "second")] == [1, 1]


# --- Veeam-aware features ------------------------------------------------------------------------


async def test_failure_recovered_on_retry_is_not_sent(
    tmp_path: Path, webhook: WebhookCollector, src: SourceUnderTest
) -> None:
    """A failure whose retry succeeds inside wait_for_retry is not sent (here: one low-priority note only)."""
    clock = src.clock
    src.run_ending("SQL Daily", "dbserver01", "Failed", clock() - timedelta(minutes=2))
    routes = [
        {"receivers": ["ops"], "group_wait": "0s", "wait_for_retry": "40m", "notify_recovered_on_retry": True}
    ]
    cfg = e2e_config(tmp_path, src.url, [webhook.url], source=src.source(), routes=routes)
    assert await run_once(cfg, clock=clock) == 0
    assert webhook.received == []  # held
    clock.advance(minutes=10)
    src.run_ending("SQL Daily", "dbserver01", "Success", clock())
    assert await run_once(cfg, clock=clock) == 0
    clock.advance(hours=1)
    assert await run_once(cfg, clock=clock) == 0
    [note] = delivered(webhook)
    assert "Recovered on retry" in note and "dbserver01" in note


async def test_unrecovered_failure_sent_once_after_hold_with_attempts(
    tmp_path: Path, webhook: WebhookCollector, src: SourceUnderTest
) -> None:
    """A VM that fails again on each retry is sent once, when the hold ends, with its attempt count."""
    clock = src.clock
    src.run_ending("SQL Daily", "dbserver01", "Failed", clock() - timedelta(minutes=1))
    routes = [{"receivers": ["ops"], "group_wait": "0s", "wait_for_retry": "40m"}]
    cfg = e2e_config(tmp_path, src.url, [webhook.url], source=src.source(), routes=routes)
    assert await run_once(cfg, clock=clock) == 0
    for _ in range(2):
        clock.advance(minutes=12)
        src.run_ending("SQL Daily", "dbserver01", "Failed", clock())
        assert await run_once(cfg, clock=clock) == 0
    assert webhook.received == []
    clock.advance(minutes=41)
    assert await run_once(cfg, clock=clock) == 0
    assert await run_once(cfg, clock=clock) == 0
    [alert] = delivered(webhook)
    assert "dbserver01" in alert and "after 3 attempts" in alert


async def test_resolved_message_follows_success(
    tmp_path: Path, webhook: WebhookCollector, src: SourceUnderTest
) -> None:
    """With send_resolved, a later success of an alerted VM sends one resolved message with runs and duration."""
    clock = src.clock
    src.run_ending("SQL Daily", "dbserver01", "Failed", clock() - timedelta(hours=14))
    src.run_ending("SQL Daily", "dbserver01", "Failed", clock() - timedelta(hours=2))
    routes = [{"receivers": ["ops"], "group_wait": "0s", "send_resolved": True}]
    cfg = e2e_config(
        tmp_path, src.url, [webhook.url], source=src.source(initial_lookback="1d"), routes=routes
    )
    assert await run_once(cfg, clock=clock) == 0
    assert len(delivered(webhook)) == 2
    clock.advance(minutes=5)
    src.run_ending("SQL Daily", "dbserver01", "Success", clock())
    assert await run_once(cfg, clock=clock) == 0
    clock.advance(minutes=5)
    assert await run_once(cfg, clock=clock) == 0
    messages = delivered(webhook)
    assert len(messages) == 3
    resolved = messages[2]
    assert "Resolved" in resolved and "dbserver01" in resolved and "after 2 failed runs" in resolved
    assert "14h" in resolved


# --- what only a VBR source has --------------------------------------------------------------------


@pytest.mark.parametrize("src", ["vbr"], indirect=True)
async def test_vbr_job_level_failure_alerted_once(
    tmp_path: Path, webhook: WebhookCollector, src: SourceUnderTest
) -> None:
    """A job run that fails with no failed VM (a synthetic full) is one alert with the job's message, not repeated after a restart."""
    assert isinstance(src, VBRUnderTest)
    src.sim.add_job_run(
        job_name="SQL Daily",
        vms=("dbserver01", "dbserver02"),
        start=now() - timedelta(minutes=20),
        job_result="Failed",
        job_message="Creating synthetic full backup (22% done)",
    )
    cfg = config(tmp_path, src, webhook)
    assert await run_once(cfg) == 0
    assert await run_once(cfg) == 0
    [message] = delivered(webhook)
    assert "SQL Daily" in message and "Creating synthetic full backup (22% done)" in message
    assert "dbserver01" not in message


@pytest.mark.parametrize("src", ["vbr"], indirect=True)
async def test_vbr_job_level_failure_is_not_listed_as_a_vm(
    tmp_path: Path, webhook: WebhookCollector, src: SourceUnderTest
) -> None:
    """A job run that failed with every VM successful is not shown as a failed VM named after the job."""
    assert isinstance(src, VBRUnderTest)
    src.sim.add_job_run(
        job_name="SQL Daily",
        vms=("dbserver01",),
        start=now() - timedelta(minutes=20),
        job_result="Failed",
        job_message="Creating synthetic full backup (22% done)",
    )
    assert await run_once(config(tmp_path, src, webhook)) == 0
    [message] = delivered(webhook)
    assert "Creating synthetic full backup (22% done)" in message
    assert "VMs (" not in message and "1 failed" not in message


@pytest.mark.parametrize("src", ["vbr"], indirect=True)
async def test_vbr_degraded_server_alerts_per_job_run(
    tmp_path: Path, webhook: WebhookCollector, src: SourceUnderTest
) -> None:
    """Against VBR 12.0 (no task sessions) a failed run is one job-level alert, said once as degraded, and not repeated."""
    assert isinstance(src, VBRUnderTest)
    src.sim.settings.profile = "12.0"
    failed_vms(src, 3)
    cfg = config(tmp_path, src, webhook)
    with structlog.testing.capture_logs() as logs:
        assert await run_once(cfg) == 0
        assert await run_once(cfg) == 0
    [message] = delivered(webhook)
    assert "SQL Daily" in message and "3 of 3 VMs failed" in message
    assert {e["api_version"] for e in events(logs, "vbr_degraded")} == {"1.1-rev0"}
    assert src.sim.requests.count_matching(path="/api/v1/taskSessions") == 0

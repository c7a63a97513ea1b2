"""Fault injection end to end: EM timeouts, resets, 401s, truncated and oversized pages, expired tokens;
webhook 429s and timeouts, SMTP refusing connections; a locked and a full state database.

Each test drives the real daemon (``Daemon.once`` or a daemon kept open across cycles) over real
HTTP, SMTP and SQLite, and pins what the operator sees (the error kind and log line) and that the
fault costs neither an alert nor a duplicate.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, closing
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog
from aiohttp import web
from e2e import e2e_config, history, now, run_once, wait_until
from support.smtp import SmtpServer
from support.tmpfs import SmallFilesystem
from support.webhook import Reply, WebhookCollector

from alertd.config import Config
from alertd.daemon import Daemon
from alertd.pipeline import PollResult
from alertd.simulator import SimulatedEM
from alertd.simulator.faults import FaultAction
from alertd.state import SQLiteStore

Logs = list[dict[str, Any]]


class Cycles:
    """One daemon kept open across poll/flush/deliver cycles, as ``alertd run`` keeps it (minus timers)."""

    def __init__(self, cfg: Config) -> None:
        self.daemon = Daemon(cfg)

    @property
    def store(self) -> SQLiteStore:
        return self.daemon.store

    async def poll(self) -> PollResult:
        return await self.daemon.poll_source(self.daemon.cfg.sources[0])

    async def deliver(self, timeout: float = 10.0) -> bool:
        """Flush every open group and wait until the outbox is empty; True when it is."""
        self.daemon.pipeline.flush(self.daemon.clock(), flush_all=True)
        return await self.daemon.delivery.drain(timeout)

    async def cycle(self) -> PollResult:
        result = await self.poll()
        await self.deliver()
        return result

    async def close(self) -> None:
        await self.daemon.delivery.stop(5)
        await self.daemon.close()


@asynccontextmanager
async def cycles(cfg: Config) -> AsyncIterator[Cycles]:
    c = Cycles(cfg)
    try:
        yield c
    finally:
        await c.close()


def events(logs: Logs, name: str) -> Logs:
    return [e for e in logs if e["event"] == name]


def one_failure(sim: SimulatedEM, vm: str = "x") -> None:
    sim.add_task_session(vm=vm, result="Failed", end_time=now() - timedelta(minutes=1))


def failed_vms(sim: SimulatedEM, n: int, job: str = "SQL Daily") -> list[str]:
    vms = [f"{job.split()[0].lower()}-vm{i:03d}" for i in range(n)]
    sim.add_job_run(
        job_name=job, vms=vms, results=dict.fromkeys(vms, "Failed"), start=now() - timedelta(minutes=20)
    )
    return vms


def delivered_text(hook: WebhookCollector) -> str:
    return "\n".join(
        f"{r.payload['title']}\n{r.payload['message']}" for r in hook.requests if r.status == 200
    )


# --- Enterprise Manager ------------------------------------------------------------------------


async def test_em_read_timeout_fails_cycle_then_recovers(tmp_path: Path, webhook: WebhookCollector) -> None:
    """A query answered later than read_timeout fails the cycle with kind 'timeout'; the next cycle alerts once."""
    async with SimulatedEM() as sim:
        one_failure(sim)
        cfg = e2e_config(tmp_path, sim.url, [webhook.url], source={"read_timeout": "300ms"})
        sim.faults.delay_next(1, seconds=20, path="/api/query")
        started = time.monotonic()
        with structlog.testing.capture_logs() as logs:
            assert await run_once(cfg) == 1
        assert time.monotonic() - started < 10  # gave up at read_timeout, not when EM answered (20 s)
        [failed] = events(logs, "poll_failed")
        assert failed["kind"] == "timeout" and "read_timeout=0.3s" in failed["error"]
        assert webhook.requests == []
        assert await run_once(cfg) == 0
    assert len(webhook.requests) == 1


async def test_em_connection_resets_fail_cycle_then_recover(
    tmp_path: Path, webhook: WebhookCollector
) -> None:
    """Connections reset without an answer (at logon, then mid-query) fail the cycle as 'unreachable' and alert nothing; the next cycle alerts once."""
    async with SimulatedEM() as sim:
        failed_vms(sim, 80)
        cfg = e2e_config(tmp_path, sim.url, [webhook.url])
        with structlog.testing.capture_logs() as logs:
            async with cycles(cfg) as c:
                sim.faults.reset_next(1, path="/api/sessionMngr")
                assert (await c.cycle()).error_kind == "unreachable"
                # Page 2 reset twice: aiohttp silently retries an idempotent request once.
                on_query_page(sim, 2, lambda: sim.faults.reset_next(2, path="/api/query"))
                assert (await c.cycle()).error_kind == "unreachable"
                assert sim.faults.pending == {}
                assert webhook.requests == [] and c.store.alert_count() == 0
                assert (await c.cycle()).ok
                assert (await c.cycle()).ok
    failures = events(logs, "poll_failed")
    assert [f["kind"] for f in failures] == ["unreachable", "unreachable"]
    assert "logon" in failures[0]["error"] and "page 2" in failures[1]["error"]
    assert len(webhook.requests) == 1 and "80 failed" in webhook.requests[0].payload["title"]


async def test_em_401_for_a_while_is_a_clear_auth_error_then_recovers(
    tmp_path: Path, webhook: WebhookCollector
) -> None:
    """EM answering 401 to everything fails each cycle with an auth error naming the user; afterwards the same daemon recovers and alerts once."""
    async with SimulatedEM() as sim:
        one_failure(sim, "before")
        cfg = e2e_config(tmp_path, sim.url, [webhook.url])
        with structlog.testing.capture_logs() as logs:
            async with cycles(cfg) as c:
                assert (await c.cycle()).ok
                one_failure(sim, "during")
                sim.faults.unauthorized_next(10_000)
                for _ in range(3):
                    result = await c.cycle()
                    assert not result.ok and result.error_kind == "auth"
                assert len(webhook.requests) == 1
                sim.faults.clear()
                assert (await c.cycle()).ok
                assert (await c.cycle()).ok
    failures = events(logs, "poll_failed")
    assert len(failures) == 3 and {f["kind"] for f in failures} == {"auth"}
    # The first failure is the token being refused, then the re-logon; later ones the logon itself.
    assert all("401" in f["error"] for f in failures)
    assert "refused logon for user 'CORP\\\\svc-alertd'" in failures[-1]["error"]
    assert "check username and password" in failures[-1]["error"]
    assert [r.payload["message"].count("during") for r in webhook.requests] == [0, 1]


async def test_truncated_page_fails_cycle_then_recovers(tmp_path: Path, webhook: WebhookCollector) -> None:
    """A page cut off mid-body (connection closed before Content-Length bytes) fails the cycle as 'malformed'; the next alerts once."""
    async with SimulatedEM() as sim, TruncatingProxy(sim.url) as proxy:
        failed_vms(sim, 80)
        cfg = e2e_config(tmp_path, proxy.url, [webhook.url])
        proxy.truncate_page = 2
        with structlog.testing.capture_logs() as logs:
            assert await run_once(cfg) == 1
        assert proxy.truncated == 1
        [failed] = events(logs, "poll_failed")
        assert failed["kind"] == "malformed" and "page 2" in failed["error"]
        assert webhook.requests == []
        with closing(SQLiteStore(tmp_path / "state.db")) as store:
            assert store.alert_count() == 0
        proxy.truncate_page = None
        assert await run_once(cfg) == 0
    assert len(webhook.requests) == 1 and "80 failed" in webhook.requests[0].payload["title"]


@pytest.mark.parametrize("declare_length", [True, False], ids=["content-length", "chunked"])
async def test_50mb_response_refused_by_size_cap(
    tmp_path: Path, webhook: WebhookCollector, declare_length: bool
) -> None:
    """A 50 MB query answer with max_response_mb: 1 is refused (kind 'too_large', log names the cap); the next cycle alerts once."""
    async with SimulatedEM() as sim:
        one_failure(sim)
        cfg = e2e_config(tmp_path, sim.url, [webhook.url], source={"max_response_mb": 1})
        sim.faults.oversized_next(1, size=50_000_000, declare_length=declare_length)
        started = time.monotonic()
        with structlog.testing.capture_logs() as logs:
            assert await run_once(cfg) == 1
        assert time.monotonic() - started < 5
        [failed] = events(logs, "poll_failed")
        assert failed["kind"] == "too_large"
        assert "max_response_bytes=1048576" in failed["error"]
        assert webhook.requests == []
        assert await run_once(cfg) == 0
    assert len(webhook.requests) == 1


async def test_tokens_expiring_mid_run_relogon_once_without_error(
    tmp_path: Path, webhook: WebhookCollector
) -> None:
    """EM forgetting its tokens between cycles and between two pages of one query costs one re-logon each, no error."""
    async with SimulatedEM() as sim:
        first = failed_vms(sim, 3, job="Exchange Nightly")
        cfg = e2e_config(tmp_path, sim.url, [webhook.url])
        with structlog.testing.capture_logs() as logs:
            async with cycles(cfg) as c:
                assert (await c.cycle()).ok
                assert sim.faults.expire_tokens() == 1
                failed_vms(sim, 80)
                on_query_page(sim, 2, sim.faults.expire_tokens)
                assert (await c.cycle()).ok
                assert sim.faults.expire_tokens() == 1
                one_failure(sim, "third")
                assert (await c.cycle()).ok
    logons = [r for r in sim.requests if r.method == "POST" and r.path.startswith("/api/sessionMngr")]
    assert len(logons) == 4  # the first, then one per expiry
    assert events(logs, "poll_failed") == [] and events(logs, "em_request_failed") == []
    assert len(events(logs, "em_token_rejected")) == 3
    assert len(webhook.requests) == 3
    text = delivered_text(webhook)
    assert all(vm in text for vm in first) and "80 failed" in text and "third" in text


def on_query_page(sim: SimulatedEM, page: int, action: Callable[[], object]) -> None:
    """Run ``action`` (arm a fault, expire tokens) when EM receives the first query for ``page``."""
    before = sim.faults.before
    fired = False

    def hook(path: str) -> FaultAction:
        nonlocal fired
        last = sim.requests[-1]  # logged before faults are consulted
        if not fired and last.path == "/api/query" and last.query.get("page") == str(page):
            fired = True
            action()
        return before(path)

    sim.faults.before = hook  # type: ignore[method-assign]


async def test_backup_server_clock_ahead_does_not_hide_later_failures(
    tmp_path: Path, webhook: WebhookCollector
) -> None:
    """A session stamped an hour ahead (a backup server's clock or time zone wrong) does not hide failures that end afterwards."""
    async with SimulatedEM() as sim:
        ahead = now() + timedelta(hours=1)
        sim.add_task_session(
            vm="skewed",
            result="Failed",
            job_name="Branch Daily",
            backup_server="vbr02.branch.local",
            creation_time=ahead - timedelta(minutes=3),
            end_time=ahead,
        )
        cfg = e2e_config(tmp_path, sim.url, [webhook.url])
        assert await run_once(cfg) == 0
        sim.add_task_session(vm="later", result="Failed", end_time=now() - timedelta(seconds=30))
        assert await run_once(cfg) == 0
    text = delivered_text(webhook)
    assert "skewed" in text
    assert "later" in text


class TruncatingProxy:
    """A pass-through proxy to the simulator that can cut one query page off mid-body, as a dropped link would."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.truncate_page: int | None = None
        self.truncated = 0
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self.url = ""

    async def __aenter__(self) -> TruncatingProxy:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        self._http = aiohttp.ClientSession(auto_decompress=False)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None and self._http is not None
        await self._http.close()
        await self._runner.cleanup()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self._http is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        async with self._http.request(
            request.method,
            self.upstream + request.path_qs,
            headers=headers,
            data=await request.read(),
            allow_redirects=False,
        ) as upstream:
            body = await upstream.read()
            out_headers = {
                k: v
                for k, v in upstream.headers.items()
                if k.lower() not in ("content-length", "transfer-encoding", "connection")
            }
        page = request.query.get("page")
        if request.path == "/api/query" and page is not None and int(page) == self.truncate_page:
            self.truncated += 1
            response = web.StreamResponse(status=upstream.status, headers=out_headers)
            response.content_length = len(body)
            await response.prepare(request)
            await response.write(body[: len(body) // 3])
            assert request.transport is not None
            request.transport.close()  # the rest never comes
            return response
        return web.Response(status=upstream.status, body=body, headers=out_headers)


# --- Delivery ----------------------------------------------------------------------------------


async def test_webhook_429_with_retry_after_then_200_delivers_once(
    tmp_path: Path, webhook: WebhookCollector
) -> None:
    """A 429 with Retry-After is retried and the message is delivered once (history: sent after 2 attempts)."""
    webhook.script(Reply(429, retry_after=1, body='{"error":"rate_limited"}'))
    async with SimulatedEM() as sim:
        one_failure(sim)
        cfg = e2e_config(tmp_path, sim.url, [webhook.url])
        with structlog.testing.capture_logs() as logs:
            assert await run_once(cfg) == 0
    assert webhook.statuses == [429, 200]
    assert webhook.received[0] == webhook.received[1]
    [retry] = events(logs, "delivery_retry")
    assert "429" in retry["error"]
    [row] = history(tmp_path / "state.db")
    assert (row["status"], row["attempts"]) == ("sent", 2)


async def test_webhook_timeout_is_retried_and_delivered_once(
    tmp_path: Path, webhook: WebhookCollector
) -> None:
    """A webhook slower than apprise's read timeout is retried; one send succeeds and the row is sent after 2 attempts."""
    webhook.script(Reply(200, delay=3))
    async with SimulatedEM() as sim:
        one_failure(sim)
        # rto: apprise's socket read timeout (4 s by default), shortened to keep the test quick.
        cfg = e2e_config(tmp_path, sim.url, [webhook.url + "?rto=0.5"])
        with structlog.testing.capture_logs() as logs:
            assert await run_once(cfg) == 0
    assert len(webhook.requests) == 2  # the timed-out request reached the server: at-least-once
    [retry] = events(logs, "delivery_retry")
    assert "timed out" in retry["error"].lower() or "timeout" in retry["error"].lower()
    assert len(events(logs, "delivery_sent")) == 1
    [row] = history(tmp_path / "state.db")
    assert (row["status"], row["attempts"]) == ("sent", 2)


async def test_send_timeout_is_retried_and_delivered_once(tmp_path: Path, webhook: WebhookCollector) -> None:
    """A send outlasting delivery.send_timeout counts as a failed attempt and is retried; the row ends sent."""
    webhook.script(Reply(200, delay=3))
    async with SimulatedEM() as sim:
        one_failure(sim)
        cfg = e2e_config(
            tmp_path,
            sim.url,
            [webhook.url],
            delivery={
                "min_interval": "10ms",
                "retry_for": "1m",
                "max_backoff": "200ms",
                "send_timeout": "500ms",
            },
        )
        with structlog.testing.capture_logs() as logs:
            assert await run_once(cfg) == 0
    assert len(webhook.requests) == 2
    [retry] = events(logs, "delivery_retry")
    assert "timed out after 0.5s" in retry["error"]
    [row] = history(tmp_path / "state.db")
    assert (row["status"], row["attempts"]) == ("sent", 2)


async def test_smtp_refusing_connections_stays_pending_then_delivers_once(tmp_path: Path) -> None:
    """With the SMTP server down the run ends with exit 3 and the row pending; the next run after it starts delivers once."""
    smtp = SmtpServer()
    async with SimulatedEM() as sim:
        one_failure(sim, "mailvm")
        cfg = e2e_config(tmp_path, sim.url, [smtp.url])
        assert await run_once(cfg, deliver_timeout=1.0) == 3
        [row] = history(tmp_path / "state.db")
        assert row["status"] == "pending" and int(str(row["attempts"])) >= 1
        assert "refused" in str(row["error"]).lower()
        smtp.start()
        try:
            assert await run_once(cfg) == 0
            assert await run_once(cfg) == 0  # nothing left to send again
        finally:
            smtp.stop()
    assert smtp.attempts == 1
    [mail] = smtp.messages
    assert "1 failed" in mail["Subject"]
    [row] = history(tmp_path / "state.db")
    assert row["status"] == "sent"


# --- State database ----------------------------------------------------------------------------


async def test_locked_state_fails_poll_then_alerts_once(tmp_path: Path, webhook: WebhookCollector) -> None:
    """Another process holding an exclusive lock fails the poll with kind 'state', nothing marked seen; after release it alerts once."""
    async with SimulatedEM() as sim:
        vms = failed_vms(sim, 5)
        cfg = e2e_config(tmp_path, sim.url, [webhook.url])
        with structlog.testing.capture_logs() as logs:
            async with cycles(cfg) as c:
                other = sqlite3.connect(tmp_path / "state.db", isolation_level=None)
                other.execute("BEGIN EXCLUSIVE")
                try:
                    result = await c.poll()  # the daemon waits 5 s for the lock, then gives up
                finally:
                    other.execute("ROLLBACK")
                    other.close()
                assert not result.ok and result.error_kind == "state"
                assert c.store.alert_count() == 0 and c.store.watermark("em1") is None
                assert await c.deliver()
                assert webhook.requests == []
                assert (await c.cycle()).ok
                assert (await c.cycle()).ok
    [failed] = events(logs, "poll_failed")
    assert failed["kind"] == "state" and "database is locked" in failed["error"]
    assert str(tmp_path / "state.db") in failed["error"]
    assert len(webhook.requests) == 1
    assert all(vm in webhook.requests[0].payload["message"] for vm in vms)


async def test_locked_state_while_marking_sent_does_not_resend(
    tmp_path: Path, webhook: WebhookCollector
) -> None:
    """A delivered message whose 'sent' mark hits a locked state file is not sent again while the lock lasts, nor after."""
    async with SimulatedEM() as sim:
        one_failure(sim)
        cfg = e2e_config(tmp_path, sim.url, [webhook.url])
        with structlog.testing.capture_logs() as logs:
            async with cycles(cfg) as c:
                assert (await c.poll()).ok
                assert c.daemon.pipeline.flush(c.daemon.clock(), flush_all=True).messages == 1
                other = sqlite3.connect(tmp_path / "state.db", isolation_level=None)
                other.execute("BEGIN EXCLUSIVE")
                try:
                    c.daemon.delivery.wake()
                    # Each mark waits out the daemon's 5 s lock timeout. A worker that re-sent
                    # before marking again would have sent twice by the second failed mark.
                    await wait_until(
                        lambda: len(events(logs, "outbox_write_failed")) >= 2,
                        timeout=25,
                        what="two failed 'sent' marks",
                    )
                    assert len(webhook.requests) == 1, f"sent {len(webhook.requests)} times during one lock"
                finally:
                    other.execute("ROLLBACK")
                    other.close()
                assert await c.deliver()
    assert [r["status"] for r in history(tmp_path / "state.db")] == ["sent"]
    assert len(webhook.requests) == 1, f"sent {len(webhook.requests)} times"
    assert events(logs, "delivery_marked_sent") != []


async def test_disk_full_fails_poll_and_flush_clearly_then_recovers(small_fs: SmallFilesystem) -> None:
    """A full disk fails the poll (kind 'state') and the group flush with 'database or disk is full'; nothing is sent or marked until space returns, then exactly once."""
    state = small_fs.path / "state.db"
    with SmtpServer() as smtp:
        async with SimulatedEM() as sim:
            vms = failed_vms(sim, 200)
            cfg = e2e_config(small_fs.path, sim.url, [smtp.url])
            with structlog.testing.capture_logs() as logs:
                async with cycles(cfg) as c:
                    small_fs.fill(wal_of=state)
                    result = await c.poll()
                    assert not result.ok and result.error_kind == "state"
                    assert c.store.alert_count() == 0 and c.store.watermark("em1") is None

                    small_fs.free()
                    assert (await c.poll()).ok and c.store.alert_count() == 200
                    small_fs.fill(wal_of=state)
                    assert await c.deliver(1.0)  # the flush failed: nothing reached the outbox
                    assert len(c.store.open_members()) == 200 and c.store.history() == []
                    assert smtp.attempts == 0

                    small_fs.free()
                    assert await c.deliver()
                    assert (await c.cycle()).ok
    [failed] = events(logs, "poll_failed")
    assert failed["kind"] == "state" and str(state) in failed["error"]
    assert "database or disk is full" in failed["error"], failed["error"]
    [flush_failed] = events(logs, "group_flush_failed")
    assert "database or disk is full" in flush_failed["error"], flush_failed["error"]
    [mail] = smtp.messages
    html = mail.get_body(("html",))
    assert html is not None and all(vm in html.get_content() for vm in vms)
    [row] = history(state)
    assert (row["status"], row["attempts"]) == ("sent", 1)

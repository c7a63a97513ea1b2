"""Reload and startup edge cases: atomic swaps, files re-read, polls in flight, bad TLS files, receivers removed, ports in use."""

from __future__ import annotations

import asyncio
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import trustme
import yaml
from e2e import history, now
from process import AlertdProcess
from support.webhook import WebhookCollector

from alertd.config import load_config
from alertd.daemon import Daemon
from alertd.inflight import PollGate
from alertd.simulator import SimulatedEM


def write(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(doc))
    return path


def base_doc(tmp_path: Path, em_url: str, receivers: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "sources": [{"name": "em1", "url": em_url, "username": "CORP\\svc-alertd", "password": "secret"}],
        "state": {"path": str(tmp_path / "state.db")},
        "receivers": receivers,
        "routes": [{"receivers": [receivers[0]["name"]], "group_wait": "0s"}],
        "delivery": {"min_interval": "10ms", "max_backoff": "100ms"},
        "http": {"listen": None},
    }
    doc.update(extra)
    return doc


def test_bad_ca_file_is_a_config_error(tmp_path: Path) -> None:
    """A ca_file that is not a PEM bundle is reported by check-config at its key; run exits 2 without a traceback."""
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate\n")
    doc = base_doc(tmp_path, "https://em.example.com:9398", [{"name": "ops", "urls": ["json://x/"]}])
    doc["sources"][0]["ca_file"] = str(bad)
    path = write(tmp_path / "alertd.yaml", doc)
    for command in ("check-config", "run"):
        proc = subprocess.run(
            [sys.executable, "-m", "alertd", command, "--config", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith("sources[0].ca_file: ") and "Traceback" not in proc.stderr


async def test_reload_with_bad_ca_file_changes_nothing(tmp_path: Path, webhook: WebhookCollector) -> None:
    """A reload whose new ca_file is unreadable is rejected whole: the old clients and routes keep working."""
    async with SimulatedEM() as sim:
        doc = base_doc(tmp_path, sim.url, [{"name": "ops", "urls": [webhook.url]}])
        path = write(tmp_path / "alertd.yaml", doc)
        daemon = Daemon(load_config(path), path)
        try:
            bad = tmp_path / "ca.pem"
            bad.write_text("garbage")
            broken = {
                **doc,
                "sources": [
                    {**doc["sources"][0], "url": sim.url.replace("http:", "https:"), "ca_file": str(bad)}
                ],
            }
            write(path, broken)
            assert await daemon.reload() is False
            assert daemon.readiness() == (False, "last configuration reload was rejected")
            sim.add_task_session(vm="x", result="Failed", end_time=now() - timedelta(minutes=1))
            result = await daemon.poll_source(daemon.cfg.sources[0])
            assert result.ok, result.error
        finally:
            await daemon.close()


async def test_removed_receiver_keeps_its_alerts_until_it_returns(tmp_path: Path) -> None:
    """Alerts routed to a receiver that a reload removed are neither sent elsewhere nor dropped: they wait for it."""
    with WebhookCollector() as ops, WebhookCollector() as dba:
        async with SimulatedEM() as sim:
            receivers = [{"name": "dba", "urls": [dba.url]}, {"name": "ops", "urls": [ops.url]}]
            doc = base_doc(tmp_path, sim.url, receivers)
            doc["routes"] = [{"receivers": ["dba"], "group_wait": "1h"}]
            path = write(tmp_path / "alertd.yaml", doc)
            daemon = Daemon(load_config(path), path)
            try:
                sim.add_task_session(vm="db1", result="Failed", end_time=now() - timedelta(minutes=1))
                assert (await daemon.poll_source(daemon.cfg.sources[0])).ok
                write(
                    path,
                    {
                        **doc,
                        "receivers": [receivers[1]],
                        "routes": [{"receivers": ["ops"], "group_wait": "0s"}],
                    },
                )
                assert await daemon.reload()
                assert daemon.pipeline.flush(now() + timedelta(hours=2)).messages == 0
                assert len(daemon.store.open_members()) == 1
                write(path, {**doc, "routes": [{"receivers": ["dba"], "group_wait": "0s"}]})
                assert await daemon.reload()
                assert daemon.pipeline.flush(now() + timedelta(hours=2)).messages == 1
                assert await daemon.delivery.drain(10)
            finally:
                await daemon.delivery.stop(1)
                await daemon.close()
    assert len(dba.received) == 1 and ops.received == []


async def test_retries_follow_a_reloaded_target(tmp_path: Path) -> None:
    """A delivery being retried goes to the target's new URL after a reload fixes it."""
    with WebhookCollector([500] * 1000) as broken, WebhookCollector() as fixed:
        async with SimulatedEM() as sim:
            doc = base_doc(tmp_path, sim.url, [{"name": "ops", "urls": [broken.url]}])
            doc["delivery"] = {"min_interval": "10ms", "max_backoff": "200ms", "retry_for": "1h"}
            path = write(tmp_path / "alertd.yaml", doc)
            daemon = Daemon(load_config(path), path)
            try:
                sim.add_task_session(vm="x", result="Failed", end_time=now() - timedelta(minutes=1))
                assert (await daemon.poll_source(daemon.cfg.sources[0])).ok
                daemon.pipeline.flush(now())
                daemon.delivery.wake()
                await asyncio.to_thread(broken.wait_for, 2)
                write(path, {**doc, "receivers": [{"name": "ops", "urls": [fixed.url]}]})
                assert await daemon.reload()
                assert await daemon.delivery.drain(10)
            finally:
                await daemon.delivery.stop(1)
                await daemon.close()
    assert len(fixed.received) == 1
    assert sorted(r["status"] for r in history(tmp_path / "state.db")) == ["removed", "sent"]


def test_http_port_in_use_exits_2(tmp_path: Path) -> None:
    """A busy http.listen port is a clear configuration error (exit 2), not a crash loop."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        doc = base_doc(tmp_path, "http://127.0.0.1:9", [{"name": "ops", "urls": ["json://x/"]}])
        doc["http"] = {"listen": f"127.0.0.1:{port}"}
        path = write(tmp_path / "alertd.yaml", doc)
        proc = subprocess.run(
            [sys.executable, "-m", "alertd", "run", "--config", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 2
    assert "http_bind_failed" in proc.stdout + proc.stderr and "Traceback" not in proc.stdout + proc.stderr


# -- reload re-reads the files the config names (issue 10, item 5) ---------------------------------


async def test_rotated_password_file_and_sighup_resume_polling(
    tmp_path: Path, webhook: WebhookCollector
) -> None:
    """`alertd run`: after EM's password is rotated and password_file rewritten, SIGHUP makes polls log on with the new one."""
    secret = tmp_path / "em-password"
    secret.write_text("Old-Pw-0417\n")
    async with SimulatedEM(password="Old-Pw-0417") as sim:
        doc = base_doc(tmp_path, sim.url, [{"name": "ops", "urls": [webhook.url]}])
        doc["sources"][0] = {
            "name": "em1",
            "url": sim.url,
            "username": "CORP\\svc-alertd",
            "password_file": str(secret),
            "poll_interval": "1s",
        }
        doc["log"] = {"format": "json"}
        proc = AlertdProcess(tmp_path, doc)
        proc.start()
        try:
            sim.add_task_session(vm="before", result="Failed", end_time=now() - timedelta(minutes=1))
            await proc.wait_for(lambda: len(webhook.received) == 1, what="the alert before the rotation")
            sim.tokens.password = "New-Pw-0815"  # EM's account gets a new password...
            sim.faults.expire_tokens()  # ...and its logon sessions end
            await proc.wait_for(lambda: "refused logon" in proc.output(), what="401 with the old password")
            secret.write_text("New-Pw-0815\n")
            proc.signal(signal.SIGHUP)
            await proc.wait_for(lambda: "config_reloaded" in proc.output(), what="the reload")
            sim.add_task_session(vm="after", result="Failed", end_time=now())
            await proc.wait_for(lambda: len(webhook.received) == 2, what="the alert after the rotation")
        finally:
            proc.signal(signal.SIGTERM)
            await proc.wait_exit(10)
            proc.kill()
    assert "after" in webhook.received[1]["message"]
    assert "Old-Pw-0417" not in proc.output() and "New-Pw-0815" not in proc.output()


async def test_reload_rereads_a_ca_file_replaced_at_the_same_path(
    tmp_path: Path, webhook: WebhookCollector
) -> None:
    """A ca_file rewritten in place (same path, new CA) is read again at reload: the client is rebuilt and TLS works."""
    right, wrong = trustme.CA(), trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    right.issue_cert("127.0.0.1").configure_cert(server_ctx)
    ca_file = tmp_path / "em-ca.pem"
    wrong.cert_pem.write_to_path(str(ca_file))
    sim = SimulatedEM()
    url = await sim.start(ssl_context=server_ctx)
    try:
        doc = base_doc(tmp_path, url, [{"name": "ops", "urls": [webhook.url]}])
        doc["sources"][0]["ca_file"] = str(ca_file)
        path = write(tmp_path / "alertd.yaml", doc)
        daemon = Daemon(load_config(path), path)
        try:
            failed = await daemon.poll_source(daemon.cfg.sources[0])
            assert failed.error_kind == "tls", failed.error
            right.cert_pem.write_to_path(str(ca_file))
            assert await daemon.reload()
            result = await daemon.poll_source(daemon.cfg.sources[0])
            assert result.ok, result.error
        finally:
            await daemon.close()
    finally:
        await sim.stop()


async def test_reload_keeps_the_client_when_no_file_changed(
    tmp_path: Path, webhook: WebhookCollector
) -> None:
    """A reload that changes no client setting and no file content keeps the logged-on client (no new logon)."""
    secret = tmp_path / "em-password"
    secret.write_text("secret\n")
    async with SimulatedEM() as sim:
        doc = base_doc(tmp_path, sim.url, [{"name": "ops", "urls": [webhook.url]}])
        del doc["sources"][0]["password"]
        doc["sources"][0]["password_file"] = str(secret)
        path = write(tmp_path / "alertd.yaml", doc)
        daemon = Daemon(load_config(path), path)
        try:
            assert (await daemon.poll_source(daemon.cfg.sources[0])).ok
            client = daemon.clients["em1"]
            write(path, {**doc, "sources": [{**doc["sources"][0], "poll_interval": "5s"}]})
            assert await daemon.reload()
            assert daemon.clients["em1"] is client
            secret.write_text("rotated\n")
            assert await daemon.reload()
            assert daemon.clients["em1"] is not client
        finally:
            await daemon.close()
    assert sim.requests.count_matching(path="/api/sessionMngr", method="POST") == 1


async def test_reload_rereads_urls_file(tmp_path: Path) -> None:
    """A urls_file rewritten in place is read again at reload: alerts go to the URL it names now."""
    with WebhookCollector() as old, WebhookCollector() as new:
        urls = tmp_path / "webhooks"
        urls.write_text(f"{old.url}\n")
        async with SimulatedEM() as sim:
            doc = base_doc(tmp_path, sim.url, [{"name": "ops", "urls_file": str(urls)}])
            path = write(tmp_path / "alertd.yaml", doc)
            daemon = Daemon(load_config(path), path)
            try:
                urls.write_text(f"# rotated\n{new.url}\n")
                assert await daemon.reload()
                sim.add_task_session(vm="x", result="Failed", end_time=now() - timedelta(minutes=1))
                assert (await daemon.poll_source(daemon.cfg.sources[0])).ok
                daemon.pipeline.flush(now())
                assert await daemon.delivery.drain(10)
            finally:
                await daemon.delivery.stop(1)
                await daemon.close()
    assert len(new.received) == 1 and old.received == []


# -- a reload during a poll (issue 10, item 6) ------------------------------------------------------


async def wait_until(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Yield to the event loop until ``check()`` holds (the simulator runs in this loop)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def test_reload_during_a_poll_waits_for_it(tmp_path: Path, webhook: WebhookCollector) -> None:
    """A reload that replaces the EM client while a poll reads its pages lets that poll finish: no EM error, old client closed after."""
    async with SimulatedEM() as sim:
        for i in range(5):
            sim.add_task_session(vm=f"vm{i}", result="Failed", end_time=now() - timedelta(minutes=2))
        doc = base_doc(tmp_path, sim.url, [{"name": "ops", "urls": [webhook.url]}])
        doc["sources"][0]["page_size"] = 2
        path = write(tmp_path / "alertd.yaml", doc)
        daemon = Daemon(load_config(path), path)
        try:
            sim.faults.delay_next(1, seconds=1.0, path="/api/query")
            poll = asyncio.create_task(daemon.poll_source(daemon.cfg.sources[0]))
            await wait_until(lambda: len(sim.requests.queries()) == 1, "the first page in flight")
            old = daemon.clients["em1"]
            sim.tokens.password = "rotated"  # a new client is needed: the password changed
            write(path, {**doc, "sources": [{**doc["sources"][0], "password": "rotated"}]})
            assert await daemon.reload()
            assert poll.done()  # the swap waited for it
            result = await poll
            assert result.ok and result.read == 5, result.error
            assert daemon.clients["em1"] is not old
            failures = daemon.metrics.registry.get_sample_value(
                "alertd_polls_total", {"source": "em1", "outcome": "failure"}
            )
            assert not failures
            assert sim.requests.count_matching(path="/api/logonSessions", method="DELETE") == 1
            assert (await daemon.poll_source(daemon.cfg.sources[0])).ok
        finally:
            await daemon.close()
    assert {r.status for r in sim.requests.queries()} == {200}


async def test_reload_that_stops_waiting_still_never_closes_a_client_in_use() -> None:
    """When a poll outlasts the reload's wait, the swap goes ahead and the retired client is closed only when that poll ends."""
    gate = PollGate()
    client = FakeClient()
    with gate.using(client):
        async with gate.closed(timeout=0) as idle:
            assert idle is False
        await gate.retire([client])
        assert not client.closed.is_set()
    async with asyncio.timeout(5):
        await client.closed.wait()


async def test_new_polls_wait_while_a_reload_swaps() -> None:
    """While a reload holds the gate no poll starts; it starts as soon as the swap is done."""
    gate = PollGate()
    async with gate.closed(timeout=0) as idle:
        assert idle is True
        waiting = asyncio.create_task(gate.wait_open())
        await asyncio.sleep(0)
        assert not waiting.done()
    async with asyncio.timeout(5):
        await waiting


async def test_reload_does_not_start_polling_in_a_daemon_that_is_not_running(tmp_path: Path) -> None:
    """A reload of a daemon whose run() is not polling starts no poll loop (a stray one polled with clients close() then closed)."""
    async with SimulatedEM() as sim:
        doc = base_doc(tmp_path, sim.url, [{"name": "ops", "urls": ["json://127.0.0.1:9/x"]}])
        path = write(tmp_path / "alertd.yaml", doc)
        daemon = Daemon(load_config(path), path)
        try:
            write(path, {**doc, "sources": [{**doc["sources"][0], "password": "other"}]})
            assert await daemon.reload()
            assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("poll:")]
        finally:
            await daemon.close()


async def test_a_poll_cut_short_by_stop_is_not_a_source_failure(tmp_path: Path) -> None:
    """A poll that fails because alertd is stopping (its client closed under it) is logged as abandoned, not counted or self-monitored."""
    async with SimulatedEM() as sim:
        doc = base_doc(tmp_path, sim.url, [{"name": "ops", "urls": ["json://127.0.0.1:9/x"]}])
        doc["self_alerts"] = {"receiver": "ops", "after": "0s"}
        path = write(tmp_path / "alertd.yaml", doc)
        daemon = Daemon(load_config(path), path)
        try:
            await daemon.clients["em1"].close()
            daemon.stop_event.set()
            result = await daemon.poll_source(daemon.cfg.sources[0])
            assert not result.ok and result.error_kind == "stopping"
            assert daemon.store.outbox_depth() == 0 and daemon.selfwatch.checks == {}
            errors = daemon.metrics.registry.get_sample_value(
                "alertd_em_errors_total", {"source": "em1", "kind": "internal"}
            )
            assert not errors
        finally:
            await daemon.close()


class FakeClient:
    """A client whose close is observable."""

    def __init__(self) -> None:
        self.closed = asyncio.Event()

    async def close(self) -> None:
        self.closed.set()

"""Reload and startup edge cases: atomic swaps, bad TLS files, receivers removed, ports in use."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from e2e import history, now
from support.webhook import WebhookCollector

from alertd.config import load_config
from alertd.daemon import Daemon
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
    assert history(tmp_path / "state.db")[0]["status"] == "sent"


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

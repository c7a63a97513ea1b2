"""End to end: routing, grouping and delivery through real apprise to a local webhook and a real SMTP server."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import structlog
import yaml
from e2e import e2e_config, history, now, run_once, wait_until
from support.smtp import SmtpServer
from support.webhook import Reply, WebhookCollector

from alertd.simulator import SimulatedEM


async def test_routing_with_continue(tmp_path: Path) -> None:
    """SQL failures reach dba (continue) and ops; other jobs reach only ops."""
    with WebhookCollector() as dba, WebhookCollector() as ops:
        async with SimulatedEM() as sim:
            start = now() - timedelta(minutes=30)
            sim.add_job_run(
                job_name="SQL Daily",
                vms=["db1", "db2"],
                results={"db1": "Failed", "db2": "Failed"},
                start=start,
            )
            sim.add_job_run(job_name="Exchange Nightly", vms=["ex1"], results={"ex1": "Failed"}, start=start)
            cfg = e2e_config(
                tmp_path,
                sim.url,
                [],
                receivers=[{"name": "dba", "urls": [dba.url]}, {"name": "ops", "urls": [ops.url]}],
                routes=[
                    {
                        "matchers": ['result="Failed"', 'job_name=~"SQL.*"'],
                        "receivers": ["dba"],
                        "continue": True,
                        "group_wait": "0s",
                    },
                    {"receivers": ["ops"], "group_wait": "0s"},
                ],
            )
            assert await run_once(cfg) == 0
    assert [p["title"] for p in dba.received] == ["[Failed] SQL Daily on vbr01.corp.local: 2 failed of 2 VMs"]
    assert sorted(p["title"] for p in ops.received) == [
        "[Failed] Exchange Nightly on vbr01.corp.local: 1 failed of 1 VM",
        "[Failed] SQL Daily on vbr01.corp.local: 2 failed of 2 VMs",
    ]


async def test_late_joiners_get_a_follow_up(tmp_path: Path, webhook: WebhookCollector) -> None:
    """Failures that join a job run after its message went out are sent once, in a follow-up message."""
    async with SimulatedEM() as sim:
        run = sim.add_job_run(
            vms=["a", "b", "c"], results={"a": "Failed"}, start=now() - timedelta(minutes=30), running=True
        )
        first, second, third = run.tasks
        sim.complete(
            first.uid, result="Failed", reason="Error: disk full", end_time=now() - timedelta(minutes=5)
        )
        cfg = e2e_config(tmp_path, sim.url, [webhook.url])
        assert await run_once(cfg) == 0
        sim.complete(second.uid, result="Failed", reason="Error: snapshot timeout", end_time=now())
        sim.complete(third.uid, result="Warning", reason="CBT disabled", end_time=now())
        assert await run_once(cfg) == 0
        assert await run_once(cfg) == 0
    assert len(webhook.received) == 2
    follow = webhook.received[1]
    assert "follow-up" in follow["title"].lower()
    assert "b" in follow["message"] and "c" in follow["message"]
    assert "disk full" not in follow["message"]


async def test_webhook_500_three_times_then_ok_delivers_once(
    tmp_path: Path, webhook: WebhookCollector
) -> None:
    """A webhook answering 500 three times then 200 receives the message exactly once successfully."""
    webhook.script(500, 500, 500)
    async with SimulatedEM() as sim:
        sim.add_task_session(vm="x", result="Failed", end_time=now() - timedelta(minutes=1))
        cfg = e2e_config(tmp_path, sim.url, [webhook.url])
        assert await run_once(cfg) == 0
    assert webhook.statuses == [500, 500, 500, 200]
    [row] = history(tmp_path / "state.db")
    assert (row["status"], row["attempts"]) == ("sent", 4)


async def test_one_failing_target_does_not_resend_to_others(tmp_path: Path) -> None:
    """With two URLs on one receiver, retries for the failing one never re-send to the healthy one."""
    with WebhookCollector([500, 500]) as flaky, WebhookCollector() as healthy:
        async with SimulatedEM() as sim:
            sim.add_task_session(vm="x", result="Failed", end_time=now() - timedelta(minutes=1))
            cfg = e2e_config(tmp_path, sim.url, [flaky.url, healthy.url])
            assert await run_once(cfg) == 0
    assert flaky.statuses == [500, 500, 200]
    assert healthy.statuses == [200]


async def test_smtp_down_then_up(tmp_path: Path) -> None:
    """An SMTP server that refuses connections at first gets the message once it comes up."""
    smtp = SmtpServer()
    async with SimulatedEM() as sim:
        sim.add_task_session(
            vm="mailvm", result="Failed", end_time=now() - timedelta(minutes=1), reason="Error: <b>bold</b>"
        )
        cfg = e2e_config(tmp_path, sim.url, [smtp.url])
        with structlog.testing.capture_logs() as logs:
            cycle = asyncio.create_task(run_once(cfg, deliver_timeout=20))
            await wait_until(
                lambda: any(e["event"] == "delivery_retry" for e in logs), what="a refused send being retried"
            )
        smtp.start()
        try:
            assert await cycle == 0
            [mail] = await asyncio.to_thread(smtp.wait_for, 1)
        finally:
            smtp.stop()
    assert "mailvm" in mail["Subject"] or "1 failed" in mail["Subject"]
    html = mail.get_body(("html",))
    assert html is not None and "mailvm" in html.get_content() and "<b>bold</b>" not in html.get_content()


async def test_permanent_failure_dead_letters_to_fallback(tmp_path: Path) -> None:
    """A 400 is not retried: the delivery is dead-lettered and the fallback receiver is told why."""
    with WebhookCollector([400]) as broken, WebhookCollector() as fallback:
        async with SimulatedEM() as sim:
            sim.add_task_session(vm="x", result="Failed", end_time=now() - timedelta(minutes=1))
            cfg = e2e_config(
                tmp_path,
                sim.url,
                [],
                receivers=[{"name": "ops", "urls": [broken.url]}, {"name": "pager", "urls": [fallback.url]}],
                delivery={"fallback": "pager", "min_interval": "10ms", "max_backoff": "100ms"},
            )
            assert await run_once(cfg) == 0
    assert broken.statuses == [400]
    [report] = fallback.received
    assert "ops" in report["title"] or "ops" in report["message"]
    assert "400" in report["message"]


async def test_retry_budget_exhausted_dead_letters(tmp_path: Path) -> None:
    """A target failing with 500 past retry_for is dead-lettered and reported to the fallback."""
    with WebhookCollector([500] * 1000) as down, WebhookCollector() as fallback:
        async with SimulatedEM() as sim:
            sim.add_task_session(vm="x", result="Failed", end_time=now() - timedelta(minutes=1))
            cfg = e2e_config(
                tmp_path,
                sim.url,
                [],
                receivers=[{"name": "ops", "urls": [down.url]}, {"name": "pager", "urls": [fallback.url]}],
                delivery={
                    "fallback": "pager",
                    "retry_for": "1s",
                    "min_interval": "10ms",
                    "max_backoff": "100ms",
                },
            )
            assert await run_once(cfg) == 0
    assert len(down.statuses) >= 2
    assert len(fallback.received) == 1
    statuses = {(r["receiver"], r["status"]) for r in history(tmp_path / "state.db")}
    assert ("ops", "dead") in statuses and ("pager", "sent") in statuses


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alertd", *args], capture_output=True, text=True, timeout=60, cwd=cwd
    )


def test_routes_test_cli(tmp_path: Path) -> None:
    """`alertd routes test` prints the receivers an alert with the given labels reaches."""
    doc = {
        "sources": [{"name": "em1", "url": "https://em:9398", "username": "u", "password": "p"}],
        "state": {"path": str(tmp_path / "s.db")},
        "receivers": [{"name": "dba", "urls": ["json://x/"]}, {"name": "ops", "urls": ["json://y/"]}],
        "routes": [
            {"matchers": ['result="Failed"', 'job_name=~"SQL.*"'], "receivers": ["dba"], "continue": True},
            {"matchers": ['vm=~"test-.*"'], "receivers": ["dba"]},
            {"receivers": ["ops"]},
        ],
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(doc))
    assert (
        _cli("routes", "test", "--config", str(path), "result=Failed", "job_name=SQL Daily").stdout
        == "dba,ops\n"
    )
    assert _cli("routes", "test", "--config", str(path), "result=Warning", "vm=test-01").stdout == "dba\n"
    assert _cli("routes", "test", "--config", str(path), "result=Warning").stdout == "ops\n"
    bad = _cli("routes", "test", "--config", str(path), "colour=red")
    assert bad.returncode == 2 and "colour=red" in bad.stderr


def test_test_notify_cli(tmp_path: Path) -> None:
    """`alertd test-notify` sends to every URL of a receiver and prints per-URL success or the reason."""
    with WebhookCollector() as good, WebhookCollector([Reply(500)] * 3) as bad:
        doc = {
            "sources": [{"name": "em1", "url": "https://em:9398", "username": "u", "password": "p"}],
            "state": {"path": str(tmp_path / "s.db")},
            "receivers": [{"name": "ops", "urls": [good.url, bad.url]}],
            "routes": [{"receivers": ["ops"]}],
        }
        path = tmp_path / "c.yaml"
        path.write_text(yaml.safe_dump(doc))
        proc = _cli("test-notify", "--config", str(path), "ops")
    lines = proc.stdout.splitlines()
    assert proc.returncode == 1
    assert lines[0].startswith("ops[chat-1] ") and lines[0].endswith(": ok")
    assert lines[1].startswith("ops[chat-2] ") and "FAILED" in lines[1] and "500" in lines[1]
    assert len(good.received) == 1
    unknown = _cli("test-notify", "--config", str(path), "nobody")
    assert unknown.returncode == 2 and "not configured" in unknown.stderr


async def test_history_cli(tmp_path: Path, webhook: WebhookCollector) -> None:
    """`alertd history` lists what was sent, where, and after how many attempts."""
    webhook.script(500)
    async with SimulatedEM() as sim:
        sim.add_task_session(vm="x", result="Failed", end_time=now() - timedelta(minutes=1))
        cfg = e2e_config(tmp_path, sim.url, [webhook.url])
        assert await run_once(cfg) == 0
    path = tmp_path / "c.yaml"
    doc = {
        "sources": [{"name": "em1", "url": "https://em:9398", "username": "u", "password": "p"}],
        "state": {"path": cfg.state.path},
        "receivers": [{"name": "ops", "urls": [webhook.url]}],
        "routes": [{"receivers": ["ops"]}],
    }
    path.write_text(yaml.safe_dump(doc))
    env_free = {k: v for k, v in os.environ.items() if not k.startswith("ALERTD_")}
    proc = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "alertd", "history", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env_free,
    )
    assert proc.returncode == 0, proc.stderr
    assert "ops -> ops[chat-1]: sent after 2 attempt(s)" in proc.stdout

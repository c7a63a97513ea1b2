"""Targets are their receiver and normalised URL: a reload that removes a URL never misdirects, repeats or loses a message."""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e import history, now
from process import AlertdProcess
from support.webhook import WebhookCollector

from alertd.config import load_config, load_document
from alertd.daemon import Daemon
from alertd.model import BodyFormat, Channel, NotifyType, RenderedMessage
from alertd.planner import TargetInfo
from alertd.records import Delivery, DeliveryStatus
from alertd.redirect import Redirect, plan_redirect
from alertd.runtime import build_targets
from alertd.simulator import SimulatedEM

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def doc_for(tmp_path: Path, em_url: str, receivers: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "sources": [
            {
                "name": "em1",
                "url": em_url,
                "username": "CORP\\svc-alertd",
                "password": "secret",
                "poll_interval": "1s",
            }
        ],
        "state": {"path": str(tmp_path / "state.db")},
        "receivers": receivers,
        "routes": [{"receivers": [receivers[0]["name"]], "group_wait": "0s"}],
        "delivery": {"min_interval": "10ms", "max_backoff": "100ms", "retry_for": "1h"},
        "http": {"listen": None},
        "log": {"format": "json"},
    }
    doc.update(extra)
    return doc


def row(target: str, receiver: str = "ops") -> Delivery:
    msg = RenderedMessage("t", "b", BodyFormat.MARKDOWN, NotifyType.FAILURE)
    return Delivery(1, 7, receiver, target, msg, DeliveryStatus.PENDING, 3, T0, None)


OPS = {"ops": [TargetInfo("ops#up", Channel.CHAT)], "pager": [TargetInfo("pager#1", Channel.CHAT)]}


@pytest.mark.parametrize(
    ("targets", "has_message", "fallback", "action", "to"),
    [
        # another URL of the receiver has the message: close, never send twice
        (OPS, {"ops#down", "ops#up"}, None, Redirect.CLOSE, []),
        # none has it: it goes once to the receiver's remaining URLs
        (OPS, {"ops#down"}, None, Redirect.MOVE, ["ops#up"]),
        # the receiver has no URL left: delivery.fallback gets it
        ({**OPS, "ops": []}, {"ops#down"}, "pager", Redirect.MOVE, ["pager#1"]),
        # ...unless the fallback already has it
        ({**OPS, "ops": []}, {"ops#down", "pager#1"}, "pager", Redirect.CLOSE, []),
        # nowhere to send it: it waits, pending, for a configuration that names a URL again
        ({**OPS, "ops": []}, {"ops#down"}, None, Redirect.WAIT, []),
    ],
)
def test_plan_for_a_removed_url(
    targets: dict[str, list[TargetInfo]],
    has_message: set[str],
    fallback: str | None,
    action: Redirect,
    to: list[str],
) -> None:
    """A pending row of a removed URL is closed when a sibling has its message, else moved once, else kept."""
    plan = plan_redirect(row("ops#down"), has_message, targets, fallback)
    assert plan.action is action
    assert [t.name for t in plan.targets] == to


def test_target_key_follows_the_url_not_its_position(tmp_path: Path) -> None:
    """Removing the first of two URLs leaves the second one's key unchanged; a URL listed twice is one target."""
    a, b = "json://127.0.0.1:9/a", "json://127.0.0.1:9/b"

    def keys(urls: list[str]) -> list[str]:
        cfg = load_document(doc_for(tmp_path, "http://127.0.0.1:9", [{"name": "ops", "urls": urls}]))
        return [t.name for t in build_targets(cfg).by_receiver["ops"]]

    both = keys([a, b])
    assert keys([b]) == both[1:]
    assert keys([a, b, a]) == both


async def test_sighup_removing_a_failing_url_stops_it_and_sends_nothing_twice(
    tmp_path: Path,
) -> None:
    """`alertd run`: after SIGHUP removes a failing URL, it gets no request, and the staying URL gets each VM once."""
    with WebhookCollector([500] * 10_000) as down, WebhookCollector() as up:
        async with SimulatedEM() as sim:
            receivers = [{"name": "ops", "urls": [down.url, up.url]}]
            doc = doc_for(tmp_path, sim.url, receivers)
            proc = AlertdProcess(tmp_path, doc)
            proc.start()
            try:
                sim.add_task_session(vm="vm-before", result="Failed", end_time=now() - timedelta(minutes=1))
                await proc.wait_for(
                    lambda: len(up.received) == 1 and len(down.requests) >= 3, what="retries to down"
                )
                proc.write_config(doc_for(tmp_path, sim.url, [{"name": "ops", "urls": [up.url]}]))
                proc.signal(signal.SIGHUP)
                await proc.wait_for(
                    lambda: "delivery_redirected" in proc.output(), what="the reload closing down's row"
                )
                after_reload = len(down.requests)
                sim.add_task_session(vm="vm-after", result="Failed", end_time=now())
                await proc.wait_for(lambda: len(up.received) == 2, what="the alert after the reload")
                await asyncio.sleep(0)  # let a stray retry, if any, reach the server before counting
            finally:
                proc.signal(signal.SIGTERM)
                await proc.wait_exit(10)
                proc.kill()
    assert len(down.requests) <= after_reload + 1  # at most the send that was in flight at SIGHUP
    up_text = "\n".join(p["message"] for p in up.received)
    assert up_text.count("vm-before") == 1 and up_text.count("vm-after") == 1
    statuses = sorted(r["status"] for r in history(tmp_path / "state.db"))
    assert statuses == ["removed", "sent", "sent"]


async def test_removing_the_first_url_does_not_send_the_second_one_twice(tmp_path: Path) -> None:
    """With ops = [down, up] and both rows pending, removing down closes its row: up gets the message once."""
    with WebhookCollector() as down, WebhookCollector() as up:
        async with SimulatedEM() as sim:
            doc = doc_for(tmp_path, sim.url, [{"name": "ops", "urls": [down.url, up.url]}])
            path = tmp_path / "alertd.yaml"
            path.write_text(yaml.safe_dump(doc))
            daemon = Daemon(load_config(path), path)
            try:
                sim.add_task_session(vm="x", result="Failed", end_time=now() - timedelta(minutes=1))
                assert (await daemon.poll_source(daemon.cfg.sources[0])).ok
                assert daemon.pipeline.flush(now()).messages == 1  # rows for down and up, none sent yet
                path.write_text(
                    yaml.safe_dump(doc_for(tmp_path, sim.url, [{"name": "ops", "urls": [up.url]}]))
                )
                assert await daemon.reload()
                assert await daemon.delivery.drain(10)
            finally:
                await daemon.delivery.stop(1)
                await daemon.close()
    assert down.requests == [] and len(up.received) == 1
    assert sorted(r["status"] for r in history(tmp_path / "state.db")) == ["removed", "sent"]


async def test_receiver_left_without_urls_sends_to_the_fallback(tmp_path: Path) -> None:
    """When a reload removes every URL of a receiver, its pending message goes once to delivery.fallback."""
    with WebhookCollector([500] * 10_000) as gone, WebhookCollector() as pager:
        async with SimulatedEM() as sim:
            receivers = [{"name": "ops", "urls": [gone.url]}, {"name": "pager", "urls": [pager.url]}]
            doc = doc_for(
                tmp_path,
                sim.url,
                receivers,
                delivery={"min_interval": "10ms", "max_backoff": "100ms", "fallback": "pager"},
            )
            path = tmp_path / "alertd.yaml"
            path.write_text(yaml.safe_dump(doc))
            daemon = Daemon(load_config(path), path)
            try:
                sim.add_task_session(vm="db-1", result="Failed", end_time=now() - timedelta(minutes=1))
                assert (await daemon.poll_source(daemon.cfg.sources[0])).ok
                daemon.pipeline.flush(now())
                # the reload drops receiver ops (its only URL) and routes to pager from now on
                path.write_text(
                    yaml.safe_dump({**doc, "receivers": receivers[1:], "routes": [{"receivers": ["pager"]}]})
                )
                assert await daemon.reload()
                assert await daemon.delivery.drain(10)
            finally:
                await daemon.delivery.stop(1)
                await daemon.close()
    assert gone.requests == []
    assert len(pager.received) == 1 and "db-1" in pager.received[0]["message"]

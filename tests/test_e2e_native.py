"""End to end through the daemon: native Slack and Teams targets, route links, display zone, Retry-After."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

from e2e import e2e_config, now, run_once
from support import Reply, WebhookCollector

from alertd.render.limits import slack_problems, teams_problems
from alertd.simulator import SimulatedEM


async def test_native_targets_receive_block_kit_and_cards_with_links(tmp_path: Path) -> None:
    """A failed VM reaches a Slack webhook as Block Kit and a Workflows webhook as a card, with the route's links."""
    with WebhookCollector(path="/slack") as slack, WebhookCollector([202], path="/teams") as teams:
        async with SimulatedEM() as sim:
            sim.add_task_session(vm="vm1", result="Failed", end_time=now() - timedelta(minutes=1))
            links = {"runbook_url": "https://wiki.example.com/{{ job_name }}"}
            cfg = e2e_config(
                tmp_path,
                sim.url,
                [f"slack+{slack.http_url}#alerts", f"teams+{teams.http_url}?sig=x"],
                routes=[{"receivers": ["ops"], "group_wait": "100ms", "links": links}],
                display={"timezone": "Europe/Berlin"},
            )
            assert await run_once(cfg) == 0
    [s] = slack.requests
    [t] = teams.requests
    assert slack_problems(s.payload) == [] and s.payload["channel"] == "#alerts"
    assert teams_problems(t.text) == []
    assert "vm1" in json.dumps(s.payload) and "vm1" in t.text
    assert "|Runbook>" in json.dumps(s.payload) and "Action.OpenUrl" in t.text
    assert "UTC)" in json.dumps(s.payload, ensure_ascii=False)  # display zone with UTC in brackets


async def test_delivery_waits_for_retry_after(tmp_path: Path) -> None:
    """A 429 with Retry-After makes the next attempt wait that long, even when the backoff is shorter."""
    with WebhookCollector([Reply(429, retry_after=0.8)], path="/slack") as slack:
        async with SimulatedEM() as sim:
            sim.add_task_session(vm="vm1", result="Failed", end_time=now() - timedelta(minutes=1))
            cfg = e2e_config(tmp_path, sim.url, [f"slack+{slack.http_url}"])
            started = time.monotonic()
            assert await run_once(cfg) == 0
    assert slack.statuses == [429, 200]
    assert time.monotonic() - started >= 0.8

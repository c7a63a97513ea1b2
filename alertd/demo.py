"""``alertd demo``: the built-in EM simulator, a printing webhook and the real daemon, wired together.

Shows the whole pipeline on one screen: the simulator runs backup jobs with failing VMs, alertd polls
it, groups each job run's failures into one message, and delivers it to a local webhook that prints
what it receives. The webhook refuses the first delivery so the retry is visible too.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
import textwrap
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from alertd.config import load_document
from alertd.daemon import Daemon
from alertd.simulator import SimulatedEM

BANNER = """\
alertd demo
  EM simulator  {em}   (user CORP\\svc-alertd, runs a backup job every {every}s; some VMs fail)
  webhook       {hook}   (prints each message; answers the first one with HTTP 500 to show a retry)
  state         {state}
alertd polls every 5s and waits 5s (group_wait) to gather a job run's failures into one message.
Press Ctrl-C to stop.
"""


class PrintingWebhook:
    """A loopback webhook that prints apprise json:// payloads as readable boxes."""

    def __init__(self, fail_first: int = 1) -> None:
        self.fail_first = fail_first
        self.count = 0
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/demo", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return f"json://127.0.0.1:{self.port}/demo"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        payload: dict[str, Any] = await request.json()
        self.count += 1
        if self.count <= self.fail_first:
            print(
                f"\n[webhook] answering HTTP 500 to message #{self.count} (alertd will retry)\n", flush=True
            )
            return web.Response(status=500, text="simulated outage")
        width = 100
        lines = [f"+{'-' * (width - 2)}+", f"| {payload.get('title', '')[: width - 4]:<{width - 4}} |"]
        lines.append(f"+{'-' * (width - 2)}+")
        for raw in str(payload.get("message", "")).splitlines():
            for part in textwrap.wrap(raw, width - 4) or [""]:
                lines.append(f"| {part:<{width - 4}} |")
        lines.append(f"+{'-' * (width - 2)}+")
        print("\n" + "\n".join(lines) + "\n", flush=True)
        return web.Response(status=200, text="ok")


async def demo_main(duration: float | None = None, run_every: float = 20.0) -> int:
    """Run the demo until Ctrl-C (or for ``duration`` seconds)."""
    state_dir = Path(tempfile.mkdtemp(prefix="alertd-demo-"))
    sim = SimulatedEM(seed=7)
    em_url = await sim.start()
    now = datetime.now(UTC)
    # One run that already failed, so the first poll has something to show at once.
    run_uid = str(uuid.uuid4())
    outcomes = {
        "dbserver01": ("Success", ""),
        "dbserver02": (
            "Failed",
            "Error: There is not enough space on the disk. Failed to write data to the file.",
        ),
        "dbserver03": ("Failed", "Error: Failed to create VM snapshot. Timed out"),
        "dbserver04": ("Success", ""),
        "sqlreport01": ("Warning", "Processing finished with warnings: Changed block tracking is disabled"),
    }
    for i, (vm, (result, reason)) in enumerate(outcomes.items()):
        sim.add_task_session(
            job_name="SQL Daily",
            backup_server="vbr01.corp.local",
            vm=vm,
            result=result,
            reason=reason,
            creation_time=now - timedelta(minutes=9 - i),
            end_time=now - timedelta(minutes=6 - i),
            job_session_uid=run_uid,
        )
    sim.start_live(
        run_every=timedelta(seconds=run_every),
        task_duration=(timedelta(seconds=2), timedelta(seconds=10)),
        failure_rate=0.25,
        warning_rate=0.15,
    )
    hook = PrintingWebhook()
    hook_url = await hook.start()
    cfg = load_document(
        {
            "sources": [
                {
                    "name": "demo-em",
                    "url": em_url,
                    "username": "CORP\\svc-alertd",
                    "password": "secret",
                    "poll_interval": "5s",
                    "initial_lookback": "1h",
                }
            ],
            "state": {"path": str(state_dir / "state.db")},
            "receivers": [{"name": "console", "urls": [hook_url]}],
            "routes": [{"receivers": ["console"], "group_wait": "5s"}],
            "delivery": {"min_interval": "1s", "max_backoff": "5s", "retry_for": "10m"},
            "http": {"listen": None},
            "log": {"format": "console"},
        }
    )
    print(
        BANNER.format(em=em_url, every=int(run_every), hook=hook_url, state=state_dir / "state.db"),
        flush=True,
    )
    daemon = Daemon(cfg)
    stopper: asyncio.TimerHandle | None = None
    if duration is not None:
        stopper = asyncio.get_running_loop().call_later(duration, daemon.stop_event.set)
    try:
        return await daemon.run()
    finally:
        if stopper is not None:
            stopper.cancel()
        await hook.stop()
        await sim.stop()
        print(f"demo stopped; {hook.count} webhook request(s) received", flush=True)


def run_demo(duration: float | None = None) -> int:
    """Entry point of ``alertd demo``."""
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(demo_main(duration))
    print("interrupted", file=sys.stderr)
    return 0

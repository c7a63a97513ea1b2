"""``alertd demo``: a built-in simulator, a printing webhook and the real daemon, wired together.

Shows the whole pipeline on one screen: the simulator runs backup jobs with failing VMs, alertd polls
it, groups each job run's failures into one message, and delivers it to a local webhook that prints
what it receives. The webhook refuses the first delivery so the retry is visible too.

The simulator is Enterprise Manager's by default; ``--source vbr`` runs a VBR server's REST API
instead, over HTTPS with a throwaway self-signed certificate that alertd pins by its SHA-256
fingerprint (``tls_fingerprint``), as it would pin a real VBR server's.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
import textwrap
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from aiohttp import web

from alertd.config import load_document
from alertd.daemon import Daemon
from alertd.simulator import SimulatedEM
from alertd.simulator.vbr import SimulatedVBR
from alertd.simulator.vbr.certs import self_signed

BANNER = """\
alertd demo
  {simulator}
  webhook       {hook}   (prints each message; answers the first one with HTTP 500 to show a retry)
  state         {state}
alertd polls every 5s and waits 5s (group_wait) to gather a job run's failures into one message.
Press Ctrl-C to stop.
"""

#: The first job run of the demo: shown by the first poll, so something happens at once.
OUTCOMES: Final = {
    "dbserver01": ("Success", ""),
    "dbserver02": (
        "Failed",
        "Error: There is not enough space on the disk. Failed to write data to the file.",
    ),
    "dbserver03": ("Failed", "Error: Failed to create VM snapshot. Timed out"),
    "dbserver04": ("Success", ""),
    "sqlreport01": ("Warning", "Processing finished with warnings: Changed block tracking is disabled"),
}
SERVER: Final = "vbr01.corp.local"
USER: Final = "CORP\\svc-alertd"
PASSWORD: Final = "secret"


class DemoError(Exception):
    """The demo cannot start; the message says why and what to do."""


@dataclass
class DemoSource:
    """A running simulator of one source kind: the config of its source, a banner line, its stop."""

    config: dict[str, Any]
    banner: str
    stop: Callable[[], Awaitable[None]]


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


async def start_em(now: datetime, run_every: float) -> DemoSource:
    """The EM simulator over HTTP, with one failed job run and a live one every ``run_every`` s."""
    sim = SimulatedEM(seed=7, username=USER, password=PASSWORD)
    url = await sim.start()
    run_uid = str(uuid.uuid4())
    for i, (vm, (result, reason)) in enumerate(OUTCOMES.items()):
        sim.add_task_session(
            job_name="SQL Daily",
            backup_server=SERVER,
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
    banner = f"EM simulator  {url}   (user {USER}, runs a backup job every {int(run_every)}s; some VMs fail)"
    return DemoSource({"name": "demo-em", "url": url}, banner, sim.stop)


async def start_vbr(now: datetime, run_every: float, cert_dir: Path) -> DemoSource:
    """The VBR simulator over HTTPS with a fresh self-signed certificate that alertd pins.

    A real VBR server ships a self-signed certificate too (port 9419); pinning its SHA-256
    fingerprint (``tls_fingerprint``) is how alertd trusts it without turning verification off.
    """
    try:
        cert = self_signed(cert_dir)
    except RuntimeError as e:  # the 'cryptography' package is missing
        raise DemoError(
            "alertd demo --source vbr needs the 'cryptography' package for its throwaway certificate: "
            "pip install 'alertd[demo]'"
        ) from e
    sim = SimulatedVBR(seed=7, username=USER, password=PASSWORD)
    sim.add_job_run(
        job_name="SQL Daily",
        vms=tuple(OUTCOMES),
        results={vm: result for vm, (result, _) in OUTCOMES.items()},
        reasons={vm: reason for vm, (_, reason) in OUTCOMES.items() if reason},
        start=now - timedelta(minutes=12),
    )
    url = await sim.start(ssl_context=cert.context)
    sim.start_live(timedelta(seconds=run_every))
    pin = ":".join(cert.fingerprint[i : i + 2] for i in range(0, len(cert.fingerprint), 2)).upper()
    banner = (
        f"VBR simulator {url}   (REST API over HTTPS, user {USER}, a job run every {int(run_every)}s)\n"
        f"                self-signed certificate {cert.cert_file}\n"
        f"                pinned by tls_fingerprint {pin}"
    )
    config = {
        "name": "demo-vbr",
        "kind": "vbr",
        "url": url,
        "tls_fingerprint": cert.fingerprint,
        "backup_server": SERVER,
    }
    return DemoSource(config, banner, sim.stop)


async def demo_main(duration: float | None = None, run_every: float = 20.0, source: str = "em") -> int:
    """Run the demo against the ``source`` simulator ("em" or "vbr") until Ctrl-C (or ``duration`` s)."""
    state_dir = Path(tempfile.mkdtemp(prefix="alertd-demo-"))
    now = datetime.now(UTC)
    demo = await (start_vbr(now, run_every, state_dir) if source == "vbr" else start_em(now, run_every))
    hook = PrintingWebhook()
    try:
        hook_url = await hook.start()
        cfg = load_document(
            {
                "sources": [
                    {
                        "username": USER,
                        "password": PASSWORD,
                        "poll_interval": "5s",
                        "initial_lookback": "1h",
                        **demo.config,
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
        print(BANNER.format(simulator=demo.banner, hook=hook_url, state=state_dir / "state.db"), flush=True)
        daemon = Daemon(cfg)
        stopper: asyncio.TimerHandle | None = None
        if duration is not None:
            stopper = asyncio.get_running_loop().call_later(duration, daemon.stop_event.set)
        try:
            return await daemon.run()
        finally:
            if stopper is not None:
                stopper.cancel()
    finally:
        await hook.stop()
        await demo.stop()
        print(f"demo stopped; {hook.count} webhook request(s) received", flush=True)


def run_demo(duration: float | None = None, source: str = "em") -> int:
    """Entry point of ``alertd demo`` (``--source vbr``: against the VBR simulator)."""
    try:
        with contextlib.suppress(KeyboardInterrupt):
            return asyncio.run(demo_main(duration, source=source))
    except DemoError as e:
        print(f"alertd demo: {e}", file=sys.stderr)
        return 2
    print("interrupted", file=sys.stderr)
    return 0

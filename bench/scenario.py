"""Shared set-up: benchmark sizes (full and ``--quick``), alertd config documents, child processes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

USERNAME = "CORP\\svc-alertd"
PASSWORD = "secret"
SOURCE = "em1"
RECEIVER = "ops"


@dataclass(frozen=True, slots=True)
class Sizes:
    """How big each benchmark is; ``QUICK`` scales everything down for a smoke run."""

    storm_runs: int = 500
    vms_per_run: int = 20
    page_size: int = 200
    rounds: int = 3
    idle_seconds: float = 60.0
    latency_alerts: int = 200
    latency_mean_gap: float = 0.5
    state_batch: int = 1000
    state_checkpoints: tuple[int, ...] = (
        10_000,
        25_000,
        50_000,
        100_000,
        150_000,
        200_000,
        300_000,
        500_000,
        1_000_000,
    )
    state_budget_s: float = 330.0
    state_step_hours: float = 2.0
    #: Job runs of failures spread over the reconcile window (the sweep benchmark).
    sweep_runs: int = 500

    @property
    def storm_sessions(self) -> int:
        return self.storm_runs * self.vms_per_run


FULL = Sizes()
QUICK = Sizes(
    storm_runs=25,
    rounds=1,
    idle_seconds=5.0,
    latency_alerts=20,
    latency_mean_gap=0.3,
    state_batch=200,
    state_checkpoints=(1_000, 4_000, 8_000),
    state_step_hours=12.0,
    state_budget_s=60.0,
    sweep_runs=25,
)


def config_doc(
    workdir: Path,
    em_url: str,
    hook_url: str,
    *,
    page_size: int = 200,
    poll_interval: str = "1s",
    group_wait: str = "0s",
    min_interval: str = "0s",
    listen: str | None = None,
    initial_lookback: str = "2h",
) -> dict[str, Any]:
    """An alertd configuration polling the simulator at ``em_url`` and delivering to ``hook_url``."""
    return {
        "sources": [
            {
                "name": SOURCE,
                "url": em_url,
                "username": USERNAME,
                "password": PASSWORD,
                "verify_tls": False,
                "page_size": page_size,
                "poll_interval": poll_interval,
                "initial_lookback": initial_lookback,
            }
        ],
        "state": {"path": str(workdir / "state.db")},
        "receivers": [{"name": RECEIVER, "urls": [hook_url]}],
        "routes": [{"receivers": [RECEIVER], "group_wait": group_wait}],
        "delivery": {"min_interval": min_interval, "retry_for": "5m", "max_backoff": "1s"},
        "http": {"listen": listen},
        "log": {"level": "info", "format": "json"},
    }


def write_config(path: Path, doc: dict[str, Any]) -> Path:
    """Write ``doc`` as YAML to ``path`` and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc))
    return path


def free_port() -> int:
    """A TCP port that was free a moment ago on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_env() -> dict[str, str]:
    """The environment for alertd children: no ALERTD_ overrides, no systemd notify socket."""
    drop = ("ALERTD_", "NOTIFY_SOCKET", "WATCHDOG_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


async def start_alertd(config: Path, log: Path) -> asyncio.subprocess.Process:
    """``python -m alertd run --config CONFIG`` with its output in ``log``."""
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "alertd",
            "run",
            "--config",
            str(config),
            stdout=out,
            stderr=out,
            env=child_env(),
        )


async def stop_alertd(proc: asyncio.subprocess.Process, timeout: float = 30.0) -> int | None:
    """SIGTERM, then wait; the exit code, or None when alertd had to be killed after ``timeout`` seconds."""
    if proc.returncode is not None:
        return proc.returncode
    proc.send_signal(signal.SIGTERM)
    try:
        return await asyncio.wait_for(proc.wait(), timeout=timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        return None


async def run_bench_child(mode: str, args: dict[str, Any], workdir: Path) -> tuple[dict[str, Any], float]:
    """Run ``python -m bench.child MODE`` with ``args``; return its JSON result and ru_maxrss in MiB.

    The event loop keeps running while the child works, so the simulator and the webhook answer it.
    """
    args_path = workdir / f"{mode}.args.json"
    out_path = workdir / f"{mode}.out.json"
    log_path = workdir / f"{mode}.log"
    args_path.write_text(json.dumps(args))
    with log_path.open("ab") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.child",
            mode,
            str(args_path),
            str(out_path),
            stdout=log,
            stderr=log,
            env=child_env(),
        )
        code = await proc.wait()
    maxrss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if code != 0 or not out_path.exists():
        tail = log_path.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"bench child {mode!r} exited {code}; log {log_path}:\n{tail}")
    result: dict[str, Any] = json.loads(out_path.read_text())
    return result, maxrss_mb

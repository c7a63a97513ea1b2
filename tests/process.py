"""Run the real ``alertd run`` as a child process for lifecycle tests (signals, kill -9, endpoints)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml


class AlertdProcess:
    """One ``python -m alertd run`` child with its config file and a log file."""

    def __init__(
        self, tmp_path: Path, doc: dict[str, Any], env: dict[str, str] | None = None, name: str = "alertd"
    ) -> None:
        self.config = tmp_path / f"{name}.yaml"
        self.log = tmp_path / f"{name}.log"
        self.write_config(doc)
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith(("ALERTD_", "NOTIFY_SOCKET", "WATCHDOG_"))
        }
        # Print every ResourceWarning (Python hides them by default) so a test can see a leak.
        self.env["PYTHONWARNINGS"] = "always::ResourceWarning"
        self.env.update(env or {})
        self.proc: subprocess.Popen[bytes] | None = None

    def write_config(self, doc: dict[str, Any]) -> None:
        self.config.write_text(yaml.safe_dump(doc))

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "alertd", "run", "--config", str(self.config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
            )

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    async def wait_exit(self, timeout: float) -> int:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"alertd did not exit within {timeout}s\n{self.output()}")
            await asyncio.sleep(0.05)
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def unclosed(self) -> list[str]:
        """Output lines reporting a resource left open (ResourceWarning, aiohttp's "Unclosed ...")."""
        return [
            line for line in self.output().splitlines() if "ResourceWarning" in line or "Unclosed" in line
        ]

    async def wait_for(
        self, check: Callable[[], bool], timeout: float = 20.0, what: str = "condition"
    ) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"alertd exited ({self.proc.returncode}) before {what}\n{self.output()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out waiting for {what}\n{self.output()[-4000:]}")
            await asyncio.sleep(0.05)


def http_get(url: str) -> tuple[int, str]:
    """GET without proxies; returns (status, body), status 0 when nothing answers."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=2) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()
    except OSError:
        return 0, ""


async def aget(url: str) -> tuple[int, str]:
    """http_get from async code."""
    return await asyncio.to_thread(http_get, url)

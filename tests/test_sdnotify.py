"""sd_notify client: messages reach a fake manager socket; no socket or a foreign watchdog is quiet."""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog.testing

from alertd import sdnotify


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
        monkeypatch.delenv(name, raising=False)


def _receiver(address: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(2.0)
    return sock


@pytest.fixture
def manager(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    path = tmp_path / "notify.sock"
    with _receiver(str(path)) as sock:
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        yield sock


def _drain(sock: socket.socket) -> list[str]:
    sock.setblocking(False)
    messages = []
    while True:
        try:
            messages.append(sock.recv(4096).decode())
        except BlockingIOError:
            return messages


def test_ready_and_status_reach_path_socket(manager: socket.socket) -> None:
    """READY=1 with a status (made one line) arrives at a filesystem NOTIFY_SOCKET."""
    assert sdnotify.ready("polling 2 sources\nand more")
    assert manager.recv(4096) == b"READY=1\nSTATUS=polling 2 sources and more"


def test_abstract_namespace_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    """A NOTIFY_SOCKET starting with '@' is the Linux abstract namespace."""
    name = f"alertd-test-{uuid.uuid4().hex}"
    with _receiver("\0" + name) as sock:
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert sdnotify.stopping()
        assert sock.recv(4096) == b"STOPPING=1"


def test_reloading_carries_monotonic_usec(manager: socket.socket) -> None:
    """RELOADING=1 carries MONOTONIC_USEC from CLOCK_MONOTONIC, as Type=notify-reload expects."""
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert sdnotify.reloading()
    first, second = manager.recv(4096).decode().split("\n")
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert first == "RELOADING=1"
    key, value = second.split("=")
    assert key == "MONOTONIC_USEC"
    assert before <= int(value) <= after


def test_no_notify_socket_returns_false() -> None:
    """Without NOTIFY_SOCKET every call is a no-op returning False."""
    assert sdnotify.notify("READY=1") is False
    assert sdnotify.ready() is False
    assert sdnotify.watchdog() is False
    assert sdnotify.watchdog_interval() is None


def test_send_failure_returns_false_and_logs_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A dead socket makes notify() return False without raising, logged once until a send works."""
    with _receiver(str(tmp_path / "first.sock")):
        monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "first.sock"))
        assert sdnotify.watchdog() is True  # a send that works: no failure streak carried in
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "missing.sock"))
    with structlog.testing.capture_logs() as logs:
        assert sdnotify.watchdog() is False
        assert sdnotify.watchdog() is False
        with _receiver(str(tmp_path / "back.sock")):
            monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "back.sock"))
            assert sdnotify.watchdog() is True
        assert sdnotify.watchdog() is False  # the receiver is gone again: a new failure streak
    assert [entry["event"] for entry in logs] == ["sd_notify_failed", "sd_notify_failed"]


def _receive(sock: socket.socket, count: int, timeout: float = 10.0) -> list[str]:
    """Block until ``count`` datagrams arrived (each within ``timeout``); return them."""
    sock.settimeout(timeout)
    return [sock.recv(4096).decode() for _ in range(count)]


async def test_watchdog_loop_pings_every_half_interval(
    manager: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    """watchdog_loop sends WATCHDOG=1 at once and then again and again, never more often than every WATCHDOG_USEC/2."""
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert sdnotify.watchdog_interval() == pytest.approx(0.2)
    stop = asyncio.Event()
    started = time.monotonic()
    task = asyncio.create_task(sdnotify.watchdog_loop(stop))
    first = await asyncio.to_thread(_receive, manager, 3)
    stop.set()
    await asyncio.wait_for(task, timeout=10)
    elapsed = time.monotonic() - started
    pings = first + _drain(manager)
    assert set(pings) == {"WATCHDOG=1"}
    # The first ping goes out at once, each later one at least 0.1 s after the one before: however
    # slow the machine, n pings need (n - 1) * 0.1 s.
    assert (len(pings) - 1) * 0.1 <= elapsed + 0.01, f"{len(pings)} pings in {elapsed:.3f}s"


async def test_watchdog_loop_returns_when_stopped_without_waiting_out_the_period(
    manager: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Setting the stop event ends watchdog_loop at once, not at its next ping 30 s later."""
    monkeypatch.setenv("WATCHDOG_USEC", "60000000")  # a ping every 30 s
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    stop = asyncio.Event()
    task = asyncio.create_task(sdnotify.watchdog_loop(stop))
    assert await asyncio.to_thread(_receive, manager, 1) == ["WATCHDOG=1"]
    stop.set()
    await asyncio.wait_for(task, timeout=10)  # a third of the period: it did not wait it out
    assert _drain(manager) == []


async def test_watchdog_for_another_pid_is_disabled(
    manager: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    """WATCHDOG_PID naming another process disables the watchdog: no interval, no pings."""
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))
    assert sdnotify.watchdog_interval() is None
    await asyncio.wait_for(sdnotify.watchdog_loop(asyncio.Event()), timeout=1.0)
    assert _drain(manager) == []

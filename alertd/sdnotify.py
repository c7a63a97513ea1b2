"""systemd readiness, status, reload and watchdog notifications (sd_notify protocol).

This module owns every message alertd sends to the service manager. It is a pure-Python
implementation of the stable datagram protocol described in sd_notify(3), so alertd needs no
libsystemd binding. Outside systemd (no ``NOTIFY_SOCKET``, e.g. Docker or a shell) every call is
a cheap no-op that returns False.

Sending never raises: a daemon must not die because the manager's socket went away. The first
failure in a row is logged; later ones stay quiet until a send succeeds again, so a broken socket
cannot flood the journal with one line per watchdog ping.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time

import structlog

__all__ = [
    "notify",
    "ready",
    "reloading",
    "stopping",
    "watchdog",
    "watchdog_interval",
    "watchdog_loop",
]

log = structlog.stdlib.get_logger(__name__)

# A wedged manager could leave the datagram queue full; bound the time the event loop can block.
_SEND_TIMEOUT_S = 2.0

# True while sends are failing and the failure has already been logged.
_failure_logged = False


def _socket_address() -> str | None:
    """Return the socket path from NOTIFY_SOCKET, mapped for the abstract namespace, or None."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return None
    if addr.startswith("@"):
        # Linux abstract namespace: systemd writes a leading "@" for the leading NUL byte.
        return "\0" + addr[1:]
    return addr


def _log_failure(event: str, **fields: object) -> None:
    global _failure_logged
    if not _failure_logged:
        _failure_logged = True
        log.warning(event, **fields)


def notify(message: str) -> bool:
    """Send one sd_notify message; return True if it was handed to the manager's socket."""
    global _failure_logged
    addr = _socket_address()
    if addr is None:
        return False
    if not addr.startswith(("/", "\0")):
        # vsock: (systemd >= 254, VMs) and other schemes are not needed by alertd.
        _log_failure("sd_notify_unsupported_socket", notify_socket=os.environ.get("NOTIFY_SOCKET"))
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.settimeout(_SEND_TIMEOUT_S)
            sock.connect(addr)
            sock.sendall(message.encode())
    except OSError as exc:
        _log_failure("sd_notify_failed", error=str(exc), message=message.split("\n", 1)[0])
        return False
    _failure_logged = False
    return True


def _status_line(text: str) -> str:
    # Each line of a notify message is one assignment; a newline in the text would start a new one.
    return "STATUS=" + " ".join(text.splitlines())


def ready(status: str | None = None) -> bool:
    """Tell systemd that start-up (or a reload) finished; optionally set the status line too."""
    message = "READY=1"
    if status:
        message += "\n" + _status_line(status)
    return notify(message)


def reloading() -> bool:
    """Announce a configuration reload; follow it with ready() once the reload is done.

    MONOTONIC_USEC lets ``Type=notify-reload`` (systemd >= 253) match this message to the SIGHUP
    it sent; older managers ignore the field.
    """
    usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    return notify(f"RELOADING=1\nMONOTONIC_USEC={usec}")


def stopping() -> bool:
    """Announce that shutdown has begun."""
    return notify("STOPPING=1")


def watchdog() -> bool:
    """Send one keep-alive ping."""
    return notify("WATCHDOG=1")


def watchdog_interval() -> float | None:
    """Return the watchdog timeout in seconds if this process must ping, else None.

    WATCHDOG_PID names the process the manager expects pings from; if it names another process
    (e.g. the variable leaked into a child), this process must stay quiet.
    """
    usec = os.environ.get("WATCHDOG_USEC")
    if not usec:
        return None
    pid = os.environ.get("WATCHDOG_PID")
    try:
        if pid and int(pid) != os.getpid():
            return None
        value = int(usec)
    except ValueError:
        return None
    if value <= 0:
        return None
    return value / 1_000_000


async def watchdog_loop(stop: asyncio.Event) -> None:
    """Ping the watchdog every interval/2 until ``stop`` is set; return at once if not enabled.

    The pings come from an event-loop task on purpose: if the loop stalls, the pings stop and
    systemd kills and restarts the daemon, which a background thread would hide.
    """
    interval = watchdog_interval()
    if interval is None:
        return
    period = interval / 2
    while not stop.is_set():
        watchdog()
        try:
            await asyncio.wait_for(stop.wait(), timeout=period)
        except TimeoutError:
            continue

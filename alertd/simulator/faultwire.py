"""How both simulators (EM's and VBR's middleware) act out armed faults on the wire.

A delay that wakes up at shutdown, a connection dropped with a TCP RST and no answer, and an
oversized 200 that streams padding after a plausible start until ``action.size`` bytes (or the
client hangs up). Which fault fires, and what each server's answers look like, stays with each
middleware.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Final, NoReturn

from aiohttp import web

from alertd.simulator.faults import FaultAction

__all__ = ["pause", "reset", "stream_oversized"]

_PADDING: Final = b" " * 65536


async def pause(stopping: asyncio.Event, seconds: float) -> None:
    """Sleep, but wake up at shutdown so a stopped simulator does not hang on slow answers."""
    try:
        async with asyncio.timeout(seconds):
            await stopping.wait()
    except TimeoutError:
        pass


def reset(request: web.Request) -> NoReturn:
    """Drop the connection with a TCP RST and no answer at all."""
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:  # linger 0 turns close() into an RST instead of a FIN
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    # aiohttp treats a cancelled handler as a vanished client: nothing is written or logged.
    raise asyncio.CancelledError


async def stream_oversized(
    request: web.Request,
    response: web.StreamResponse,
    head: bytes,
    action: FaultAction,
    stopping: asyncio.Event,
) -> web.StreamResponse:
    """Send ``response`` (a 200 with its headers set) as ``head`` then padding, ``action.size`` bytes.

    The length is declared up front or the body is chunked, as ``action.declare_length`` says.
    """
    if action.declare_length:
        response.content_length = action.size
    else:
        response.enable_chunked_encoding()
    await response.prepare(request)
    head = head[: action.size]
    try:
        await response.write(head)
        sent = len(head)
        while sent < action.size and not stopping.is_set():
            piece = _PADDING[: action.size - sent]
            await response.write(piece)
            sent += len(piece)
        await response.write_eof()
    except ConnectionError:
        pass  # the client hung up, which is what a size cap should do
    return response

"""Polls in flight, and the reloads that must neither break one nor close a client under it.

`PollGate` owns three rules:

* a reload closes the gate, so no new poll starts while it swaps the configuration;
* it waits, up to a bound (the read timeout), for the polls in flight to end, so a poll runs
  under one configuration from its first request to its record;
* a client the reload retired is closed only once no poll uses it: at once when idle, else when
  the last poll using it ends, even when the reload stopped waiting for that poll.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Protocol

import structlog

log = structlog.get_logger(__name__)


class Closable(Protocol):
    """A client with an async close (a `alertd.source.Source`)."""

    async def close(self) -> None: ...


class PollGate:
    """Tracks which clients polls are using; lets a reload wait for them and retire clients safely."""

    def __init__(self) -> None:
        self._open = asyncio.Event()
        self._open.set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._users: dict[Closable, int] = {}
        self._retired: set[Closable] = set()
        self._closing: set[asyncio.Task[None]] = set()

    async def wait_open(self) -> None:
        """Return when no reload is swapping (a poll loop calls this before it picks its config)."""
        await self._open.wait()

    @contextmanager
    def using(self, client: Closable) -> Iterator[None]:
        """Mark ``client`` in use for the duration of one poll."""
        self._users[client] = self._users.get(client, 0) + 1
        self._idle.clear()
        try:
            yield
        finally:
            self._users[client] -= 1
            if not self._users[client]:
                del self._users[client]
                if client in self._retired:
                    self._retired.discard(client)
                    self._close_later(client)
            if not self._users:
                self._idle.set()

    def in_use(self, client: Closable) -> bool:
        """Whether a poll is using ``client`` now."""
        return client in self._users

    @property
    def busy(self) -> int:
        """How many polls are in flight."""
        return sum(self._users.values())

    @asynccontextmanager
    async def closed(self, timeout: float) -> AsyncIterator[bool]:
        """Hold new polls back; wait up to ``timeout`` s for those in flight. Yields whether all ended."""
        self._open.clear()
        try:
            try:
                async with asyncio.timeout(timeout):
                    await self._idle.wait()
                idle = True
            except TimeoutError:
                idle = False
            yield idle
        finally:
            self._open.set()

    async def retire(self, clients: Iterable[Closable]) -> None:
        """Close each client now if no poll uses it, else as soon as the last poll using it ends."""
        idle = []
        for client in clients:
            if client in self._users:
                self._retired.add(client)
                log.info("client_retired_after_poll", note="closed when its poll in flight ends")
            else:
                idle.append(client)
        await asyncio.gather(*(_close(c) for c in idle))

    async def close_all(self, clients: Iterable[Closable], timeout: float) -> None:
        """At shutdown: close ``clients`` and every retired client, in use or not (the caller has
        given up on the polls still running), after waiting up to ``timeout`` s for closes under way.
        """
        leftover = [*clients, *self._retired]
        self._retired.clear()
        if self._closing:
            await asyncio.wait(set(self._closing), timeout=timeout)
        await asyncio.gather(*(_close(c) for c in leftover))

    def _close_later(self, client: Closable) -> None:
        task = asyncio.get_running_loop().create_task(_close(client), name="close-retired-client")
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)


async def _close(client: Closable) -> None:
    """Close one client; a failure to close is logged, never raised (a close is best effort)."""
    try:
        await client.close()
    except Exception as err:
        log.warning("client_close_failed", error=repr(err))

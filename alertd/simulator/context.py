"""What the HTTP layer shares with the SimulatedEM facade: one Backend per simulator."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from alertd.simulator.auth import TokenStore
from alertd.simulator.clock import Clock
from alertd.simulator.faults import FaultPlan
from alertd.simulator.query import QueryEngine
from alertd.simulator.requestlog import RequestLog
from alertd.simulator.settings import EMSettings
from alertd.simulator.store import SessionStore


@dataclass(slots=True)
class Backend:
    """The simulator's state as the request handlers see it."""

    store: SessionStore
    tokens: TokenStore
    faults: FaultPlan
    log: RequestLog
    settings: EMSettings
    clock: Clock
    query: QueryEngine
    #: Applies the changes EM has collected by now; called before every request is answered.
    collect: Callable[[], object] = lambda: None
    #: Set on shutdown so delayed answers stop waiting.
    stopping: asyncio.Event = field(default_factory=asyncio.Event)


BACKEND = web.AppKey("backend", Backend)

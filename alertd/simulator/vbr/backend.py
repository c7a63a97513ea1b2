"""What the HTTP layer shares with the SimulatedVBR facade: one Backend per simulator."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from alertd.simulator.clock import Clock
from alertd.simulator.faults import FaultPlan
from alertd.simulator.requestlog import RequestLog
from alertd.simulator.vbr.exchange import Exchange
from alertd.simulator.vbr.profiles import PROFILES, Profile
from alertd.simulator.vbr.settings import VBRSettings
from alertd.simulator.vbr.store import VBRStore
from alertd.simulator.vbr.tokens import TokenStore

__all__ = ["BACKEND", "Backend"]


@dataclass(slots=True)
class Backend:
    """The simulator's state as the request handlers see it."""

    store: VBRStore
    tokens: TokenStore
    faults: FaultPlan
    log: RequestLog
    settings: VBRSettings
    clock: Clock
    #: Called with every exchange (tests validate them against the OpenAPI documents).
    observer: Callable[[Exchange], None] | None = None
    #: Set on shutdown so delayed answers stop waiting.
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def profile(self) -> Profile:
        return PROFILES[self.settings.profile]


BACKEND = web.AppKey("vbr_backend", Backend)

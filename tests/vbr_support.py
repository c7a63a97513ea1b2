"""Shared pieces of the VBR tests: TLS material, a simulator harness whose every exchange is
checked against the OpenAPI documents, and helpers.

The fixtures live in `vbr_fixtures`, a plugin that test modules load with
``pytest_plugins = ["vbr_fixtures"]``.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vbr_contract import ContractObserver

from alertd.simulator.clock import ManualClock
from alertd.simulator.vbr import SimulatedVBR
from alertd.vbr import VBRConnection, VBRSource

USER = "CORP\\svc-alertd"
PASSWORD = "s3cret-Pa55word!"
NOW = datetime(2025, 8, 15, 6, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Tls:
    """A test CA, the server's certificate context, and how to trust or pin it."""

    ca_file: Path
    server_context: ssl.SSLContext
    fingerprint: str


@dataclass
class Harness:
    """A running simulator, its clock, and the contract observer of its exchanges."""

    sim: SimulatedVBR
    url: str
    clock: ManualClock
    contract: ContractObserver
    tls: Tls

    def connection(self, **changes: Any) -> VBRConnection:
        settings: dict[str, Any] = {
            "source": "vbr-test",
            "url": self.url,
            "username": USER,
            "password": PASSWORD,
            "ca_file": str(self.tls.ca_file),
            **changes,
        }
        return VBRConnection(**settings)

    def source(self, **changes: Any) -> VBRSource:
        return VBRSource(self.connection(**changes), clock=self.clock)

    def count(self, path: str, method: str = "GET", status: int | None = None) -> int:
        """Requests the simulator received whose path starts with ``path``."""
        return int(self.sim.requests.count_matching(path=path, method=method, status=status))

    def grants(self) -> dict[str, int]:
        return dict(self.sim.tokens.issued)

"""Shared pieces of the VBR tests: TLS material, a simulator harness whose every exchange is
checked against the OpenAPI documents, and helpers. Test modules import the fixtures by name."""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import trustme
from vbr_contract import ContractObserver

from alertd.simulator.clock import ManualClock
from alertd.simulator.vbr import SimulatedVBR, VBRSettings
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


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    """A self-signed-style CA and a loopback certificate, made once per test run."""
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(context)
    ca_file = tmp_path_factory.mktemp("vbr-tls") / "vbr-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    der = ssl.PEM_cert_to_DER_cert(leaf.cert_chain_pems[0].bytes().decode())
    return Tls(ca_file, context, hashlib.sha256(der).hexdigest())


@dataclass
class Harness:
    """A running simulator, its clock, and the contract observer of its exchanges."""

    sim: SimulatedVBR
    url: str
    clock: ManualClock
    contract: ContractObserver
    tls: Tls

    def connection(self, **changes: Any) -> VBRConnection:
        settings: dict[str, Any] = {"ca_file": str(self.tls.ca_file), **changes}
        return VBRConnection(source="vbr-test", url=self.url, username=USER, password=PASSWORD, **settings)

    def source(self, **changes: Any) -> VBRSource:
        return VBRSource(self.connection(**changes), clock=self.clock)

    def count(self, path: str, method: str = "GET", status: int | None = None) -> int:
        """Requests the simulator received whose path starts with ``path``."""
        return int(self.sim.requests.count_matching(path=path, method=method, status=status))

    def grants(self) -> dict[str, int]:
        return dict(self.sim.tokens.issued)


@pytest.fixture
async def vbr(request: pytest.FixtureRequest, tls: Tls) -> AsyncIterator[Harness]:
    """A simulated VBR over HTTPS (profile "13.1" unless parametrized indirectly with another).

    At teardown, every request and answer of the test must have matched the OpenAPI documents.
    """
    profile = getattr(request, "param", "13.1")
    clock = ManualClock(NOW)
    contract = ContractObserver()
    sim = SimulatedVBR(
        username=USER, password=PASSWORD, clock=clock, settings=VBRSettings(profile=profile), observer=contract
    )
    url = await sim.start(ssl_context=tls.server_context)
    try:
        yield Harness(sim, url, clock, contract, tls)
    finally:
        await sim.stop()
    assert contract.violations == [], "\n".join(contract.violations)


@pytest.fixture
def collect_logs() -> Iterator[list[dict[str, Any]]]:
    """structlog events emitted during the test."""
    import structlog.testing

    with structlog.testing.capture_logs() as logs:
        yield logs

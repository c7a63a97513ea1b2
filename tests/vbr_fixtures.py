"""pytest fixtures of the VBR tests; test modules load them with ``pytest_plugins = ["vbr_fixtures"]``."""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import structlog.testing
import trustme
from vbr_contract import ContractObserver
from vbr_support import NOW, PASSWORD, USER, Harness, Tls

from alertd.simulator.clock import ManualClock
from alertd.simulator.vbr import SimulatedVBR, VBRSettings


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


@pytest.fixture
async def vbr(request: pytest.FixtureRequest, tls: Tls) -> AsyncIterator[Harness]:
    """A simulated VBR over HTTPS (profile "13.1" unless parametrized indirectly with another).

    At teardown, every request and answer of the test must have matched the OpenAPI documents.
    """
    profile = getattr(request, "param", "13.1")
    clock = ManualClock(NOW)
    contract = ContractObserver()
    sim = SimulatedVBR(
        username=USER,
        password=PASSWORD,
        clock=clock,
        settings=VBRSettings(profile=profile),
        observer=contract,
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
    with structlog.testing.capture_logs() as logs:
        yield logs

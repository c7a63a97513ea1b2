"""The ``src`` fixture of the black-box tests; test modules load it with
``pytest_plugins = ["vbr_fixtures", "blackbox_fixtures"]``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from blackbox import KINDS, SourceUnderTest, VBRUnderTest
from vbr_support import Tls


@pytest.fixture(params=sorted(KINDS))
async def src(request: pytest.FixtureRequest, tls: Tls) -> AsyncIterator[SourceUnderTest]:
    """A running simulator of each kind: EM over HTTP, VBR over HTTPS (its only scheme)."""
    under_test = KINDS[request.param](tls)
    await under_test.start(https=request.param == "vbr")
    try:
        yield under_test
    finally:
        await under_test.stop()
    if isinstance(under_test, VBRUnderTest):
        assert under_test.contract.violations == [], "\n".join(under_test.contract.violations)

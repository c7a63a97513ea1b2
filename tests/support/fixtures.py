"""pytest fixtures for the loopback servers and a small fillable filesystem; registered via ``pytest_plugins`` in tests/conftest.py.

Plain (sync) fixtures: the servers run in their own threads, so they work with any event loop
scope and from sync tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .smtp import SmtpServer
from .tmpfs import SmallFilesystem
from .webhook import WebhookCollector


@pytest.fixture
def webhook() -> Iterator[WebhookCollector]:
    """A running JSON webhook; ``.url`` is a ``json://`` URL, script answers with ``.script(500, ...)``."""
    with WebhookCollector() as hook:
        yield hook


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A running loopback SMTP server; ``.url`` is an apprise ``mailto://`` URL, ``.stop()``/``.start()``."""
    with SmtpServer() as server:
        yield server


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[SmallFilesystem]:
    """A 16 MiB tmpfs at ``tmp_path / "fs"`` to fill and free (skips the test where mounting is not allowed)."""
    fs = SmallFilesystem(tmp_path / "fs")
    problem = fs.mount()
    if problem is not None:
        pytest.skip(problem)
    try:
        yield fs
    finally:
        fs.unmount()

"""A pytest plugin: a SQLite connection still open when its test ends fails that test.

Python 3.13 warns (ResourceWarning) about a ``sqlite3.Connection`` collected while open; 3.11 and
3.12 say nothing. And a connection is only ever collected by the cyclic garbage collector (it sits
in a reference cycle with its statement cache), so even 3.13's warning comes at some later
collection, in whichever test happens to be running. Here every connection opened during a test,
alertd's own included, is tracked; at the end of the test each one still open is reported as a
ResourceWarning naming where it was opened (the suite's ``filterwarnings = error`` makes that a
failure of that test) and closed, so it cannot hold a lock into the next test.

Registered in ``tests/conftest.py`` through ``pytest_plugins``.
"""

from __future__ import annotations

import contextlib
import sqlite3
import traceback
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_HERE = str(Path(__file__).resolve())


class _TrackedConnection(sqlite3.Connection):
    """A connection that remembers where it was opened and whether it was closed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.target = str(args[0] if args else kwargs.get("database", "?"))
        frames = [f for f in traceback.extract_stack() if f.filename != _HERE]
        self.opened_at = "".join(traceback.format_list(frames[-6:]))
        self.closed = False

    def close(self) -> None:
        self.closed = True
        super().close()


@pytest.fixture(autouse=True)
def _sqlite_connections_are_closed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Track every sqlite3.connect() of the test; report and close those left open at its end."""
    opened: list[_TrackedConnection] = []
    connect = sqlite3.connect

    def tracking_connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        if len(args) > 5 or "factory" in kwargs:  # the caller brings its own connection class
            return connect(*args, **kwargs)
        conn = connect(*args, factory=_TrackedConnection, **kwargs)
        assert isinstance(conn, _TrackedConnection)
        opened.append(conn)
        return conn

    monkeypatch.setattr(sqlite3, "connect", tracking_connect)
    yield
    left_open = [conn for conn in opened if not conn.closed]
    for conn in left_open:
        with contextlib.suppress(sqlite3.Error):  # e.g. opened in another thread
            conn.close()
    for conn in left_open:
        warnings.warn(
            f"sqlite3 connection to {conn.target} left open by the test; opened at:\n{conn.opened_at}",
            ResourceWarning,
            stacklevel=1,
        )

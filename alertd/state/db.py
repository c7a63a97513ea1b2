"""The SQLite file under the state layer: opening it safely, migrating it, and transactions.

The file is created 0600 (its directory 0700) and runs in WAL mode with synchronous=FULL, so a
committed transaction survives a crash or power loss. Every write is one ``BEGIN IMMEDIATE``
transaction; every failure surfaces as `StateError` with SQLite's own message.
"""

from __future__ import annotations

import functools
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from alertd.state.schema import MIGRATIONS, SCHEMA_VERSION


class StateError(Exception):
    """The state database could not be read or written (locked, disk full, corrupt)."""


_F = TypeVar("_F", bound=Callable[..., Any])


def reading(method: _F) -> _F:
    """Report a failed read (locked, corrupt, I/O error) as StateError, like writes."""

    @functools.wraps(method)
    def wrapper(self: Database, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as err:
            raise StateError(f"state database {self.path}: {err}") from err

    return wrapper  # type: ignore[return-value]


class Database:
    """One open state file. Not thread-safe: use it from the event loop thread only."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._db = self._open()
            try:
                self._migrate()
            except BaseException:
                self._db.close()  # refused (e.g. a newer schema): do not leak the open file
                raise
        except (sqlite3.Error, OSError) as err:
            raise StateError(f"cannot open state database {self.path}: {err}") from err

    def _open(self) -> sqlite3.Connection:
        if str(self.path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # Create the file 0600 before SQLite does; its -wal and -shm files copy this mode.
            fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
            os.close(fd)
            self.path.chmod(0o600)
        db = sqlite3.connect(self.path, isolation_level=None, timeout=5.0)
        try:
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA foreign_keys=ON")
        except BaseException:
            db.close()  # e.g. "file is not a database"
            raise
        return db

    def _migrate(self) -> None:
        current = self.schema_version()
        #: The schema version the file had when opened (0: new); later steps may need to know.
        self.opened_at_version = current
        if current > SCHEMA_VERSION:
            raise StateError(
                f"state database {self.path} has schema version {current}, newer than this alertd "
                f"understands ({SCHEMA_VERSION}); upgrade alertd or use another state.path"
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            with self._tx():
                for statement in MIGRATIONS[version].split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version={version}")

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                # SQLite may already have rolled back (e.g. SQLITE_FULL); a second ROLLBACK would
                # replace the real error with "no transaction is active".
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        except sqlite3.Error as err:
            raise StateError(f"state database {self.path}: {err}") from err

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def schema_version(self) -> int:
        """The schema version of the open file."""
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])


def chunks(values: list[str], size: int = 500) -> Iterator[list[str]]:
    """``values`` in slices small enough for one ``IN (?, ...)`` list."""
    for i in range(0, len(values), size):
        yield values[i : i + size]

"""A small tmpfs that a test can fill to the last byte and empty again: a real "disk full".

Writing to a full filesystem fails with ENOSPC, which SQLite reports as SQLITE_FULL ("database or
disk is full"), exactly as on a full /var in production, with nothing in alertd set or reached into.
Mounting needs root (CAP_SYS_ADMIN), which the developers' and CI's machines have; elsewhere the
fixture skips the test, saying why.

    def test_x(small_fs: SmallFilesystem) -> None:
        state = small_fs.path / "state.db"
        ...
        small_fs.fill(wal_of=state)   # the next write to state fails
        small_fs.free()               # space is back
"""

from __future__ import annotations

import errno
import sqlite3
import subprocess
from pathlib import Path


class SmallFilesystem:
    """A tmpfs of ``size_mb`` at ``path``; ``fill()`` takes every free byte, ``free()`` gives them back."""

    def __init__(self, path: Path, size_mb: int = 16) -> None:
        self.path = path
        self.size_mb = size_mb
        self._ballast = path / "ballast"

    def mount(self) -> str | None:
        """Mount it; None on success, else why it could not be mounted."""
        self.path.mkdir(parents=True, exist_ok=True)
        try:
            subprocess.run(
                [
                    "mount",
                    "-t",
                    "tmpfs",
                    "-o",
                    f"size={self.size_mb}m,mode=0700",
                    "alertd-test",
                    str(self.path),
                ],
                check=True,
                capture_output=True,
                text=True,
                timeout=30,
            )
        except (OSError, subprocess.SubprocessError) as err:
            detail = getattr(err, "stderr", "") or str(err)
            return f"cannot mount a tmpfs (needs root): {detail.strip()}"
        return None

    def unmount(self) -> None:
        """Unmount (lazily if something still holds a file open)."""
        done = subprocess.run(["umount", str(self.path)], capture_output=True, timeout=30, check=False)
        if done.returncode != 0:
            subprocess.run(["umount", "-l", str(self.path)], capture_output=True, timeout=30, check=True)

    def fill(self, wal_of: Path | None = None) -> None:
        """Take every free byte, so the next write that needs new space fails with ENOSPC.

        With ``wal_of``, first checkpoint that SQLite database and truncate its WAL (through a
        second connection, as WAL mode allows): its next transaction then needs new space from
        its first byte, instead of reusing WAL space allocated earlier.
        """
        if wal_of is not None:
            db = sqlite3.connect(wal_of, isolation_level=None)
            try:
                busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            finally:
                db.close()
            assert busy == 0, "the WAL could not be truncated: a transaction is open"
        chunk = bytes(64 * 1024)
        with self._ballast.open("ab", buffering=0) as ballast:
            while True:
                try:
                    ballast.write(chunk)  # a short write takes the last pages; the next one fails
                except OSError as err:
                    if err.errno != errno.ENOSPC:
                        raise
                    return

    def free(self) -> None:
        """Give the space back."""
        self._ballast.unlink(missing_ok=True)

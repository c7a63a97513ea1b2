"""Silences in the state database: written by the CLI, read by the running daemon without a restart."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta

from alertd.records import Silence
from alertd.state.codec import ts
from alertd.state.db import Database, reading
from alertd.state.rows import SILENCE


class SilencesMixin(Database):
    """Adding, listing and expiring silences."""

    def add_silence(
        self,
        matchers: Sequence[str],
        *,
        comment: str,
        created_by: str,
        now: datetime,
        ends_at: datetime | None,
        until_resolved: bool,
    ) -> int:
        """Store a silence; returns its id."""
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO silences (matchers, comment, created_by, created_at, ends_at, until_resolved) "
                "VALUES (?,?,?,?,?,?)",
                (
                    json.dumps(list(matchers)),
                    comment,
                    created_by,
                    ts(now),
                    ts(ends_at) if ends_at else None,
                    int(until_resolved),
                ),
            )
            return int(cur.lastrowid or 0)

    @reading
    def silences(self) -> list[Silence]:
        """Every silence, newest first."""
        rows = self._db.execute(f"SELECT {SILENCE.column_list()} FROM silences ORDER BY id DESC")
        return [SILENCE.decode(r) for r in rows]

    def prune_silences(self, now: datetime, keep_history: timedelta) -> int:
        """Forget silences that ended more than ``keep_history`` ago; returns how many."""
        cutoff = ts(now - keep_history)
        with self._tx() as db:
            cur = db.execute(
                "DELETE FROM silences WHERE (expired_at IS NOT NULL AND expired_at < ?) "
                "OR (expired_at IS NULL AND ends_at IS NOT NULL AND ends_at < ?)",
                (cutoff, cutoff),
            )
            return cur.rowcount

    def expire_silence(self, silence_id: int, now: datetime, reason: str) -> bool:
        """End a silence now; False when there is no such active silence."""
        with self._tx() as db:
            cur = db.execute(
                "UPDATE silences SET expired_at=?, expired_reason=? WHERE id=? AND expired_at IS NULL",
                (ts(now), reason, silence_id),
            )
            return cur.rowcount == 1

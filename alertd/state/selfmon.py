"""Self-monitoring state in the state database: each source's checks (failing since when, why,
whether their alert was sent), written in one transaction with the self-alert they send.
"""

from __future__ import annotations

from datetime import datetime

from alertd.records import PlannedMessage
from alertd.selfmon import Check, CheckState
from alertd.state.codec import RowCodec, ts
from alertd.state.db import reading
from alertd.state.outbox import OutboxMixin

CHECK = RowCodec(CheckState)


class SelfMonitorMixin(OutboxMixin):
    """Stored self-monitoring checks."""

    @reading
    def self_checks(self) -> dict[tuple[str, Check], CheckState]:
        """Every stored check by (source, check); a check not stored is healthy."""
        rows = self._db.execute(f"SELECT source, check_name, {CHECK.column_list()} FROM self_checks")
        return {(r[0], Check(r[1])): CHECK.decode(r, 2) for r in rows}

    def save_check(
        self,
        source: str,
        check: Check,
        state: CheckState,
        now: datetime,
        message: tuple[str, PlannedMessage] | None = None,
    ) -> None:
        """Store one check's state and, in the same transaction, the (group key, message) it sends."""
        stamp = ts(now)
        with self._tx() as db:
            if state == CheckState():
                db.execute("DELETE FROM self_checks WHERE source=? AND check_name=?", (source, check.value))
            else:
                db.execute(
                    f"INSERT OR REPLACE INTO self_checks (source, check_name, {CHECK.column_list()}, updated_at) "
                    f"VALUES (?,?,{CHECK.marks()},?)",
                    (source, check.value, *CHECK.encode(state), stamp),
                )
            if message is not None:
                key, planned = message
                self._insert_message(db, key, planned, self._new_flush(db, stamp), stamp)

"""The outbox: messages and their per-target delivery rows, written before sending, marked after."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from alertd.model import Attachment, BodyFormat, NotifyType, RenderedMessage
from alertd.records import Delivery, DeliveryStatus, PlannedDelivery, PlannedMessage
from alertd.state.codec import dt, ts
from alertd.state.db import Database, reading

_PENDING = DeliveryStatus.PENDING.value


def _attachments_out(items: tuple[Attachment, ...]) -> str | None:
    if not items:
        return None
    return json.dumps([[a.name, a.mime_type, a.content] for a in items])


def _attachments_in(text: str | None) -> tuple[Attachment, ...]:
    return tuple(Attachment(*item) for item in json.loads(text)) if text else ()


class OutboxMixin(Database):
    """The delivery half of the state database."""

    @staticmethod
    def _new_flush(db: sqlite3.Connection, stamp: str) -> int:
        return int(db.execute("INSERT INTO flushes (created_at) VALUES (?)", (stamp,)).lastrowid or 0)

    @staticmethod
    def _insert_message(
        db: sqlite3.Connection, group_key: str, msg: PlannedMessage, flush_id: int, stamp: str
    ) -> int:
        """One message row and its per-target outbox rows."""
        message_id = int(
            db.execute(
                "INSERT INTO messages (group_key, receiver, sequence, flush_id, alert_count, title, created_at) "
                "VALUES (?,?,?,?,?,?,?)",
                (group_key, msg.receiver, msg.sequence, flush_id, msg.alert_count, msg.title, stamp),
            ).lastrowid
            or 0
        )
        OutboxMixin._insert_deliveries(db, message_id, msg.deliveries, stamp)
        return message_id

    @staticmethod
    def _insert_deliveries(
        db: sqlite3.Connection, message_id: int, deliveries: Iterable[PlannedDelivery], stamp: str
    ) -> None:
        db.executemany(
            "INSERT INTO deliveries (message_id, receiver, target, title, body, body_format, notify_type, "
            "text, attachments, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    message_id,
                    d.receiver,
                    d.target,
                    d.message.title,
                    d.message.body,
                    d.message.body_format.value,
                    d.message.notify_type.value,
                    d.message.text,
                    _attachments_out(d.message.attachments),
                    stamp,
                )
                for d in deliveries
            ],
        )

    def add_message(self, group_key: str, message: PlannedMessage, now: datetime) -> int:
        """Write a standalone message (self-alert, dead-letter report, test) to the outbox."""
        stamp = ts(now)
        with self._tx() as db:
            return self._insert_message(db, group_key, message, self._new_flush(db, stamp), stamp)

    @reading
    def pending_deliveries(self, target: str | None = None) -> list[Delivery]:
        """Outbox rows still to send, oldest first (optionally for one target)."""
        sql = (
            "SELECT id, message_id, receiver, target, title, body, body_format, notify_type, text, attachments, "
            "status, attempts, created_at, last_error FROM deliveries WHERE status=?"
        )
        args: tuple[str, ...] = (_PENDING,)
        if target is not None:
            sql += " AND target=?"
            args = (_PENDING, target)
        return [_delivery(r) for r in self._db.execute(sql + " ORDER BY id", args)]

    @reading
    def pending_targets(self) -> set[str]:
        """Targets that have something pending."""
        rows = self._db.execute("SELECT DISTINCT target FROM deliveries WHERE status=?", (_PENDING,))
        return {r[0] for r in rows}

    @reading
    def outbox_depth(self) -> int:
        """How many outbox rows are pending."""
        return int(
            self._db.execute("SELECT COUNT(*) FROM deliveries WHERE status=?", (_PENDING,)).fetchone()[0]
        )

    def record_attempt(self, delivery_id: int, now: datetime, error: str | None) -> None:
        """Count one failed attempt, keeping the row pending."""
        with self._tx() as db:
            db.execute(
                "UPDATE deliveries SET attempts=attempts+1, last_attempt_at=?, last_error=? WHERE id=?",
                (ts(now), error, delivery_id),
            )

    def mark_sent(self, delivery_id: int, now: datetime) -> None:
        """The row was delivered."""
        with self._tx() as db:
            db.execute(
                "UPDATE deliveries SET status=?, attempts=attempts+1, last_attempt_at=?, finished_at=?, "
                "last_error=NULL WHERE id=? AND status=?",
                (DeliveryStatus.SENT.value, ts(now), ts(now), delivery_id, _PENDING),
            )

    def mark_dead(self, delivery_id: int, now: datetime, error: str, report: PlannedMessage | None) -> None:
        """Give up on a row; optionally write the dead-letter report for the fallback receiver in the same tx."""
        stamp = ts(now)
        with self._tx() as db:
            db.execute(
                "UPDATE deliveries SET status=?, finished_at=?, last_error=? WHERE id=? AND status=?",
                (DeliveryStatus.DEAD.value, stamp, error, delivery_id, _PENDING),
            )
            if report is not None:
                key = f"dead-letter|{delivery_id}"
                self._insert_message(db, key, report, self._new_flush(db, stamp), stamp)

    @reading
    def orphaned_deliveries(self, configured: Iterable[str]) -> list[Delivery]:
        """Pending rows whose target is not in ``configured`` (its URL was removed), oldest first."""
        known = set(configured)
        return [d for d in self.pending_deliveries() if d.target not in known]

    @reading
    def message_targets(self, message_id: int) -> set[str]:
        """Targets a message was (or is being) delivered to: every row not closed as removed."""
        rows = self._db.execute(
            "SELECT target FROM deliveries WHERE message_id=? AND status != ?",
            (message_id, DeliveryStatus.REMOVED.value),
        )
        return {r[0] for r in rows}

    def redirect_delivery(
        self, delivery_id: int, moved_to: Sequence[PlannedDelivery], reason: str, now: datetime
    ) -> bool:
        """Close a pending row as removed (with ``reason``) and add ``moved_to`` rows to its message, in one tx.

        False when the row was no longer pending (sent or closed meanwhile): nothing is written.
        """
        stamp = ts(now)
        with self._tx() as db:
            row = db.execute(
                "SELECT message_id FROM deliveries WHERE id=? AND status=?", (delivery_id, _PENDING)
            ).fetchone()
            if row is None:
                return False
            db.execute(
                "UPDATE deliveries SET status=?, finished_at=?, last_error=? WHERE id=?",
                (DeliveryStatus.REMOVED.value, stamp, reason, delivery_id),
            )
            self._insert_deliveries(db, row[0], moved_to, stamp)
        return True

    def prune_history(self, now: datetime, keep_history: timedelta) -> None:
        """Forget finished messages and deliveries older than ``keep_history``."""
        cutoff = ts(now - keep_history)
        with self._tx() as db:
            db.execute(
                "DELETE FROM deliveries WHERE status != ? AND created_at < ? AND message_id IN "
                "(SELECT id FROM messages WHERE created_at < ?)",
                (_PENDING, cutoff, cutoff),
            )
            db.execute(
                "DELETE FROM messages WHERE created_at < ? AND NOT EXISTS "
                "(SELECT 1 FROM deliveries d WHERE d.message_id = messages.id)",
                (cutoff,),
            )


def _delivery(r: sqlite3.Row) -> Delivery:
    return Delivery(
        id=r["id"],
        message_id=r["message_id"],
        receiver=r["receiver"],
        target=r["target"],
        message=RenderedMessage(
            r["title"],
            r["body"],
            BodyFormat(r["body_format"]),
            NotifyType(r["notify_type"]),
            text=r["text"],
            attachments=_attachments_in(r["attachments"]),
        ),
        status=DeliveryStatus(r["status"]),
        attempts=r["attempts"],
        created_at=dt(r["created_at"]),
        last_error=r["last_error"],
    )

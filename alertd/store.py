"""Durable state in one SQLite file: watermarks, alerted UIDs, pending group members and the outbox.

Every method is one transaction, so a crash at any instant leaves either the state before it or
the state after it. The file is created 0600 and runs in WAL mode with synchronous=FULL.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from alertd.incidents import Incident
from alertd.model import BodyFormat, GroupKind, NotifyType, RenderedMessage, TaskSession
from alertd.records import (
    Delivery,
    NewMember,
    OpenMember,
    PlannedDelivery,
    PlannedMessage,
    PollRecord,
    Silence,
    detail_from_json,
    detail_to_json,
    incident_from_json,
    incident_to_json,
    session_from_json,
    session_to_json,
)
from alertd.records import dt as _dt
from alertd.records import ts as _ts
from alertd.schema import _MIGRATIONS, SCHEMA_VERSION

__all__ = [
    "SCHEMA_VERSION",
    "Delivery",
    "NewMember",
    "OpenMember",
    "PlannedDelivery",
    "PlannedMessage",
    "PollRecord",
    "Silence",
    "StateError",
    "Store",
    "session_from_json",
    "session_to_json",
]


class StateError(Exception):
    """The state database could not be read or written (locked, disk full, corrupt)."""


_F = TypeVar("_F", bound=Callable[..., Any])


def _reading(method: _F) -> _F:
    """Report a failed read (locked, corrupt, I/O error) as StateError, like writes."""

    @functools.wraps(method)
    def wrapper(self: Store, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as err:
            raise StateError(f"state database {self.path}: {err}") from err

    return wrapper  # type: ignore[return-value]


class Store:
    """The state database. Not thread-safe: use it from the event loop thread only."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._db = self._open()
            self._migrate()
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
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA foreign_keys=ON")
        return db

    def _migrate(self) -> None:
        current = self._db.execute("PRAGMA user_version").fetchone()[0]
        if current > SCHEMA_VERSION:
            raise StateError(
                f"state database {self.path} has schema version {current}, newer than this alertd "
                f"understands ({SCHEMA_VERSION}); upgrade alertd or use another state.path"
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            with self._tx():
                for statement in _MIGRATIONS[version].split(";"):
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

    # -- polling ------------------------------------------------------------------------------

    @_reading
    def watermark(self, source: str) -> datetime | None:
        """The newest EndTime read from ``source``, or None before its first successful poll."""
        row = self._db.execute("SELECT watermark FROM watermarks WHERE source=?", (source,)).fetchone()
        return None if row is None else _dt(row[0])

    @_reading
    def unseen(self, source: str, sessions: Sequence[TaskSession]) -> list[TaskSession]:
        """The sessions whose UID has not been recorded for ``source`` yet."""
        if not sessions:
            return []
        seen: set[str] = set()
        uids = [s.uid for s in sessions]
        for i in range(0, len(uids), 500):
            chunk = uids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT uid FROM alerts WHERE source=? AND uid IN ({marks})", (source, *chunk)
            )
            seen.update(r[0] for r in rows)
        fresh: dict[str, TaskSession] = {}
        for s in sessions:
            if s.uid not in seen:
                fresh.setdefault(s.uid, s)
        return list(fresh.values())

    def record_poll(
        self,
        source: str,
        record: PollRecord,
        watermark: datetime,
        now: datetime,
        prune_before: datetime | None = None,
        keep_history: timedelta = timedelta(days=7),
    ) -> int:
        """Record a successful poll in one transaction: new alerts, their group members, the watermark.

        ``record`` holds the new alerts as (session, status, members), and the members to close,
        the incidents to update and the silences to expire. Returns how many alerts were new (a UID
        already recorded is skipped, so a repeated poll never alerts twice).
        """
        added = 0
        stamp = _ts(now)
        with self._tx() as db:
            for session, status, members in record.alerts:
                cur = db.execute(
                    "INSERT OR IGNORE INTO alerts (source, uid, session, end_time, first_seen, status) "
                    "VALUES (?,?,?,?,?,?)",
                    (
                        source,
                        session.uid,
                        session_to_json(session),
                        _ts(session.end_time) if session.end_time else None,
                        stamp,
                        status,
                    ),
                )
                if cur.rowcount != 1:
                    continue
                added += 1
                db.executemany(
                    "INSERT INTO members (source, uid, group_key, receivers, group_wait, added_at, route, kind, "
                    "hold_until, attempts, detail, job_name, vm_key) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    [
                        (
                            source,
                            m.uid,
                            m.group_key,
                            json.dumps(m.receivers),
                            m.group_wait.total_seconds(),
                            stamp,
                            m.route,
                            m.kind.value,
                            _ts(m.hold_until) if m.hold_until else None,
                            m.detail.attempts,
                            detail_to_json(m.detail),
                            m.job_name,
                            m.vm_key,
                        )
                        for m in members
                    ],
                )
            db.executemany(
                "UPDATE members SET message_group=0, closed=? WHERE id=? AND message_group IS NULL",
                [(reason, member_id) for member_id, reason in record.closes],
            )
            db.executemany(
                "INSERT INTO incidents (source, job_name, vm_key, data, open, updated_at) VALUES (?,?,?,?,?,?) "
                "ON CONFLICT(source, job_name, vm_key) DO UPDATE SET data=excluded.data, open=excluded.open, "
                "updated_at=excluded.updated_at",
                [
                    (inc.source, inc.job_name, inc.vm_key, incident_to_json(inc), int(inc.open), stamp)
                    for inc in record.incidents.values()
                ],
            )
            db.executemany(
                "UPDATE silences SET expired_at=?, expired_reason=? WHERE id=? AND expired_at IS NULL",
                [(stamp, reason, sid) for sid, reason in record.expire_silences],
            )
            db.execute(
                "INSERT INTO watermarks (source, watermark, updated_at) VALUES (?,?,?) "
                "ON CONFLICT(source) DO UPDATE SET watermark=excluded.watermark, updated_at=excluded.updated_at",
                (source, _ts(watermark), stamp),
            )
            if prune_before is not None:
                self._prune(db, source, prune_before, now - keep_history)
        return added

    def _prune(
        self, db: sqlite3.Connection, source: str, ended_before: datetime, history_before: datetime
    ) -> None:
        """Forget alerts no poll can return again, once their history is old and nothing is pending."""
        db.execute(
            "DELETE FROM alerts WHERE source=? AND end_time < ? AND first_seen < ? "
            "AND NOT EXISTS (SELECT 1 FROM members m WHERE m.source=alerts.source AND m.uid=alerts.uid "
            "AND m.message_group IS NULL)",
            (source, _ts(ended_before), _ts(history_before)),
        )
        db.execute(
            "DELETE FROM incidents WHERE source=? AND open=0 AND updated_at < ?",
            (source, _ts(history_before - timedelta(days=30))),
        )
        db.execute(
            "DELETE FROM members WHERE source=? AND message_group IS NOT NULL AND added_at < ? "
            "AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.source=members.source AND a.uid=members.uid)",
            (source, _ts(history_before)),
        )

    def prune_history(self, now: datetime, keep_history: timedelta) -> None:
        """Forget finished messages and deliveries older than ``keep_history``."""
        cutoff = _ts(now - keep_history)
        with self._tx() as db:
            db.execute(
                "DELETE FROM deliveries WHERE status != 'pending' AND created_at < ? AND message_id IN "
                "(SELECT id FROM messages WHERE created_at < ?)",
                (cutoff, cutoff),
            )
            db.execute(
                "DELETE FROM messages WHERE created_at < ? AND NOT EXISTS "
                "(SELECT 1 FROM deliveries d WHERE d.message_id = messages.id)",
                (cutoff,),
            )

    # -- grouping -----------------------------------------------------------------------------

    @_reading
    def open_members(self) -> list[OpenMember]:
        """Group members not yet flushed into a message (nor closed), oldest first."""
        rows = self._db.execute(
            "SELECT m.id, a.session, m.group_key, m.receivers, m.group_wait, m.added_at, m.route, m.kind, "
            "m.hold_until, m.detail, m.job_name, m.vm_key FROM members m "
            "JOIN alerts a ON a.source=m.source AND a.uid=m.uid WHERE m.message_group IS NULL ORDER BY m.id"
        )
        return [
            OpenMember(
                id=r[0],
                session=session_from_json(r[1]),
                group_key=r[2],
                receivers=tuple(json.loads(r[3])),
                group_wait=timedelta(seconds=r[4]),
                added_at=_dt(r[5]),
                route=r[6],
                kind=GroupKind(r[7]),
                hold_until=_dt(r[8]) if r[8] else None,
                detail=detail_from_json(r[9]),
                job_name=r[10],
                vm_key=r[11],
            )
            for r in rows
        ]

    # -- incidents and silences ---------------------------------------------------------------

    @_reading
    def incidents(
        self, source: str, keys: Iterable[tuple[str, str]] | None = None
    ) -> dict[tuple[str, str], Incident]:
        """Incidents of ``source`` by (job_name, vm_key): the given keys, or every open one."""
        found: dict[tuple[str, str], Incident] = {}
        if keys is None:
            rows = self._db.execute("SELECT data FROM incidents WHERE source=? AND open=1", (source,))
            for (data,) in rows:
                inc = incident_from_json(data)
                found[(inc.job_name, inc.vm_key)] = inc
            return found
        # One query per job (vm_key IN ...), not one per VM: a storm brings thousands of keys.
        by_job: dict[str, list[str]] = {}
        for job, vm in keys:
            by_job.setdefault(job, []).append(vm)
        for job, vms in by_job.items():
            for i in range(0, len(vms), 500):
                chunk = vms[i : i + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT data FROM incidents WHERE source=? AND job_name=? AND vm_key IN ({marks})",
                    (source, job, *chunk),
                )
                for (data,) in rows:
                    inc = incident_from_json(data)
                    found[(inc.job_name, inc.vm_key)] = inc
        return found

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
                    _ts(now),
                    _ts(ends_at) if ends_at else None,
                    int(until_resolved),
                ),
            )
            return int(cur.lastrowid or 0)

    @_reading
    def silences(self) -> list[Silence]:
        """Every silence, newest first."""
        rows = self._db.execute(
            "SELECT id, matchers, comment, created_by, created_at, ends_at, until_resolved, expired_at, "
            "expired_reason FROM silences ORDER BY id DESC"
        )
        return [
            Silence(
                id=r[0],
                matchers=tuple(json.loads(r[1])),
                comment=r[2],
                created_by=r[3],
                created_at=_dt(r[4]),
                ends_at=_dt(r[5]) if r[5] else None,
                until_resolved=bool(r[6]),
                expired_at=_dt(r[7]) if r[7] else None,
                expired_reason=r[8],
            )
            for r in rows
        ]

    def expire_silence(self, silence_id: int, now: datetime, reason: str) -> bool:
        """End a silence now; False when there is no such active silence."""
        with self._tx() as db:
            cur = db.execute(
                "UPDATE silences SET expired_at=?, expired_reason=? WHERE id=? AND expired_at IS NULL",
                (_ts(now), reason, silence_id),
            )
            return cur.rowcount == 1

    @_reading
    def group_history(self, group_key: str, receiver: str) -> tuple[int, int]:
        """How many messages already went to ``receiver`` for ``group_key``, and how many alerts they held."""
        row = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(alert_count), 0) FROM messages WHERE group_key=? AND receiver=?",
            (group_key, receiver),
        ).fetchone()
        return int(row[0]), int(row[1])

    def flush_group(
        self,
        group_key: str,
        member_ids: Sequence[int],
        messages: Sequence[PlannedMessage],
        now: datetime,
        alerted: Sequence[tuple[str, str, str, str, str]] = (),
    ) -> None:
        """Turn open members into messages and outbox rows, in one transaction.

        ``alerted`` lists (source, job_name, vm_key, route, alert end time) incidents that a route with
        send_resolved has now told someone about, so their recovery is announced later.
        """
        stamp = _ts(now)
        with self._tx() as db:
            for source, job_name, key, route, ended in alerted:
                row = db.execute(
                    "SELECT data FROM incidents WHERE source=? AND job_name=? AND vm_key=?",
                    (source, job_name, key),
                ).fetchone()
                if row is None:
                    continue
                data = json.loads(row[0])
                # Only an incident still open, and the one this alert belongs to, will announce a
                # recovery: a VM that recovered before its alert went out must not pass the
                # promise on to its next incident.
                current = data["streak"] > 0 and (
                    data["first_failure"] is None or data["first_failure"] <= ended
                )
                if current and route not in data["alerted_routes"]:
                    data["alerted_routes"].append(route)
                    db.execute(
                        "UPDATE incidents SET data=? WHERE source=? AND job_name=? AND vm_key=?",
                        (json.dumps(data), source, job_name, key),
                    )
            flush_id = self._new_flush(db, stamp)
            for msg in messages:
                self._insert_message(db, group_key, msg, flush_id, stamp)
            db.executemany(
                "UPDATE members SET message_group=? WHERE id=? AND message_group IS NULL",
                [(flush_id, mid) for mid in member_ids],
            )

    @staticmethod
    def _new_flush(db: sqlite3.Connection, stamp: str) -> int:
        return int(db.execute("INSERT INTO flushes (created_at) VALUES (?)", (stamp,)).lastrowid or 0)

    def _insert_message(
        self, db: sqlite3.Connection, group_key: str, msg: PlannedMessage, flush_id: int, stamp: str
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
        self._insert_deliveries(db, message_id, msg.deliveries, stamp)
        return message_id

    @staticmethod
    def _insert_deliveries(
        db: sqlite3.Connection, message_id: int, deliveries: Iterable[PlannedDelivery], stamp: str
    ) -> None:
        db.executemany(
            "INSERT INTO deliveries (message_id, receiver, target, title, body, body_format, notify_type, created_at) "
            "VALUES (?,?,?,?,?,?,?,?)",
            [
                (
                    message_id,
                    d.receiver,
                    d.target,
                    d.message.title,
                    d.message.body,
                    d.message.body_format.value,
                    d.message.notify_type.value,
                    stamp,
                )
                for d in deliveries
            ],
        )

    def add_message(self, group_key: str, message: PlannedMessage, now: datetime) -> int:
        """Write a standalone message (self-alert, dead-letter report, test) to the outbox."""
        stamp = _ts(now)
        with self._tx() as db:
            return self._insert_message(db, group_key, message, self._new_flush(db, stamp), stamp)

    # -- outbox -------------------------------------------------------------------------------

    @_reading
    def pending_deliveries(self, target: str | None = None) -> list[Delivery]:
        """Outbox rows still to send, oldest first (optionally for one target)."""
        sql = (
            "SELECT id, message_id, receiver, target, title, body, body_format, notify_type, status, attempts, "
            "created_at, last_error FROM deliveries WHERE status='pending'"
        )
        args: tuple[str, ...] = ()
        if target is not None:
            sql += " AND target=?"
            args = (target,)
        return [self._delivery(r) for r in self._db.execute(sql + " ORDER BY id", args)]

    @_reading
    def pending_targets(self) -> set[str]:
        """Targets that have something pending."""
        return {
            r[0] for r in self._db.execute("SELECT DISTINCT target FROM deliveries WHERE status='pending'")
        }

    @_reading
    def outbox_depth(self) -> int:
        """How many outbox rows are pending."""
        return int(self._db.execute("SELECT COUNT(*) FROM deliveries WHERE status='pending'").fetchone()[0])

    @staticmethod
    def _delivery(r: Sequence[object]) -> Delivery:
        return Delivery(
            id=int(str(r[0])),
            message_id=int(str(r[1])),
            receiver=str(r[2]),
            target=str(r[3]),
            message=RenderedMessage(str(r[4]), str(r[5]), BodyFormat(str(r[6])), NotifyType(str(r[7]))),
            status=str(r[8]),
            attempts=int(str(r[9])),
            created_at=_dt(str(r[10])),
            last_error=None if r[11] is None else str(r[11]),
        )

    def record_attempt(self, delivery_id: int, now: datetime, error: str | None) -> None:
        """Count one failed attempt, keeping the row pending."""
        with self._tx() as db:
            db.execute(
                "UPDATE deliveries SET attempts=attempts+1, last_attempt_at=?, last_error=? WHERE id=?",
                (_ts(now), error, delivery_id),
            )

    def mark_sent(self, delivery_id: int, now: datetime) -> None:
        """The row was delivered."""
        with self._tx() as db:
            db.execute(
                "UPDATE deliveries SET status='sent', attempts=attempts+1, last_attempt_at=?, finished_at=?, "
                "last_error=NULL WHERE id=? AND status='pending'",
                (_ts(now), _ts(now), delivery_id),
            )

    def mark_dead(self, delivery_id: int, now: datetime, error: str, report: PlannedMessage | None) -> None:
        """Give up on a row; optionally write the dead-letter report for the fallback receiver in the same tx."""
        stamp = _ts(now)
        with self._tx() as db:
            db.execute(
                "UPDATE deliveries SET status='dead', finished_at=?, last_error=? WHERE id=? AND status='pending'",
                (stamp, error, delivery_id),
            )
            if report is not None:
                key = f"dead-letter|{delivery_id}"
                self._insert_message(db, key, report, self._new_flush(db, stamp), stamp)

    # -- history ------------------------------------------------------------------------------

    @_reading
    def history(self, limit: int = 50) -> list[dict[str, object]]:
        """Recent messages with their per-target delivery outcome, newest first."""
        rows = self._db.execute(
            "SELECT m.id, m.created_at, m.receiver, m.title, m.alert_count, d.target, d.status, d.attempts, "
            "d.finished_at, d.last_error FROM messages m JOIN deliveries d ON d.message_id = m.id "
            "ORDER BY m.id DESC, d.id LIMIT ?",
            (limit,),
        )
        keys = (
            "message",
            "created_at",
            "receiver",
            "title",
            "alerts",
            "target",
            "status",
            "attempts",
            "finished_at",
            "error",
        )
        return [dict(zip(keys, r, strict=True)) for r in rows]

    @_reading
    def alert_deliveries(self, source: str, uid: str) -> list[dict[str, object]]:
        """What was sent for one alert: the deliveries of the messages its group members went into."""
        rows = self._db.execute(
            "SELECT msg.id, msg.receiver, d.target, d.status, d.attempts, d.finished_at FROM members m "
            "JOIN messages msg ON msg.flush_id = m.message_group "
            "JOIN deliveries d ON d.message_id = msg.id WHERE m.source=? AND m.uid=? ORDER BY d.id",
            (source, uid),
        )
        keys = ("message", "receiver", "target", "status", "attempts", "finished_at")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    @_reading
    def alert_count(self) -> int:
        """How many alert UIDs are remembered."""
        return int(self._db.execute("SELECT COUNT(*) FROM alerts").fetchone()[0])

"""Read-only reports over the state database for the CLI and tests: history and per-alert outcomes."""

from __future__ import annotations

import sqlite3

from alertd.model import AlertGroup, GroupKind
from alertd.records import OpenMember
from alertd.state.db import Database, reading
from alertd.state.rows import DETAIL, JOB_RUN, MEMBERS_FROM, SESSION, open_member


class ReportsMixin(Database):
    """What was sent, where, when, after how many attempts."""

    @reading
    def history(self, limit: int = 50) -> list[sqlite3.Row]:
        """Recent messages with their per-target delivery outcome, newest first.

        Columns: message, created_at, receiver, title, alerts, target, status, attempts, finished_at, error.
        """
        return self._db.execute(
            "SELECT m.id AS message, m.created_at, m.receiver, m.title, m.alert_count AS alerts, d.target, "
            "d.status, d.attempts, d.finished_at, d.last_error AS error FROM messages m "
            "JOIN deliveries d ON d.message_id = m.id ORDER BY m.id DESC, d.id LIMIT ?",
            (limit,),
        ).fetchall()

    @reading
    def alert_deliveries(self, source: str, uid: str) -> list[sqlite3.Row]:
        """What was sent for one alert: the deliveries of the messages its group members went into.

        Columns: message, receiver, target, status, attempts, finished_at.
        """
        return self._db.execute(
            "SELECT msg.id AS message, msg.receiver, d.target, d.status, d.attempts, d.finished_at "
            "FROM members m JOIN messages msg ON msg.flush_id = m.flush_id "
            "JOIN deliveries d ON d.message_id = msg.id WHERE m.source=? AND m.uid=? ORDER BY d.id",
            (source, uid),
        ).fetchall()

    @reading
    def alert_count(self) -> int:
        """How many alert UIDs are remembered."""
        return int(self._db.execute("SELECT COUNT(*) FROM alerts").fetchone()[0])

    @reading
    def alert_statuses(self, source: str) -> dict[str, str]:
        """Every remembered alert UID of ``source`` with its status (routed, silenced, ...)."""
        rows = self._db.execute("SELECT uid, status FROM alerts WHERE source=?", (source,))
        return {r[0]: r[1] for r in rows}

    @reading
    def open_members(self) -> list[OpenMember]:
        """Every group member not yet sent nor closed, oldest first."""
        return [open_member(r) for r in self._db.execute(f"{MEMBERS_FROM} ORDER BY m.id")]

    @reading
    def last_alert_group(self, receiver: str) -> AlertGroup | None:
        """The last job run's group sent to ``receiver`` (for ``alertd preview --from-state``)."""
        row = self._db.execute(
            "SELECT m.id FROM messages m WHERE m.receiver=? AND EXISTS "
            "(SELECT 1 FROM members x WHERE x.flush_id = m.flush_id) ORDER BY m.id DESC LIMIT 1",
            (receiver,),
        ).fetchone()
        return None if row is None else self.message_group(row[0])

    @reading
    def message_group(self, message_id: int) -> AlertGroup | None:
        """The alert group a message was rendered from (None for self-alerts, reports and tests).

        Rebuilt from the message's flush: its members, their alerts and the cached job runs, so
        the message can be rendered again for another channel (a target moved at a reload).
        """
        row = self._db.execute(
            "SELECT group_key, flush_id, sequence, receiver FROM messages WHERE id=?", (message_id,)
        ).fetchone()
        if row is None:
            return None
        key, flush_id, sequence, receiver = row
        rows = self._db.execute(
            f"SELECT m.kind, {DETAIL.column_list('m')}, {SESSION.column_list('a')} FROM members m "
            "JOIN alerts a ON a.source=m.source AND a.uid=m.uid WHERE m.flush_id=? AND m.group_key=? ORDER BY m.id",
            (flush_id, key),
        ).fetchall()
        if not rows:
            return None
        sessions = tuple(SESSION.decode(r, 1 + len(DETAIL.columns)) for r in rows)
        details = {s.uid: DETAIL.decode(r, 1) for s, r in zip(sessions, rows, strict=True)}
        uids = sorted({s.job_session_uid for s in sessions})
        runs = {
            run.uid: run
            for run in (
                JOB_RUN.decode(r)
                for r in self._db.execute(
                    f"SELECT {JOB_RUN.column_list()} FROM job_runs WHERE uid IN ({','.join('?' * len(uids))})",
                    uids,
                )
            )
        }
        return AlertGroup(
            key=key,
            receiver=receiver,
            alerts=sessions,
            sequence=sequence,
            kind=GroupKind(rows[0][0]),
            details=details,
            job_runs=runs,
        )

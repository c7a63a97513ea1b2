"""State a poll reads and writes: watermarks, alerted UIDs, incidents, recoveries owed, new members.

`record_poll` is the poll's one write: inside a single transaction it reads exactly the state the
decision needs (`PollState`), hands it to the caller's pure ``decide`` function and writes the
resulting `PollRecord`. Nothing can change that state between the read and the write, whatever
the caller awaits before or after.
"""

from __future__ import annotations

import gc
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from alertd.incidents import Incident, IncidentKey
from alertd.model import AlertDetail, GroupKind, JobRun
from alertd.records import Notified, OpenMember, PollRecord, PollState, Silence, SourceCursor, WatchRow
from alertd.state.codec import dt, ts
from alertd.state.db import Database, chunks, reading
from alertd.state.rows import DETAIL, INCIDENT, JOB_RUN, MEMBERS_FROM, SESSION, SILENCE, open_member

#: How long a closed incident is kept after keep_history (so a streak survives a quiet month).
CLOSED_INCIDENT_GRACE = timedelta(days=30)


def _jobs_with_rows(db: sqlite3.Connection, table: str, source: str, jobs: Iterable[str]) -> list[str]:
    """Those of ``jobs`` with a row of ``source`` in ``table`` (``incidents`` or ``notified``).

    Their VMs are then looked up job by job; a job with no row needs no lookup at all. A storm's
    jobs are mostly new, and its ten thousand VMs (each under four keys) would otherwise be looked
    up one by one to find nothing. Each job is one primary-key probe here.
    """
    found: list[str] = []
    for chunk in chunks(list(jobs)):
        rows = db.execute(
            f"WITH asked(job) AS (VALUES {','.join(['(?)'] * len(chunk))}) SELECT job FROM asked "
            f"WHERE EXISTS (SELECT 1 FROM {table} t WHERE t.source=? AND t.job_key=asked.job)",
            (*chunk, source),
        )
        found += [r[0] for r in rows]
    return found


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """No cyclic garbage collection in the block (it runs again from the next allocation after).

    A storm's poll builds its decision and rows, some hundred thousand small objects that all live
    until the transaction ends; each collection pass walks them and every session read, finds
    nothing to free, and together they cost about a tenth of a second (make bench). Refcounting
    still frees everything as usual; a cycle made meanwhile waits for the next pass.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class PollsMixin(Database):
    """The polling half of the state database."""

    @reading
    def watermark(self, source: str) -> datetime | None:
        """The newest EndTime read from ``source``, or None before its first successful poll."""
        return self.cursor(source).watermark

    @reading
    def cursor(self, source: str) -> SourceCursor:
        """How far ``source`` has been read (empty before its first successful poll)."""
        row = self._db.execute(
            "SELECT watermark, horizon, last_sweep FROM watermarks WHERE source=?", (source,)
        ).fetchone()
        if row is None:
            return SourceCursor()
        return SourceCursor(*(dt(v) if v else None for v in row))

    @reading
    def watched(self, source: str, failed_after: datetime) -> list[WatchRow]:
        """Jobs whose successes a poll must ask for, with where to read them from.

        A job is watched while it has an open incident that failed after ``failed_after`` (older
        ones are no longer watched: a VM deleted from its job would cost a query forever) or a
        held alert. ``since`` is the oldest EndTime that matters in it; ``checked_until`` where the
        last success read of the job stopped.
        """
        rows = self._db.execute(
            "SELECT w.job_key, MIN(w.job_name), MIN(w.since), c.checked_until FROM ("
            "SELECT job_key, job_name, COALESCE(last_failure, last_success) AS since FROM incidents "
            "WHERE source=:s AND open=1 AND (last_failure IS NULL OR last_failure >= :after) "
            "AND COALESCE(last_failure, last_success) IS NOT NULL "
            "UNION ALL SELECT m.job_key, a.job_name, COALESCE(a.end_time, a.creation_time) FROM members m "
            "JOIN alerts a ON a.source=m.source AND a.uid=m.uid WHERE m.source=:s AND m.flush_id IS NULL "
            "AND m.closed IS NULL AND m.hold_until IS NOT NULL) w "
            "LEFT JOIN job_cursors c ON c.source=:s AND c.job_key=w.job_key GROUP BY w.job_key ORDER BY w.job_key",
            {"s": source, "after": ts(failed_after)},
        )
        return [WatchRow(r[0], r[1], dt(r[2]), dt(r[3]) if r[3] else None) for r in rows]

    @reading
    def job_runs(self, source: str, uids: Iterable[str]) -> dict[str, JobRun]:
        """The cached job runs of ``source`` among ``uids``."""
        found: dict[str, JobRun] = {}
        for chunk in chunks(list(dict.fromkeys(uids))):
            rows = self._db.execute(
                f"SELECT {JOB_RUN.column_list()} FROM job_runs WHERE source=? AND uid IN ({','.join('?' * len(chunk))})",
                (source, *chunk),
            )
            for row in rows:
                run = JOB_RUN.decode(row)
                found[run.uid] = run
        return found

    def record_poll(
        self,
        source: str,
        uids: Sequence[str],
        keys: Iterable[IncidentKey],
        now: datetime,
        decide: Callable[[PollState], PollRecord],
        keep_history: timedelta = timedelta(days=7),
    ) -> int:
        """Read the poll's state, decide, and write the decision, in one transaction.

        ``uids`` are the failures read (to tell which are new), ``keys`` the incidents the poll's
        sessions touch. Returns how many alerts were new (a UID already recorded is skipped, so a
        repeated poll never alerts twice).
        """
        by_job = self._by_job(keys)
        with _cyclic_gc_paused(), self._tx() as db:
            state = PollState(
                cursor=self.cursor(source),
                seen=self._seen(db, source, uids),
                incidents=self._incidents(db, source, by_job),
                notified=self._notified(db, source, by_job),
                held=tuple(self._held(db, source)),
                silences=tuple(self._active_silences(db, now)),
            )
            record = decide(state)
            added = self._write(db, source, record, now)
            if record.prune_before is not None:
                self._prune(db, source, record.prune_before, now - keep_history)
        return added

    # -- reads inside the poll's transaction ---------------------------------------------------

    @staticmethod
    def _seen(db: sqlite3.Connection, source: str, uids: Sequence[str]) -> frozenset[str]:
        seen: set[str] = set()
        for chunk in chunks(list(dict.fromkeys(uids))):
            rows = db.execute(
                f"SELECT uid FROM alerts WHERE source=? AND uid IN ({','.join('?' * len(chunk))})",
                (source, *chunk),
            )
            seen.update(r[0] for r in rows)
        return frozenset(seen)

    @staticmethod
    def _by_job(keys: Iterable[IncidentKey]) -> dict[str, list[str]]:
        """VM keys by job key (one query per job, not one per VM: a storm brings thousands of keys)."""
        by_job: dict[str, list[str]] = {}
        for job, vm in dict.fromkeys(keys):
            by_job.setdefault(job, []).append(vm)
        return by_job

    @staticmethod
    def _incidents(
        db: sqlite3.Connection, source: str, by_job: dict[str, list[str]]
    ) -> dict[IncidentKey, Incident]:
        found: dict[IncidentKey, Incident] = {}
        for job in _jobs_with_rows(db, "incidents", source, by_job):
            for chunk in chunks(by_job[job]):
                rows = db.execute(
                    f"SELECT {INCIDENT.column_list()} FROM incidents WHERE source=? AND job_key=? "
                    f"AND vm_key IN ({','.join('?' * len(chunk))})",
                    (source, job, *chunk),
                )
                for row in rows:
                    inc = INCIDENT.decode(row)
                    found[(inc.job_key, inc.vm_key)] = inc
        return found

    @staticmethod
    def _notified(
        db: sqlite3.Connection, source: str, by_job: dict[str, list[str]]
    ) -> dict[IncidentKey, tuple[Notified, ...]]:
        found: dict[IncidentKey, list[Notified]] = {}
        for job in _jobs_with_rows(db, "notified", source, by_job):
            for chunk in chunks(by_job[job]):
                rows = db.execute(
                    "SELECT vm_key, route, alert_end FROM notified WHERE source=? AND job_key=? "
                    f"AND vm_key IN ({','.join('?' * len(chunk))})",
                    (source, job, *chunk),
                )
                for vm, route, ended in rows:
                    found.setdefault((job, vm), []).append(Notified(source, (job, vm), route, dt(ended)))
        return {k: tuple(v) for k, v in found.items()}

    @staticmethod
    def _held(db: sqlite3.Connection, source: str) -> list[OpenMember]:
        rows = db.execute(
            f"{MEMBERS_FROM} AND m.source=? AND m.hold_until IS NOT NULL AND m.kind=? ORDER BY m.id",
            (source, GroupKind.FIRING.value),
        )
        return [open_member(r) for r in rows]

    @staticmethod
    def _active_silences(db: sqlite3.Connection, now: datetime) -> list[Silence]:
        rows = db.execute(
            f"SELECT {SILENCE.column_list()} FROM silences WHERE expired_at IS NULL "
            "AND (ends_at IS NULL OR ends_at > ?) ORDER BY id",
            (ts(now),),
        )
        return [SILENCE.decode(r) for r in rows]

    # -- the write -----------------------------------------------------------------------------

    def _write(self, db: sqlite3.Connection, source: str, record: PollRecord, now: datetime) -> int:
        stamp = ts(now)
        added = self._insert_alerts(db, source, record, now, stamp)
        db.executemany(
            "UPDATE members SET closed=? WHERE id=? AND flush_id IS NULL AND closed IS NULL",
            [(reason.value, member_id) for member_id, reason in record.closes],
        )
        db.executemany(
            f"INSERT OR REPLACE INTO incidents ({INCIDENT.column_list()}, open, updated_at) "
            f"VALUES ({INCIDENT.marks()},?,?)",
            [(*INCIDENT.encode(inc), int(inc.open), stamp) for inc in record.incidents.values()],
        )
        for (old_job, old_vm), (job, vm) in record.retired:
            db.execute(
                "DELETE FROM incidents WHERE source=? AND job_key=? AND vm_key=?", (source, old_job, old_vm)
            )
            db.execute(
                "UPDATE OR IGNORE notified SET job_key=?, vm_key=? WHERE source=? AND job_key=? AND vm_key=?",
                (job, vm, source, old_job, old_vm),
            )
            db.execute(
                "DELETE FROM notified WHERE source=? AND job_key=? AND vm_key=?", (source, old_job, old_vm)
            )
        db.executemany(
            "DELETE FROM notified WHERE source=? AND job_key=? AND vm_key=? AND alert_end <= ?",
            [(source, job, vm, ts(until)) for (job, vm), until in record.settled],
        )
        db.executemany(
            "UPDATE silences SET expired_at=?, expired_reason=? WHERE id=? AND expired_at IS NULL",
            [(stamp, reason.value, sid) for sid, reason in record.expire_silences],
        )
        db.executemany(
            f"INSERT OR REPLACE INTO job_runs ({JOB_RUN.column_list()}, source, read_at) "
            f"VALUES ({JOB_RUN.marks()},?,?)",
            [(*JOB_RUN.encode(run), source, stamp) for run in record.job_runs],
        )
        db.executemany(
            "INSERT INTO job_cursors (source, job_key, checked_until) VALUES (?,?,?) ON CONFLICT(source, job_key) "
            "DO UPDATE SET checked_until=MAX(checked_until, excluded.checked_until)",
            [(source, job, ts(until)) for job, until in record.checked.items()],
        )
        cursor = record.cursor
        if cursor is not None and cursor.watermark is not None:
            db.execute(
                "INSERT INTO watermarks (source, watermark, horizon, last_sweep, updated_at) VALUES (?,?,?,?,?) "
                "ON CONFLICT(source) DO UPDATE SET watermark=excluded.watermark, horizon=excluded.horizon, "
                "last_sweep=excluded.last_sweep, updated_at=excluded.updated_at",
                (
                    source,
                    ts(cursor.watermark),
                    ts(cursor.horizon) if cursor.horizon else None,
                    ts(cursor.last_sweep) if cursor.last_sweep else None,
                    stamp,
                ),
            )
        return added

    @staticmethod
    def _insert_alerts(
        db: sqlite3.Connection, source: str, record: PollRecord, now: datetime, stamp: str
    ) -> int:
        """Insert the poll's alerts and the group members of those that are new; how many were new.

        The decision drops every UID the transaction found already recorded, so normally all are
        new and go in with one ``executemany``; only if some were ignored (a UID twice in one
        record) is each inserted alone, to start members for the new ones only.
        """
        insert = (
            f"INSERT OR IGNORE INTO alerts ({SESSION.column_list()}, first_seen, status) "
            f"VALUES ({SESSION.marks()},?,?)"
        )
        rows = [(*SESSION.encode(a.session), stamp, a.status.value) for a in record.alerts]
        db.execute("SAVEPOINT alerts")
        before = db.total_changes
        db.executemany(insert, rows)
        new = record.alerts
        if db.total_changes - before != len(rows):
            db.execute("ROLLBACK TO alerts")
            new = [
                a for a, row in zip(record.alerts, rows, strict=True) if db.execute(insert, row).rowcount == 1
            ]
        db.execute("RELEASE alerts")
        # Members of one poll share a few receiver lists, waits and details: each is encoded once.
        receivers: dict[tuple[str, ...], str] = {}
        due: dict[timedelta, str] = {}
        details: dict[AlertDetail, list[Any]] = {}
        members = []
        for alert in new:
            for m in alert.members:
                if m.receivers not in receivers:
                    receivers[m.receivers] = json.dumps(m.receivers)
                if m.group_wait not in due:
                    due[m.group_wait] = ts(now + m.group_wait)
                if m.detail not in details:
                    details[m.detail] = DETAIL.encode(m.detail)
                members.append(
                    (
                        source,
                        m.uid,
                        m.group_key,
                        receivers[m.receivers],
                        m.group_wait.total_seconds(),
                        stamp,
                        due[m.group_wait],
                        m.route,
                        m.kind.value,
                        ts(m.hold_until) if m.hold_until else None,
                        m.job_key,
                        m.vm_key,
                        *details[m.detail],
                    )
                )
        db.executemany(
            "INSERT INTO members (source, uid, group_key, receivers, group_wait, added_at, due_at, route, kind, "
            f"hold_until, job_key, vm_key, {DETAIL.column_list()}) "
            f"VALUES (?,?,?,?,?,?,?,?,?,?,?,?,{DETAIL.marks()})",
            members,
        )
        return len(new)

    @staticmethod
    def _prune(db: sqlite3.Connection, source: str, ended_before: datetime, history_before: datetime) -> None:
        """Forget alerts no poll can return again, once their history is old and nothing is pending."""
        db.execute(
            "DELETE FROM alerts WHERE source=? AND end_time < ? AND first_seen < ? "
            "AND NOT EXISTS (SELECT 1 FROM members m WHERE m.source=alerts.source AND m.uid=alerts.uid "
            "AND m.flush_id IS NULL AND m.closed IS NULL)",
            (source, ts(ended_before), ts(history_before)),
        )
        db.execute(
            "DELETE FROM incidents WHERE source=? AND open=0 AND updated_at < ?",
            (source, ts(history_before - CLOSED_INCIDENT_GRACE)),
        )
        db.execute(
            "DELETE FROM notified WHERE source=? AND alert_end < ? AND NOT EXISTS (SELECT 1 FROM incidents i "
            "WHERE i.source=notified.source AND i.job_key=notified.job_key AND i.vm_key=notified.vm_key "
            "AND i.open=1)",
            (source, ts(history_before)),
        )
        db.execute("DELETE FROM job_runs WHERE source=? AND read_at < ?", (source, ts(history_before)))
        db.execute(
            "DELETE FROM job_cursors WHERE source=? AND checked_until < ? AND NOT EXISTS (SELECT 1 FROM incidents i "
            "WHERE i.source=job_cursors.source AND i.job_key=job_cursors.job_key AND i.open=1)",
            (source, ts(history_before)),
        )
        db.execute(
            "DELETE FROM members WHERE source=? AND (flush_id IS NOT NULL OR closed IS NOT NULL) "
            "AND added_at < ? AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.source=members.source "
            "AND a.uid=members.uid)",
            (source, ts(history_before)),
        )

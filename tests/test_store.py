"""Durable state: permissions, WAL, schema version, dedup across restarts, pruning, outbox rows, migrations."""

from __future__ import annotations

import json
import sqlite3
import stat
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from factories import T0, session

from alertd.model import BodyFormat, NotifyType, RenderedMessage, TaskSession
from alertd.records import (
    AlertStatus,
    FlushPlan,
    NewMember,
    PlannedDelivery,
    PlannedMessage,
    PollRecord,
    PollState,
    RecordedAlert,
    SourceCursor,
)
from alertd.selfmon import Check, CheckState
from alertd.state import SCHEMA_VERSION, SQLiteStore, StateError
from alertd.state.schema import MIGRATIONS

MSG = RenderedMessage("title", "body", BodyFormat.MARKDOWN, NotifyType.FAILURE)


def member(uid: str, key: str = "g1") -> NewMember:
    return NewMember(uid, key, ("ops",), timedelta(seconds=30))


def record(
    store: SQLiteStore,
    sessions: Sequence[TaskSession],
    now: datetime = T0,
    *,
    members: bool = True,
    prune_before: datetime | None = None,
    keep_history: timedelta = timedelta(days=7),
    seen: list[PollState] | None = None,
) -> int:
    """Record one poll of ``sessions`` as routed alerts (with one member each unless ``members`` is False)."""

    def decide(state: PollState) -> PollRecord:
        if seen is not None:
            seen.append(state)
        alerts = [
            RecordedAlert(s, AlertStatus.ROUTED, (member(s.uid),) if members else ())
            for s in sessions
            if s.uid not in state.seen
        ]
        return PollRecord(alerts=alerts, cursor=SourceCursor(now), prune_before=prune_before)

    return store.record_poll("em1", [s.uid for s in sessions], [], now, decide, keep_history)


def test_file_mode_and_wal(tmp_path: Path) -> None:
    """The state file is created 0600 (directory 0700) and runs in WAL mode."""
    store = SQLiteStore(tmp_path / "sub" / "state.db")
    record(store, [])
    assert stat.S_IMODE((tmp_path / "sub" / "state.db").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "sub").stat().st_mode) == 0o700
    other = sqlite3.connect(tmp_path / "sub" / "state.db")
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    other.close()
    for extra in ("state.db-wal", "state.db-shm"):
        path = tmp_path / "sub" / extra
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0
    assert store.schema_version() == SCHEMA_VERSION
    store.close()


def test_newer_schema_refused(tmp_path: Path) -> None:
    """A state file from a newer alertd is refused with a clear message instead of being damaged."""
    path = tmp_path / "state.db"
    SQLiteStore(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StateError, match="newer than this alertd"):
        SQLiteStore(path)


def test_file_that_is_not_a_database_refused(tmp_path: Path) -> None:
    """A state path holding something else is refused with SQLite's reason, and the file is not left open."""
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not an SQLite file, just some text padded out " * 40)
    with pytest.raises(StateError, match="file is not a database"):
        SQLiteStore(path)


def test_dedup_survives_restart(tmp_path: Path) -> None:
    """A UID recorded before a restart is seen after it, and recording it again adds nothing."""
    s1, s2 = session("a"), session("b")
    store = SQLiteStore(tmp_path / "state.db")
    assert record(store, [s1]) == 1
    store.close()
    store = SQLiteStore(tmp_path / "state.db")
    states: list[PollState] = []
    assert record(store, [s1, s2], seen=states) == 1
    assert states[0].seen == frozenset({s1.uid})
    assert len(store.open_members()) == 2
    assert store.watermark("em1") == T0
    store.close()


def test_same_uid_other_source_is_separate(tmp_path: Path) -> None:
    """Dedup is per source: two EMs may report the same UID."""
    s1 = session("a")
    store = SQLiteStore(tmp_path / "state.db")
    record(store, [s1])
    states: list[PollState] = []
    store.record_poll("em2", [s1.uid], [], T0, lambda st: states.append(st) or PollRecord())
    assert states[0].seen == frozenset()
    store.close()


def test_failed_transaction_records_nothing(tmp_path: Path) -> None:
    """If recording a poll fails midway, neither alerts nor the watermark move."""
    store = SQLiteStore(tmp_path / "state.db")
    other = sqlite3.connect(tmp_path / "state.db")
    other.execute("CREATE TRIGGER boom BEFORE INSERT ON members BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    other.commit()
    good = session("a")
    with pytest.raises(StateError, match="disk full"):
        record(store, [good])
    assert store.watermark("em1") is None
    assert store.alert_count() == 0
    other.execute("DROP TRIGGER boom")
    other.commit()
    other.close()
    store.close()


def test_pruning_keeps_size_bounded(tmp_path: Path) -> None:
    """Alerts that ended before the re-read window, whose history aged out, are forgotten."""
    store = SQLiteStore(tmp_path / "state.db")
    for day in range(5):
        now = T0 + timedelta(days=day)
        batch = [session(f"vm{day}-{i}", end=now) for i in range(50)]
        record(
            store,
            batch,
            now,
            members=False,
            prune_before=now - timedelta(minutes=30),
            keep_history=timedelta(hours=1),
        )
    assert store.alert_count() == 50
    store.close()


def test_open_groups_summarise_due_time_and_hold(tmp_path: Path) -> None:
    """A group's summary is due group_wait after its oldest member and held until its longest hold."""
    store = SQLiteStore(tmp_path / "state.db")
    s1, s2 = session("a"), session("b")
    hold = T0 + timedelta(minutes=40)

    def decide(state: PollState) -> PollRecord:
        return PollRecord(
            alerts=[
                RecordedAlert(s1, AlertStatus.ROUTED, (member(s1.uid),)),
                RecordedAlert(
                    s2,
                    AlertStatus.ROUTED,
                    (NewMember(s2.uid, "g1", ("ops",), timedelta(seconds=30), hold_until=hold),),
                ),
            ]
        )

    store.record_poll("em1", [s1.uid, s2.uid], [], T0, decide)
    [group] = store.open_groups()
    assert (group.key, group.due_at, group.hold_until) == ("g1", T0 + timedelta(seconds=30), hold)
    members = store.group_members(["g1", "nothing"])
    assert list(members) == ["g1"]
    assert [m.session for m in members["g1"]] == [s1, s2]
    store.close()


def test_outbox_lifecycle(tmp_path: Path) -> None:
    """Flushing writes messages and pending deliveries; sent and dead rows leave the pending set."""
    store = SQLiteStore(tmp_path / "state.db")
    s1 = session("a")
    record(store, [s1])
    open_ = store.open_members()
    planned = PlannedMessage(
        "ops", 1, 1, "title", (PlannedDelivery("ops", "ops[0]", MSG), PlannedDelivery("ops", "ops[1]", MSG))
    )
    store.flush_group(FlushPlan("g1", tuple(m.id for m in open_), (planned,)), T0)
    assert store.open_members() == []
    assert store.open_groups() == []
    assert store.group_histories(["g1", "g2"]) == {("g1", "ops"): (1, 1)}
    rows = store.pending_deliveries()
    assert [r.target for r in rows] == ["ops[0]", "ops[1]"]
    store.record_attempt(rows[0].id, T0, "error=500")
    store.mark_sent(rows[0].id, T0)
    report = PlannedMessage("pager", 1, 0, "dead", (PlannedDelivery("pager", "pager[0]", MSG),))
    store.mark_dead(rows[1].id, T0, "gave up", report)
    assert [r.target for r in store.pending_deliveries()] == ["pager[0]"]
    history = store.alert_deliveries("em1", s1.uid)
    assert [(h["target"], h["status"], h["attempts"]) for h in history] == [
        ("ops[0]", "sent", 2),
        ("ops[1]", "dead", 0),
    ]
    store.close()


def test_unreadable_path_is_clear(tmp_path: Path) -> None:
    """A state path that cannot be created gives a StateError naming it."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StateError, match="cannot open state database"):
        SQLiteStore(blocker / "state.db")


def _old_session_json(s: TaskSession) -> str:
    return json.dumps(
        {
            "uid": s.uid,
            "name": s.name,
            "vm": s.vm,
            "vm_uid": s.vm_uid,
            "job_session_uid": s.job_session_uid,
            "job_name": s.job_name,
            "backup_server": s.backup_server,
            "creation_time": s.creation_time.isoformat(),
            "end_time": s.end_time.isoformat() if s.end_time else None,
            "state": s.state,
            "result": s.result,
            "reason": s.reason,
            "total_size": s.total_size,
            "source": s.source,
        }
    )


@contextmanager
def _old_state_file(path: Path, version: int) -> Iterator[tuple[sqlite3.Connection, TaskSession]]:
    """A state file written at schema ``version`` holding one routed alert (of session "a"), and what
    the ``with`` block adds to it before it is closed."""
    db = sqlite3.connect(path)
    for v in range(1, version + 1):
        db.executescript(MIGRATIONS[v])
    s1 = session("a")
    db.execute(
        "INSERT INTO alerts VALUES ('em1', ?, ?, ?, ?, 'routed')",
        (s1.uid, _old_session_json(s1), T0.isoformat(), T0.isoformat()),
    )
    yield db, s1
    db.execute(f"PRAGMA user_version={version}")
    db.commit()
    db.close()


def test_migrates_v1_database(tmp_path: Path) -> None:
    """A version-1 state file is upgraded in place to the current schema, keeping its alerts and watermark."""
    path = tmp_path / "state.db"
    with _old_state_file(path, 1) as (db, s1):
        db.execute("INSERT INTO watermarks VALUES ('em1', ?, ?)", (T0.isoformat(), T0.isoformat()))
    store = SQLiteStore(path)
    assert store.schema_version() == SCHEMA_VERSION
    assert store.watermark("em1") == T0
    assert store.alert_statuses("em1") == {s1.uid: "routed"}
    assert store.silences() == []
    store.close()


def test_migrates_v3_open_members_incidents_and_owed_recoveries(tmp_path: Path) -> None:
    """A v3 file's open member (with its detail), incident and alerted routes survive the move to typed rows."""
    path = tmp_path / "state.db"
    with _old_state_file(path, 3) as (db, s1):
        db.execute(
            "INSERT INTO members (source, uid, group_key, receivers, group_wait, added_at, route, kind, detail, "
            "job_name, vm_key) VALUES ('em1', ?, 'g1', '[\"ops\"]', 30, ?, 'name:r', 'firing', ?, ?, ?)",
            (s1.uid, T0.isoformat(), json.dumps({"attempts": 2, "streak": 3}), s1.job_name, "vm-key"),
        )
        incident = {
            "source": "em1",
            "job_name": s1.job_name,
            "vm_key": "vm-key",
            "vm": "a",
            "streak": 3,
            "first_failure": (T0 - timedelta(days=2)).isoformat(),
            "last_failure": T0.isoformat(),
            "last_success": None,
            "results": "FFF",
            "result_times": [T0.isoformat()],
            "flapping": False,
            "alerted_routes": ["name:r"],
        }
        db.execute(
            "INSERT INTO incidents VALUES ('em1', ?, 'vm-key', ?, 1, ?)",
            (s1.job_name, json.dumps(incident), T0.isoformat()),
        )
    store = SQLiteStore(path)
    [group] = store.open_groups()
    assert group.due_at == T0 + timedelta(seconds=30)
    [m] = store.group_members(["g1"])["g1"]
    assert (m.session, m.detail.attempts, m.detail.streak, m.route) == (s1, 2, 3, "name:r")
    states: list[PollState] = []
    key = (f"name:{s1.job_name}", "vm-key")
    store.record_poll("em1", [], [key], T0, lambda st: states.append(st) or PollRecord())
    inc = states[0].incidents[key]
    assert (inc.streak, inc.results, inc.result_times, inc.job_name) == (3, "FFF", (T0,), s1.job_name)
    [owed] = states[0].notified[key]
    assert (owed.route, owed.alert_end) == ("name:r", T0 - timedelta(days=2))
    store.close()


def test_self_check_and_its_message_are_written_together(tmp_path: Path) -> None:
    """A self-monitoring check is stored in one transaction with the message it sends; a cleared check is removed."""
    store = SQLiteStore(tmp_path / "state.db")
    failing = CheckState(T0, "503 Service Unavailable", alerted=True)
    broken = PlannedMessage("ops", 1, 0, "t", (PlannedDelivery("ops", None, MSG),))  # type: ignore[arg-type]
    with pytest.raises(StateError):
        store.save_check("em1", Check.POLL, failing, T0, ("self|em1|poll|failing", broken))
    assert store.self_checks() == {} and store.outbox_depth() == 0
    planned = PlannedMessage("ops", 1, 0, "t", (PlannedDelivery("ops", "ops[0]", MSG),))
    store.save_check("em1", Check.POLL, failing, T0, ("self|em1|poll|failing", planned))
    store.close()
    store = SQLiteStore(tmp_path / "state.db")
    assert store.self_checks() == {("em1", Check.POLL): failing} and store.outbox_depth() == 1
    store.save_check("em1", Check.POLL, CheckState(), T0 + timedelta(hours=1))
    assert store.self_checks() == {}
    store.close()


def test_upgrade_carries_unnamed_routes_state_to_their_new_identity(tmp_path: Path) -> None:
    """A v3 file's held alert and owed recovery, stored under an unnamed route's old digest, follow the route after the upgrade."""
    from factories import config_doc

    from alertd.config import load_document
    from alertd.daemon import Daemon
    from alertd.routing import compile_routes, legacy_route_keys

    doc = config_doc(
        tmp_path, routes=[{"receivers": ["ops"], "send_resolved": True, "wait_for_retry": "40m"}]
    )
    cfg = load_document(doc)
    [(old, new)] = legacy_route_keys(cfg.routes).items()
    assert new == compile_routes(cfg.routes)[0].key and old != new
    path = tmp_path / "state.db"
    with _old_state_file(path, 3) as (db, s1):
        db.execute(
            "INSERT INTO members (source, uid, group_key, receivers, group_wait, added_at, route, kind, hold_until, "
            "job_name, vm_key) VALUES ('em1', ?, ?, '[\"ops\"]', 30, ?, ?, 'firing', ?, ?, 'vm-key')",
            (s1.uid, f"{old}|source=em1|job_session=js-1", T0.isoformat(), old, T0.isoformat(), s1.job_name),
        )
    daemon = Daemon(cfg)
    try:
        [member] = daemon.store.open_members()
        [group] = daemon.store.open_groups()
    finally:
        daemon.store.close()
    assert member.route == new and group.key == f"{new}|source=em1|job_session=js-1"

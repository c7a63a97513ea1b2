"""Durable state: permissions, WAL, schema version, dedup across restarts, pruning, outbox rows."""

from __future__ import annotations

import sqlite3
import stat
from datetime import timedelta
from pathlib import Path

import pytest
from factories import T0, session

from alertd.model import BodyFormat, NotifyType, RenderedMessage
from alertd.store import (
    SCHEMA_VERSION,
    NewMember,
    PlannedDelivery,
    PlannedMessage,
    PollRecord,
    StateError,
    Store,
)

MSG = RenderedMessage("title", "body", BodyFormat.MARKDOWN, NotifyType.FAILURE)


def member(uid: str, key: str = "g1") -> NewMember:
    return NewMember(uid, key, ("ops",), timedelta(seconds=30))


def test_file_mode_and_wal(tmp_path: Path) -> None:
    """The state file is created 0600 (directory 0700) and runs in WAL mode."""
    store = Store(tmp_path / "sub" / "state.db")
    store.record_poll("em1", PollRecord(), T0, T0)
    assert stat.S_IMODE((tmp_path / "sub" / "state.db").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "sub").stat().st_mode) == 0o700
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    for extra in ("state.db-wal", "state.db-shm"):
        path = tmp_path / "sub" / extra
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0
    assert store.schema_version() == SCHEMA_VERSION


def test_newer_schema_refused(tmp_path: Path) -> None:
    """A state file from a newer alertd is refused with a clear message instead of being damaged."""
    path = tmp_path / "state.db"
    Store(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StateError, match="newer than this alertd"):
        Store(path)


def test_dedup_survives_restart(tmp_path: Path) -> None:
    """A UID recorded before a restart is not new after it."""
    s1, s2 = session("a"), session("b")
    store = Store(tmp_path / "state.db")
    assert store.record_poll("em1", PollRecord(alerts=[(s1, "routed", [member(s1.uid)])]), T0, T0) == 1
    store.close()
    store = Store(tmp_path / "state.db")
    assert store.unseen("em1", [s1, s2]) == [s2]
    assert store.record_poll("em1", PollRecord(alerts=[(s1, "routed", [member(s1.uid)])]), T0, T0) == 0
    assert len(store.open_members()) == 1
    assert store.watermark("em1") == T0


def test_same_uid_other_source_is_separate(tmp_path: Path) -> None:
    """Dedup is per source: two EMs may report the same UID."""
    s1 = session("a")
    store = Store(tmp_path / "state.db")
    store.record_poll("em1", PollRecord(alerts=[(s1, "routed", [])]), T0, T0)
    assert store.unseen("em2", [s1]) == [s1]


def test_failed_transaction_records_nothing(tmp_path: Path) -> None:
    """If recording a poll fails midway, neither alerts nor the watermark move."""
    store = Store(tmp_path / "state.db")
    good = session("a")
    bad_member = NewMember(good.uid, "g", ("ops",), timedelta(seconds=1))
    store._db.execute(
        "CREATE TRIGGER boom BEFORE INSERT ON members BEGIN SELECT RAISE(ABORT, 'disk full'); END"
    )
    with pytest.raises(StateError, match="disk full"):
        store.record_poll("em1", PollRecord(alerts=[(good, "routed", [bad_member])]), T0, T0)
    assert store.watermark("em1") is None
    assert store.unseen("em1", [good]) == [good]


def test_pruning_keeps_size_bounded(tmp_path: Path) -> None:
    """Alerts that ended before the re-read window, whose history aged out, are forgotten."""
    store = Store(tmp_path / "state.db")
    keep = timedelta(hours=1)
    for day in range(5):
        now = T0 + timedelta(days=day)
        batch = [session(f"vm{day}-{i}", end=now) for i in range(50)]
        store.record_poll(
            "em1",
            PollRecord(alerts=[(s, "routed", []) for s in batch]),
            now,
            now,
            prune_before=now - timedelta(minutes=30),
            keep_history=keep,
        )
    assert store.alert_count() == 50


def test_outbox_lifecycle(tmp_path: Path) -> None:
    """Flushing writes messages and pending deliveries; sent and dead rows leave the pending set."""
    store = Store(tmp_path / "state.db")
    s1 = session("a")
    store.record_poll("em1", PollRecord(alerts=[(s1, "routed", [member(s1.uid)])]), T0, T0)
    open_ = store.open_members()
    planned = PlannedMessage(
        "ops", 1, 1, "title", (PlannedDelivery("ops", "ops[0]", MSG), PlannedDelivery("ops", "ops[1]", MSG))
    )
    store.flush_group("g1", [m.id for m in open_], [planned], T0)
    assert store.open_members() == []
    assert store.group_history("g1", "ops") == (1, 1)
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


def test_unreadable_path_is_clear(tmp_path: Path) -> None:
    """A state path that cannot be created gives a StateError naming it."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StateError, match="cannot open state database"):
        Store(blocker / "state.db")


def test_migrates_v1_database(tmp_path: Path) -> None:
    """A version-1 state file is upgraded in place to the current schema, keeping its alerts and watermark."""
    from alertd.store import _MIGRATIONS

    path = tmp_path / "state.db"
    db = sqlite3.connect(path)
    db.executescript(_MIGRATIONS[1])
    db.execute("INSERT INTO watermarks VALUES ('em1', ?, ?)", (T0.isoformat(), T0.isoformat()))
    s1 = session("a")
    from alertd.store import session_to_json

    db.execute(
        "INSERT INTO alerts VALUES ('em1', ?, ?, ?, ?, 'routed')",
        (s1.uid, session_to_json(s1), T0.isoformat(), T0.isoformat()),
    )
    db.execute("PRAGMA user_version=1")
    db.commit()
    db.close()
    store = Store(path)
    assert store.schema_version() == SCHEMA_VERSION
    assert store.watermark("em1") == T0
    assert store.unseen("em1", [s1]) == []
    assert store.silences() == []

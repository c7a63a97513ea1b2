"""The state database's schema, one migration per version; ``Store`` applies the missing ones at open."""

from __future__ import annotations

SCHEMA_VERSION = 3

_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE watermarks (
        source TEXT PRIMARY KEY,
        watermark TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE alerts (
        source TEXT NOT NULL,
        uid TEXT NOT NULL,
        session TEXT NOT NULL,
        end_time TEXT,
        first_seen TEXT NOT NULL,
        status TEXT NOT NULL,
        PRIMARY KEY (source, uid)
    ) WITHOUT ROWID;
    CREATE INDEX alerts_end ON alerts (source, end_time);
    CREATE TABLE members (
        id INTEGER PRIMARY KEY,
        source TEXT NOT NULL,
        uid TEXT NOT NULL,
        group_key TEXT NOT NULL,
        receivers TEXT NOT NULL,
        group_wait REAL NOT NULL,
        added_at TEXT NOT NULL,
        message_group INTEGER
    );
    CREATE INDEX members_open ON members (message_group, group_key);
    CREATE INDEX members_alert ON members (source, uid);
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        group_key TEXT NOT NULL,
        receiver TEXT NOT NULL,
        sequence INTEGER NOT NULL,
        flush_id INTEGER NOT NULL,
        alert_count INTEGER NOT NULL,
        title TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX messages_group ON messages (group_key, receiver);
    CREATE TABLE deliveries (
        id INTEGER PRIMARY KEY,
        message_id INTEGER NOT NULL REFERENCES messages(id),
        receiver TEXT NOT NULL,
        target TEXT NOT NULL,
        title TEXT NOT NULL,
        body TEXT NOT NULL,
        body_format TEXT NOT NULL,
        notify_type TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        last_attempt_at TEXT,
        finished_at TEXT,
        last_error TEXT
    );
    CREATE INDEX deliveries_pending ON deliveries (status, target, id);
    CREATE TABLE flushes (id INTEGER PRIMARY KEY, created_at TEXT NOT NULL);
    """,
    # v2: Veeam-aware alerting: holds for Veeam's own retries, incidents (streaks, recoveries,
    # flapping) and silences.
    2: """
    ALTER TABLE members ADD COLUMN route TEXT NOT NULL DEFAULT '';
    ALTER TABLE members ADD COLUMN kind TEXT NOT NULL DEFAULT 'firing';
    ALTER TABLE members ADD COLUMN hold_until TEXT;
    ALTER TABLE members ADD COLUMN attempts INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE members ADD COLUMN detail TEXT;
    ALTER TABLE members ADD COLUMN job_name TEXT NOT NULL DEFAULT '';
    ALTER TABLE members ADD COLUMN vm_key TEXT NOT NULL DEFAULT '';
    ALTER TABLE members ADD COLUMN closed TEXT;
    CREATE INDEX members_vm ON members (source, job_name, vm_key, route);
    CREATE TABLE incidents (
        source TEXT NOT NULL,
        job_name TEXT NOT NULL,
        vm_key TEXT NOT NULL,
        data TEXT NOT NULL,
        open INTEGER NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (source, job_name, vm_key)
    ) WITHOUT ROWID;
    CREATE INDEX incidents_open ON incidents (source, open);
    CREATE TABLE silences (
        id INTEGER PRIMARY KEY,
        matchers TEXT NOT NULL,
        comment TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        ends_at TEXT,
        until_resolved INTEGER NOT NULL DEFAULT 0,
        expired_at TEXT,
        expired_reason TEXT
    );
    """,
    # v3: indexes that keep pruning linear as the state grows (found by make bench).
    3: """
    CREATE INDEX deliveries_message ON deliveries (message_id);
    CREATE INDEX alerts_seen ON alerts (source, first_seen);
    CREATE INDEX members_flushed ON members (source, message_group, added_at);
    """,
}

"""The state database's schema, one migration per version; the store applies the missing ones at open.

Columns are named after the fields of the value objects they hold (`alertd.state.codec`).
"""

from __future__ import annotations

SCHEMA_VERSION = 5

MIGRATIONS: dict[int, str] = {
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
    # v4: typed rows. Sessions, incidents and member details become columns (no JSON blob per
    # record, no positional decoding); the recoveries owed move from inside each incident to
    # their own table, so flushing a group never rewrites an incident; the unused members.attempts
    # column goes and members.message_group becomes flush_id (NULL while open); group due times are
    # stored so the flush reads only groups that can be due; outbox rows gain a text part and
    # attachments. Incidents are keyed by job key (JobUid, else "name:<job>") and VM key; each
    # source keeps a horizon and its last sweep; job runs are cached; success reads are
    # incremental per job.
    4: """
    CREATE TABLE alerts_v4 (
        source TEXT NOT NULL,
        uid TEXT NOT NULL,
        name TEXT NOT NULL,
        vm TEXT NOT NULL,
        vm_uid TEXT,
        job_session_uid TEXT NOT NULL,
        job_name TEXT NOT NULL,
        backup_server TEXT NOT NULL,
        creation_time TEXT NOT NULL,
        end_time TEXT,
        state TEXT NOT NULL,
        result TEXT NOT NULL,
        reason TEXT NOT NULL,
        total_size INTEGER NOT NULL,
        job_uid TEXT,
        job_level INTEGER NOT NULL DEFAULT 0,
        first_seen TEXT NOT NULL,
        status TEXT NOT NULL,
        -- A rowid table, not WITHOUT ROWID: an alert row (a whole session, reason text included)
        -- is far larger than SQLite's guidance for WITHOUT ROWID, and a storm inserts thousands
        -- in random UID order. Appending rows and indexing only (source, uid) takes about half
        -- the time (make bench), and "is this UID known" is still answered from the index alone.
        UNIQUE (source, uid)
    );
    INSERT INTO alerts_v4 (source, uid, name, vm, vm_uid, job_session_uid, job_name, backup_server,
        creation_time, end_time, state, result, reason, total_size, job_uid, job_level, first_seen, status)
    SELECT source, uid, json_extract(session, '$.name'), json_extract(session, '$.vm'),
        json_extract(session, '$.vm_uid'), json_extract(session, '$.job_session_uid'),
        json_extract(session, '$.job_name'), json_extract(session, '$.backup_server'),
        json_extract(session, '$.creation_time'), json_extract(session, '$.end_time'),
        json_extract(session, '$.state'), json_extract(session, '$.result'), json_extract(session, '$.reason'),
        json_extract(session, '$.total_size'), NULL, 0, first_seen, status
    FROM alerts;
    DROP TABLE alerts;
    ALTER TABLE alerts_v4 RENAME TO alerts;
    -- Pruning finds old alerts by first_seen (an index on end_time would make it scan every alert
    -- that ended before the horizon, most of the table). No other query needs another index.
    CREATE INDEX alerts_seen ON alerts (source, first_seen);

    CREATE TABLE members_v4 (
        id INTEGER PRIMARY KEY,
        source TEXT NOT NULL,
        uid TEXT NOT NULL,
        group_key TEXT NOT NULL,
        receivers TEXT NOT NULL,
        group_wait REAL NOT NULL,
        added_at TEXT NOT NULL,
        due_at TEXT NOT NULL,
        route TEXT NOT NULL,
        kind TEXT NOT NULL,
        hold_until TEXT,
        job_key TEXT NOT NULL,
        vm_key TEXT NOT NULL,
        detail_attempts INTEGER NOT NULL,
        detail_streak INTEGER NOT NULL,
        detail_failed_runs INTEGER NOT NULL,
        detail_since TEXT,
        detail_late_by REAL,
        flush_id INTEGER,
        closed TEXT
    );
    INSERT INTO members_v4 SELECT id, source, uid, group_key, receivers, group_wait, added_at,
        strftime('%Y-%m-%dT%H:%M:%f+00:00', julianday(added_at) + group_wait / 86400.0),
        route, kind, hold_until, 'name:' || job_name, vm_key,
        COALESCE(json_extract(detail, '$.attempts'), 1), COALESCE(json_extract(detail, '$.streak'), 1),
        COALESCE(json_extract(detail, '$.failed_runs'), 0), json_extract(detail, '$.since'), NULL,
        CASE WHEN message_group > 0 THEN message_group END, closed
    FROM members;
    DROP TABLE members;
    ALTER TABLE members_v4 RENAME TO members;
    -- Every index costs each new member an insert (a storm writes thousands per poll), so each
    -- serves a query: open groups by key (the flush), held members (the poll's retries and watched
    -- jobs, only rows with a hold indexed), members of an alert (pruning alerts, CLI reports),
    -- members of a flush (CLI reports, indexed only once flushed, so a poll pays nothing for it).
    -- Pruning members walks every member of the source (through members_alert) every
    -- PRUNE_INTERVAL, as it did through the old (source, flush_id, added_at) index, whose only
    -- column that query could use was the source.
    CREATE INDEX members_open ON members (group_key) WHERE flush_id IS NULL AND closed IS NULL;
    CREATE INDEX members_held ON members (source, hold_until)
        WHERE flush_id IS NULL AND closed IS NULL AND hold_until IS NOT NULL;
    CREATE INDEX members_alert ON members (source, uid);
    CREATE INDEX members_flush ON members (flush_id) WHERE flush_id IS NOT NULL;

    CREATE TABLE incidents_v4 (
        source TEXT NOT NULL,
        job_key TEXT NOT NULL,
        vm_key TEXT NOT NULL,
        job_name TEXT NOT NULL,
        vm TEXT NOT NULL,
        streak INTEGER NOT NULL,
        first_failure TEXT,
        last_failure TEXT,
        last_success TEXT,
        results TEXT NOT NULL,
        result_times TEXT NOT NULL,
        flapping INTEGER NOT NULL,
        flap_announced INTEGER NOT NULL,
        open INTEGER NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (source, job_key, vm_key)
    ) WITHOUT ROWID;
    CREATE TABLE notified (
        source TEXT NOT NULL,
        job_key TEXT NOT NULL,
        vm_key TEXT NOT NULL,
        route TEXT NOT NULL,
        alert_end TEXT NOT NULL,
        PRIMARY KEY (source, job_key, vm_key, route, alert_end)
    ) WITHOUT ROWID;
    INSERT INTO notified SELECT i.source, 'name:' || i.job_name, i.vm_key, r.value,
        json_extract(i.data, '$.first_failure')
    FROM incidents i, json_each(json_extract(i.data, '$.alerted_routes')) r
    WHERE json_extract(i.data, '$.first_failure') IS NOT NULL;
    INSERT INTO incidents_v4 SELECT source, 'name:' || job_name, vm_key, job_name, json_extract(data, '$.vm'),
        json_extract(data, '$.streak'), json_extract(data, '$.first_failure'),
        json_extract(data, '$.last_failure'), json_extract(data, '$.last_success'),
        json_extract(data, '$.results'),
        COALESCE((SELECT group_concat(t.value, ' ') FROM json_each(json_extract(data, '$.result_times')) t), ''),
        -- flap_announced starts false: a VM flapping before the upgrade gets one Flapping message at
        -- its next failure rather than be muted without one (v3 lost it when flapping began on a success).
        json_extract(data, '$.flapping'), 0, open, updated_at
    FROM incidents;
    DROP TABLE incidents;
    ALTER TABLE incidents_v4 RENAME TO incidents;
    -- Reads go by primary key (the poll's keys, watched jobs by source). Pruning finds closed
    -- incidents by age, and open ones (all a storm writes) are not in that index.
    CREATE INDEX incidents_closed ON incidents (source, updated_at) WHERE open = 0;

    ALTER TABLE deliveries ADD COLUMN text TEXT;
    ALTER TABLE deliveries ADD COLUMN attachments TEXT;
    CREATE INDEX silences_active ON silences (expired_at, ends_at);

    ALTER TABLE watermarks ADD COLUMN horizon TEXT;
    ALTER TABLE watermarks ADD COLUMN last_sweep TEXT;
    CREATE TABLE job_runs (
        source TEXT NOT NULL,
        uid TEXT NOT NULL,
        job_uid TEXT,
        job_name TEXT NOT NULL,
        job_type TEXT,
        is_retry INTEGER NOT NULL,
        state TEXT,
        result TEXT,
        creation_time TEXT,
        end_time TEXT,
        backup_server TEXT NOT NULL,
        task_count INTEGER,
        read_at TEXT NOT NULL,
        PRIMARY KEY (source, uid)
    ) WITHOUT ROWID;
    CREATE INDEX job_runs_read ON job_runs (source, read_at);
    CREATE TABLE job_cursors (
        source TEXT NOT NULL,
        job_key TEXT NOT NULL,
        checked_until TEXT NOT NULL,
        PRIMARY KEY (source, job_key)
    ) WITHOUT ROWID;
    """,
    # v5: self-monitoring state, so a restart neither repeats a self-alert nor loses its recovery.
    # Self-contained (one new table), so it can be renumbered if another migration lands first.
    5: """
    CREATE TABLE self_checks (
        source TEXT NOT NULL,
        check_name TEXT NOT NULL,
        failing_since TEXT,
        detail TEXT,
        alerted INTEGER NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (source, check_name)
    ) WITHOUT ROWID;
    """,
}

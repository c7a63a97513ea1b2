"""Small builders for test data (task sessions, config documents)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from alertd.model import TaskSession

T0 = datetime(2026, 11, 28, 22, 0, tzinfo=UTC)


def session(
    vm: str = "dbserver01",
    *,
    result: str = "Failed",
    job: str = "SQL Daily",
    job_session: str = "js-1",
    server: str = "vbr01.corp.local",
    end: datetime | None = None,
    created: datetime | None = None,
    source: str = "em1",
    reason: str = "Error: There is not enough space on the disk.",
    uid: str | None = None,
) -> TaskSession:
    """A completed task session with sensible defaults."""
    end = end or T0
    return TaskSession(
        uid=uid or f"urn:veeam:BackupTaskSession:{uuid.uuid4()}",
        name=f"{vm}@{(created or end - timedelta(minutes=5)):%Y-%m-%d %H:%M:%S}",
        vm=vm,
        vm_uid=f"urn:VMware:Vm:{uuid.uuid5(uuid.NAMESPACE_DNS, vm)}.vm-1",
        job_session_uid=job_session,
        job_name=job,
        backup_server=server,
        creation_time=created or end - timedelta(minutes=5),
        end_time=end,
        state="Completed",
        result=result,
        reason=reason,
        total_size=0,
        source=source,
    )


def config_doc(tmp_path: Any, **overrides: Any) -> dict[str, Any]:
    """A valid config document pointing state into ``tmp_path``."""
    doc: dict[str, Any] = {
        "sources": [
            {"name": "em1", "url": "http://127.0.0.1:9", "username": "CORP\\svc-alertd", "password": "secret"}
        ],
        "state": {"path": str(tmp_path / "state.db")},
        "receivers": [{"name": "ops", "urls": ["json://127.0.0.1:9/hook"]}],
        "routes": [{"receivers": ["ops"]}],
        "http": {"listen": None},
    }
    doc.update(overrides)
    return doc

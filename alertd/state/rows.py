"""How state rows are selected and decoded: one codec per record type, and the open-member query.

Polls, flushes, reports and silences all read these rows; the column lists and decoders live
here once so that every reader sees a record the same way.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from datetime import timedelta

from alertd.incidents import Incident
from alertd.model import AlertDetail, GroupKind, JobRun, TaskSession
from alertd.records import OpenMember, Silence
from alertd.state.codec import RowCodec, dt

SESSION = RowCodec(TaskSession)
INCIDENT = RowCodec(Incident)
DETAIL = RowCodec(AlertDetail, prefix="detail_")
SILENCE = RowCodec(Silence)
JOB_RUN = RowCodec(JobRun)

_MEMBER_COLUMNS = (
    "m.id, m.group_key, m.receivers, m.group_wait, m.added_at, m.route, m.kind, m.hold_until, "
    f"m.job_key, m.vm_key, {DETAIL.column_list('m')}, {SESSION.column_list('a')}"
)
#: Open group members with their alert (the FROM/JOIN every member query shares).
MEMBERS_FROM = (
    f"SELECT {_MEMBER_COLUMNS} FROM members m JOIN alerts a ON a.source=m.source AND a.uid=m.uid "
    "WHERE m.flush_id IS NULL AND m.closed IS NULL"
)


@functools.lru_cache(maxsize=256)
def _receivers(text: str) -> tuple[str, ...]:
    # A flush decodes thousands of members that name the same few receiver lists.
    return tuple(json.loads(text))


@functools.lru_cache(maxsize=256)
def _seconds(value: float) -> timedelta:
    return timedelta(seconds=value)


_KINDS = {k.value: k for k in GroupKind}


def open_member(row: sqlite3.Row) -> OpenMember:
    """An OpenMember from a row selected with `MEMBERS_FROM`."""
    return OpenMember(
        id=row[0],
        group_key=row[1],
        receivers=_receivers(row[2]),
        group_wait=_seconds(row[3]),
        added_at=dt(row[4]),
        route=row[5],
        kind=_KINDS.get(row[6]) or GroupKind(row[6]),
        hold_until=dt(row[7]) if row[7] else None,
        job_key=row[8],
        vm_key=row[9],
        detail=DETAIL.decode(row, 10),
        session=SESSION.decode(row, 10 + len(DETAIL.columns)),
    )

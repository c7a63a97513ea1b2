"""Decode BackupJobSession entities (``GET /api/backupSessions/{id}?format=Entity``, or the rows of a
``type=BackupJobSession`` query) into JobRuns.

This module owns the mapping from EM's job-session entity (reference §3.3; the 13.1 pages
em_rest/backupsessions_id.html and get_query_backupjobsession.html) to `alertd.model.JobRun`:
JobUid (a URN, ``urn:veeam:Job:<guid>``), JobName (for a backup-copy child the whole
``Parent\\Child`` name), JobType, IsRetry, State, Result, the times, and the backup server from
the ``BackupServerReference`` link. Pure: bytes in, a JobRun (and its gaps) out.

A body that is no BackupJobSession, that names another job session, or that names no job at
all (neither JobUid nor a job name) raises `DecodeError`; any other missing field becomes None
and is listed as a gap for the caller to log.
"""

from __future__ import annotations

from typing import NamedTuple

from alertd.em._fields import (
    before_last_at,
    bool_field,
    guid_of,
    link_name,
    text_field,
    time_field,
)
from alertd.em._raw import DecodeError, RawEntity
from alertd.em._wire import read_entity
from alertd.model import JobRun

__all__ = ["DecodedJobRun", "decode_job_session", "job_run_of"]


class DecodedJobRun(NamedTuple):
    """A job run and the fields of its entity that could not be read (empty when whole)."""

    run: JobRun
    problems: tuple[str, ...]


def decode_job_session(body: bytes, *, uid: str) -> DecodedJobRun:
    """Decode the entity of job session ``uid``; the JobRun keeps ``uid`` exactly as asked."""
    name, entity = read_entity(body)
    if name not in ("backupjobsession", ""):
        raise DecodeError(f"expected a BackupJobSession entity, got <{name}>")
    return job_run_of(entity, uid=uid)


def job_run_of(entity: RawEntity, *, uid: str) -> DecodedJobRun:
    """The JobRun of one BackupJobSession entity, from a single-entity body or a query page alike."""
    fields, problems = entity.fields, []
    own_uid = (text_field(fields, "uid") or "").strip()
    if own_uid and guid_of(own_uid).lower() != guid_of(uid).lower():
        raise DecodeError(f"asked for job session {uid!r}, EM answered with {own_uid!r}")
    if not own_uid and (text_field(fields, "type") or "").lower() != "backupjobsession":
        # A JSON object with neither UID nor Type is not recognisably a job session.
        raise DecodeError("body is not a BackupJobSession entity (no UID, no Type)")
    job_uid = (text_field(fields, "jobuid") or "").strip() or None
    job_name = (text_field(fields, "jobname") or "").strip()
    if not job_name:
        # The session Name is "<job name>@<creation time>" (fractions of a second included).
        job_name = before_last_at((text_field(fields, "name") or "").strip())
        problems.append("no JobName" + (": taken from Name" if job_name else ""))
    if job_uid is None:
        if not job_name:
            raise DecodeError("job session entity names no job (no JobUid, JobName or Name)")
        problems.append("no JobUid")
    creation, creation_gap, creation_problem = time_field(fields, "creationtimeutc", "CreationTimeUTC")
    if creation_gap is not None:
        problems.append(creation_problem)
    # EndTimeUTC is absent (or a null date) while the job runs.
    end, end_gap, end_problem = time_field(fields, "endtimeutc", "EndTimeUTC")
    if end_gap == "unreadable":
        problems.append(end_problem)
    is_retry = bool_field(fields, "isretry")
    if is_retry is None:
        problems.append("no readable IsRetry")
    backup_server = link_name(entity.links, "backupserverreference")
    if not backup_server:
        problems.append("no backup server name (BackupServerReference link Name)")
    run = JobRun(
        uid=uid,
        job_uid=job_uid,
        job_name=job_name,
        job_type=_optional(fields, "jobtype", "JobType", problems),
        is_retry=bool(is_retry),
        state=_optional(fields, "state", "State", problems),
        result=_optional(fields, "result", "Result", problems),
        creation_time=creation,
        end_time=end,
        backup_server=backup_server,
    )
    return DecodedJobRun(run, tuple(problems))


def _optional(fields: dict[str, object], key: str, label: str, problems: list[str]) -> str | None:
    value = (text_field(fields, key) or "").strip()
    if not value:
        problems.append(f"no {label}")
        return None
    return value

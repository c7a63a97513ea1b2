"""Records as the JSON a VBR server of one revision shape sends.

Field names, required fields and example formats are the OpenAPI subsets' (SessionModel,
TaskSessionModel and its subtypes, ServerTimeModel, TokenModel, SessionProgress, JobModel's
BackupJobModel); what 1.1-rev0
differs in is reference §2.2 and §6. Only documented optional fields are sent; a field a schema
declares non-nullable is left out rather than sent as ``null``.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any, Final

from alertd.simulator.vbr.profiles import Shape
from alertd.simulator.vbr.records import JobRecord, SessionRecord, TaskRecord
from alertd.simulator.vbr.settings import VBRSettings
from alertd.simulator.vbr.tokens import Grant

__all__ = [
    "local_time",
    "render_job",
    "render_session",
    "render_task",
    "server_time",
    "session_type",
    "token",
]

_ZERO_UUID: Final = "00000000-0000-0000-0000-000000000000"
#: The stable repository of the simulated server (BackupTaskSessionModel.repositoryId).
_REPOSITORY: Final = "88788f9e-d8f5-4eb4-bc4f-9b3f5403bcec"


def local_time(when: datetime, zone: tzinfo, *, offset: bool, digits: int) -> str:
    """The server's local wall time, with ``digits`` fraction digits and optionally its offset.

    Examples (§2.3): sessions ``2023-12-04T06:13:34.983+01:00``; task sessions
    ``2024-11-13T22:00:49.893878``; serverTime ``2024-01-25T18:31:50.7300443+01:00``.
    """
    local = when.astimezone(zone)
    text = local.strftime("%Y-%m-%dT%H:%M:%S")
    if digits:
        text += "." + f"{local.microsecond:06d}0"[:digits]
    if offset:
        text += local.strftime("%z")[:3] + ":" + local.strftime("%z")[3:]
    return text


def session_type(record_type: str, shape: Shape) -> str:
    """1.0-rev2 and 1.1-rev0 have one ``Job`` value for every job (§2.2, §6)."""
    if shape.job_field == "activityId" and record_type.endswith(("Job", "Backup", "Policy")):
        return "Job"
    return record_type


def render_session(rec: SessionRecord, shape: Shape, settings: VBRSettings) -> dict[str, Any]:
    name = rec.job_name
    if rec.is_retry and settings.retry_name_suffix:
        name = f"{name} (Retry {rec.retry_number})"  # the console's title (§4, open question 5)
    out: dict[str, Any] = {
        "id": rec.id,
        "name": name,
        shape.job_field: rec.job_id,
        "sessionType": session_type(rec.session_type, shape),
        "creationTime": local_time(rec.creation_time, settings.zone, offset=True, digits=3),
        "state": rec.state,
        "progressPercent": 100 if rec.end_time is not None else 50,
        "result": {"result": rec.result, "message": rec.message, "isCanceled": rec.is_canceled},
        "usn": rec.usn,
    }
    if rec.end_time is not None:  # a running session has no endTime (§2.3, observed)
        out["endTime"] = local_time(rec.end_time, settings.zone, offset=True, digits=3)
    if shape.platform:
        out["platformName"] = "VMware"
        out["platformId"] = _ZERO_UUID
    if shape.retry_info:
        out["originalSessionId"] = rec.original_session_id or rec.id
        if rec.is_retry:  # "Present only when the session is a retry" (SessionRetryInfo)
            out["retryInfo"] = {"isRecheckRetry": False, "retryNumber": rec.retry_number}
    return out


def render_task(rec: TaskRecord, shape: Shape, settings: VBRSettings) -> dict[str, Any]:
    def when(t: datetime) -> str:
        return local_time(t, settings.zone, offset=settings.task_times_with_offset, digits=6)

    out: dict[str, Any] = {
        "id": rec.id,
        "type": rec.type,
        "sessionId": rec.session_id,
        "sessionType": rec.session_type,
        "creationTime": when(rec.creation_time),
        "name": rec.name,
    }
    if rec.end_time is not None:
        out["endTime"] = when(rec.end_time)
    if rec.type == "Antivirus":  # no state and no result (AntivirusTaskSessionModel)
        out.update(scanType="Antivirus", scanResult="Clean", scanState="Finished")
        return out
    out.update(
        state=rec.state,
        usn=rec.usn,
        result={"result": rec.result, "message": rec.message, "isCanceled": rec.is_canceled},
    )
    if rec.type in ("Backup", "Replica"):
        out["algorithm"] = "Increment"
        out["progress"] = _progress(rec, shape)
        if rec.type == "Backup":
            out["repositoryId"] = _REPOSITORY
    return out


def _progress(rec: TaskRecord, shape: Shape) -> dict[str, Any]:
    seconds = int(((rec.end_time or rec.creation_time) - rec.creation_time).total_seconds())
    out: dict[str, Any] = {
        "duration": f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}",
        "processingRate": "N/A" if rec.processed_size == 0 else "53.7 MB",
        "bottleneck": "Source" if rec.processed_size else "None",
        "processedSize": rec.processed_size,
        "readSize": rec.processed_size // 4,
        "transferredSize": rec.processed_size // 8,
    }
    if shape.progress_percent:
        out["progressPercent"] = 100 if rec.end_time is not None else 50
    return out


def server_time(now: datetime, shape: Shape, settings: VBRSettings) -> dict[str, Any]:
    out: dict[str, Any] = {
        "serverTime": local_time(now, settings.zone, offset=True, digits=7),
        "timeZone": settings.zone_display,
    }
    iana = getattr(settings.zone, "key", None)
    if shape.retry_info and iana:  # ianaTimeZoneId arrived in 1.3-rev2 (CHANGELOG 1.3-rev2 "Service")
        out["ianaTimeZoneId"] = iana
    return out


def token(grant: Grant, settings: VBRSettings) -> dict[str, Any]:
    """A TokenModel; ``.issued``/``.expires`` without an offset, as in OVERVIEW 1.3-rev0 (§1.3)."""
    return {
        "access_token": grant.access,
        "token_type": "bearer",
        "refresh_token": grant.refresh,
        "expires_in": settings.expires_in,
        ".issued": local_time(grant.issued, settings.zone, offset=False, digits=0),
        ".expires": local_time(grant.access_expires, settings.zone, offset=False, digits=0),
    }


def render_job(rec: JobRecord, shape: Shape) -> dict[str, Any] | None:
    """A vSphere backup job as ``GET /api/v1/jobs/{id}`` answers it, or None where no document shows it.

    Source: the OpenAPI subsets' ``GetJob`` operation, ``JobModel`` and its ``BackupJobModel``
    subtype (discriminator ``Backup`` in 1.2-rev1, ``VSphereBackup`` from 1.3-rev0), every required
    field present; the schedule's values follow Veeam's ``vSphereBackupJobModelExample``. Only
    ``BackupJob`` sessions have a job here: whether ``/jobs/{id}`` resolves other job types is
    open (reference §4), and 1.1-rev0's JobModel is in no document the simulator has.
    """
    if shape.job_field != "jobId" or rec.session_type != "BackupJob":
        return None
    return {
        "id": rec.id,
        "name": rec.name,
        "type": "VSphereBackup" if shape.array_filters else "Backup",  # EJobType per revision
        "isDisabled": rec.is_disabled,
        "description": "Created by CORP\\Administrator",
        "isHighPriority": False,
        "virtualMachines": {"includes": []},  # alertd reads no object list from a job
        "storage": {
            "backupRepositoryId": _REPOSITORY,
            "backupProxies": {"autoSelectEnabled": True},
            "retentionPolicy": {"type": "RestorePoints", "quantity": 7},
        },
        "guestProcessing": {
            "appAwareProcessing": {"isEnabled": False},
            "guestFSIndexing": {"isEnabled": False},
        },
        "schedule": {
            "runAutomatically": rec.run_automatically,
            "daily": {"dailyKind": "Everyday", "isEnabled": True, "localTime": "4:00"},
            "retry": {
                "isEnabled": rec.retry_enabled,
                "retryCount": rec.retry_count,
                "awaitMinutes": rec.await_minutes,
            },
        },
    }

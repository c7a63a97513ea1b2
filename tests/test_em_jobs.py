"""Tests for alertd.em.jobs and decode_versions: job-session entities and version lists, XML and JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from alertd.em.decode import DecodeError, decode_versions
from alertd.em.jobs import decode_job_session
from alertd.model import JobRun

GUID = "07fb4019-dc8c-45ba-a36f-d15f2e7fe41b"
URN = f"urn:veeam:BackupJobSession:{GUID}"

# The 13.1 get_query_backupjobsession.html example's first entity, as a single resource.
XML_JOB = f"""<?xml version="1.0" encoding="utf-8"?>
<BackupJobSession xmlns="http://www.veeam.com/ent/v1.0" \
Href="https://enterpriseem02.tech.local:9398/api/backupSessions/{GUID}?format=Entity" Type="BackupJobSession" \
Name="Periodic Backup Copy Job\\Backup Job 1@2025-08-16 05:17:38.22142" UID="{URN}">
  <Links>
    <Link Href="https://enterpriseem02.tech.local:9398/api/backupServers/a0c8ea55" \
Name="enterprisevbr01.tech.local" Type="BackupServerReference" Rel="Up" />
    <Link Href="https://enterpriseem02.tech.local:9398/api/jobs/643e7958" Name="Periodic Backup Copy Job\\Backup Job 1" \
Type="JobReference" Rel="Up" />
    <Link Href="https://enterpriseem02.tech.local:9398/api/backupSessions/{GUID}/taskSessions" \
Type="BackupTaskSessionReferenceList" Rel="Down" />
    <Link Href="https://enterpriseem02.tech.local:9398/api/backupSessions/{GUID}?action=stop&amp;x=1" Rel="Stop" />
  </Links>
  <JobUid>urn:veeam:Job:643e7958-f608-41fd-932c-084596f5b44f</JobUid>
  <JobName>Periodic Backup Copy Job\\Backup Job 1</JobName>
  <JobType>ImmediateBackupCopyWorker</JobType>
  <CreationTimeUTC>2025-08-16T05:17:38.22142Z</CreationTimeUTC>
  <EndTimeUTC>2025-08-16T05:25:01.879599Z</EndTimeUTC>
  <State>Stopped</State>
  <Result>Failed</Result>
  <Progress>100</Progress>
  <IsRetry>true</IsRetry>
</BackupJobSession>
"""

EXPECTED = JobRun(
    uid=URN,
    job_uid="urn:veeam:Job:643e7958-f608-41fd-932c-084596f5b44f",
    job_name="Periodic Backup Copy Job\\Backup Job 1",
    job_type="ImmediateBackupCopyWorker",
    is_retry=True,
    state="Stopped",
    result="Failed",
    creation_time=datetime(2025, 8, 16, 5, 17, 38, 221420, tzinfo=UTC),
    end_time=datetime(2025, 8, 16, 5, 25, 1, 879599, tzinfo=UTC),
    backup_server="enterprisevbr01.tech.local",
)


def json_job(**changes: Any) -> bytes:
    """The same entity in EM's JSON (PascalCase, BOM), with ``changes`` applied (None deletes)."""
    doc: dict[str, Any] = {
        "JobUid": EXPECTED.job_uid,
        "JobName": EXPECTED.job_name,
        "JobType": "ImmediateBackupCopyWorker",
        "CreationTimeUTC": "2025-08-16T05:17:38.22142Z",
        "EndTimeUTC": "2025-08-16T05:25:01.879599Z",
        "State": "Stopped",
        "Result": "Failed",
        "Progress": 100,
        "IsRetry": True,
        "Name": "Periodic Backup Copy Job\\Backup Job 1@2025-08-16 05:17:38.22142",
        "UID": URN,
        "Links": [
            {"Rel": "Up", "Href": "h", "Name": "enterprisevbr01.tech.local", "Type": "BackupServerReference"}
        ],
        "Href": "h",
        "Type": "BackupJobSession",
    }
    for key, value in changes.items():
        if value is None:
            doc.pop(key, None)
        else:
            doc[key] = value
    return b"\xef\xbb\xbf" + json.dumps(doc).encode()


def test_xml_reference_sample() -> None:
    """The 13.1 doc's backup-copy job session decodes to a whole JobRun."""
    run, problems = decode_job_session(XML_JOB.encode(), uid=URN)
    assert run == EXPECTED and problems == ()


@pytest.mark.parametrize("uid", [URN, GUID, GUID.upper()])
def test_json_sample_and_uid_forms(uid: str) -> None:
    """The JSON entity decodes alike; the JobRun keeps the uid exactly as it was asked for."""
    run, problems = decode_job_session(json_job(), uid=uid)
    assert run == JobRun(**{**_fields(EXPECTED), "uid": uid}) and problems == ()


def _fields(run: JobRun) -> dict[str, Any]:
    return {name: getattr(run, name) for name in run.__slots__}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("changes", "expected", "problems"),
    [
        (
            {"EndTimeUTC": None, "State": "Working", "Result": "None"},
            {"end_time": None, "state": "Working"},
            (),
        ),
        ({"EndTimeUTC": "1900-01-01T00:00:00Z"}, {"end_time": None}, ()),  # VBR's null date: running
        ({"IsRetry": "false"}, {"is_retry": False}, ()),
        ({"IsRetry": None}, {"is_retry": False}, ("no readable IsRetry",)),
        ({"JobUid": None}, {"job_uid": None}, ("no JobUid",)),
        (
            {"JobName": None},
            {"job_name": "Periodic Backup Copy Job\\Backup Job 1"},
            ("no JobName: taken from Name",),
        ),
        ({"JobType": None}, {"job_type": None}, ("no JobType",)),
        (
            {"CreationTimeUTC": "0001-01-01T00:00:00Z"},
            {"creation_time": None},
            ("null-date CreationTimeUTC (0001-01-01T00:00:00Z)",),
        ),
        ({"EndTimeUTC": "later"}, {"end_time": None}, ("unreadable EndTimeUTC (not an EM time: 'later')",)),
        (
            {"Links": None},
            {"backup_server": ""},
            ("no backup server name (BackupServerReference link Name)",),
        ),
    ],
)
def test_gaps_become_none_and_are_named(
    changes: dict[str, Any], expected: dict[str, Any], problems: tuple[str, ...]
) -> None:
    """A missing or odd field becomes None (or a stand-in) and is named; documented shapes are no gap."""
    run, got = decode_job_session(json_job(**changes), uid=URN)
    assert {key: getattr(run, key) for key in expected} == expected
    assert got == problems


@pytest.mark.parametrize(
    "body",
    [
        json_job(UID="urn:veeam:BackupJobSession:11111111-0000-4000-8000-000000000000"),
        json_job(JobUid=None, JobName=None, Name=None),
        json_job(UID=None, Type=None),
        b"<BackupTaskSession UID='x'/>",
        b"[1, 2]",
        b"",
        b"<BackupJobSession",
    ],
    ids=["another session", "no job", "not a job session", "task session", "list", "empty", "broken"],
)
def test_bodies_that_are_no_job_session_raise(body: bytes) -> None:
    """Another session's entity, one naming no job, or no job session at all raise DecodeError."""
    with pytest.raises(DecodeError):
        decode_job_session(body, uid=URN)


VERSIONS_XML = b"""<EnterpriseManager xmlns="http://www.veeam.com/ent/v1.0">
  <Links><Link Href="https://em:9398/api/sessionMngr/?v=latest" Type="LogonSession" Rel="Create"/></Links>
  <SupportedVersions>
    <SupportedVersion Name="v1_5"><Links><Link Href="x" Rel="Create"/></Links></SupportedVersion>
    <SupportedVersion Name="v1_6"/>
    <SupportedVersion Name="v1_7"/>
  </SupportedVersions>
</EnterpriseManager>"""


@pytest.mark.parametrize(
    "body",
    [
        VERSIONS_XML,
        b'{"SupportedVersions":{"SupportedVersions":[{"Name":"v1_5"},{"Name":"v1_6"},{"Name":"v1_7"}]}}',
        b'\xef\xbb\xbf{"supportedVersions":[{"name":"v1_5"},{"name":"v1_6"},{"name":"v1_7"}]}',
    ],
    ids=["xml", "json double-wrapped", "json camelCase"],
)
def test_decode_versions(body: bytes) -> None:
    """GET /api/'s version list reads the same from XML and from (double-wrapped) JSON."""
    assert decode_versions(body) == ["v1_5", "v1_6", "v1_7"]


@pytest.mark.parametrize("body", [b"<QueryResult/>", b'{"SupportedVersions": 5}', b"nope"])
def test_decode_versions_rejects(body: bytes) -> None:
    """A body that is no EnterpriseManager document raises DecodeError."""
    with pytest.raises(DecodeError):
        decode_versions(body)

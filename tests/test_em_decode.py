"""Tests for alertd.em.decode: QueryResult, Error and LogonSession bodies in XML and JSON."""

from __future__ import annotations

import contextlib
import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alertd.em import decode as decode_module
from alertd.em._fields import text_field
from alertd.em._raw import RawEntity
from alertd.em.decode import (
    DecodeError,
    EMErrorBody,
    LogonSession,
    PageInfo,
    decode_error,
    decode_logon_session,
    decode_task_sessions,
    parse_time,
)
from alertd.model import TaskSession

NS = "http://www.veeam.com/ent/v1.0"
BOM = b"\xef\xbb\xbf"

# Reference §3.1, in the shape EM sends it: XML declaration, xsd/xsi namespaces, &amp; in Hrefs.
XML_SAMPLE = """<?xml version="1.0" encoding="utf-8"?>
<QueryResult xmlns="http://www.veeam.com/ent/v1.0" xmlns:xsd="http://www.w3.org/2001/XMLSchema" \
xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <Entities><BackupTaskSessions>
    <BackupTaskSession Type="BackupTaskSession" \
Href="https://localhost:9398/api/backupTaskSessions/38ceb150-e0a8-4f87-8a17-243afc1b98f4?format=Entity" \
Name="dbserver01@2025-06-05 01:04:29" VmDisplayName="dbserver01" \
UID="urn:veeam:BackupTaskSession:38ceb150-e0a8-4f87-8a17-243afc1b98f4">
      <Links>
        <Link Rel="Up" Type="BackupServerReference" \
Href="https://localhost:9398/api/backupServers/7445e6ce-86f5-4171-b909-dac209c66563" \
Name="enterprise06.tech.local" />
        <Link Rel="Up" Type="BackupJobSessionReference" \
Href="https://localhost:9398/api/backupSessions/35c24055-bdee-4e43-b655-a42de408d2ec" \
Name="Backup Job 1@2025-06-05 01:03:37" />
        <Link Rel="Alternate" Type="BackupTaskSessionReference" \
Href="https://localhost:9398/api/backupTaskSessions/38ceb150-e0a8-4f87-8a17-243afc1b98f4" \
Name="dbserver01@2025-06-05 01:04:29" />
      </Links>
      <JobSessionUid>urn:veeam:BackupJobSession:35c24055-bdee-4e43-b655-a42de408d2ec</JobSessionUid>
      <CreationTimeUTC>2025-06-05T01:04:29.56Z</CreationTimeUTC>
      <EndTimeUTC>2025-06-05T01:04:44.53Z</EndTimeUTC>
      <State>Completed</State>
      <Result>Failed</Result>
      <Reason>Error: There is not enough space on the disk. Failed to write data to the file \
[C:\\Backup\\Backup Job 1\\Backup Job 1D2025-06-05T030355_06C7.vib].</Reason>
      <TotalSize>0</TotalSize>
      <VmUid>urn:VMware:Vm:de28dc43-b8ee-4e17-8e63-3d38b6604033.vm-62228</VmUid>
    </BackupTaskSession>
  </BackupTaskSessions></Entities>
  <PagingInfo PagesCount="7" PageSize="3" PageNum="1">
    <Links>
      <Link Rel="First" Href="https://localhost:9398/api/query?type=BackupTaskSession&amp;format=Entities\
&amp;sortDesc=CreationTime&amp;pageSize=3&amp;page=1&amp;filter=Result==Failed;VmDisplayName==dbserver01" />
      <Link Rel="Next" Href="https://localhost:9398/api/query?page=2" />
      <Link Rel="Last" Href="https://localhost:9398/api/query?page=7" />
    </Links>
  </PagingInfo>
</QueryResult>
"""

EXPECTED = TaskSession(
    uid="urn:veeam:BackupTaskSession:38ceb150-e0a8-4f87-8a17-243afc1b98f4",
    name="dbserver01@2025-06-05 01:04:29",
    vm="dbserver01",
    vm_uid="urn:VMware:Vm:de28dc43-b8ee-4e17-8e63-3d38b6604033.vm-62228",
    job_session_uid="urn:veeam:BackupJobSession:35c24055-bdee-4e43-b655-a42de408d2ec",
    job_name="Backup Job 1",
    backup_server="enterprise06.tech.local",
    creation_time=datetime(2025, 6, 5, 1, 4, 29, 560000, tzinfo=UTC),
    end_time=datetime(2025, 6, 5, 1, 4, 44, 530000, tzinfo=UTC),
    state="Completed",
    result="Failed",
    reason="Error: There is not enough space on the disk. Failed to write data to the file "
    "[C:\\Backup\\Backup Job 1\\Backup Job 1D2025-06-05T030355_06C7.vib].",
    total_size=0,
    source="em-prod",
)


def json_entity() -> dict[str, Any]:
    """Reference §3.2's entity (PascalCase), with the same values as the XML sample."""
    return {
        "JobSessionUid": EXPECTED.job_session_uid,
        "CreationTimeUTC": "2025-06-05T01:04:29.56Z",
        "EndTimeUTC": "2025-06-05T01:04:44.53Z",
        "State": "Completed",
        "Result": "Failed",
        "Reason": EXPECTED.reason,
        "TotalSize": 0,
        "VmUid": EXPECTED.vm_uid,
        "VmDisplayName": "dbserver01",
        "Name": "dbserver01@2025-06-05 01:04:29",
        "UID": EXPECTED.uid,
        "Links": [
            {
                "Rel": "Up",
                "Href": "https://em:9398/api/backupServers/7445e6ce",
                "Name": "enterprise06.tech.local",
                "Type": "BackupServerReference",
            },
            {
                "Rel": "Up",
                "Href": "https://em:9398/api/backupSessions/35c24055",
                "Name": "Backup Job 1@2025-06-05 01:03:37",
                "Type": "BackupJobSessionReference",
            },
            {"Rel": "Alternate", "Href": "x", "Name": None, "Type": "BackupTaskSessionReference"},
        ],
        "Href": "https://em:9398/api/backupTaskSessions/38ceb150?format=Entity",
        "Type": "BackupTaskSession",
    }


def json_page(entities: object, *, paging: dict[str, Any] | None = None) -> dict[str, Any]:
    """A QueryResult JSON document with the given Entities value."""
    return {
        "Entities": entities,
        "PagingInfo": paging
        or {"Links": [{"Rel": "First", "Href": "x"}], "PageNum": 1, "PageSize": 3, "PagesCount": 7},
    }


def camel(obj: Any) -> Any:
    """Rewrite every key of a JSON value in camelCase, as EM 13 reportedly emits."""
    if isinstance(obj, dict):
        return {(k[0].lower() + k[1:] if k != "UID" else "uid"): camel(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [camel(v) for v in obj]
    return obj


def xml_page(entities: str, paging: str = '<PagingInfo PageNum="1" PageSize="100" PagesCount="1"/>') -> bytes:
    """A QueryResult XML document around the given BackupTaskSession elements."""
    return (
        f'<QueryResult xmlns="{NS}"><Entities><BackupTaskSessions>{entities}'
        f"</BackupTaskSessions></Entities>{paging}</QueryResult>"
    ).encode()


def xml_entity(
    uid: str = "urn:veeam:BackupTaskSession:1", *, children: str | None = None, attrs: str = ""
) -> str:
    """One BackupTaskSession element; children default to a completed failure."""
    if children is None:
        children = (
            "<JobSessionUid>urn:veeam:BackupJobSession:9</JobSessionUid>"
            "<CreationTimeUTC>2025-06-05T01:04:29Z</CreationTimeUTC>"
            "<EndTimeUTC>2025-06-05T01:05:00Z</EndTimeUTC>"
            "<State>Completed</State><Result>Failed</Result><Reason>boom</Reason><TotalSize>5</TotalSize>"
        )
    uid_attr = f' UID="{uid}"' if uid else ""
    return (
        f'<BackupTaskSession Type="BackupTaskSession" Name="vm1@2025-06-05 01:04:29" '
        f'VmDisplayName="vm1"{uid_attr} {attrs}>{children}</BackupTaskSession>'
    )


# --- QueryResult: the reference samples -----------------------------------------------------


def test_xml_reference_sample() -> None:
    """Reference §3.1 decodes into the expected TaskSession and PagingInfo."""
    sessions, page, skipped, _ = decode_task_sessions(XML_SAMPLE.encode(), source="em-prod")
    assert sessions == [EXPECTED]
    assert page == PageInfo(page_num=1, page_size=3, pages_count=7)
    assert skipped == []


@pytest.mark.parametrize("bom", [b"", BOM])
@pytest.mark.parametrize("casing", ["Pascal", "camel"])
def test_json_reference_sample(bom: bytes, casing: str) -> None:
    """Reference §3.2 decodes with or without a UTF-8 BOM, in PascalCase or camelCase."""
    doc = json_page({"BackupTaskSessions": {"BackupTaskSessions": [json_entity()]}})
    if casing == "camel":
        doc = camel(doc)
    sessions, page, skipped, _ = decode_task_sessions(bom + json.dumps(doc).encode(), source="em-prod")
    assert sessions == [EXPECTED]
    assert page == PageInfo(1, 3, 7)
    assert skipped == []


@pytest.mark.parametrize(
    "entities",
    [
        pytest.param({"BackupTaskSessions": [json_entity()]}, id="single-wrap"),
        pytest.param({"BackupTaskSessions": {"BackupTaskSession": [json_entity()]}}, id="singular-inner"),
        pytest.param({"BackupTaskSessions": {"BackupTaskSession": json_entity()}}, id="singular-lone"),
        pytest.param({"BackupTaskSession": json_entity()}, id="lone-entity"),
        pytest.param(
            {"BackupJobSessions": None, "BackupTaskSessions": {"BackupTaskSessions": [json_entity()]}},
            id="null-sibling",
        ),
    ],
)
def test_json_entity_list_wrappings(entities: object) -> None:
    """The entity list is found however it is wrapped: once, twice, singular, or a lone object."""
    sessions, _, _, _ = decode_task_sessions(json.dumps(json_page(entities)).encode(), source="em-prod")
    assert sessions == [EXPECTED]


@pytest.mark.parametrize(
    "doc",
    [
        pytest.param(
            {"Refs": None, "Entities": None, "PagingInfo": {"PageNum": 1, "PageSize": 9, "PagesCount": 0}}
        ),
        pytest.param({"Entities": {}, "PagingInfo": {"PageNum": 1, "PageSize": 100, "PagesCount": 1}}),
        pytest.param(
            {
                "entities": {"backupTaskSessions": {"backupTaskSessions": []}},
                "pagingInfo": {"pageNum": "1", "pageSize": "100", "pagesCount": "1"},
            }
        ),
        pytest.param({"PagingInfo": {"PageNum": 1, "PageSize": 100, "PagesCount": 0}}),
    ],
)
def test_json_empty_results(doc: dict[str, Any]) -> None:
    """Null, empty or missing entity branches are an empty page, not an error."""
    sessions, page, skipped, _ = decode_task_sessions(json.dumps(doc).encode(), source="s")
    assert sessions == []
    assert skipped == []
    assert page.page_num == 1


def test_xml_empty_result() -> None:
    """A QueryResult with an empty or absent Entities element is an empty page."""
    for body in (
        xml_page(""),
        f'<QueryResult xmlns="{NS}"><PagingInfo PageNum="1" PageSize="5" PagesCount="0"/>'
        "</QueryResult>".encode(),
    ):
        sessions, _, skipped, _ = decode_task_sessions(body, source="s")
        assert sessions == []
        assert skipped == []


# --- QueryResult: field rules ---------------------------------------------------------------


def test_running_task_has_no_end_time() -> None:
    """A running task has no EndTimeUTC element and decodes with end_time None."""
    children = (
        "<JobSessionUid>j</JobSessionUid><CreationTimeUTC>2025-06-05T01:04:29.1Z</CreationTimeUTC>"
        "<State>InProgress</State><Result>None</Result><Reason /><TotalSize>0</TotalSize>"
    )
    (session,), _, _, _ = decode_task_sessions(xml_page(xml_entity(children=children)), source="s")
    assert session.end_time is None
    assert session.state == "InProgress"
    assert session.result == "None"
    assert session.reason == ""
    assert session.vm_uid is None


def test_running_task_json_missing_and_null_end_time() -> None:
    """In JSON an absent, null or null-date EndTimeUTC all mean a running task has none, without a gap."""
    running = {"State": "InProgress", "Result": "None"}
    absent = json_entity() | running
    del absent["EndTimeUTC"]
    null = json_entity() | running | {"EndTimeUTC": None, "UID": "other"}
    vbr_null = json_entity() | running | {"EndTimeUTC": "1900-01-01T00:00:00Z", "UID": "third"}
    body = json.dumps(json_page({"BackupTaskSessions": [absent, null, vbr_null]})).encode()
    sessions, _, skipped, incomplete = decode_task_sessions(body, source="s")
    assert [s.end_time for s in sessions] == [None, None, None]
    assert skipped == incomplete == []


_LINKS_WITHOUT_NAMES = [
    {"Type": "BackupServerReference", "Href": "https://em:9398/api/backupServers/7"},
    {"Type": "BackupJobSessionReference", "Href": "https://em:9398/api/backupSessions/35c2?format=Entity"},
]


@pytest.mark.parametrize(
    ("changes", "expected", "problems"),
    [
        # Documented shapes: no gap.
        ({"VmUid": None}, {"vm_uid": None}, ()),  # EM 9.x has no VmUid
        ({"Reason": None}, {"reason": ""}, ()),
        ({"Reason": ""}, {"reason": ""}, ()),
        # Kept, with what could be read.
        (
            {"CreationTimeUTC": "1900-01-01T00:00:00Z"},
            {"creation_time": EXPECTED.end_time},
            ("null-date CreationTimeUTC (1900-01-01T00:00:00Z): EndTimeUTC stands in",),
        ),
        (
            {"CreationTimeUTC": None},
            {"creation_time": EXPECTED.end_time},
            ("no CreationTimeUTC: EndTimeUTC stands in",),
        ),
        ({"TotalSize": "lots"}, {"total_size": 0}, ("unreadable TotalSize 'lots'",)),
        ({"TotalSize": None}, {"total_size": 0}, ("no TotalSize",)),
        ({"Reason": {"x": 1}}, {"reason": ""}, ("Reason is a dict, not text",)),
        ({"VmDisplayName": None}, {"vm": "dbserver01"}, ("no VmDisplayName: taken from Name",)),
        ({"VmUid": ["a"]}, {"vm_uid": None}, ("VmUid is a list, not text",)),
        (
            {"JobSessionUid": None},
            {"job_session_uid": "urn:veeam:BackupJobSession:35c24055"},
            ("no JobSessionUid: taken from the job-session link's Href",),
        ),
        (
            {"Links": _LINKS_WITHOUT_NAMES, "JobSessionUid": ""},
            {"job_name": "", "backup_server": "", "job_session_uid": "urn:veeam:BackupJobSession:35c2"},
            (
                "no job name (BackupJobSessionReference link Name)",
                "no backup server name (BackupServerReference link Name)",
                "no JobSessionUid: taken from the job-session link's Href",
            ),
        ),
        (
            {"EndTimeUTC": "soon", "State": "InProgress"},
            {"end_time": None},
            ("unreadable EndTimeUTC (not an EM time: 'soon')",),
        ),
    ],
)
def test_entities_decode_with_what_can_be_read(
    changes: dict[str, Any], expected: dict[str, Any], problems: tuple[str, ...]
) -> None:
    """Each odd field keeps the session, with a stand-in value, and names the gap (none for documented shapes)."""
    body = json.dumps(json_page({"BackupTaskSessions": [json_entity() | changes]})).encode()
    (session,), _, skipped, incomplete = decode_task_sessions(body, source="em-prod")
    assert skipped == []
    assert {key: getattr(session, key) for key in expected} == expected
    assert (session.uid, session.result) == (EXPECTED.uid, "Failed")
    assert [i.problems for i in incomplete] == ([problems] if problems else [])


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"UID": ""}, "entity has no UID"),
        ({"State": None}, "entity has no State"),
        ({"State": "Exploded"}, "entity has an unknown State 'Exploded'"),
        ({"Result": 2}, "entity has an unknown Result '2'"),  # an enum index is no documented shape
        ({"Result": ""}, "entity has no Result"),
        ({"EndTimeUTC": None}, "completed entity without a usable EndTimeUTC: no EndTimeUTC"),
        (
            {"EndTimeUTC": "1900-01-01T00:00:00Z"},
            "completed entity without a usable EndTimeUTC: null-date EndTimeUTC (1900-01-01T00:00:00Z)",
        ),
        (
            {"EndTimeUTC": "tomorrow"},
            "completed entity without a usable EndTimeUTC: unreadable EndTimeUTC (not an EM time: 'tomorrow')",
        ),
        (
            {"State": "InProgress", "EndTimeUTC": None, "CreationTimeUTC": None},
            "entity without any usable time: no CreationTimeUTC, no EndTimeUTC",
        ),
    ],
)
def test_entities_that_cannot_become_alerts_are_skipped(changes: dict[str, Any], reason: str) -> None:
    """No UID, no known State or Result, or a completed one without EndTime: skipped with the reason."""
    body = json.dumps(json_page({"BackupTaskSessions": [json_entity() | changes]})).encode()
    sessions, _, skipped, incomplete = decode_task_sessions(body, source="em-prod")
    assert sessions == incomplete == []
    assert [s.reason for s in skipped] == [reason]


def test_empty_reason_element() -> None:
    """``<Reason />`` and a null JSON Reason decode to an empty string."""
    children = (
        "<JobSessionUid>j</JobSessionUid><CreationTimeUTC>2025-06-05T01:04:29Z</CreationTimeUTC>"
        "<EndTimeUTC>2025-06-05T01:04:39Z</EndTimeUTC><State>Completed</State><Result>Success</Result>"
        "<Reason /><TotalSize>64424509440</TotalSize>"
    )
    (session,), _, _, _ = decode_task_sessions(xml_page(xml_entity(children=children)), source="s")
    assert session.reason == ""
    assert session.total_size == 64424509440
    body = json.dumps(json_page({"BackupTaskSessions": [json_entity() | {"Reason": None}]})).encode()
    assert decode_task_sessions(body, source="s").sessions[0].reason == ""


def test_sentinel_end_time_is_none() -> None:
    """An EndTimeUTC of 1753-01-01 (SQL's minimum date) on a running task reads as no end time."""
    entity = json_entity() | {"State": "InProgress", "EndTimeUTC": "1753-01-01T00:00:00Z"}
    body = json.dumps(json_page({"BackupTaskSessions": [entity]}))
    assert decode_task_sessions(body.encode(), source="s").sessions[0].end_time is None


def test_sentinel_creation_time_is_replaced_by_end_time() -> None:
    """A null-date CreationTimeUTC keeps the session, EndTimeUTC standing in, and reports the gap."""
    body = json.dumps(
        json_page({"BackupTaskSessions": [json_entity() | {"CreationTimeUTC": "1753-01-01T00:00:00Z"}]})
    )
    (session,), _, skipped, incomplete = decode_task_sessions(body.encode(), source="s")
    assert skipped == []
    assert session.creation_time == session.end_time == EXPECTED.end_time
    assert [(i.uid, i.problems) for i in incomplete] == [
        (EXPECTED.uid, ("null-date CreationTimeUTC (1753-01-01T00:00:00Z): EndTimeUTC stands in",))
    ]


def test_job_name_is_before_last_at() -> None:
    """job_name is the job-session link name before its last '@', so an '@' in the job name survives."""
    link = {"Type": "BackupJobSessionReference", "Name": "ops@corp daily@2025-06-05 01:03:37"}
    body = json.dumps(json_page({"BackupTaskSessions": [json_entity() | {"Links": [link]}]}))
    session = decode_task_sessions(body.encode(), source="s").sessions[0]
    assert session.job_name == "ops@corp daily"
    assert session.backup_server == ""


def test_missing_links_and_vm_name_fall_back() -> None:
    """Without Links, job and server are empty; without VmDisplayName the VM comes from Name."""
    entity = json_entity()
    del entity["Links"], entity["VmDisplayName"]
    body = json.dumps(json_page({"BackupTaskSessions": [entity]})).encode()
    session = decode_task_sessions(body, source="s").sessions[0]
    assert (session.job_name, session.backup_server, session.vm) == ("", "", "dbserver01")


def test_enum_values_are_canonicalized() -> None:
    """State and Result values are matched case-insensitively and written in EM's spelling."""
    body = json.dumps(
        json_page({"BackupTaskSessions": [json_entity() | {"State": "completed", "Result": "WARNING"}]})
    )
    session = decode_task_sessions(body.encode(), source="s").sessions[0]
    assert (session.state, session.result) == ("Completed", "Warning")


def test_unusable_entities_are_skipped_with_reasons() -> None:
    """Entities without UID, State, Result or a completed EndTime are skipped; the rest decode."""
    good = xml_entity("ok")
    no_uid = xml_entity("")
    bad_time = xml_entity(
        "bad-time",
        children="<CreationTimeUTC>yesterday</CreationTimeUTC><EndTimeUTC>2025-06-05T01:05:00Z</EndTimeUTC>"
        "<State>Completed</State><Result>Failed</Result>",
    )
    no_result = xml_entity(
        "no-result",
        children="<CreationTimeUTC>2025-06-05T01:04:29Z</CreationTimeUTC><State>Completed</State>",
    )
    sessions, _, skipped, incomplete = decode_task_sessions(
        xml_page(good + no_uid + bad_time + no_result), source="s"
    )
    assert [s.uid for s in sessions] == ["ok", "bad-time"]
    assert [(s.uid, s.reason.split(":")[0]) for s in skipped] == [
        (None, "entity has no UID"),
        ("no-result", "entity has no Result"),
    ]
    assert [p for i in incomplete if i.uid == "bad-time" for p in i.problems if "Creation" in p] == [
        "unreadable CreationTimeUTC (not an EM time: 'yesterday'): EndTimeUTC stands in"
    ]


def test_json_non_object_entities_are_skipped() -> None:
    """A list item that is not an object is skipped with a reason; wrong-typed fields are ignored."""
    odd = json_entity() | {"UID": "odd", "TotalSize": "lots", "Reason": ["x"], "Links": "nope"}
    body = json.dumps(json_page({"BackupTaskSessions": [42, odd, None]})).encode()
    sessions, _, skipped, incomplete = decode_task_sessions(body, source="s")
    assert [(s.uid, s.total_size, s.reason, s.job_name) for s in sessions] == [("odd", 0, "", "")]
    assert [i.uid for i in incomplete] == ["odd"]
    assert [s.reason for s in skipped] == [
        "entity is a JSON int, not an object",
        "entity is a JSON NoneType, not an object",
    ]


# --- QueryResult: structural errors --------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"   \n", id="blank"),
        pytest.param(b"Service Unavailable", id="text"),
        pytest.param(b"<html><body>502 Bad Gateway</body></html>", id="html"),
        pytest.param(b"<QueryResult", id="truncated-xml"),
        pytest.param(b'{"Entities":', id="truncated-json"),
        pytest.param(b"[1, 2]", id="json-array"),
        pytest.param(b'{"Entities": []}', id="entities-list"),
        pytest.param(b"\xff\xfe{}", id="not-utf8"),
        pytest.param(b'{"Entities": {"BackupTaskSessions": []}}', id="json-no-paging"),
        pytest.param(xml_page(xml_entity(), paging=""), id="xml-no-paging"),
        pytest.param(
            xml_page("", paging='<PagingInfo PageNum="one" PageSize="1" PagesCount="1"/>'), id="bad-paging"
        ),
        pytest.param(
            xml_page("", paging='<PagingInfo PageNum="1" PageSize="1" PagesCount="-1"/>'), id="neg-paging"
        ),
        pytest.param(
            f'<QueryResult xmlns="{NS}"><Entities>'
            '<BackupJobSessions><BackupJobSession UID="x"/></BackupJobSessions>'
            f'</Entities><PagingInfo PageNum="1" PageSize="1" PagesCount="1"/></QueryResult>'.encode(),
            id="wrong-entity-type",
        ),
        pytest.param(
            f'<QueryResult xmlns="{NS}"><Refs><Ref UID="x"/></Refs>'
            f'<PagingInfo PageNum="1" PageSize="1" PagesCount="1"/></QueryResult>'.encode(),
            id="references",
        ),
        pytest.param(
            b'{"Refs":{"Refs":[{"UID":"x"}]},"Entities":null,"PagingInfo":{}}', id="json-references"
        ),
        pytest.param(
            b'{"Entities":{"BackupJobSessions":[{"UID":"x"}]},"PagingInfo":{}}', id="json-wrong-type"
        ),
        pytest.param(f'<Error xmlns="{NS}" Message="x" StatusCode="500"/>'.encode(), id="error-body"),
        pytest.param(b'<?xml version="1.0" encoding="no-such-codec"?><a/>', id="unknown-encoding"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="deep-json"),
    ],
)
def test_broken_pages_raise_decode_error(body: bytes) -> None:
    """A structurally broken or non-QueryResult body raises DecodeError, never anything else."""
    with pytest.raises(DecodeError):
        decode_task_sessions(body, source="s")


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<QueryResult xmlns="http://www.veeam.com/ent/v1.0"><Entities><BackupTaskSessions>
<BackupTaskSession UID="x"><Reason>&lol9;</Reason></BackupTaskSession>
</BackupTaskSessions></Entities><PagingInfo PageNum="1" PageSize="1" PagesCount="1"/></QueryResult>
"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE QueryResult [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<QueryResult xmlns="http://www.veeam.com/ent/v1.0"><Entities><BackupTaskSessions>
<BackupTaskSession UID="x"><Reason>&xxe;</Reason></BackupTaskSession>
</BackupTaskSessions></Entities><PagingInfo PageNum="1" PageSize="1" PagesCount="1"/></QueryResult>
"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE QueryResult SYSTEM "http://127.0.0.1:1/evil.dtd">
<QueryResult xmlns="http://www.veeam.com/ent/v1.0">
<PagingInfo PageNum="1" PageSize="1" PagesCount="1"/></QueryResult>
"""


@pytest.mark.parametrize("body", [BILLION_LAUGHS, EXTERNAL_ENTITY, EXTERNAL_DTD], ids=["bomb", "xxe", "dtd"])
def test_unsafe_xml_rejected(body: bytes) -> None:
    """Entity bombs, external entities and external DTDs are refused with DecodeError, unexpanded."""
    for decode in (lambda b: decode_task_sessions(b, source="s"), decode_error, decode_logon_session):
        with pytest.raises(DecodeError, match="unsafe"):
            decode(body)


# --- times ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-06-05T01:04:29Z", datetime(2025, 6, 5, 1, 4, 29, tzinfo=UTC)),
        ("2025-06-05T01:04:29.5Z", datetime(2025, 6, 5, 1, 4, 29, 500000, tzinfo=UTC)),
        ("2025-06-05T01:04:29.56Z", datetime(2025, 6, 5, 1, 4, 29, 560000, tzinfo=UTC)),
        ("2025-08-15T20:00:24.003406Z", datetime(2025, 8, 15, 20, 0, 24, 3406, tzinfo=UTC)),
        ("2025-08-15T20:00:24.0034069Z", datetime(2025, 8, 15, 20, 0, 24, 3406, tzinfo=UTC)),
        ("2025-06-05T01:04:29", datetime(2025, 6, 5, 1, 4, 29, tzinfo=UTC)),
        ("2025-06-05T03:04:29+02:00", datetime(2025, 6, 5, 1, 4, 29, tzinfo=UTC)),
        (" 2025-06-05T01:04:29Z\n", datetime(2025, 6, 5, 1, 4, 29, tzinfo=UTC)),
        ("1753-01-01T00:00:00Z", None),
        ("1899-12-31T23:59:59.999999Z", None),
        ("1900-01-01T00:30:00+01:00", None),
        ("1900-01-01T00:00:00Z", None),  # VBR's null date
        ("1900-12-31T23:59:59Z", None),
        ("1901-01-01T00:30:00+01:00", None),  # 1900-12-31 in UTC
        ("1901-01-01T00:00:00Z", datetime(1901, 1, 1, tzinfo=UTC)),
        ("0001-01-01T00:00:00Z", None),
    ],
)
def test_parse_time(text: str, expected: datetime | None) -> None:
    """EM times with 0-6 (or more) fraction digits read as aware UTC; years up to 1900 read as None."""
    got = parse_time(text)
    assert got == expected
    if got is not None:
        assert got.utcoffset() is not None
        assert got.tzinfo is UTC


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterday",
        "2025-13-01T00:00:00Z",
        "2025-06-05",
        "2025-06-05T25:00:00Z",
        "2025-06-05T01:04:29.Z",
        "9999-12-31T23:59:59-01:00",
        "٢٠٢٥-06-05T01:04:29Z",
    ],
)
def test_parse_time_rejects(text: str) -> None:
    """Text that is not an EM time raises ValueError."""
    with pytest.raises(ValueError):
        parse_time(text)


# --- Error and LogonSession bodies ---------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            b'<Error Message="Object reference not set to an instance of an object." StatusCode="500" '
            b'xmlns="http://www.veeam.com/ent/v1.0" xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
            b'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
            b"<FirstChanceExceptionMessage>Object reference not set.</FirstChanceExceptionMessage>\n</Error>",
            EMErrorBody("Object reference not set to an instance of an object.", 500),
            id="xml",
        ),
        pytest.param(
            b'{"FirstChanceExceptionMessage":null,"Message":"Node [root] does not exist.",'
            b'"StackTrace":null,"Status":null,"StatusCode":400}',
            EMErrorBody("Node [root] does not exist.", 400),
            id="json",
        ),
        pytest.param(
            BOM + b'{"message":"busy","statusCode":"503"}', EMErrorBody("busy", 503), id="json-camel-bom"
        ),
        pytest.param(
            b'{"Message":"The user name or password is incorrect"}',
            EMErrorBody("The user name or password is incorrect", None),
            id="json-no-code",
        ),
        pytest.param(
            b'<Error StatusCode="500">'
            b"<FirstChanceExceptionMessage>inner</FirstChanceExceptionMessage></Error>",
            EMErrorBody("inner", 500),
            id="xml-inner-message",
        ),
    ],
)
def test_decode_error(body: bytes, expected: EMErrorBody) -> None:
    """EM Error bodies yield their Message and StatusCode in either format."""
    assert decode_error(body) == expected


@pytest.mark.parametrize(
    "body",
    [b"", b"<html>oops</html>", b'{"Status":null}', b"[]", b"Bad Gateway", b'<Error Foo="1"/>'],
)
def test_decode_error_rejects_non_errors(body: bytes) -> None:
    """A body that is not an EM Error raises DecodeError."""
    with pytest.raises(DecodeError):
        decode_error(body)


def test_decode_logon_session_xml() -> None:
    """The reference §1.2 LogonSession yields its SessionId and UserName."""
    body = (
        b'<LogonSession xmlns="http://www.veeam.com/ent/v1.0" Type="LogonSession" '
        b'Href="https://srv12.tech.local:9398/api/logonSessions/15a3fc97-0325-4119-b789-5c0367c6c565">'
        b'<Links><Link Rel="Delete" Href="https://srv12.tech.local:9398/api/logonSessions/x" /></Links>'
        b"<UserName>SRV12\\Administrator</UserName>"
        b"<SessionId>15a3fc97-0325-4119-b789-5c0367c6c565</SessionId></LogonSession>"
    )
    assert decode_logon_session(body) == LogonSession(
        "15a3fc97-0325-4119-b789-5c0367c6c565", "SRV12\\Administrator"
    )


def test_decode_logon_session_json_and_href_fallback() -> None:
    """JSON LogonSession bodies decode; without SessionId the id is taken from the Href."""
    body = BOM + b'{"UserName":"VEEAM\\\\veeam.api","SessionId":"2fb28f4f-1","Links":[]}'
    assert decode_logon_session(body) == LogonSession("2fb28f4f-1", "VEEAM\\veeam.api")
    href_only = b'{"href":"https://em:9398/api/logonSessions/abc-123"}'
    assert decode_logon_session(href_only) == LogonSession("abc-123", None)


@pytest.mark.parametrize("body", [b"{}", b'{"SessionId":""}', b"<QueryResult/>", b"nope"])
def test_decode_logon_session_rejects(body: bytes) -> None:
    """A LogonSession body without any session id raises DecodeError."""
    with pytest.raises(DecodeError):
        decode_logon_session(body)


# --- properties ------------------------------------------------------------------------------

_NAMES = st.sampled_from(
    [
        "Entities",
        "BackupTaskSessions",
        "BackupTaskSession",
        "PagingInfo",
        "PageNum",
        "PageSize",
        "PagesCount",
        "UID",
        "uid",
        "CreationTimeUTC",
        "EndTimeUTC",
        "State",
        "Result",
        "Links",
        "Type",
        "Name",
        "Refs",
        "Message",
        "StatusCode",
        "SessionId",
        "Href",
        "TotalSize",
        "x",
    ]
)
_JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(["2025-06-05T01:04:29Z", "1753-01-01T00:00:00Z", "BackupServerReference", "1", "-1"])
)
_JSON = st.recursive(
    _JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_NAMES, inner, max_size=6),
    max_leaves=30,
)


def _decode_all(body: bytes) -> None:
    for decode in (lambda b: decode_task_sessions(b, source="s"), decode_error, decode_logon_session):
        with contextlib.suppress(DecodeError):
            decode(body)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300) | st.binary(max_size=200).map(lambda b: b"<" + b) | st.text().map(str.encode))
def test_garbage_bytes_raise_only_decode_error(body: bytes) -> None:
    """Arbitrary bytes either decode or raise DecodeError; no other exception escapes."""
    _decode_all(body)


@given(_JSON, st.booleans())
def test_garbage_json_raises_only_decode_error(doc: object, bom: bool) -> None:
    """Arbitrary JSON built from EM's key names decodes or raises DecodeError, nothing else."""
    _decode_all((BOM if bom else b"") + json.dumps(doc).encode())


def _xml_tree(depth: int = 0) -> st.SearchStrategy[ET.Element]:
    def build(tag: str, attrs: dict[str, str], text: str | None, kids: list[ET.Element]) -> ET.Element:
        el = ET.Element(f"{{{NS}}}{tag}", attrs)
        el.text = text
        el.extend(kids)
        return el

    kids = st.lists(st.deferred(lambda: _xml_tree(depth + 1)), max_size=3) if depth < 4 else st.just([])
    return st.builds(
        build, _NAMES, st.dictionaries(_NAMES, _XML_TEXT, max_size=3), st.none() | _XML_TEXT, kids
    )


# Characters XML 1.0 can carry and round-trip: no controls (a parser normalizes \r), surrogates
# or the noncharacters U+FFFE/U+FFFF.
_XML_TEXT = st.text(
    st.characters(exclude_categories=("Cs", "Cc"), exclude_characters="\ufffe\uffff"), max_size=20
)


@given(_xml_tree())
def test_garbage_xml_raises_only_decode_error(root: ET.Element) -> None:
    """Arbitrary XML built from EM's element names decodes or raises DecodeError, nothing else."""
    _decode_all(ET.tostring(root))


# --- round trip ------------------------------------------------------------------------------

_STRIPPED = _XML_TEXT.map(str.strip).filter(bool)
_TIMES = st.datetimes(
    min_value=datetime(1901, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
)

task_sessions_any = st.builds(
    TaskSession,
    uid=_STRIPPED,
    name=_XML_TEXT,
    vm=_XML_TEXT.filter(str.strip),  # a blank VmDisplayName is a gap (the VM comes from Name)
    vm_uid=st.none() | _STRIPPED,
    job_session_uid=_XML_TEXT.map(str.strip),
    job_name=_XML_TEXT,
    backup_server=_XML_TEXT,
    creation_time=_TIMES,
    end_time=st.none() | _TIMES,
    state=st.sampled_from(["InProgress", "Pending", "Completed"]),
    result=st.sampled_from(["Success", "Warning", "Failed", "None"]),
    reason=_XML_TEXT,
    total_size=st.integers(min_value=0, max_value=2**63 - 1),
    source=st.just("em-test"),
)
# A completed session always has an EndTime (without one it cannot become an alert and is skipped).
task_sessions = task_sessions_any.filter(lambda s: s.state != "Completed" or s.end_time is not None)


def em_time(value: datetime) -> str:
    """Write a time as EM does: 0-6 fraction digits, trailing zeros dropped, then Z."""
    frac = f"{value.microsecond:06d}".rstrip("0")
    base = f"{value.year:04d}-{value.month:02d}-{value.day:02d}T{value:%H:%M:%S}"
    return base + (f".{frac}" if frac else "") + "Z"


def to_xml_entity(s: TaskSession) -> ET.Element:
    """Build a BackupTaskSession element the way EM lays it out."""
    el = ET.Element(
        f"{{{NS}}}BackupTaskSession",
        {"Type": "BackupTaskSession", "Href": "h", "Name": s.name, "VmDisplayName": s.vm, "UID": s.uid},
    )
    links = ET.SubElement(el, f"{{{NS}}}Links")
    ET.SubElement(
        links, f"{{{NS}}}Link", {"Rel": "Up", "Type": "BackupServerReference", "Name": s.backup_server}
    )
    ET.SubElement(
        links,
        f"{{{NS}}}Link",
        {"Rel": "Up", "Type": "BackupJobSessionReference", "Name": f"{s.job_name}@2025-06-05 01:03:37"},
    )
    children: list[tuple[str, str | None]] = [
        ("JobSessionUid", s.job_session_uid),
        ("CreationTimeUTC", em_time(s.creation_time)),
        ("EndTimeUTC", em_time(s.end_time) if s.end_time else None),
        ("State", s.state),
        ("Result", s.result),
        ("Reason", s.reason),
        ("TotalSize", str(s.total_size)),
        ("VmUid", s.vm_uid),
    ]
    for tag, text in children:
        if text is not None:
            ET.SubElement(el, f"{{{NS}}}{tag}").text = text
    return el


def to_json_entity(s: TaskSession) -> dict[str, Any]:
    """Build a BackupTaskSession JSON object the way EM lays it out."""
    entity: dict[str, Any] = {
        "JobSessionUid": s.job_session_uid,
        "CreationTimeUTC": em_time(s.creation_time),
        "State": s.state,
        "Result": s.result,
        "Reason": s.reason,
        "TotalSize": s.total_size,
        "VmUid": s.vm_uid,
        "VmDisplayName": s.vm,
        "Name": s.name,
        "UID": s.uid,
        "Links": [
            {"Rel": "Up", "Name": s.backup_server, "Type": "BackupServerReference"},
            {"Rel": "Up", "Name": f"{s.job_name}@2025-06-05 01:03:37", "Type": "BackupJobSessionReference"},
        ],
    }
    if s.end_time is not None:
        entity["EndTimeUTC"] = em_time(s.end_time)
    return entity


@given(st.lists(task_sessions, max_size=5), st.integers(1, 50), st.integers(0, 50))
def test_xml_round_trip(sessions: list[TaskSession], page_num: int, pages_count: int) -> None:
    """TaskSessions written as EM's XML decode back to the same values and paging."""
    root = ET.Element(f"{{{NS}}}QueryResult")
    lst = ET.SubElement(ET.SubElement(root, f"{{{NS}}}Entities"), f"{{{NS}}}BackupTaskSessions")
    lst.extend(to_xml_entity(s) for s in sessions)
    ET.SubElement(
        root,
        f"{{{NS}}}PagingInfo",
        {"PageNum": str(page_num), "PageSize": "200", "PagesCount": str(pages_count)},
    )
    got = decode_task_sessions(ET.tostring(root, xml_declaration=True, encoding="utf-8"), source="em-test")
    assert got.sessions == sessions
    assert got.page == PageInfo(page_num, 200, pages_count)
    assert got.skipped == []


@given(
    st.lists(task_sessions, max_size=5),
    st.sampled_from(["double", "single", "singular"]),
    st.booleans(),
    st.booleans(),
)
def test_json_round_trip(sessions: list[TaskSession], wrap: str, camel_case: bool, bom: bool) -> None:
    """TaskSessions written as EM's JSON, in any wrapping and key casing, decode back to the same values."""
    items = [to_json_entity(s) for s in sessions]
    entities = {
        "double": {"BackupTaskSessions": {"BackupTaskSessions": items}},
        "single": {"BackupTaskSessions": items},
        "singular": {"BackupTaskSessions": {"BackupTaskSession": items}},
    }[wrap]
    doc: Any = json_page(entities, paging={"PageNum": 2, "PageSize": 200, "PagesCount": 3})
    if camel_case:
        doc = camel(doc)
    got = decode_task_sessions((BOM if bom else b"") + json.dumps(doc).encode(), source="em-test")
    assert got.sessions == sessions
    assert got.page == PageInfo(2, 200, 3)


_FIELD_VALUES = (
    _JSON_SCALARS | st.lists(_JSON_SCALARS, max_size=2) | st.dictionaries(_NAMES, _JSON_SCALARS, max_size=3)
)


@given(st.lists(st.dictionaries(_NAMES, _FIELD_VALUES, max_size=8) | _JSON_SCALARS, max_size=4))
def test_hostile_json_entities_are_decoded_or_skipped(items: list[Any]) -> None:
    """In a well-formed page, every hostile JSON entity becomes a session or a skip; nothing raises."""
    body = json.dumps(json_page({"BackupTaskSessions": {"BackupTaskSessions": items}})).encode()
    sessions, _, skipped, _ = decode_task_sessions(body, source="s")
    assert len(sessions) + len(skipped) == len(items)


@given(st.lists(st.dictionaries(_NAMES, _XML_TEXT, max_size=6), max_size=4), st.data())
def test_hostile_xml_entities_are_decoded_or_skipped(
    entities: list[dict[str, str]], data: st.DataObject
) -> None:
    """In a well-formed page, every hostile XML entity becomes a session or a skip; nothing raises."""
    root = ET.Element(f"{{{NS}}}QueryResult")
    lst = ET.SubElement(ET.SubElement(root, f"{{{NS}}}Entities"), f"{{{NS}}}BackupTaskSessions")
    for attrs in entities:
        el = ET.SubElement(lst, f"{{{NS}}}BackupTaskSession", attrs)
        for tag, text in data.draw(st.dictionaries(_NAMES, _XML_TEXT, max_size=6)).items():
            ET.SubElement(el, f"{{{NS}}}{tag}").text = text
    ET.SubElement(root, f"{{{NS}}}PagingInfo", {"PageNum": "1", "PageSize": "1", "PagesCount": "1"})
    sessions, _, skipped, _ = decode_task_sessions(ET.tostring(root), source="s")
    assert len(sessions) + len(skipped) == len(entities)


# --- the shortcut for entities exactly as EM documents them ----------------------------------

_TIME_VARIANTS = [
    "2025-06-05T01:04:29Z",
    "2025-06-05T01:04:29.1234567Z",
    "2025-06-05T01:04:29.123456789Z",
    "2025-06-05 01:04:29Z",
    "2025-06-05T01:04:29+02:00",
    "2025-06-05T01:04:29",
    " 2025-06-05T01:04:29Z ",
    "1900-01-01T00:00:00Z",
    "1753-01-01T00:00:00Z",
    "1901-01-01T00:00:00Z",
    "2025-13-05T01:04:29Z",
    "2025-02-30T01:04:29Z",
    "9999-12-31T23:59:59.999999Z",
    "yesterday",
    "",
]


_ODD = st.none() | st.integers(-3, 3) | st.booleans() | st.just(["x"])
#: Per field: the documented value first, then variants (odd case, spaces, gaps, other types).
_FIELD_VARIANTS: dict[str, list[Any]] = {
    "uid": ["urn:veeam:BackupTaskSession:1", " u2 ", "", "  "],
    "state": ["Completed", "completed ", "InProgress", "Pending", "Done", ""],
    "result": ["Failed", "warning", " Success", "None", "Broken", ""],
    "name": ["vm1@2025-06-05 01:04:29", "", "a@b@c"],
    "vmdisplayname": ["vm1", " vm1 ", "", "  "],
    "jobsessionuid": ["urn:veeam:BackupJobSession:9", " j ", ""],
    "totalsize": ["123", "0", "-5", " 7 ", "+7", "1_000", "12345678901234567890", "x"],
    "vmuid": ["urn:VMware:Vm:1", " ", "", " v "],
    "reason": ["Error: disk full", "", " padded "],
    "endtimeutc": _TIME_VARIANTS,
    "creationtimeutc": ["2025-06-05T01:03:29.5Z", *_TIME_VARIANTS],
}
_LINK_VARIANTS: dict[str, list[Any]] = {
    "type": [
        "BackupJobSessionReference",
        " backupjobsessionreference ",
        "BackupServerReference",
        "BACKUPSERVERREFERENCE",
        "BackupTaskSessionReference",
    ],
    "name": ["Job 1@2025-06-05 01:03:37", "@x", "vbr01", "", "Job@With@Ats@t"],
}
_DOC_LINKS = [
    {"type": "BackupServerReference", "name": "vbr01"},
    {"type": "BackupJobSessionReference", "name": "Job 1@2025-06-05 01:03:37"},
    {"type": "BackupTaskSessionReference", "name": "vm1@2025-06-05 01:04:29"},
]


@st.composite
def _near_documented(draw: st.DrawFn) -> RawEntity:
    """A documented entity with a few fields and links changed, dropped or of another type."""
    fields: dict[str, Any] = {k: v[0] for k, v in _FIELD_VARIANTS.items()}
    for key in draw(st.lists(st.sampled_from(sorted(_FIELD_VARIANTS)), max_size=3, unique=True)):
        change = draw(st.sampled_from(["drop", "variant", "odd"]))
        if change == "drop":
            del fields[key]
        else:
            fields[key] = draw(st.sampled_from(_FIELD_VARIANTS[key]) if change == "variant" else _ODD)
    links = [dict(link) for link in draw(st.permutations(_DOC_LINKS))]
    links = links[: draw(st.integers(1, len(links)))] if draw(st.booleans()) else links
    for link in links:
        if draw(st.integers(0, 3)) == 0:
            key = draw(st.sampled_from(sorted(_LINK_VARIANTS)))
            link[key] = draw(st.sampled_from(_LINK_VARIANTS[key]) | _ODD)
    return RawEntity(fields, links)


@settings(max_examples=500)
@given(_near_documented())
def test_documented_shortcut_agrees_with_the_full_decoder(item: RawEntity) -> None:
    """Whenever the shortcut answers, the full decoder gives the same session and finds no gap."""
    fast = decode_module._documented(item, "s")
    if fast is None:
        return
    uid = (text_field(item.fields, "uid") or "").strip()
    problems: list[str] = []
    assert decode_module._task_session(uid, item, "s", problems) == fast
    assert problems == []


def test_documented_entities_take_the_shortcut(monkeypatch: pytest.MonkeyPatch) -> None:
    """EM's own sample never reaches the full decoder (else the shortcut would be dead code)."""

    def unused(*args: object) -> TaskSession:
        raise AssertionError("the full decoder ran")

    monkeypatch.setattr(decode_module, "_task_session", unused)
    assert len(decode_task_sessions(XML_SAMPLE.encode(), source="s").sessions) == 1

"""Tests for alertd.simulator: its filter parser, and the EM behaviour it serves over real HTTP."""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
import trustme
from em_sim_support import JSON, NOW, NS, PASSWORD, USER, XML, basic, json_body
from multidict import CIMultiDictProxy

from alertd.simulator import EMSettings, ManualClock, SimulatedEM, TaskSessionRecord
from alertd.simulator.__main__ import parse_args
from alertd.simulator.filters import And, Comparison, FilterError, Or, parse_filter
from alertd.simulator.timefmt import format_utc


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
async def sim(clock: ManualClock) -> AsyncIterator[SimulatedEM]:
    em = SimulatedEM(username=USER, password=PASSWORD, clock=clock, seed=7)
    await em.start()
    yield em
    await em.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    # A dummy cookie jar: each test decides explicitly which token and cookie it sends.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield session


async def logon(http: aiohttp.ClientSession, sim: SimulatedEM) -> dict[str, str]:
    async with http.post(f"{sim.url}/api/sessionMngr/?v=latest", headers=basic()) as resp:
        assert resp.status == 201
        return {"X-RestSvcSessionId": resp.headers["X-RestSvcSessionId"]}


async def fetch(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str], **params: str
) -> tuple[int, bytes, CIMultiDictProxy[str]]:
    async with http.get(url, headers=headers, params=params) as resp:
        return resp.status, await resp.read(), resp.headers


async def query_xml(
    http: aiohttp.ClientSession, sim: SimulatedEM, token: dict[str, str], **params: str
) -> ET.Element:
    params = {"type": "BackupTaskSession", "format": "Entities", **params}
    status, body, _ = await fetch(http, f"{sim.url}/api/query", token, **params)
    assert status == 200, body
    return ET.fromstring(body)


def vms(root: ET.Element) -> list[str]:
    return [entity.attrib["VmDisplayName"] for entity in root.iter(f"{NS}BackupTaskSession")]


# -- the filter parser, as a pure function --------------------------------------------------------

C = Comparison


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("Result==Failed", C("Result", "==", "Failed")),
        ("result != failed", C("result", "!=", "failed")),  # unquoted spaces are ignored
        ("TotalSize<=10", C("TotalSize", "<=", "10")),
        ("TotalSize>=10", C("TotalSize", ">=", "10")),
        ("TotalSize<10", C("TotalSize", "<", "10")),
        ("TotalSize>10", C("TotalSize", ">", "10")),
        ('Name=="Fileserver Backup"', C("Name", "==", "Fileserver Backup")),
        ("Name==Fileserver Backup", C("Name", "==", "FileserverBackup")),  # documented: spaces dropped
        ('Name==""Backup""', C("Name", "==", '"Backup"')),  # the docs' doubled-quote form
        ('Name=="""Backup"""', C("Name", "==", '"Backup"')),  # the same, CSV-style inside quotes
        ('Name=="a ""b"" c"', C("Name", "==", 'a "b" c')),
        ('Name=="ends with"""', C("Name", "==", 'ends with"')),
        ('Reason==""', C("Reason", "==", "")),
        ('Reason==""""', C("Reason", "==", '"')),
        ('Name=="x;y,(z)"', C("Name", "==", "x;y,(z)")),  # separators are literal inside quotes
        ("CreationTime>2019-07-01T04:00:16Z", C("CreationTime", ">", "2019-07-01T04:00:16Z")),
        ("a==1;b==2", And((C("a", "==", "1"), C("b", "==", "2")))),
        ("a==1,b==2", Or((C("a", "==", "1"), C("b", "==", "2")))),
        # AND binds tighter than OR (FIQL), so this is a==1 OR (b==2 AND c==3).
        ("a==1,b==2;c==3", Or((C("a", "==", "1"), And((C("b", "==", "2"), C("c", "==", "3")))))),
        ("(a==1,b==2);c==3", And((Or((C("a", "==", "1"), C("b", "==", "2"))), C("c", "==", "3")))),
        ("((a==1))", C("a", "==", "1")),
        (" ( a == 1 ; b == 2 ) ", And((C("a", "==", "1"), C("b", "==", "2")))),
    ],
)
def test_parse_filter(text: str, tree: object) -> None:
    """The parser builds the documented grammar: ops, ; and , with parens, quoting and "" escapes."""
    assert parse_filter(text) == tree


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Result=Failed",
        "Result",
        "==Failed",
        "1Result==Failed",
        "Result==Failed;",
        "Result==Failed,",
        "(Result==Failed",
        "Result==Failed)",
        'Name=="unterminated',
        "Result===Failed",
        "Result==Failed Result==Warning",
    ],
)
def test_parse_filter_rejects(text: str) -> None:
    """Malformed filter text raises FilterError rather than matching something arbitrary."""
    with pytest.raises(FilterError):
        parse_filter(text)


@pytest.mark.parametrize(
    ("micro", "text"),
    [(0, "2025-06-05T01:04:29Z"), (560000, "2025-06-05T01:04:29.56Z"), (3406, "2025-06-05T01:04:29.003406Z")],
)
def test_time_format_trims_fraction(micro: int, text: str) -> None:
    """*TimeUTC values carry 0-6 fraction digits, trailing zeros trimmed, like EM's."""
    assert format_utc(datetime(2025, 6, 5, 1, 4, 29, micro, tzinfo=UTC)) == text


# -- filter semantics end to end ------------------------------------------------------------------


@pytest.fixture
def dataset(sim: SimulatedEM) -> dict[str, TaskSessionRecord]:
    """Five tasks that the filter table below selects from."""
    add = sim.add_task_session
    return {
        "alpha": add(
            vm="alpha",
            result="Success",
            creation_time=at("2025-08-15T05:00:00Z"),
            end_time=at("2025-08-15T05:10:00Z"),
            total_size=100,
        ),
        "beta": add(
            vm="beta",
            job_name="Fileserver Backup",
            result="Warning",
            reason="Processing finished with warnings: Changed block tracking is disabled",
            creation_time=at("2025-08-15T06:00:00.5Z"),
            end_time=at("2025-08-15T06:20:00Z"),
            total_size=200,
        ),
        "gamma": add(
            vm="gamma",
            job_name="Exchange Nightly",
            backup_server="vbr02.corp.local",
            result="Failed",
            reason='Error: "quoted" text',
            creation_time=at("2025-08-16T01:00:00Z"),
            end_time=at("2025-08-16T01:05:00Z"),
            total_size=0,
        ),
        "delta": add(vm="delta", state="InProgress", creation_time=at("2025-08-16T02:00:00Z")),
        "epsilon": add(
            vm="epsilon",
            job_name='"Backup"',
            creation_time=at("2025-08-15T07:00:00Z"),
            end_time=at("2025-08-15T07:30:00Z"),
            total_size=300,
        ),
    }


@pytest.mark.parametrize(
    ("filter_", "expected"),
    [
        ("Result==Failed", {"gamma"}),
        ("result==failed", {"gamma"}),  # field names and enum values are case-insensitive
        ('RESULT=="FAILED"', {"gamma"}),
        ("Result>=Warning", {"beta", "gamma"}),  # enums compare by index: Success<Warning<Failed
        ("Result<Warning;State==Completed", {"alpha", "epsilon"}),
        ("Result!=Success", {"beta", "gamma", "delta"}),  # a running task's Result is None
        ("State==InProgress", {"delta"}),
        ("State<Completed", {"delta"}),
        ("(Result==Failed,Result==Warning);State==Completed", {"beta", "gamma"}),
        ('Result==Warning,Result==Failed;JobName=="SQL Daily"', {"beta"}),  # ; binds tighter
        ('JobName=="Fileserver Backup"', {"beta"}),
        ("JobName==Fileserver Backup", set()),  # unquoted spaces dropped: FileserverBackup
        ('JobName==""Backup""', {"epsilon"}),
        ('JobName=="""Backup"""', {"epsilon"}),
        ('jobname=="sql daily"', {"alpha", "delta"}),  # string values compare case-insensitively
        ('Reason=="Error: ""quoted"" text"', {"gamma"}),
        ('Reason==""', {"alpha", "delta", "epsilon"}),
        ("BackupServerName==vbr02.corp.local", {"gamma"}),
        ("VmDisplayName==gamma", {"gamma"}),
        ("TotalSize>150", {"beta", "epsilon"}),
        ('CreationTime>="2025-08-16T00:00:00Z"', {"gamma", "delta"}),
        ("CreationTime>=2025-08-16T00:00:00Z", {"gamma", "delta"}),  # unquoted DateTime
        ('CreationTime>"2025-08-16"', {"gamma", "delta"}),  # date-only means midnight UTC
        ('CreationTime>"2025-08-15T06:00:00Z"', {"beta", "gamma", "delta", "epsilon"}),
        ('CreationTime<="2025-08-15T06:00:00.5Z"', {"alpha", "beta"}),
        ('CreationTime<="2025-08-15T06:00:00.4999999Z"', {"alpha"}),  # 7 digits, like .NET
        ('EndTime>="2025-08-15T00:00:00Z"', {"alpha", "beta", "gamma", "epsilon"}),  # no EndTime: no match
        ('EndTime!="2025-08-15T00:00:00Z"', {"alpha", "beta", "gamma", "epsilon"}),
    ],
)
async def test_filter_selects(
    http: aiohttp.ClientSession,
    sim: SimulatedEM,
    dataset: dict[str, TaskSessionRecord],
    filter_: str,
    expected: set[str],
) -> None:
    """Each filter selects exactly the expected tasks through /api/query."""
    root = await query_xml(http, sim, await logon(http, sim), filter=filter_)
    assert set(vms(root)) == expected


async def test_filter_accepts_urn_and_bare_uids(
    http: aiohttp.ClientSession, sim: SimulatedEM, dataset: dict[str, TaskSessionRecord]
) -> None:
    """UID, JobSessionUid, JobUid and BackupServerUid match in both URN and bare-GUID form."""
    token = await logon(http, sim)
    gamma = dataset["gamma"]
    for filter_ in (
        f"UID=={gamma.urn}",
        f"UID=={gamma.uid.upper()}",
        f'JobSessionUid=="{gamma.job_session_urn}"',
        f"JobSessionUid=={gamma.job_session_uid}",
        f"JobUid==urn:veeam:Job:{gamma.job_uid}",
        f"BackupServerUid=={gamma.backup_server_uid}",
    ):
        assert vms(await query_xml(http, sim, token, filter=filter_)) == ["gamma"], filter_


@pytest.mark.parametrize(
    "filter_",
    [
        "Bogus==1",
        'VmUid=="urn:VMware:Vm:x.vm-1"',  # not a documented BackupTaskSession filter field
        "Result==Maybe",
        'CreationTime>"2025-08-16T00:00:00"',  # a time without Z is refused (UTC only)
        'CreationTime>"yesterday"',
        "TotalSize>big",
        "Result=Failed",
        "(Result==Failed",
        'Name=="open',
    ],
)
async def test_bad_filter_is_400_with_error_body(
    http: aiohttp.ClientSession, sim: SimulatedEM, filter_: str
) -> None:
    """An unknown field, bad value or unparseable filter answers 400 with an Error body."""
    status, body, _ = await fetch(
        http, f"{sim.url}/api/query", await logon(http, sim), type="BackupTaskSession", filter=filter_
    )
    error = ET.fromstring(body)
    assert (status, error.tag, error.attrib["StatusCode"]) == (400, f"{NS}Error", "400")
    assert error.attrib["Message"]


async def test_bad_filter_status_is_a_setting(http: aiohttp.ClientSession, sim: SimulatedEM) -> None:
    """settings.bad_filter_status lets tests model an EM that answers a bad filter with 500."""
    sim.settings.bad_filter_status = 500
    status, body, _ = await fetch(
        http, f"{sim.url}/api/query", await logon(http, sim), type="BackupTaskSession", filter="x==1"
    )
    assert status == 500
    assert ET.fromstring(body).find(f"{NS}FirstChanceExceptionMessage") is not None


# -- sorting and paging ---------------------------------------------------------------------------


async def test_sorting(
    http: aiohttp.ClientSession, sim: SimulatedEM, dataset: dict[str, TaskSessionRecord]
) -> None:
    """sortAsc/sortDesc order by any filter field; a missing EndTime sorts first ascending."""
    token = await logon(http, sim)
    assert vms(await query_xml(http, sim, token, sortAsc="EndTime")) == [
        "delta",
        "alpha",
        "beta",
        "epsilon",
        "gamma",
    ]
    assert vms(await query_xml(http, sim, token, sortdesc="creationtime")) == [
        "delta",
        "gamma",
        "epsilon",
        "beta",
        "alpha",
    ]
    assert vms(await query_xml(http, sim, token, sortAsc="VmDisplayName"))[:2] == ["alpha", "beta"]
    status, _, _ = await fetch(http, f"{sim.url}/api/query", token, type="BackupTaskSession", sortAsc="Nope")
    assert status == 400


async def test_default_page_size_is_100(http: aiohttp.ClientSession, sim: SimulatedEM) -> None:
    """Without pageSize EM pages by 100 (as observed), reporting PageSize and PagesCount."""
    for n in range(150):
        sim.add_task_session(vm=f"vm{n:03d}")
    root = await query_xml(http, sim, await logon(http, sim))
    paging = root.find(f"{NS}PagingInfo")
    assert paging is not None
    assert paging.attrib == {"PagesCount": "2", "PageSize": "100", "PageNum": "1"}
    assert len(vms(root)) == 100


async def test_paging_links(http: aiohttp.ClientSession, sim: SimulatedEM) -> None:
    """PagingInfo links: First/Previous/Next/Last, host localhost, &amp; in raw XML, filter encoded."""
    for n in range(7):
        sim.add_task_session(vm=f"vm{n}", result="Failed")
    token = await logon(http, sim)
    params = {"type": "BackupTaskSession", "format": "Entities", "pageSize": "3", "page": "2"}
    status, body, _ = await fetch(http, f"{sim.url}/api/query", token, **params, filter='Result=="Failed"')
    assert status == 200
    assert b"&amp;pageSize=3&amp;page=1&amp;" in body
    root = ET.fromstring(body)
    links = {
        link.attrib["Rel"]: link.attrib["Href"]
        for link in root.iter(f"{NS}Link")
        if "Type" not in link.attrib
    }
    assert list(links) == ["First", "Previous", "Next", "Last"]
    assert links["Last"] == (
        "https://localhost:9398/api/query?type=BackupTaskSession&format=Entities&pageSize=3&page=3"
        "&filter=Result%3d%3d%22Failed%22"
    )
    assert "page=1&" in links["Previous"] and "page=3&" in links["Next"]
    last = await query_xml(http, sim, token, pageSize="3", page="3")
    assert len(vms(last)) == 1
    last_links = [link.attrib["Rel"] for link in last.iter(f"{NS}Link")]
    assert "Next" not in last_links


async def test_empty_result_paging(http: aiohttp.ClientSession, sim: SimulatedEM) -> None:
    """An empty result reports PagesCount=0 (a setting), an empty list, and First/Last links."""
    token = await logon(http, sim)
    root = await query_xml(http, sim, token, pageSize="10")
    paging = root.find(f"{NS}PagingInfo")
    assert paging is not None and paging.attrib["PagesCount"] == "0"
    assert [link.attrib["Rel"] for link in paging.iter(f"{NS}Link")] == ["First", "Last"]
    assert root.find(f"{NS}Entities/{NS}BackupTaskSessions") is not None
    sim.settings.empty_pages_count = 1
    paging = (await query_xml(http, sim, token)).find(f"{NS}PagingInfo")
    assert paging is not None and paging.attrib["PagesCount"] == "1"


async def test_page_past_the_end_and_bad_paging(http: aiohttp.ClientSession, sim: SimulatedEM) -> None:
    """A page past the end is empty; pageSize/page must be positive integers (else 400)."""
    sim.add_task_session()
    token = await logon(http, sim)
    assert vms(await query_xml(http, sim, token, pageSize="5", page="9")) == []
    for bad in ({"pageSize": "0"}, {"page": "0"}, {"pageSize": "x"}):
        status, _, _ = await fetch(http, f"{sim.url}/api/query", token, type="BackupTaskSession", **bad)
        assert status == 400


async def test_max_page_size_clamps(http: aiohttp.ClientSession, sim: SimulatedEM) -> None:
    """With max_page_size set, larger pageSize values are clamped and PageSize reports it."""
    for n in range(5):
        sim.add_task_session(vm=f"vm{n}")
    sim.settings.max_page_size = 2
    root = await query_xml(http, sim, await logon(http, sim), pageSize="100")
    paging = root.find(f"{NS}PagingInfo")
    assert paging is not None and (paging.attrib["PageSize"], paging.attrib["PagesCount"]) == ("2", "3")


@pytest.mark.parametrize("accept", [XML, JSON])
async def test_references_format(
    http: aiohttp.ClientSession, sim: SimulatedEM, accept: dict[str, str]
) -> None:
    """format=References (the default) returns Refs, in XML and double-wrapped in JSON."""
    rec = sim.add_task_session()
    token = await logon(http, sim)
    _, body, _ = await fetch(http, f"{sim.url}/api/query", {**token, **accept}, type="backuptasksession")
    if accept is XML:
        ref = ET.fromstring(body).find(f"{NS}Refs/{NS}Ref")
        assert ref is not None
        assert (ref.attrib["UID"], ref.attrib["Type"]) == (rec.urn, "BackupTaskSessionReference")
    else:
        doc = json_body(body)
        assert doc["Entities"] is None and doc["Resources"] is None
        assert doc["Refs"]["Refs"][0]["UID"] == rec.urn


async def test_query_rejects_unknown_type_and_format(http: aiohttp.ClientSession, sim: SimulatedEM) -> None:
    """An unknown type or format is a 400; a documented type without data is an empty result."""
    token = await logon(http, sim)
    for params in ({"type": "Nope"}, {}, {"type": "BackupTaskSession", "format": "Entity"}):
        status, _, _ = await fetch(http, f"{sim.url}/api/query", token, **params)
        assert status == 400
    status, body, _ = await fetch(http, f"{sim.url}/api/query", token, type="RestoreSession")
    assert status == 200 and ET.fromstring(body).find(f"{NS}Refs") is not None


# -- representations ------------------------------------------------------------------------------


async def test_xml_entity_shape(http: aiohttp.ClientSession, sim: SimulatedEM) -> None:
    """A BackupTaskSession in XML has EM's prolog, namespaces, attributes, links and child order."""
    rec = sim.add_task_session(
        vm="dbserver01",
        job_name="Backup Job 1",
        backup_server="enterprise06.tech.local",
        result="Failed",
        reason="Error: There is not enough space on the disk.",
        creation_time=at("2025-06-05T01:04:29.56Z"),
        end_time=at("2025-06-05T01:04:44.53Z"),
        total_size=0,
    )
    ok = sim.add_task_session(vm="web01", creation_time=at("2025-06-05T01:05:00Z"))
    token = await logon(http, sim)
    _, body, headers = await fetch(
        http,
        f"{sim.url}/api/query",
        token,
        type="BackupTaskSession",
        format="Entities",
        sortAsc="CreationTime",
    )
    assert headers["Content-Type"].startswith("application/xml")
    assert body.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    assert b'xmlns:xsd="http://www.w3.org/2001/XMLSchema"' in body and b"xmlns:xsi=" in body
    assert b"<Reason />" in body  # the successful task's empty Reason
    failed, success = ET.fromstring(body).iter(f"{NS}BackupTaskSession")
    assert failed.attrib == {
        "Type": "BackupTaskSession",
        "Href": f"https://localhost:9398/api/backupTaskSessions/{rec.uid}?format=Entity",
        "Name": "dbserver01@2025-06-05 01:04:29",
        "VmDisplayName": "dbserver01",
        "UID": f"urn:veeam:BackupTaskSession:{rec.uid}",
    }
    assert [child.tag.removeprefix(NS) for child in failed] == [
        "Links",
        "JobSessionUid",
        "CreationTimeUTC",
        "EndTimeUTC",
        "State",
        "Result",
        "Reason",
        "TotalSize",
        "VmUid",
    ]
    links = [
        (link.attrib["Rel"], link.attrib["Type"], link.attrib["Name"]) for link in failed.iter(f"{NS}Link")
    ]
    assert links == [
        ("Up", "BackupServerReference", "enterprise06.tech.local"),
        ("Up", "BackupJobSessionReference", "Backup Job 1@2025-06-05 01:04:29"),
        ("Alternate", "BackupTaskSessionReference", "dbserver01@2025-06-05 01:04:29"),
    ]

    def text(tag: str) -> str | None:
        return failed.findtext(f"{NS}{tag}")

    assert text("JobSessionUid") == rec.job_session_urn
    assert (text("CreationTimeUTC"), text("EndTimeUTC")) == (
        "2025-06-05T01:04:29.56Z",
        "2025-06-05T01:04:44.53Z",
    )
    assert (text("State"), text("Result"), text("TotalSize")) == ("Completed", "Failed", "0")
    assert text("VmUid") == rec.vm_uid and rec.vm_uid.startswith("urn:VMware:Vm:")
    assert ".vm-" in rec.vm_uid
    assert success.attrib["VmDisplayName"] == ok.vm


async def test_running_task_has_no_end_time(http: aiohttp.ClientSession, sim: SimulatedEM) -> None:
    """While a task runs, EndTimeUTC is absent from XML and JSON alike."""
    sim.add_task_session(state="InProgress")
    token = await logon(http, sim)
    entity = next((await query_xml(http, sim, token)).iter(f"{NS}BackupTaskSession"))
    assert entity.find(f"{NS}EndTimeUTC") is None and entity.findtext(f"{NS}State") == "InProgress"
    _, body, _ = await fetch(
        http, f"{sim.url}/api/query", {**token, **JSON}, type="BackupTaskSession", format="Entities"
    )
    (task,) = json_body(body)["Entities"]["BackupTaskSessions"]["BackupTaskSessions"]
    assert "EndTimeUTC" not in task


async def test_json_entities_shape(http: aiohttp.ClientSession, sim: SimulatedEM) -> None:
    """JSON: BOM first, PascalCase, list double-wrapped, unused branches null, native numbers."""
    rec = sim.add_task_session(result="Warning", reason="CBT", total_size=42)
    token = await logon(http, sim)
    _, body, headers = await fetch(
        http,
        f"{sim.url}/api/query",
        {**token, **JSON},
        type="BackupTaskSession",
        format="Entities",
        pageSize="5",
    )
    assert headers["Content-Type"].startswith("application/json")
    assert body.startswith(b"\xef\xbb\xbf")
    doc = json_body(body)
    assert doc["Refs"] is None and doc["Links"] is None
    assert doc["Entities"]["BackupJobSessions"] is None
    (task,) = doc["Entities"]["BackupTaskSessions"]["BackupTaskSessions"]
    assert task["UID"] == rec.urn and task["TotalSize"] == 42 and task["Result"] == "Warning"
    assert task["VmDisplayName"] == rec.vm and task["Links"][0]["Name"] == rec.backup_server
    assert doc["PagingInfo"] | {"Links": None} == {
        "Links": None,
        "PageNum": 1,
        "PageSize": 5,
        "PagesCount": 1,
    }


async def test_json_bom_off_and_camel_case(http: aiohttp.ClientSession, clock: ManualClock) -> None:
    """json_bom=False drops the BOM; json_camel_case=True emits camelCase keys (EM 13 rumour)."""
    async with SimulatedEM(clock=clock, json_bom=False, json_camel_case=True) as em:
        em.add_task_session()
        token = await logon(http, em)
        _, body, _ = await fetch(
            http, f"{em.url}/api/query", {**token, **JSON}, type="BackupTaskSession", format="Entities"
        )
    assert body.startswith(b"{")
    doc = json.loads(body)
    (task,) = doc["entities"]["backupTaskSessions"]["backupTaskSessions"]
    assert {"uid", "vmDisplayName", "creationTimeUTC", "jobSessionUid"} <= set(task)


async def test_version_discovery(http: aiohttp.ClientSession, sim: SimulatedEM) -> None:
    """GET /api/ needs no auth and lists v1_5..v1_7 (XML; JSON double-wrapped)."""
    status, body, _ = await fetch(http, f"{sim.url}/api/", {})
    assert status == 200
    root = ET.fromstring(body)
    assert root.tag == f"{NS}EnterpriseManager"
    assert [v.attrib["Name"] for v in root.iter(f"{NS}SupportedVersion")] == ["v1_5", "v1_6", "v1_7"]
    _, body, _ = await fetch(http, f"{sim.url}/api/", JSON)
    assert [v["Name"] for v in json_body(body)["SupportedVersions"]["SupportedVersions"]] == [
        "v1_5",
        "v1_6",
        "v1_7",
    ]


async def test_accept_negotiation(http: aiohttp.ClientSession, sim: SimulatedEM) -> None:
    """No Accept and */* give XML; the first of xml/json listed wins."""
    for accept, json_expected in (("", False), ("*/*", False), ("application/json;q=0.9", True)):
        headers = {"Accept": accept} if accept else {}
        _, body, _ = await fetch(http, f"{sim.url}/api/", headers)
        assert body.startswith(b"\xef\xbb\xbf{") == json_expected


# -- authentication -------------------------------------------------------------------------------


async def test_logon(http: aiohttp.ClientSession, sim: SimulatedEM) -> None:
    """Logon: 201, random token header (not derived from SessionId), cookie, LogonSession body."""
    async with http.post(f"{sim.url}/api/sessionMngr/?v=latest", headers=basic()) as resp:
        assert resp.status == 201
        token = resp.headers["X-RestSvcSessionId"]
        assert resp.headers["Set-Cookie"] == f"X-RestSvcSessionId={token}; Path=/api"
        root = ET.fromstring(await resp.read())
    session_id = root.findtext(f"{NS}SessionId")
    assert session_id and root.findtext(f"{NS}UserName") == USER
    assert token not in (session_id, base64.b64encode(session_id.encode()).decode())
    assert len(base64.b64decode(token)) == 16
    delete = [link for link in root.iter(f"{NS}Link") if link.attrib["Rel"] == "Delete"]
    assert delete[0].attrib["Href"] == f"https://localhost:9398/api/logonSessions/{session_id}"
    async with http.post(f"{sim.url}/api/sessionMngr/?v=v1_7", headers={**basic(), **JSON}) as resp:
        doc = json_body(await resp.read())
    assert resp.status == 201 and doc["UserName"] == USER and doc["SessionId"]


@pytest.mark.parametrize(
    "headers", [{}, basic(password="wrong"), basic(user="CORP\\other"), {"Authorization": "Basic !!"}]
)
async def test_logon_refused(http: aiohttp.ClientSession, sim: SimulatedEM, headers: dict[str, str]) -> None:
    """Missing or bad credentials: 401, WWW-Authenticate Basic Realm=RestSvc, Error body."""
    async with http.post(f"{sim.url}/api/sessionMngr/?v=latest", headers=headers) as resp:
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"] == "Basic Realm=RestSvc"
        assert ET.fromstring(await resp.read()).attrib["StatusCode"] == "401"
        assert "X-RestSvcSessionId" not in resp.headers


async def test_username_is_case_insensitive(http: aiohttp.ClientSession, sim: SimulatedEM) -> None:
    """Windows account names match case-insensitively; the password does not."""
    async with http.post(f"{sim.url}/api/sessionMngr/", headers=basic(user="corp\\SVC-ALERTD")) as resp:
        assert resp.status == 201


async def test_requests_need_a_token(http: aiohttp.ClientSession, sim: SimulatedEM) -> None:
    """Without or with an unknown token, the API answers 401 with an Error body (JSON too)."""
    for headers in ({}, {"X-RestSvcSessionId": "bogus"}):
        status, body, _ = await fetch(
            http, f"{sim.url}/api/query", {**headers, **JSON}, type="BackupTaskSession"
        )
        assert status == 401
        assert json_body(body) == {
            "FirstChanceExceptionMessage": None,
            "Message": json_body(body)["Message"],
            "StackTrace": None,
            "Status": "Unauthorized",
            "StatusCode": 401,
        }


async def test_token_idle_expiry(http: aiohttp.ClientSession, sim: SimulatedEM, clock: ManualClock) -> None:
    """A token dies after 15 idle minutes on the injected clock; each request restarts the timer."""
    token = await logon(http, sim)
    url = f"{sim.url}/api/query"
    clock.advance(minutes=14, seconds=59)
    assert (await fetch(http, url, token, type="BackupTaskSession"))[0] == 200
    clock.advance(minutes=14)
    assert (await fetch(http, url, token, type="BackupTaskSession"))[0] == 200
    clock.advance(minutes=15)
    status, body, _ = await fetch(http, url, token, type="BackupTaskSession")
    assert status == 401 and ET.fromstring(body).tag == f"{NS}Error"
    clock.advance(minutes=-30)  # an expired token stays dead
    assert (await fetch(http, url, token, type="BackupTaskSession"))[0] == 401


async def test_logoff(http: aiohttp.ClientSession, sim: SimulatedEM) -> None:
    """DELETE /api/logonSessions/{SessionId} answers 204 and invalidates the token."""
    async with http.post(f"{sim.url}/api/sessionMngr/?v=latest", headers={**basic(), **JSON}) as resp:
        token = {"X-RestSvcSessionId": resp.headers["X-RestSvcSessionId"]}
        session_id = json_body(await resp.read())["SessionId"]
    assert (await fetch(http, f"{sim.url}/api/logonSessions/{session_id}", token))[0] == 200
    async with http.delete(f"{sim.url}/api/logonSessions/{session_id}", headers=token) as resp:
        assert resp.status == 204
    assert (await fetch(http, f"{sim.url}/api/query", token, type="BackupTaskSession"))[0] == 401
    assert sim.tokens.active == 0


async def test_cookie_beats_header(http: aiohttp.ClientSession, sim: SimulatedEM) -> None:
    """When both are sent, the cookie's token is used and the header's ignored (EM quirk)."""
    good = (await logon(http, sim))["X-RestSvcSessionId"]
    url = f"{sim.url}/api/query"
    stale = {"X-RestSvcSessionId": good, "Cookie": "X-RestSvcSessionId=stale"}
    assert (await fetch(http, url, stale, type="BackupTaskSession"))[0] == 401
    fresh = {"X-RestSvcSessionId": "garbage", "Cookie": f"other=1; X-RestSvcSessionId={good}"}
    assert (await fetch(http, url, fresh, type="BackupTaskSession"))[0] == 200


async def test_logon_version_and_mixed_accept(http: aiohttp.ClientSession, sim: SimulatedEM) -> None:
    """An unsupported v= is a 400; with reject_mixed_accept a dual Accept breaks the POST."""
    async with http.post(f"{sim.url}/api/sessionMngr/?v=v1_4", headers=basic()) as resp:
        assert resp.status == 400
    sim.settings.reject_mixed_accept = True
    mixed = {**basic(), "Accept": "application/xml, application/json"}
    async with http.post(f"{sim.url}/api/sessionMngr/?v=latest", headers=mixed) as resp:
        assert resp.status == 400
        assert ET.fromstring(await resp.read()).attrib["Message"] == "Node [root] does not exist."


async def test_routing_errors_have_error_bodies(http: aiohttp.ClientSession, sim: SimulatedEM) -> None:
    """Unknown paths (404) and wrong methods (405) also answer with an Error body."""
    status, body, _ = await fetch(http, f"{sim.url}/api/nothing", {})
    assert status == 404 and ET.fromstring(body).attrib["Status"] == "NotFound"
    async with http.put(f"{sim.url}/api/query") as resp:
        assert resp.status == 405 and "GET" in resp.headers["Allow"]
        assert ET.fromstring(await resp.read()).attrib["StatusCode"] == "405"


# -- data model: visibility, job runs, generator, live mode ---------------------------------------


async def test_collection_lag(http: aiohttp.ClientSession, sim: SimulatedEM, clock: ManualClock) -> None:
    """A hidden session is invisible until publish(), though its EndTime is older than now."""
    hidden = sim.add_task_session(
        vm="late", result="Failed", end_time=clock() - timedelta(minutes=20), visible=False
    )
    token = await logon(http, sim)
    assert vms(await query_xml(http, sim, token)) == []
    assert (await fetch(http, f"{sim.url}/api/backupTaskSessions/{hidden.uid}", token))[0] == 404
    clock.advance(minutes=14)  # the next collection, within the token's idle time
    sim.publish(hidden.uid)
    root = await query_xml(http, sim, token, filter='EndTime<"2025-08-16T12:00:00Z"')
    assert vms(root) == ["late"]


async def test_complete_moves_task_to_completed(http: aiohttp.ClientSession, sim: SimulatedEM) -> None:
    """complete() turns an InProgress task Completed and the job run Stopped with the worst result."""
    run = sim.add_job_run(vms=["a", "b"], running=True)
    token = await logon(http, sim)
    assert vms(await query_xml(http, sim, token, filter="State==InProgress")) == ["a", "b"]
    sim.complete(run.tasks[0].uid, result="Failed", reason="Error: boom")
    assert sim.job_sessions[0].state == "Working"
    sim.complete(run.tasks[1].uid, result="Success")
    assert vms(await query_xml(http, sim, token, filter="State==Completed;Result==Failed")) == ["a"]
    job = sim.job_sessions[0]
    assert (job.state, job.result, job.progress) == ("Stopped", "Failed", 100)
    with pytest.raises(ValueError, match="already Completed"):
        sim.complete(run.tasks[0].uid, result="Success")


async def test_job_sessions_and_task_collection(http: aiohttp.ClientSession, sim: SimulatedEM) -> None:
    """BackupJobSession queries see IsRetry; /backupSessions/{id}/taskSessions lists a run's tasks."""
    first = sim.add_job_run(vms=["a", "b"], results={"b": "Failed"})
    retry = sim.add_job_run(vms=["b"], is_retry=True, start=first.tasks[-1].end_time)
    token = await logon(http, sim)
    status, body, _ = await fetch(
        http,
        f"{sim.url}/api/query",
        token,
        type="BackupJobSession",
        format="Entities",
        filter="IsRetry==true",
    )
    (job,) = ET.fromstring(body).iter(f"{NS}BackupJobSession")
    assert status == 200 and job.attrib["UID"] == retry.job.urn and job.findtext(f"{NS}IsRetry") == "true"
    assert job.findtext(f"{NS}State") == "Stopped" and job.findtext(f"{NS}Result") == "Success"
    _, body, _ = await fetch(
        http, f"{sim.url}/api/backupSessions/{first.job.uid}/taskSessions", {**token, **JSON}, format="Entity"
    )
    assert [t["VmDisplayName"] for t in json_body(body)["BackupTaskSessions"]] == ["a", "b"]
    _, body, _ = await fetch(http, f"{sim.url}/api/backupSessions/{first.job.uid}/taskSessions", token)
    assert len(ET.fromstring(body).findall(f"{NS}Ref")) == 2
    assert first.tasks[1].reason.startswith("Error: ")  # a Failed task without reason gets one


async def test_single_resources(http: aiohttp.ClientSession, sim: SimulatedEM) -> None:
    """/backupTaskSessions/{id}?format=Entity and /backupSessions/{id} serve one record; unknown is 404."""
    rec = sim.add_task_session()
    token = await logon(http, sim)
    _, body, _ = await fetch(
        http, f"{sim.url}/api/backupTaskSessions/{rec.uid}", {**token, **JSON}, format="Entity"
    )
    assert json_body(body)["UID"] == rec.urn
    _, body, _ = await fetch(http, f"{sim.url}/api/backupSessions/{rec.job_session_uid}", token)
    assert ET.fromstring(body).attrib["Type"] == "BackupJobSessionReference"
    assert (await fetch(http, f"{sim.url}/api/backupSessions/{rec.uid}", token))[0] == 404
    _, body, _ = await fetch(http, f"{sim.url}/api/backupTaskSessions", {**token, **JSON}, format="Entity")
    assert [t["UID"] for t in json_body(body)["BackupTaskSessions"]] == [rec.urn]


def test_generator_is_plausible_and_deterministic(clock: ManualClock) -> None:
    """generate_job_runs: same seed same data; mixed results, real Reasons, retries that fix VMs."""

    def history(seed: int) -> list[tuple[str, str, str, str, datetime]]:
        em = SimulatedEM(clock=clock, seed=seed)
        em.generate_job_runs(60, seed=seed)
        return [(t.uid, t.vm, t.result, t.reason, t.creation_time) for t in em.task_sessions]

    assert history(3) == history(3) != history(4)
    em = SimulatedEM(clock=clock, seed=1)
    runs = em.generate_job_runs(60, seed=1, failure_rate=0.3)
    results = {t.result for t in em.task_sessions}
    assert results == {"Success", "Warning", "Failed"}
    assert {t.job_name for t in em.task_sessions} >= {"SQL Daily", "Fileserver Backup", "Exchange Nightly"}
    assert all(t.reason.startswith("Error: ") for t in em.task_sessions if t.result == "Failed")
    assert all(t.reason == "" for t in em.task_sessions if t.result == "Success")
    retries = [run for run in runs if run.job.is_retry]
    assert retries
    fixed = [t for run in retries for t in run.tasks if t.result == "Success"]
    assert fixed, "some failed VMs should succeed on retry"
    assert all(t.end_time is not None and t.end_time < clock() for t in em.task_sessions)
    assert (
        len({format_utc(t.creation_time).count(".") for t in em.task_sessions}) == 2
    )  # with and without fractions


async def test_ten_thousand_sessions(http: aiohttp.ClientSession, sim: SimulatedEM) -> None:
    """Bulk generation of 10,000+ sessions is fast and pages through the query service."""
    started = time.perf_counter()
    sim.generate_job_runs(3200, seed=5)
    assert len(sim.task_sessions) >= 10_000
    token = await logon(http, sim)
    filter_ = "State==Completed;(Result==Failed,Result==Warning)"
    root = await query_xml(http, sim, token, pageSize="500", sortAsc="EndTime", filter=filter_)
    paging = root.find(f"{NS}PagingInfo")
    assert paging is not None
    expected = sum(1 for t in sim.task_sessions if t.result in ("Failed", "Warning"))
    assert int(paging.attrib["PagesCount"]) == -(-expected // 500)
    assert time.perf_counter() - started < 10


def test_live_driver_steps_on_manual_clock(clock: ManualClock) -> None:
    """Live mode starts runs on schedule, leaves tasks InProgress, then completes them."""
    em = SimulatedEM(clock=clock, seed=2)
    driver = em.live_driver(
        run_every=timedelta(minutes=1), task_duration=(timedelta(seconds=10), timedelta(seconds=20))
    )
    driver.step()
    running = em.task_sessions
    assert running and all(t.state == "InProgress" and t.visible for t in running)
    assert all(t.creation_time <= clock() for t in running)
    clock.advance(minutes=1)
    driver.step()
    first_run = {t.uid for t in running}
    assert all(em.task_session(uid).state == "Completed" for uid in first_run)
    assert len(em.job_sessions) >= 2


def test_live_driver_models_collection_lag(clock: ManualClock) -> None:
    """With a collection interval, sessions and completions appear only at collection, times older."""
    em = SimulatedEM(clock=clock, seed=2)
    driver = em.live_driver(
        run_every=timedelta(hours=1),
        task_duration=(timedelta(seconds=10), timedelta(seconds=20)),
        collection_interval=timedelta(minutes=15),
    )
    driver.step()
    assert em.task_sessions and not any(t.visible for t in em.task_sessions)
    clock.advance(minutes=5)
    driver.step()
    assert all(t.state == "InProgress" for t in em.task_sessions)
    clock.advance(minutes=10)
    driver.step()
    assert all(t.visible and t.state == "Completed" for t in em.task_sessions)
    assert all(
        t.end_time is not None and t.end_time < clock() - timedelta(minutes=10) for t in em.task_sessions
    )


async def test_start_live_runs_in_background(sim: SimulatedEM) -> None:
    """start_live() runs the driver as a task that stop() cancels cleanly."""
    sim.start_live(tick=3600)
    await asyncio.sleep(0)  # let the task take its first step
    assert sim.task_sessions
    with pytest.raises(RuntimeError):
        sim.start_live()


# -- fault injection and the request log ---------------------------------------------------------


async def test_fail_next(http: aiohttp.ClientSession, sim: SimulatedEM) -> None:
    """fail_next(n) answers the next n matching requests with that status and an Error body."""
    token = await logon(http, sim)
    sim.faults.fail_next(2, status=503, path="/api/query")
    url = f"{sim.url}/api/query"
    assert (await fetch(http, f"{sim.url}/api/", {}))[0] == 200  # path does not match
    for _ in range(2):
        status, body, _ = await fetch(http, url, {**token, **JSON}, type="BackupTaskSession")
        assert status == 503 and json_body(body)["StatusCode"] == 503 and json_body(body)["Status"] is None
    assert (await fetch(http, url, token, type="BackupTaskSession"))[0] == 200
    assert sim.faults.pending == {}


async def test_unauthorized_next_and_expire_tokens(http: aiohttp.ClientSession, sim: SimulatedEM) -> None:
    """unauthorized_next(n) gives n 401s; expire_tokens() kills every live token at once."""
    token = await logon(http, sim)
    url = f"{sim.url}/api/query"
    sim.faults.unauthorized_next(2)
    assert [(await fetch(http, url, token, type="BackupTaskSession"))[0] for _ in range(3)] == [401, 401, 200]
    assert sim.faults.expire_tokens() == 1
    assert (await fetch(http, url, token, type="BackupTaskSession"))[0] == 401


async def test_malformed_next_and_page(http: aiohttp.ClientSession, sim: SimulatedEM) -> None:
    """malformed_next truncates the next query body; malformed_page only that page's."""
    for n in range(4):
        sim.add_task_session(vm=f"vm{n}")
    token = await logon(http, sim)
    url = f"{sim.url}/api/query"
    sim.faults.malformed_next(1)
    status, body, _ = await fetch(http, url, {**token, **JSON}, type="BackupTaskSession", format="Entities")
    assert status == 200
    with pytest.raises(json.JSONDecodeError):
        json_body(body)
    sim.faults.malformed_page(2)
    pages = [
        await fetch(http, url, token, type="BackupTaskSession", pageSize="2", page=p) for p in ("1", "2")
    ]
    ET.fromstring(pages[0][1])
    with pytest.raises(ET.ParseError):
        ET.fromstring(pages[1][1])
    assert [r.fault for r in sim.requests.queries()] == ["malformed", None, "malformed"]


async def test_delay(http: aiohttp.ClientSession, sim: SimulatedEM) -> None:
    """faults.delay slows every answer (asyncio.sleep in the server), so client timeouts fire."""
    sim.faults.delay = 5.0
    with pytest.raises(TimeoutError):
        async with http.get(f"{sim.url}/api/", timeout=aiohttp.ClientTimeout(total=0.05)) as resp:
            await resp.read()
    sim.faults.delay = 0
    sim.faults.delay_next(1, seconds=5.0, path="/api/query")
    assert (await fetch(http, f"{sim.url}/api/", {}))[0] == 200


async def test_reset_next(http: aiohttp.ClientSession, sim: SimulatedEM) -> None:
    """reset_next drops connections without an answer (aiohttp's client retries one reset itself)."""
    sim.faults.reset_next(2)
    with pytest.raises(aiohttp.ClientConnectionError):
        await fetch(http, f"{sim.url}/api/", {})
    assert [(r.status, r.fault) for r in sim.requests] == [(None, "reset"), (None, "reset")]
    assert (await fetch(http, f"{sim.url}/api/", {}))[0] == 200


@pytest.mark.parametrize("declare_length", [True, False])
async def test_oversized_next(http: aiohttp.ClientSession, sim: SimulatedEM, declare_length: bool) -> None:
    """oversized_next streams a body of the given size, with or without Content-Length."""
    token = await logon(http, sim)
    sim.faults.oversized_next(1, size=3_000_000, declare_length=declare_length)
    async with http.get(f"{sim.url}/api/query", headers=token, params={"type": "BackupTaskSession"}) as resp:
        assert resp.status == 200
        assert resp.content_length == (3_000_000 if declare_length else None)
        body = await resp.read()
    assert len(body) == 3_000_000 and body.startswith(b"<?xml")


async def test_oversized_client_can_hang_up(http: aiohttp.ClientSession, sim: SimulatedEM) -> None:
    """A client that stops reading a 50 MB answer early leaves the simulator serving."""
    token = await logon(http, sim)
    sim.faults.oversized_next(1, size=50_000_000, declare_length=False)
    async with http.get(f"{sim.url}/api/query", headers=token, params={"type": "BackupTaskSession"}) as resp:
        assert len(await resp.content.read(65536)) > 0
        resp.close()
    assert (await fetch(http, f"{sim.url}/api/query", token, type="BackupTaskSession"))[0] == 200


async def test_request_log(http: aiohttp.ClientSession, sim: SimulatedEM) -> None:
    """Every request is logged with method, path, query parameters, status and auth presence."""
    token = await logon(http, sim)
    await fetch(http, f"{sim.url}/api/query", token, type="BackupTaskSession", pageSize="7")
    await fetch(http, f"{sim.url}/api/query", {}, type="BackupTaskSession")
    first, second, third = sim.requests
    assert (first.method, first.path, first.status, first.authenticated) == (
        "POST",
        "/api/sessionMngr/",
        201,
        False,
    )
    assert (second.query, second.status, second.authenticated) == (
        {"type": "BackupTaskSession", "pageSize": "7"},
        200,
        True,
    )
    assert third.status == 401
    assert sim.requests.count_matching(path="/api/query") == 2
    assert sim.requests.count_matching(method="post", status=201) == 1


# -- TLS and the command line ---------------------------------------------------------------------


async def test_tls(clock: ManualClock, tmp_path: Path) -> None:
    """start(ssl_context=...) serves HTTPS with a self-signed (trustme) certificate."""
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    em = SimulatedEM(clock=clock)
    url = await em.start(ssl_context=server_context)
    try:
        assert url.startswith("https://127.0.0.1:")
        async with aiohttp.ClientSession() as http, http.get(f"{url}/api/", ssl=client_context) as resp:
            assert resp.status == 200
    finally:
        await em.stop()


def test_cli_arguments() -> None:
    """python -m alertd.simulator defaults to port 9398 with live mode on."""
    args = parse_args([])
    assert (args.port, args.no_live, args.history) == (9398, False, 20)
    assert parse_args(["--port", "0", "--no-live"]).no_live


def test_settings_object_wins(clock: ManualClock) -> None:
    """An explicit EMSettings object is used as given."""
    settings = EMSettings(json_bom=False, public_base="https://em.corp.local:9398")
    assert SimulatedEM(clock=clock, settings=settings).settings is settings

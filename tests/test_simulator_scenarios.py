"""Tests for the simulator's scenario controls and strictness, over real HTTP on loopback.

Collection lag per backup server, stalls, future-stamped sessions, the Date header and clock
skew, refused queries, documented parameters only, EM 9.x mode and the shapes of job sessions.
"""

from __future__ import annotations

import email.utils
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from em_sim_support import JSON, NOW, NS, PASSWORD, USER, basic, json_body
from multidict import CIMultiDictProxy

from alertd.simulator import ManualClock, SimulatedEM

FAILURES = "State==Completed;(Result==Failed,Result==Warning)"


@pytest.fixture
def clock() -> ManualClock:
    """EM's hand-driven clock."""
    return ManualClock(NOW)


@pytest.fixture
async def sim(clock: ManualClock) -> AsyncIterator[SimulatedEM]:
    """A started simulator on a free loopback port; tokens outlive the clock jumps of these tests."""
    em = SimulatedEM(username=USER, password=PASSWORD, clock=clock, seed=11)
    em.settings.idle_timeout = timedelta(days=7)
    await em.start()
    yield em
    await em.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session that keeps no cookies (each test sends the token itself)."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield session


async def logon(http: aiohttp.ClientSession, sim: SimulatedEM) -> dict[str, str]:
    """Log on without a Content-Type, as known-working clients do; return the token header."""
    async with http.post(
        f"{sim.url}/api/sessionMngr/?v=latest", headers=basic(), skip_auto_headers=["Content-Type"]
    ) as resp:
        assert resp.status == 201, await resp.text()
        return {"X-RestSvcSessionId": resp.headers["X-RestSvcSessionId"]}


async def get(
    http: aiohttp.ClientSession, sim: SimulatedEM, path: str, headers: dict[str, str], **params: str
) -> tuple[int, bytes, CIMultiDictProxy[str]]:
    """GET ``path`` with ``params``; return status, body and headers."""
    async with http.get(f"{sim.url}{path}", headers=headers, params=params) as resp:
        return resp.status, await resp.read(), resp.headers


async def query_vms(
    http: aiohttp.ClientSession, sim: SimulatedEM, token: dict[str, str], filter_: str = FAILURES
) -> list[str]:
    """The VMs of the task sessions a filter selects, in EndTime order."""
    status, body, _ = await get(
        http,
        sim,
        "/api/query",
        token,
        type="BackupTaskSession",
        format="Entities",
        sortAsc="EndTime",
        filter=filter_,
    )
    assert status == 200, body
    return [e.attrib["VmDisplayName"] for e in ET.fromstring(body).iter(f"{NS}BackupTaskSession")]


# -- collection: lag per backup server, stalls, future stamps ---------------------------------------


async def test_late_collected_server_shows_its_sessions_after_its_lag(
    http: aiohttp.ClientSession, sim: SimulatedEM, clock: ManualClock
) -> None:
    """vbr02 collected 50 min late: its failure appears 50 min after it ended, EndTime unchanged; vbr01's at once."""
    sim.backup_server("vbr02.corp.local", collection_lag=timedelta(minutes=50))
    late = sim.add_task_session(
        vm="late", result="Failed", backup_server="vbr02.corp.local", end_time=clock(), creation_time=clock()
    )
    sim.add_task_session(vm="ontime", result="Failed", end_time=clock(), creation_time=clock())
    token = await logon(http, sim)
    assert await query_vms(http, sim, token) == ["ontime"]
    assert (await get(http, sim, f"/api/backupSessions/{late.job_session_uid}", token))[0] == 404
    clock.advance(minutes=49, seconds=59)
    assert await query_vms(http, sim, token) == ["ontime"]
    clock.advance(seconds=1)
    assert sorted(await query_vms(http, sim, token)) == ["late", "ontime"]
    assert sim.task_session(late.uid).end_time == NOW  # 50 minutes old when it appears
    assert (await get(http, sim, f"/api/backupSessions/{late.job_session_uid}", token))[0] == 200


async def test_history_older_than_the_lag_is_visible_at_once(
    http: aiohttp.ClientSession, sim: SimulatedEM, clock: ManualClock
) -> None:
    """A lagging server's sessions that ended more than its lag ago are already collected."""
    sim.backup_server("vbr02.corp.local", collection_lag=timedelta(minutes=50))
    add = sim.add_task_session
    add(vm="old", result="Failed", backup_server="vbr02.corp.local", end_time=clock() - timedelta(hours=1))
    add(
        vm="recent",
        result="Failed",
        backup_server="vbr02.corp.local",
        end_time=clock() - timedelta(minutes=10),
    )
    token = await logon(http, sim)
    assert await query_vms(http, sim, token) == ["old"]
    clock.advance(minutes=40)
    assert await query_vms(http, sim, token) == ["old", "recent"]


async def test_completion_is_collected_after_the_lag_and_the_task_shows_running_meanwhile(
    http: aiohttp.ClientSession, sim: SimulatedEM, clock: ManualClock
) -> None:
    """A running task completed on a lagging server stays InProgress in EM until the completion is collected."""
    running = sim.add_task_session(vm="slow", state="InProgress", creation_time=clock() - timedelta(hours=2))
    sim.backup_server("vbr01.corp.local", collection_lag=timedelta(minutes=15))
    done = sim.complete(running.uid, result="Failed", end_time=clock())
    assert done.state == "Completed" and sim.task_session(running.uid).state == "InProgress"
    token = await logon(http, sim)
    assert await query_vms(http, sim, token, "State==InProgress") == ["slow"]
    clock.advance(minutes=15)
    assert await query_vms(http, sim, token) == ["slow"]
    assert await query_vms(http, sim, token, "State==InProgress") == []


async def test_stall_freezes_what_em_shows_until_collection_resumes(
    http: aiohttp.ClientSession, sim: SimulatedEM, clock: ManualClock
) -> None:
    """During a stall new sessions pile up unseen; on resume they appear with their original times."""
    token = await logon(http, sim)
    sim.add_task_session(vm="before", result="Failed", end_time=clock() - timedelta(minutes=1))
    sim.stall_collection()
    clock.advance(minutes=5)
    during = sim.add_task_session(vm="during", result="Failed", end_time=clock())
    clock.advance(minutes=55)
    assert await query_vms(http, sim, token) == ["before"]
    assert sim.store.pending == 1
    sim.resume_collection()
    assert await query_vms(http, sim, token) == ["before", "during"]
    assert sim.task_session(during.uid).end_time == NOW + timedelta(minutes=5)


async def test_stall_of_one_server_leaves_the_others_collected(
    http: aiohttp.ClientSession, sim: SimulatedEM, clock: ManualClock
) -> None:
    """stall_collection(server) holds back only that server's new sessions."""
    sim.stall_collection("vbr02.corp.local")
    clock.advance(minutes=1)
    sim.add_task_session(vm="held", result="Failed", backup_server="vbr02.corp.local", end_time=clock())
    sim.add_task_session(vm="free", result="Failed", end_time=clock())
    token = await logon(http, sim)
    assert await query_vms(http, sim, token) == ["free"]
    sim.resume_collection("vbr02.corp.local")
    assert sorted(await query_vms(http, sim, token)) == ["free", "held"]


async def test_future_stamped_session_is_visible_now_unless_stalled(
    http: aiohttp.ClientSession, sim: SimulatedEM, clock: ManualClock
) -> None:
    """A session stamped 2 h ahead shows at once (collected now, stamped wrong); during a stall it waits."""
    ahead = sim.add_task_session(vm="ahead", result="Failed", end_time=clock() + timedelta(hours=2))
    token = await logon(http, sim)
    assert await query_vms(http, sim, token) == ["ahead"]
    assert sim.task_session(ahead.uid).end_time == NOW + timedelta(hours=2)
    sim.stall_collection()
    clock.advance(seconds=1)
    sim.add_task_session(vm="ahead2", result="Failed", end_time=clock() + timedelta(hours=2))
    assert await query_vms(http, sim, token) == ["ahead"]
    sim.resume_collection()
    assert await query_vms(http, sim, token) == ["ahead", "ahead2"]


async def test_server_with_a_wrong_clock_stamps_default_times_ahead(
    http: aiohttp.ClientSession, sim: SimulatedEM, clock: ManualClock
) -> None:
    """A backup server whose clock is 3 h ahead stamps its sessions 3 h in the future, visible at once."""
    sim.backup_server("vbr03.corp.local", clock_offset=timedelta(hours=3))
    record = sim.add_task_session(vm="skewed", result="Failed", backup_server="vbr03.corp.local")
    assert record.creation_time == NOW + timedelta(hours=3) - timedelta(minutes=5)
    run = sim.add_job_run(backup_server="vbr03.corp.local", vms=["a"], results={"a": "Failed"})
    assert run.job.creation_time > NOW
    token = await logon(http, sim)
    assert sorted(await query_vms(http, sim, token)) == ["a", "skewed"]


async def test_publish_catches_up_whatever_the_lag(
    http: aiohttp.ClientSession, sim: SimulatedEM, clock: ManualClock
) -> None:
    """publish() makes pending changes visible now, as a collection run that catches up."""
    sim.backup_server("vbr02.corp.local", collection_lag=timedelta(hours=5))
    sim.add_task_session(vm="late", result="Failed", backup_server="vbr02.corp.local", end_time=clock())
    token = await logon(http, sim)
    assert await query_vms(http, sim, token) == []
    sim.publish()
    assert await query_vms(http, sim, token) == ["late"]


def test_negative_lag_is_refused(sim: SimulatedEM) -> None:
    """A collection lag below zero is a test bug."""
    with pytest.raises(ValueError, match="negative"):
        sim.backup_server("vbr01.corp.local", collection_lag=timedelta(minutes=-1))


# -- Date header and clock skew ------------------------------------------------------------------


async def test_every_answer_carries_a_date_on_ems_clock(
    http: aiohttp.ClientSession, sim: SimulatedEM, clock: ManualClock
) -> None:
    """200, 201, 204, 401, 404 and fault answers all carry Date: EM's clock, shifted by clock_skew."""
    sim.settings.clock_skew = timedelta(hours=-24)
    expected = NOW - timedelta(hours=24)
    answers = []
    async with http.post(
        f"{sim.url}/api/sessionMngr/", headers=basic(), skip_auto_headers=["Content-Type"]
    ) as r:
        answers.append((r.status, r.headers["Date"]))
        token = {"X-RestSvcSessionId": r.headers["X-RestSvcSessionId"]}
        session_id = (await r.read()).decode().split("<SessionId>")[1].split("<")[0]
    for path in ("/api/", "/api/query?type=BackupTaskSession", "/api/nothing"):
        status, _, headers = await get(http, sim, path, token)
        answers.append((status, headers["Date"]))
    status, _, headers = await get(http, sim, "/api/query", {}, type="BackupTaskSession")
    answers.append((status, headers["Date"]))
    sim.faults.fail_next(1)
    status, _, headers = await get(http, sim, "/api/", {})
    answers.append((status, headers["Date"]))
    async with http.delete(f"{sim.url}/api/logonSessions/{session_id}", headers=token) as r:
        answers.append((r.status, r.headers["Date"]))
    assert [status for status, _ in answers] == [201, 200, 200, 404, 401, 503, 204]
    assert {email.utils.parsedate_to_datetime(date) for _, date in answers} == {expected}
    assert sim.now() == expected


async def test_oversized_answers_carry_a_date(http: aiohttp.ClientSession, sim: SimulatedEM) -> None:
    """Even a streamed (oversized) answer is dated."""
    token = await logon(http, sim)
    sim.faults.oversized_next(1, size=1000)
    status, _, headers = await get(http, sim, "/api/query", token, type="BackupTaskSession")
    assert status == 200 and email.utils.parsedate_to_datetime(headers["Date"]) == NOW


async def test_clock_skew_moves_default_times_and_token_expiry(sim: SimulatedEM, clock: ManualClock) -> None:
    """Sessions without explicit times are stamped on EM's (skewed) clock."""
    sim.settings.clock_skew = timedelta(days=-1)
    record = sim.add_task_session(vm="v", result="Failed")
    assert record.creation_time == NOW - timedelta(days=1, minutes=5)


# -- refused queries ------------------------------------------------------------------------------


async def test_refuse_query_refuses_only_matching_filters(
    http: aiohttp.ClientSession, sim: SimulatedEM
) -> None:
    """refuse_query(filter_contains=...) answers matching queries 500 with an Error body, others normally."""
    sim.add_task_session(vm="ok", result="Success")
    refusal = sim.faults.refuse_query(filter_contains="result==success")
    token = await logon(http, sim)
    status, body, _ = await get(
        http, sim, "/api/query", token, type="BackupTaskSession", filter="State==Completed;Result==Success"
    )
    error = ET.fromstring(body)
    assert (status, error.attrib["StatusCode"]) == (500, "500")
    assert error.attrib["Message"] == "Object reference not set to an instance of an object."
    assert await query_vms(http, sim, token) == []  # the failure query is answered
    assert refusal.hits == 1 and sim.requests[-2].fault == "refused"
    sim.faults.stop_refusing(refusal)
    assert await query_vms(http, sim, token, "Result==Success") == ["ok"]


async def test_refuse_query_by_predicate_and_times(http: aiohttp.ClientSession, sim: SimulatedEM) -> None:
    """A predicate over the parameters selects queries; ``times`` limits the refusals."""
    sim.faults.refuse_query(where=lambda p: p.get("type") == "BackupJobSession", status=503, times=2)
    token = await logon(http, sim)
    statuses = [(await get(http, sim, "/api/query", token, Type="BackupJobSession"))[0] for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert (await get(http, sim, "/api/query", token, type="BackupTaskSession"))[0] == 200


async def test_clear_stops_refusals(http: aiohttp.ClientSession, sim: SimulatedEM) -> None:
    """faults.clear() removes standing refusals too."""
    sim.faults.refuse_query()
    token = await logon(http, sim)
    assert (await get(http, sim, "/api/query", token, type="BackupTaskSession"))[0] == 500
    sim.faults.clear()
    assert (await get(http, sim, "/api/query", token, type="BackupTaskSession"))[0] == 200


# -- only what EM documents -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/query", {"type": "BackupTaskSession", "limit": "5"}),
        ("/api/query", {"type": "BackupTaskSession", "orderBy": "EndTime"}),
        ("/api/", {"v": "latest"}),
        ("/api/backupSessions", {"format": "Entity", "page": "2"}),
        ("/api/backupTaskSessions", {"format": "Entities"}),
        ("/api/backupTaskSessions", {"format": "Json"}),
    ],
)
async def test_undocumented_parameters_are_refused(
    http: aiohttp.ClientSession, sim: SimulatedEM, path: str, params: dict[str, str]
) -> None:
    """A query parameter (or format) no help page documents answers 400 with an Error body naming it."""
    token = await logon(http, sim)
    status, body, _ = await get(http, sim, path, token, **params)
    error = ET.fromstring(body)
    assert (status, error.tag) == (400, f"{NS}Error")
    assert "Unknown" in error.attrib["Message"]


async def test_unknown_parameter_status_follows_the_bad_filter_setting(
    http: aiohttp.ClientSession, sim: SimulatedEM
) -> None:
    """With bad_filter_status 500 an unknown parameter answers 500 (which one EM uses is unknown)."""
    sim.settings.bad_filter_status = 500
    token = await logon(http, sim)
    assert (await get(http, sim, "/api/query", token, type="BackupTaskSession", top="1"))[0] == 500


@pytest.mark.parametrize("field", ["VmUid", "VmName", "Platform"])
async def test_undocumented_sort_fields_are_refused(
    http: aiohttp.ClientSession, sim: SimulatedEM, field: str
) -> None:
    """sortAsc on a field outside the documented BackupTaskSession list answers 400."""
    token = await logon(http, sim)
    assert (await get(http, sim, "/api/query", token, type="BackupTaskSession", sortAsc=field))[0] == 400


async def test_strict_logon_refuses_octet_stream(http: aiohttp.ClientSession, sim: SimulatedEM) -> None:
    """With strict_logon_content_type, aiohttp's default application/octet-stream logon is refused; none and XML pass."""
    sim.settings.strict_logon_content_type = True
    url = f"{sim.url}/api/sessionMngr/?v=latest"
    async with http.post(url, headers=basic()) as resp:
        assert resp.status == 400
    async with http.post(url, headers={**basic(), "Content-Type": "application/xml"}) as resp:
        assert resp.status == 201
    await logon(http, sim)
    assert [r.content_type for r in sim.requests] == ["application/octet-stream", "application/xml", None]


# -- UID forms, JobUid and JobName filters ---------------------------------------------------------


@pytest.mark.parametrize(
    ("forms", "urn_matches", "guid_matches"),
    [({"guid", "urn"}, True, True), ({"urn"}, True, False), ({"guid"}, False, True)],
)
async def test_uid_filter_forms_setting(
    http: aiohttp.ClientSession, sim: SimulatedEM, forms: set[str], urn_matches: bool, guid_matches: bool
) -> None:
    """uid_filter_forms models an EM that silently matches nothing for the other UID form."""
    sim.settings.uid_filter_forms = frozenset(forms)
    record = sim.add_task_session(vm="v", result="Failed")
    job = sim.job_sessions[0]
    token = await logon(http, sim)
    assert bool(await query_vms(http, sim, token, f'JobUid=="{job.job_urn}"')) is urn_matches
    assert (
        bool(await query_vms(http, sim, token, f'JobSessionUid=="{record.job_session_uid}"')) is guid_matches
    )


async def test_backup_copy_child_job_filters_by_uid_and_name(
    http: aiohttp.ClientSession, sim: SimulatedEM
) -> None:
    """A Parent\\Child backup-copy run is found by JobUid and by its whole JobName."""
    run = sim.add_job_run(
        job_name="Periodic Backup Copy Job\\Backup Job 1",
        job_type="ImmediateBackupCopyWorker",
        name_fraction=True,
        vms=["a"],
        results={"a": "Failed"},
    )
    sim.add_job_run(vms=["other"], results={"other": "Failed"})
    token = await logon(http, sim)
    assert await query_vms(http, sim, token, f'JobUid=="{run.job.job_uid}"') == ["a"]
    assert await query_vms(http, sim, token, 'JobName=="Periodic Backup Copy Job\\Backup Job 1"') == ["a"]


# -- shapes the client must read ------------------------------------------------------------------


async def test_job_session_entity_shape(http: aiohttp.ClientSession, sim: SimulatedEM) -> None:
    """GET /backupSessions/{id}?format=Entity: JobUid URN, JobName, JobType, times, IsRetry, fractional Name."""
    run = sim.add_job_run(
        job_name="Periodic Backup Copy Job\\Backup Job 1",
        job_type="ImmediateBackupCopyWorker",
        name_fraction=True,
        vms=["a"],
        is_retry=True,
        start=datetime(2025, 8, 16, 5, 17, 38, 221420, tzinfo=UTC),
    )
    token = await logon(http, sim)
    status, body, _ = await get(http, sim, f"/api/backupSessions/{run.job.uid}", token, format="Entity")
    root = ET.fromstring(body)
    assert status == 200 and root.tag == f"{NS}BackupJobSession"
    assert root.attrib["Name"].startswith("Periodic Backup Copy Job\\Backup Job 1@2025-08-16 05:17:")
    assert "." in root.attrib["Name"].rpartition(" ")[2]  # fractions of a second
    assert root.findtext(f"{NS}JobUid") == f"urn:veeam:Job:{run.job.job_uid}"
    assert root.findtext(f"{NS}JobName") == "Periodic Backup Copy Job\\Backup Job 1"
    assert root.findtext(f"{NS}JobType") == "ImmediateBackupCopyWorker"
    assert root.findtext(f"{NS}IsRetry") == "true"
    _, body, _ = await get(
        http, sim, f"/api/backupSessions/{run.job.uid}", {**token, **JSON}, format="Entity"
    )
    entity = json_body(body)
    assert (entity["JobType"], entity["IsRetry"], entity["UID"]) == (
        "ImmediateBackupCopyWorker",
        True,
        run.job.urn,
    )
    (task,) = run.tasks
    assert task.job_session_name == run.job.name


@pytest.mark.parametrize("accept", [{}, JSON])
async def test_em9_mode_serves_task_sessions_without_vm_uid(
    http: aiohttp.ClientSession, sim: SimulatedEM, accept: dict[str, str]
) -> None:
    """In EM 9.x mode no VmUid element or key is served."""
    sim.settings.em9_mode = True
    sim.add_task_session(vm="v", result="Failed")
    token = await logon(http, sim)
    _, body, _ = await get(
        http, sim, "/api/query", {**token, **accept}, type="BackupTaskSession", format="Entities"
    )
    assert b"VmUid" not in body and b"VmDisplayName" in body


async def test_xml_hrefs_escape_ampersands_and_empty_reason(
    http: aiohttp.ClientSession, sim: SimulatedEM
) -> None:
    """Paging Hrefs arrive with &amp; and a success's Reason as <Reason />, as EM writes them."""
    sim.add_task_session(vm="v", result="Success", backup_server="localhost")
    sim.add_task_session(vm="w", result="Success", backup_server="10.0.0.5")
    token = await logon(http, sim)
    _, body, _ = await get(
        http, sim, "/api/query", token, type="BackupTaskSession", format="Entities", pageSize="1"
    )
    assert b"&amp;format=Entities&amp;" in body
    assert b"<Reason />" in body
    assert b'Name="localhost"' in body

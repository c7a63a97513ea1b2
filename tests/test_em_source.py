"""Tests for alertd.em.source.EMSource: the Source contract over real HTTP against the EM simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import pytest
import structlog

from alertd.em.client import EMConnection, EMError
from alertd.em.source import EMSource
from alertd.model import JobRef
from alertd.simulator import ManualClock, SimulatedEM
from alertd.source import Source

USER = "alertd"
PASSWORD = "s3cret-Pa55word!"
NOW = datetime(2025, 8, 15, 6, 0, tzinfo=UTC)
RESULTS = ("Failed", "Warning")


@pytest.fixture
def clock() -> ManualClock:
    """EM's clock (the simulator's) and alertd's, both hand-driven and equal unless a test skews one."""
    return ManualClock(NOW)


@pytest.fixture
async def sim(clock: ManualClock) -> AsyncIterator[SimulatedEM]:
    """A plain-HTTP simulator on loopback whose tokens outlive the clock jumps of these tests."""
    em = SimulatedEM(username=USER, password=PASSWORD, clock=clock, seed=3)
    em.settings.idle_timeout = timedelta(days=7)
    em.settings.strict_logon_content_type = True  # alertd must log on without a Content-Type
    await em.start()
    yield em
    await em.stop()


def make_source(sim: SimulatedEM, clock: Callable[[], datetime], **kw: Any) -> EMSource:
    """An EMSource for ``sim`` with alertd's clock ``clock``."""
    fmt = kw.pop("format", "xml")
    conn = EMConnection(
        source="em-test", url=sim.url, username=USER, password=PASSWORD, format=fmt, page_size=50
    )
    return EMSource.from_connection(conn, clock=clock, **kw)


@pytest.fixture
async def source(sim: SimulatedEM, clock: ManualClock) -> AsyncIterator[EMSource]:
    """An EMSource on the simulator, closed at teardown."""
    src = make_source(sim, clock)
    yield src
    await src.close()


def filters(sim: SimulatedEM) -> list[str]:
    """The filters of every /api/query request, decoded."""
    return [unquote(q.query.get("filter", "")) for q in sim.requests.queries()]


def test_em_source_is_a_source(source: EMSource) -> None:
    """EMSource satisfies the alertd.source.Source protocol the pipeline is written against."""
    as_source: Source = source
    assert as_source.requests_made == 0 and source.kind == "em"


# -- failures --------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["xml", "json"])
async def test_failures_reads_every_page_with_the_poll_filter(
    sim: SimulatedEM, clock: ManualClock, fmt: str
) -> None:
    """failures() sends the documented EndTime filter, reads all pages and returns a whole Batch."""
    for i in range(120):
        sim.add_task_session(
            vm=f"vm{i:03d}", result="Failed" if i % 2 else "Warning", end_time=NOW - timedelta(minutes=1)
        )
    sim.add_task_session(vm="fine", result="Success", end_time=NOW - timedelta(minutes=1))
    src = make_source(sim, clock, format=fmt)
    try:
        batch = await src.failures(NOW - timedelta(hours=1), RESULTS)
    finally:
        await src.close()
    assert len(batch.sessions) == 120 and batch.undecodable == 0
    assert set(filters(sim)) == {
        'State==Completed;(Result==Failed,Result==Warning);EndTime>="2025-08-15T05:00:00Z"'
    }
    assert [q.query["page"] for q in sim.requests.queries()] == ["1", "2", "3"]


async def test_shapes_the_client_never_saw_decode(sim: SimulatedEM, source: EMSource) -> None:
    """localhost/IP servers, a Parent\\Child job with a fractional run name and <Reason /> decode whole."""
    sim.add_job_run(
        job_name="Periodic Backup Copy Job\\Backup Job 1",
        job_type="ImmediateBackupCopyWorker",
        backup_server="localhost",
        name_fraction=True,
        vms=["a"],
        results={"a": "Warning"},
        start=NOW - timedelta(minutes=30),
    )
    sim.add_task_session(vm="b", result="Failed", backup_server="10.0.0.5", job_name="Nightly", end_time=NOW)
    batch = await source.failures(NOW - timedelta(hours=1), RESULTS)
    got = {s.vm: (s.job_name, s.backup_server, bool(s.reason)) for s in batch.sessions}
    assert got == {
        "a": ("Periodic Backup Copy Job\\Backup Job 1", "localhost", True),
        "b": ("Nightly", "10.0.0.5", False),  # served as <Reason />
    }
    assert batch.undecodable == 0


@pytest.mark.parametrize("fmt", ["xml", "json"])
async def test_em9_sessions_without_vm_uid_are_whole(sim: SimulatedEM, clock: ManualClock, fmt: str) -> None:
    """EM 9.x task sessions carry no VmUid: vm_uid is None and nothing counts as undecodable."""
    sim.settings.em9_mode = True
    sim.add_task_session(vm="v", result="Failed", end_time=NOW)
    src = make_source(sim, clock, format=fmt)
    try:
        batch = await src.failures(NOW - timedelta(hours=1), RESULTS)
    finally:
        await src.close()
    assert [(s.vm, s.vm_uid) for s in batch.sessions] == [("v", None)] and batch.undecodable == 0


async def test_late_collected_server_appears_with_its_old_end_time(
    sim: SimulatedEM, source: EMSource, clock: ManualClock
) -> None:
    """A failure on a server collected 50 min late is absent from the window until collected, then old."""
    sim.backup_server("vbr02.corp.local", collection_lag=timedelta(minutes=50))
    sim.add_task_session(vm="late", result="Failed", backup_server="vbr02.corp.local", end_time=NOW)
    sim.add_task_session(vm="ontime", result="Failed", end_time=NOW)
    assert [s.vm for s in (await source.failures(NOW - timedelta(minutes=30), RESULTS)).sessions] == [
        "ontime"
    ]
    clock.advance(minutes=50)
    window = await source.failures(clock() - timedelta(minutes=30), RESULTS)
    assert [s.vm for s in window.sessions] == []  # older than the window: the sweep's job to catch
    sweep = await source.failures(clock() - timedelta(hours=24), RESULTS)
    assert sorted(s.vm for s in sweep.sessions) == ["late", "ontime"]


# -- successes -------------------------------------------------------------------------------------


async def test_successes_by_job_uid_after_an_instant(sim: SimulatedEM, source: EMSource) -> None:
    """successes() with a known job uid asks JobUid=="<guid>" and returns that job's later successes only."""
    first = sim.add_job_run(vms=["a", "b"], results={"a": "Failed"}, start=NOW - timedelta(hours=3))
    retry = sim.add_job_run(vms=["a"], start=NOW - timedelta(hours=1))
    sim.add_job_run(job_name="Other", vms=["a"], start=NOW - timedelta(hours=1))
    (run,) = await source.job_runs([first.tasks[0].job_session_urn])
    assert run.job_uid == f"urn:veeam:Job:{first.job.job_uid}"
    batch = await source.successes(JobRef(run.job_uid, run.job_name), NOW - timedelta(hours=2))
    assert [s.uid for s in batch.sessions] == [retry.tasks[0].urn]
    assert filters(sim)[-1] == (
        f'State==Completed;Result==Success;JobUid=="{first.job.job_uid}";EndTime>"2025-08-15T04:00:00Z"'
    )


async def test_successes_by_name_when_the_job_uid_is_unknown(sim: SimulatedEM, source: EMSource) -> None:
    """Without a job uid, successes() falls back to JobName=="<name>" (quoted, backslash kept)."""
    name = "Periodic Backup Copy Job\\Backup Job 1"
    sim.add_job_run(job_name=name, vms=["a"], start=NOW - timedelta(hours=1))
    sim.add_job_run(vms=["a"], start=NOW - timedelta(hours=1))
    batch = await source.successes(JobRef(None, name), NOW - timedelta(hours=2))
    assert [s.job_name for s in batch.sessions] == [name]
    assert f'JobName=="{name}"' in filters(sim)[-1]


async def test_refused_success_query_raises_and_leaves_failures_readable(
    sim: SimulatedEM, source: EMSource
) -> None:
    """EM refusing success queries (500) fails successes() with EMError(http); failures() still answers."""
    sim.add_task_session(vm="f", result="Failed", end_time=NOW)
    refusal = sim.faults.refuse_query(filter_contains="Result==Success")
    with pytest.raises(EMError) as info:
        await source.successes(JobRef(None, "SQL Daily"), NOW - timedelta(hours=1))
    assert (info.value.kind, info.value.status) == ("http", 500)
    assert "Object reference not set" in info.value.message
    assert [s.vm for s in (await source.failures(NOW - timedelta(hours=1), RESULTS)).sessions] == ["f"]
    assert refusal.hits == 1


# -- job runs --------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["xml", "json"])
async def test_job_runs_read_the_entity_and_count_tasks(
    sim: SimulatedEM, clock: ManualClock, fmt: str
) -> None:
    """job_runs() reads JobUid, JobName, JobType, IsRetry, state, result, times, server and the task count."""
    run = sim.add_job_run(
        job_name="Periodic Backup Copy Job\\Backup Job 1",
        job_type="ImmediateBackupCopyWorker",
        name_fraction=True,
        backup_server="10.0.0.5",
        vms=[f"vm{i}" for i in range(40)],
        results={"vm3": "Failed", "vm7": "Failed", "vm9": "Warning"},
        is_retry=True,
    )
    src = make_source(sim, clock, format=fmt)
    try:
        before = src.requests_made
        (got,) = await src.job_runs([run.tasks[3].job_session_urn])
        cost = src.requests_made - before
    finally:
        await src.close()
    job = sim.job_sessions[0]
    assert got.uid == run.tasks[3].job_session_urn
    assert (got.job_uid, got.job_name, got.job_type, got.is_retry) == (
        job.job_urn,
        "Periodic Backup Copy Job\\Backup Job 1",
        "ImmediateBackupCopyWorker",
        True,
    )
    assert (got.state, got.result, got.creation_time, got.end_time) == (
        "Stopped",
        "Failed",
        job.creation_time,
        job.end_time,
    )
    assert (got.backup_server, got.task_count) == ("10.0.0.5", 40)
    assert cost == 3  # logon, the entity, one pageSize=1 count query
    (count_query,) = sim.requests.queries()
    assert (count_query.query["pageSize"], unquote(count_query.query["filter"])) == (
        "1",
        f'JobSessionUid=="{job.uid}"',
    )


async def test_unknown_job_session_is_left_out_and_logged(sim: SimulatedEM, source: EMSource) -> None:
    """A job session EM answers 404 for is missing from the result and logged; the others are read."""
    run = sim.add_job_run(vms=["a"])
    missing = "urn:veeam:BackupJobSession:00000000-0000-4000-8000-000000000000"
    with structlog.testing.capture_logs() as logs:
        got = await source.job_runs([missing, run.tasks[0].job_session_urn, "", run.tasks[0].job_session_urn])
    assert [r.uid for r in got] == [run.tasks[0].job_session_urn]
    (unreadable,) = [e for e in logs if e["event"] == "job_run_unreadable"]
    assert (unreadable["uid"], unreadable["status"]) == (missing, 404)


async def test_job_runs_give_up_when_em_is_unreachable(sim: SimulatedEM, source: EMSource) -> None:
    """When EM cannot be reached, job_runs() returns what it has, logs once and never raises."""
    runs = [sim.add_job_run(vms=["a"]) for _ in range(6)]
    await sim.stop()
    with structlog.testing.capture_logs() as logs:
        got = await source.job_runs([r.tasks[0].job_session_urn for r in runs])
    assert got == []
    assert [e["event"] for e in logs if e["log_level"] == "warning"].count("job_runs_abandoned") == 1


async def test_uid_form_switches_to_urn_when_guids_match_nothing(sim: SimulatedEM, source: EMSource) -> None:
    """On an EM matching only URNs, the task count proves the GUID form wrong; later filters send URNs."""
    sim.settings.uid_filter_forms = frozenset({"urn"})
    failed = sim.add_job_run(vms=["a"], results={"a": "Failed"}, start=NOW - timedelta(hours=3))
    later = sim.add_job_run(vms=["a"], start=NOW - timedelta(hours=1))
    with structlog.testing.capture_logs() as logs:
        (run,) = await source.job_runs([failed.tasks[0].job_session_urn])
    assert run.task_count == 1 and source.uid_form == "urn"
    assert [e["new"] for e in logs if e["event"] == "em_uid_form_switched"] == ["urn"]
    batch = await source.successes(JobRef(run.job_uid, run.job_name), NOW - timedelta(hours=2))
    assert [s.uid for s in batch.sessions] == [later.tasks[0].urn]
    assert f'JobUid=="{failed.job.job_urn}"' in filters(sim)[-1]


async def test_task_count_unknown_when_no_uid_form_matches(sim: SimulatedEM, source: EMSource) -> None:
    """If neither UID form matches the run's own tasks, task_count is None and a warning says so."""
    sim.settings.uid_filter_forms = frozenset()
    run = sim.add_job_run(vms=["a"])
    with structlog.testing.capture_logs() as logs:
        (got,) = await source.job_runs([run.tasks[0].job_session_urn])
    assert got.task_count is None and source.uid_form == "guid"
    assert "em_uid_filter_matched_nothing" in [e["event"] for e in logs]


# -- clock skew and probe --------------------------------------------------------------------------


async def test_clock_skew_from_the_date_header(sim: SimulatedEM, clock: ManualClock) -> None:
    """clock_skew is EM's Date minus alertd's clock: None before a response, exact on whole seconds."""
    sim.settings.clock_skew = timedelta(hours=-24, seconds=-3)
    ahead = ManualClock(NOW + timedelta(microseconds=600_000))  # alertd's clock, sub-second part ignored
    src = make_source(sim, ahead)
    try:
        assert src.clock_skew is None
        await src.failures(NOW - timedelta(hours=1), RESULTS)
        assert src.clock_skew == timedelta(hours=-24, seconds=-3)
        assert src.client.server_time == NOW - timedelta(hours=24, seconds=3)
    finally:
        await src.close()


async def test_probe_reports_version_time_skew_count_and_endpoints(
    sim: SimulatedEM, clock: ManualClock
) -> None:
    """probe(): API version from GET /api/, EM's time and skew, sessions of the last 24 h, every endpoint ok."""
    sim.settings.clock_skew = timedelta(minutes=5)
    for hours in (1, 5, 23, 25, 30):
        sim.add_task_session(vm=f"v{hours}", result="Success", end_time=sim.now() - timedelta(hours=hours))
    src = make_source(sim, clock)
    try:
        report = await src.probe()
    finally:
        await src.close()
    assert (report.source, report.kind, report.api_version) == ("em-test", "em", "v1_7")
    assert report.server_time == NOW + timedelta(minutes=5)
    assert report.clock_skew == timedelta(minutes=5)
    assert report.sessions_24h == 3
    assert report.ok, report.endpoints
    assert [e.name.split(" ")[0] for e in report.endpoints] == ["logon", "query", "job", "UID"]
    assert report.endpoints[3].detail == "bare GUID: matches; URN: matches"
    assert any("ahead of alertd's" in note for note in report.notes)


async def test_probe_with_refused_logon(sim: SimulatedEM, clock: ManualClock) -> None:
    """A refused logon fails the probe's logon check and leaves the other checks not done; nothing raises."""
    conn = EMConnection(source="em-test", url=sim.url, username=USER, password="wrong")
    src = EMSource.from_connection(conn, clock=clock)
    try:
        report = await src.probe()
    finally:
        await src.close()
    assert not report.ok and report.api_version == "v1_7"
    assert [(e.ok, e.detail.startswith("not checked")) for e in report.endpoints] == [
        (False, False),
        (False, True),
        (False, True),
        (False, True),
    ]
    assert "refused logon" in report.endpoints[0].detail and "wrong" not in report.endpoints[0].detail


async def test_probe_of_an_empty_em(source: EMSource) -> None:
    """With no session at all the probe counts 0 and says the entity endpoint was not checked."""
    report = await source.probe()
    assert report.sessions_24h == 0 and report.ok
    assert [e.detail for e in report.endpoints[2:]] == ["not checked: EM holds no completed task session"] * 2


async def test_probe_finds_the_uid_form_that_works(sim: SimulatedEM, source: EMSource) -> None:
    """On an EM matching only URNs the probe says so and the source switches to URNs."""
    sim.settings.uid_filter_forms = frozenset({"urn"})
    sim.add_task_session(vm="v", result="Failed", end_time=NOW - timedelta(days=3))  # older than 24 h
    report = await source.probe()
    assert report.sessions_24h == 0
    assert report.endpoints[3].detail == "bare GUID: matches nothing; URN: matches"
    assert report.endpoints[3].ok and source.uid_form == "urn"


async def test_probe_with_a_failing_query(sim: SimulatedEM, source: EMSource) -> None:
    """A refused query fails its check, and the checks that need a session are reported as not done."""
    sim.faults.refuse_query()
    report = await source.probe()
    assert [e.ok for e in report.endpoints] == [True, False, False, False]
    assert report.endpoints[2].detail == "not checked: the query failed"


async def test_newest_end_is_the_last_completed_session_of_any_result(
    sim: SimulatedEM, source: EMSource
) -> None:
    """newest_end asks EM for one completed session, newest EndTime first, whatever its result."""
    sim.add_task_session(vm="old-failure", result="Failed", end_time=NOW - timedelta(hours=2))
    sim.add_task_session(vm="new-success", result="Success", end_time=NOW - timedelta(minutes=3))
    sim.add_task_session(vm="running", state="InProgress")
    assert await source.newest_end() == NOW - timedelta(minutes=3)
    [asked] = [r.query for r in sim.requests if r.path.startswith("/api/query")]
    assert (
        asked["sortDesc"] == "EndTime" and asked["pageSize"] == "1" and asked["filter"] == "State==Completed"
    )

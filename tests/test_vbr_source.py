"""VBRSource against the simulator: failures, job-level alerts, time zones, retries, degraded mode,
successes, job runs and the probe, with every exchange checked against the OpenAPI documents."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from vbr_support import NOW, Harness

from alertd.model import JobRef, TaskSession
from alertd.vbr import VBRError, VBRSource

pytest_plugins = ["vbr_fixtures"]

BOTH = ["Failed", "Warning"]
HOUR_AGO = NOW - timedelta(hours=1)


@pytest.fixture
async def src(vbr: Harness) -> AsyncIterator[VBRSource]:
    """A VBRSource on the harness's simulator and clock, closed at the end."""
    source = vbr.source()
    yield source
    await source.close()


def queries(vbr: Harness, path: str) -> list[dict[str, list[str]]]:
    """The query parameters of each request to ``path``, repeated keys kept."""
    out = []
    for ex in vbr.contract.exchanges:
        if ex.path == path and ex.status == 200:
            params: dict[str, list[str]] = {}
            for k, v in ex.query:
                params.setdefault(k, []).append(v)
            out.append(params)
    return out


def vms(batch: Sequence[TaskSession]) -> list[tuple[str, str]]:
    return sorted((s.vm, s.result) for s in batch)


async def test_failed_and_warning_vms(vbr: Harness, src: VBRSource) -> None:
    """Each Failed/Warning VM is one TaskSession with EM's labels; the run's failure is explained, so no job-level alert."""
    run = vbr.sim.add_job_run(
        vms=("dbserver01", "dbserver02", "dbserver03"),
        results={"dbserver02": "Failed", "dbserver03": "Warning"},
        reasons={"dbserver02": "Error: disk full"},
        start=NOW - timedelta(minutes=40),
    )
    batch = await src.failures(HOUR_AGO, BOTH)
    assert vms(batch.sessions) == [("dbserver02", "Failed"), ("dbserver03", "Warning")]
    failed = next(s for s in batch.sessions if s.vm == "dbserver02")
    task = next(t for t in run.tasks if t.name == "dbserver02")
    assert failed.labels() == {
        "source": "vbr-test",
        "backup_server": "127.0.0.1",
        "job_name": "SQL Daily",
        "vm": "dbserver02",
        "result": "Failed",
        "reason": "Error: disk full",
        "job_session": f"vbr:vbr-test:session:{run.session.id}",
    }
    assert (failed.uid, failed.state, failed.job_uid, failed.job_level) == (
        f"vbr:vbr-test:task:{task.id}",
        "Completed",
        run.session.job_id,
        False,
    )
    assert (failed.end_time, failed.name) == (
        task.end_time,
        f"dbserver02@{task.creation_time:%Y-%m-%d %H:%M:%S}",
    )
    assert batch.undecodable == 0
    tasks = queries(vbr, "/api/v1/taskSessions")
    assert [q["resultFilter"] for q in tasks] == [["Failed"], ["Warning"]]
    assert {q["endedAfterFilter"][0] for q in tasks} == {
        "2025-08-15T00:59:59-04:00"
    }  # New York, one second early
    assert all(q["orderColumn"] == ["EndTime"] and q["orderAsc"] == ["true"] for q in tasks)


async def test_only_the_asked_results(vbr: Harness, src: VBRSource) -> None:
    """results=["Failed"] leaves warnings out."""
    vbr.sim.add_job_run(
        results={"dbserver01": "Failed", "dbserver02": "Warning"}, start=NOW - timedelta(minutes=40)
    )
    assert vms((await src.failures(HOUR_AGO, ["Failed"])).sessions) == [("dbserver01", "Failed")]


ZONES: list[tuple[str, tzinfo]] = [
    ("new-york", ZoneInfo("America/New_York")),
    ("prague", ZoneInfo("Europe/Prague")),
    ("utc", UTC),
    ("fixed+05:30", timezone(timedelta(hours=5, minutes=30))),
]


@pytest.mark.parametrize(("name", "zone"), ZONES, ids=[z[0] for z in ZONES])
@pytest.mark.parametrize("offsets", ["ignore", "honour"])
@pytest.mark.parametrize("inclusive", [False, True])
async def test_window_edge_in_any_zone(
    vbr: Harness, src: VBRSource, name: str, zone: tzinfo, offsets: str, inclusive: bool
) -> None:
    """A task ending exactly at ended_after is kept, one a second earlier is not, whatever the server's zone and filter reading (Q1)."""
    vbr.sim.settings.zone = zone
    vbr.sim.settings.filter_offsets = offsets  # type: ignore[assignment]
    vbr.sim.settings.inclusive_bounds = inclusive
    bound = NOW - timedelta(minutes=20)
    session = vbr.sim.add_session(
        creation_time=bound - timedelta(minutes=10), end_time=bound + timedelta(minutes=5), result="Failed"
    )
    for label, end in (
        ("before", bound - timedelta(seconds=1)),
        ("at", bound),
        ("after", bound + timedelta(seconds=1)),
    ):
        vbr.sim.add_task(
            session, name=label, result="Failed", creation_time=end - timedelta(minutes=2), end_time=end
        )
    batch = await src.failures(bound, BOTH)
    assert sorted(s.vm for s in batch.sessions) == ["after", "at"]


async def test_job_level_failure_without_a_failed_task(vbr: Harness, src: VBRSource) -> None:
    """A run that failed after every VM succeeded (a synthetic full) is one job-level alert."""
    run = vbr.sim.add_job_run(
        job_result="Failed",
        job_message="Creating synthetic full backup (22% done)",
        start=NOW - timedelta(minutes=50),
    )
    batch = await src.failures(HOUR_AGO, BOTH)
    [alert] = batch.sessions
    assert (alert.job_level, alert.vm, alert.result, alert.reason) == (
        True,
        "",
        "Failed",
        "Creating synthetic full backup (22% done)",
    )
    assert alert.uid == alert.job_session_uid == f"vbr:vbr-test:session:{run.session.id}"
    assert (alert.job_name, alert.job_uid, alert.end_time) == (
        "SQL Daily",
        run.session.job_id,
        run.session.end_time,
    )


async def test_job_level_checks_tasks_that_ended_before_the_window(vbr: Harness, src: VBRSource) -> None:
    """A Failed run whose failed VM ended before the window is explained by it (read once, then cached): no job-level alert."""
    run = vbr.sim.add_job_run(results={"dbserver01": "Failed"}, start=NOW - timedelta(hours=3))
    vbr.sim.update_session(run.session.id, end_time=NOW - timedelta(minutes=10))  # a long merge at the end
    for _ in range(2):
        assert (await src.failures(HOUR_AGO, BOTH)).sessions == []
    assert vbr.count(f"/api/v1/sessions/{run.session.id}/taskSessions") == 1


async def test_job_level_when_the_run_is_worse_than_its_tasks(vbr: Harness, src: VBRSource) -> None:
    """A Failed run with only a Warning VM yields the warning and a job-level failure."""
    vbr.sim.add_job_run(
        results={"dbserver01": "Warning"},
        job_result="Failed",
        job_message="Merge failed",
        start=NOW - timedelta(minutes=40),
    )
    batch = await src.failures(HOUR_AGO, BOTH)
    assert sorted((s.job_level, s.vm, s.result) for s in batch.sessions) == [
        (False, "dbserver01", "Warning"),
        (True, "", "Failed"),
    ]


async def test_jobs_without_task_sessions(vbr: Harness, src: VBRSource) -> None:
    """An agent job (no task sessions, §3.3) that fails alerts at job level."""
    vbr.sim.add_job_run(
        vms=(),
        session_type="AgentBackup",
        job_name="Laptops",
        job_result="Failed",
        job_message="Agent unreachable",
        start=NOW - timedelta(minutes=30),
    )
    [alert] = (await src.failures(HOUR_AGO, BOTH)).sessions
    assert (alert.job_name, alert.job_level, alert.reason) == ("Laptops", True, "Agent unreachable")


async def test_rows_that_are_not_backups_or_not_final_are_skipped(vbr: Harness, src: VBRSource) -> None:
    """Restore and antivirus tasks, non-job sessions and running tasks never alert."""
    restore = vbr.sim.add_session(
        session_type="RestoreVm",
        result="Failed",
        message="restore failed",
        creation_time=NOW - timedelta(minutes=30),
    )
    vbr.sim.add_task(restore, type="Restore", name="web02", result="Failed")
    vbr.sim.add_task(restore, type="Antivirus", name="winsrv88 [11/4/2024 5:18:45 PM]")
    running = vbr.sim.add_job_run(start=NOW - timedelta(minutes=30), running=True)
    assert (await src.failures(HOUR_AGO, BOTH)).sessions == []
    assert running.session.end_time is None


async def test_failed_task_of_a_running_job(vbr: Harness, src: VBRSource) -> None:
    """A VM that failed while its job still runs alerts, its job name read from sessions/{id}."""
    session = vbr.sim.add_session(
        job_name="Web Farm", state="Working", result="None", creation_time=NOW - timedelta(minutes=30)
    )
    vbr.sim.add_task(session, name="web01", result="Failed", message="snapshot failed")
    [alert] = (await src.failures(HOUR_AGO, BOTH)).sessions
    assert (alert.vm, alert.job_name) == ("web01", "Web Farm")
    assert vbr.count(f"/api/v1/sessions/{session.id}") == 1


@pytest.mark.parametrize("vbr", ["13.1", "13.0", "12.3.1"], indirect=True)
async def test_retries(vbr: Harness, src: VBRSource) -> None:
    """A retry is a JobRun with is_retry (retryInfo on 13.1, its " (Retry N)" name before); its job name has no suffix."""
    first = vbr.sim.add_job_run(results={"dbserver01": "Failed"}, start=NOW - timedelta(minutes=55))
    retry = vbr.sim.add_job_run(
        vms=first.failed_objects,
        results={"dbserver01": "Failed"},
        retry_of=first,
        start=NOW - timedelta(minutes=30),
    )
    batch = await src.failures(HOUR_AGO, BOTH)
    assert sorted((s.vm, s.job_name) for s in batch.sessions) == [("dbserver01", "SQL Daily")] * 2
    runs = {r.uid: r for r in await src.job_runs([s.job_session_uid for s in batch.sessions])}
    original, again = (
        runs[f"vbr:vbr-test:session:{first.session.id}"],
        runs[f"vbr:vbr-test:session:{retry.session.id}"],
    )
    assert (original.is_retry, again.is_retry) == (False, True)
    assert (again.job_name, again.job_uid, again.state, again.result) == (
        "SQL Daily",
        first.session.job_id,
        "Completed",
        "Failed",
    )


@pytest.mark.parametrize("vbr", ["12.0"], indirect=True)
async def test_degraded_12_0(vbr: Harness, src: VBRSource, collect_logs: list[dict[str, Any]]) -> None:
    """Without /taskSessions (1.1-rev0) each failed run is one job-level alert, said once in the log."""
    vbr.sim.add_job_run(results={"dbserver01": "Failed"}, start=NOW - timedelta(minutes=40))
    vbr.sim.add_job_run(
        job_name="Web Farm", vms=("web01",), results={"web01": "Warning"}, start=NOW - timedelta(minutes=40)
    )
    for _ in range(2):
        batch = await src.failures(HOUR_AGO, BOTH)
        assert sorted((s.job_name, s.job_level, s.vm, s.result) for s in batch.sessions) == [
            ("SQL Daily", True, "", "Failed"),
            ("Web Farm", True, "", "Warning"),
        ]
    assert "1 of 2 VMs failed" in next(s.reason for s in batch.sessions if s.result == "Failed")
    assert src.degraded is True and src.api_version == "1.1-rev0"
    assert vbr.count("/api/v1/taskSessions") == 0
    assert [e["api_version"] for e in collect_logs if e["event"] == "vbr_degraded"] == ["1.1-rev0"]


@pytest.mark.parametrize("vbr", ["12.2"], indirect=True)
async def test_unknown_revision_asks_once_for_task_sessions(vbr: Harness, src: VBRSource) -> None:
    """On 1.1-rev2 (open question 4) alertd asks /taskSessions once; a 404 means job-level alerts."""
    vbr.sim.add_job_run(results={"dbserver01": "Failed"}, start=NOW - timedelta(minutes=40))
    for _ in range(2):
        assert [s.job_level for s in (await src.failures(HOUR_AGO, BOTH)).sessions] == [True]
    assert vbr.count("/api/v1/taskSessions", status=404) == 1
    assert src.degraded is True


async def test_successes_of_one_job(vbr: Harness, src: VBRSource) -> None:
    """successes() returns that job's successful VMs after the instant, and its successful runs as job-level entries."""
    vbr.sim.add_job_run(results={"dbserver01": "Failed"}, start=NOW - timedelta(hours=3))
    later = vbr.sim.add_job_run(start=NOW - timedelta(minutes=50))
    vbr.sim.add_job_run(job_name="Web Farm", vms=("web01",), start=NOW - timedelta(minutes=50))
    for ref in (JobRef(later.session.job_id, "SQL Daily"), JobRef(None, "SQL Daily")):
        batch = await src.successes(ref, HOUR_AGO)
        assert sorted((s.job_level, s.vm) for s in batch.sessions) == [
            (False, "dbserver01"),
            (False, "dbserver02"),
            (True, ""),
        ]
        assert all(s.result == "Success" and s.job_name == "SQL Daily" for s in batch.sessions)
    sessions = queries(vbr, "/api/v1/sessions")
    assert sessions[0]["jobIdFilter"] == [later.session.job_id] and sessions[1]["nameFilter"] == ["SQL Daily"]


@pytest.mark.parametrize("vbr", ["12.0"], indirect=True)
async def test_successes_when_degraded(vbr: Harness, src: VBRSource) -> None:
    """Without task sessions, a successful run is the only success there is."""
    run = vbr.sim.add_job_run(start=NOW - timedelta(minutes=50))
    batch = await src.successes(JobRef(run.session.job_id, "SQL Daily"), HOUR_AGO)
    assert [(s.job_level, s.result) for s in batch.sessions] == [(True, "Success")]


async def test_job_runs_leave_out_what_is_not_there(vbr: Harness, src: VBRSource) -> None:
    """Unknown sessions (404), other sources' uids and task uids are left out."""
    run = vbr.sim.add_job_run(start=NOW - timedelta(minutes=50))
    uids = [
        f"vbr:vbr-test:session:{run.session.id}",
        "vbr:vbr-test:session:6f1c1d52-7b8e-4a51-9d0e-0d6ad0b3f8a1",
        f"vbr:other:session:{run.session.id}",
        "urn:veeam:BackupJobSession:abc",
    ]
    [job] = await src.job_runs(uids)
    assert (job.job_name, job.job_type, job.is_retry, job.creation_time) == (
        "SQL Daily",
        "BackupJob",
        False,
        run.session.creation_time,
    )


async def test_malformed_page_fails_the_whole_question(vbr: Harness, src: VBRSource) -> None:
    """A cut-off page raises malformed: nothing partial is returned."""
    vbr.sim.add_job_run(results={"dbserver01": "Failed"}, start=NOW - timedelta(minutes=40))
    vbr.sim.faults.malformed_next(path="/api/v1/sessions")
    with pytest.raises(VBRError) as info:
        await src.failures(HOUR_AGO, BOTH)
    assert info.value.kind == "malformed"


async def test_clock_skew(vbr: Harness) -> None:
    """The skew is the server's clock minus alertd's, read from serverTime."""
    source = VBRSource(vbr.connection(), clock=lambda: NOW - timedelta(seconds=90))
    try:
        assert source.clock_skew is None
        await source.failures(HOUR_AGO, BOTH)
        assert source.clock_skew == timedelta(seconds=90)
    finally:
        await source.close()


@pytest.mark.parametrize(
    ("vbr", "found"), [("13.0", ["dbserver01"]), ("13.1", ["dbserver01"])], indirect=["vbr"]
)
async def test_dst_change_without_a_zone_name(vbr: Harness, src: VBRSource, found: list[str]) -> None:
    """Spring forward on a server that gives only its offset (13.0) and reads filters as local time: the window widens by the change."""
    vbr.sim.settings.filter_offsets = "ignore"
    before = datetime(2025, 3, 9, 6, 50, tzinfo=UTC)  # 01:50 EST; at 07:00 UTC New York moves to EDT
    vbr.clock.set(before)
    session = vbr.sim.add_session(
        creation_time=before - timedelta(minutes=10), end_time=before + timedelta(minutes=25), result="Failed"
    )
    vbr.sim.add_task(
        session,
        name="dbserver01",
        result="Failed",
        creation_time=before - timedelta(minutes=8),
        end_time=before - timedelta(minutes=5),
    )
    assert (await src.failures(before, BOTH)).sessions == []  # the first poll sees the -05:00 offset
    vbr.clock.set(before + timedelta(minutes=20))
    batch = await src.failures(before - timedelta(minutes=10), BOTH)
    assert [s.vm for s in batch.sessions] == found


async def test_job_runs_never_raise(vbr: Harness, src: VBRSource) -> None:
    """A failing read leaves a job run out; after an auth failure the rest come from the cache only."""
    runs = [vbr.sim.add_job_run(start=NOW - timedelta(minutes=50)) for _ in range(4)]
    uids = [f"vbr:vbr-test:session:{r.session.id}" for r in runs]
    vbr.sim.faults.fail_next(status=500, path=f"/api/v1/sessions/{runs[0].session.id}")
    assert [j.uid for j in await src.job_runs(uids[:3])] == uids[1:3]
    vbr.sim.faults.fail_next(status=403, path="/api/v1/sessions/")
    assert [j.uid for j in await src.job_runs(uids)] == uids[1:3]  # 0 refused, 3 not asked, 1-2 cached
    assert vbr.count("/api/v1/sessions/", status=403) == 1
    assert vbr.count(f"/api/v1/sessions/{runs[3].session.id}") == 0


async def test_newest_end_is_the_last_finished_session_of_any_result(vbr: Harness, src: VBRSource) -> None:
    """newest_end asks for one row, newest EndTime first, and answers that run's end whatever its result."""
    old = vbr.sim.add_job_run(results={"dbserver01": "Failed"}, start=NOW - timedelta(hours=3))
    new = vbr.sim.add_job_run(start=NOW - timedelta(minutes=40))  # every VM succeeds
    assert new.session.end_time is not None and old.session.end_time is not None
    assert await src.newest_end() == new.session.end_time
    [asked] = queries(vbr, "/api/v1/sessions")
    assert asked["orderColumn"] == ["EndTime"] and asked["orderAsc"] == ["false"] and asked["limit"] == ["1"]

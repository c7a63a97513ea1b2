"""Retries on revisions without ``retryInfo``: the job's retry settings (``GET /api/v1/jobs/{id}``)
decide, read once an hour per job, with the " (Retry N)" name only as the last resort (issue 13).

Real HTTPS to the simulator, every exchange checked against the OpenAPI documents."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from vbr_support import NOW, Harness

from alertd.model import JobRun
from alertd.simulator.vbr import JobRun as SimRun
from alertd.vbr import VBRSource
from alertd.vbr.decode import SessionRow
from alertd.vbr.jobs import RetrySettings, decode_retry_settings, retry_number

pytest_plugins = ["vbr_fixtures"]

HOUR_AGO = NOW - timedelta(hours=1)
BOTH = ["Failed", "Warning"]
PRE_13_1 = ["13.0", "12.3.1"]


@pytest.fixture
async def src(vbr: Harness) -> AsyncIterator[VBRSource]:
    """A VBRSource on a simulator whose retry sessions carry no " (Retry N)" name (open question 5)."""
    vbr.sim.settings.retry_name_suffix = False
    source = vbr.source()
    yield source
    await source.close()


def failed_run(vbr: Harness, minutes_ago: int, retry_of: SimRun | None = None) -> SimRun:
    return vbr.sim.add_job_run(
        vms=("dbserver01",),
        results={"dbserver01": "Failed"},
        start=NOW - timedelta(minutes=minutes_ago),
        retry_of=retry_of,
    )


async def runs_of(src: VBRSource, *runs: SimRun) -> list[JobRun]:
    await src.failures(NOW - timedelta(hours=3), BOTH)
    return await src.job_runs([f"vbr:vbr-test:session:{r.session.id}" for r in runs])


@pytest.mark.parametrize("vbr", PRE_13_1, indirect=True)
async def test_retry_within_the_window_after_a_failure(vbr: Harness, src: VBRSource) -> None:
    """A run of a retrying job that starts within awaitMinutes+20 min of a failed run of the job is a retry, whatever its name."""
    first = failed_run(vbr, 60)  # ends 55 minutes ago
    retry = failed_run(vbr, 45, retry_of=first)  # 10 minutes later: Veeam's awaitMinutes
    original, again = await runs_of(src, first, retry)
    assert (original.is_retry, again.is_retry) == (False, True)
    assert again.job_name == "SQL Daily"
    assert vbr.count(f"/api/v1/jobs/{first.session.job_id}") == 1


@pytest.mark.parametrize("vbr", PRE_13_1, indirect=True)
async def test_a_run_long_after_a_failure_is_no_retry(vbr: Harness, src: VBRSource) -> None:
    """A run that starts later than awaitMinutes+20 min after the job's failed run is a new run, not a retry."""
    first = failed_run(vbr, 150)  # ends 145 minutes ago
    later = failed_run(vbr, 100)  # 45 minutes later
    assert [r.is_retry for r in await runs_of(src, first, later)] == [False, False]


@pytest.mark.parametrize("vbr", PRE_13_1, indirect=True)
async def test_wait_from_the_settings(vbr: Harness, src: VBRSource) -> None:
    """The window follows the job's own awaitMinutes: 45 minutes after a failure is a retry when the job waits 30."""
    vbr.sim.set_job("SQL Daily", await_minutes=30)
    first = failed_run(vbr, 150)
    later = failed_run(vbr, 100, retry_of=first)
    assert [r.is_retry for r in await runs_of(src, first, later)] == [False, True]


@pytest.mark.parametrize("vbr", PRE_13_1, indirect=True)
async def test_after_a_success_or_warning_is_no_retry(vbr: Harness, src: VBRSource) -> None:
    """Veeam retries only after a failed run: a run ten minutes after a run with a warning is not a retry."""
    first = vbr.sim.add_job_run(
        vms=("dbserver01",), results={"dbserver01": "Warning"}, start=NOW - timedelta(minutes=60)
    )
    again = failed_run(vbr, 45)
    assert [r.is_retry for r in await runs_of(src, first, again)] == [False, False]


@pytest.mark.parametrize("vbr", PRE_13_1, indirect=True)
async def test_retry_count_bounds_the_chain(vbr: Harness, src: VBRSource) -> None:
    """With retryCount 1, the run after the failed retry starts a new chain: only the second run is a retry."""
    vbr.sim.set_job("SQL Daily", retry_count=1)
    first = failed_run(vbr, 120)
    second = failed_run(vbr, 105, retry_of=first)
    third = failed_run(vbr, 90)
    assert [r.is_retry for r in await runs_of(src, first, second, third)] == [False, True, False]


@pytest.mark.parametrize("vbr", PRE_13_1, indirect=True)
@pytest.mark.parametrize("change", [{"retry_enabled": False}, {"run_automatically": False}])
async def test_a_job_that_never_retries_beats_the_name(
    vbr: Harness, src: VBRSource, change: dict[str, Any]
) -> None:
    """When the settings say Veeam does not retry (retries off, or an unscheduled job), a " (Retry N)" name is ignored."""
    vbr.sim.settings.retry_name_suffix = True
    vbr.sim.set_job("SQL Daily", **change)
    first = failed_run(vbr, 60)
    again = failed_run(vbr, 45, retry_of=first)
    assert [r.is_retry for r in await runs_of(src, first, again)] == [False, False]


@pytest.mark.parametrize("vbr", PRE_13_1, indirect=True)
async def test_settings_are_read_once_an_hour(vbr: Harness, src: VBRSource) -> None:
    """A job's settings are read once per hour however many of its runs are judged."""
    first = failed_run(vbr, 60)
    path = f"/api/v1/jobs/{first.session.job_id}"
    await runs_of(src, first)
    vbr.clock.advance(timedelta(minutes=30))
    await runs_of(src, failed_run(vbr, 20))
    assert vbr.count(path) == 1
    vbr.clock.advance(timedelta(minutes=31))
    await runs_of(src, failed_run(vbr, 10))
    assert vbr.count(path) == 2


@pytest.mark.parametrize("vbr", PRE_13_1, indirect=True)
async def test_unreadable_settings_fall_back_to_the_name(
    vbr: Harness, src: VBRSource, collect_logs: list[dict[str, Any]]
) -> None:
    """A failed read of the job is logged once, fails nothing, and the " (Retry N)" name decides until it reads again."""
    vbr.sim.settings.retry_name_suffix = True
    first = failed_run(vbr, 60)
    retry = failed_run(vbr, 45, retry_of=first)
    vbr.sim.faults.fail_next(2, status=500, path="/api/v1/jobs/")
    assert [r.is_retry for r in await runs_of(src, first, retry)] == [False, True]
    vbr.clock.advance(timedelta(minutes=11))  # asked again after 10 minutes: fails again, not logged again
    assert [r.is_retry for r in await runs_of(src, retry)] == [True]
    assert [e["event"] for e in collect_logs if "job_settings" in e["event"]] == [
        "vbr_job_settings_unreadable"
    ]
    vbr.sim.settings.retry_name_suffix = False
    vbr.clock.advance(timedelta(minutes=11))
    assert [r.is_retry for r in await runs_of(src, first, retry)] == [False, True]
    assert vbr.count("/api/v1/jobs/") == 3
    assert [e["event"] for e in collect_logs if "job_settings" in e["event"]][
        -1
    ] == "vbr_job_settings_readable"


@pytest.mark.parametrize("vbr", ["13.1"], indirect=True)
async def test_13_1_reads_no_job(vbr: Harness, src: VBRSource) -> None:
    """On 1.3-rev2 retryInfo/originalSessionId decide and the job is never read."""
    first = failed_run(vbr, 60)
    retry = failed_run(vbr, 45, retry_of=first)
    assert [r.is_retry for r in await runs_of(src, first, retry)] == [False, True]
    assert vbr.count("/api/v1/jobs/") == 0


@pytest.mark.parametrize("vbr", ["12.0"], indirect=True)
async def test_12_0_falls_back_to_the_name(vbr: Harness, src: VBRSource) -> None:
    """1.1-rev0 has no documented JobModel, so the simulator answers 404 and the " (Retry N)" name decides."""
    vbr.sim.settings.retry_name_suffix = True
    first = failed_run(vbr, 60)
    retry = failed_run(vbr, 45, retry_of=first)
    assert [r.is_retry for r in await runs_of(src, first, retry)] == [False, True]
    assert vbr.count("/api/v1/jobs/", status=404) == 1


# -- pure ------------------------------------------------------------------------------------


def test_decode_defaults_and_schedule() -> None:
    """Missing retry fields take ScheduleRetryModel's defaults; no schedule.retry is "unknown"; a disabled job never retries."""
    assert decode_retry_settings(
        b'{"schedule": {"runAutomatically": true, "retry": {"isEnabled": true}}}'
    ) == RetrySettings(True, 3, 10)
    assert decode_retry_settings(b'{"type": "FileBackupCopy", "isDisabled": false}') is None
    assert decode_retry_settings(
        b'{"isDisabled": true, "schedule": {"runAutomatically": true, "retry": {"isEnabled": true, "retryCount": 5}}}'
    ) == RetrySettings(False, 5, 10)


def _row(sid: str, start_minute: int, end_minute: int, result: str, job: str | None = "job") -> SessionRow:
    base = datetime(2025, 8, 15, 4, 0, tzinfo=UTC)
    return SessionRow(
        id=sid,
        name="SQL Daily",
        job_id=job,
        session_type="BackupJob",
        creation_time=base + timedelta(minutes=start_minute),
        end_time=base + timedelta(minutes=end_minute),
        state="Stopped",
        result=result,
        message="",
        is_canceled=False,
    )


def test_retry_number_follows_the_chain() -> None:
    """Each retry's number counts the failed runs before it, each within the window of the next, up to retryCount."""
    settings = RetrySettings(True, 2, 10)
    runs = [_row("a", 0, 5, "Failed"), _row("b", 15, 20, "Failed"), _row("c", 30, 35, "Failed")]
    assert [retry_number(r, settings, runs) for r in runs] == [None, 1, 2]
    assert retry_number(_row("d", 45, 50, "Failed"), settings, runs) is None  # a third link: a new run
    assert retry_number(_row("e", 15, 20, "Failed", job="other"), settings, runs[:1]) is None
    assert retry_number(runs[1], RetrySettings(False, 2, 10), runs) is None

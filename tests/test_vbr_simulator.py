"""The VBR simulator over raw HTTPS: what it serves is what the documents say (cited per test)."""

from __future__ import annotations

import json
import ssl
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from vbr_contract import ContractObserver
from vbr_support import NOW, PASSWORD, USER, Harness

from alertd.simulator.clock import ManualClock
from alertd.simulator.vbr import PROFILES, SimulatedVBR
from alertd.simulator.vbr.__main__ import parse_args
from alertd.simulator.vbr.certs import self_signed
from alertd.vbr import VBRClient, VBRConnection

pytest_plugins = ["vbr_fixtures"]


async def call(
    vbr: Harness,
    method: str,
    path: str,
    *,
    version: str | None = "1.3-rev2",
    token: str | None = None,
    query: Sequence[tuple[str, str]] = (),
    form: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """One raw request as a well-behaved client sends it; returns (status, parsed JSON)."""
    headers = {"Accept": "application/json"}
    if version is not None:
        headers["x-api-version"] = version
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    context = ssl.create_default_context(cafile=str(vbr.tls.ca_file))
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as http,
        http.request(method, vbr.url + path, params=list(query), headers=headers, data=form) as resp,
    ):
        return resp.status, json.loads(await resp.read() or b"null")


async def logon(vbr: Harness, version: str = "1.3-rev2") -> dict[str, Any]:
    status, body = await call(
        vbr,
        "POST",
        "/api/oauth2/token",
        version=version,
        form={"grant_type": "password", "username": USER, "password": PASSWORD},
    )
    assert status == 200, body
    return dict(body)


async def test_access_token_expires_after_expires_in(vbr: Harness) -> None:
    """The token works until expires_in has passed on the clock, then answers 401 AccessDenied (§1.3, Q7)."""
    grant = await logon(vbr)
    assert grant["expires_in"] == 900 and grant["token_type"] == "bearer"
    vbr.clock.advance(seconds=899)
    assert (await call(vbr, "GET", "/api/v1/sessions", token=grant["access_token"]))[0] == 200
    vbr.clock.advance(seconds=1)
    status, body = await call(vbr, "GET", "/api/v1/sessions", token=grant["access_token"])
    assert (status, body["errorCode"]) == (401, "AccessDenied")


async def test_refresh_token_works_once(vbr: Harness) -> None:
    """ "A refresh token can be used only once" (TokenModel): a second use is refused."""
    grant = await logon(vbr)
    form = {"grant_type": "refresh_token", "refresh_token": grant["refresh_token"]}
    first, renewed = await call(vbr, "POST", "/api/oauth2/token", form=form)
    second, _ = await call(vbr, "POST", "/api/oauth2/token", form=form)
    assert (first, second) == (200, 401)
    assert renewed["refresh_token"] != grant["refresh_token"]


async def test_logout_expires_both_tokens(vbr: Harness) -> None:
    """ "After you log out, access and refresh tokens are expired" (OVERVIEW 1.3-rev0)."""
    grant = await logon(vbr)
    assert await call(vbr, "POST", "/api/oauth2/logout", token=grant["access_token"]) == (200, {})
    assert (await call(vbr, "GET", "/api/v1/sessions", token=grant["access_token"]))[0] == 401
    refresh = {"grant_type": "refresh_token", "refresh_token": grant["refresh_token"]}
    assert (await call(vbr, "POST", "/api/oauth2/token", form=refresh))[0] == 401


async def test_wrong_password_and_mfa_are_refused_alike(vbr: Harness) -> None:
    """A refused logon answers 401 AccessDenied "Authentication failed", as seen for MFA accounts (§1.3)."""
    bad = {"grant_type": "password", "username": USER, "password": "nope"}
    assert await call(vbr, "POST", "/api/oauth2/token", form=bad) == (
        401,
        {"errorCode": "AccessDenied", "message": "Authentication failed"},
    )
    vbr.sim.settings.mfa_enabled = True
    good = {**bad, "password": PASSWORD}
    assert (await call(vbr, "POST", "/api/oauth2/token", form=good))[0] == 401


@pytest.mark.parametrize("lists", [True, False])
@pytest.mark.parametrize("vbr", ["12.0"], indirect=True)
async def test_unsupported_revision(vbr: Harness, lists: bool) -> None:
    """A newer revision than the build accepts: 400 NotImplemented with the v-prefixed list (§1.2), or 1.3-rev2's list-less text."""
    vbr.sim.settings.version_error_lists = lists
    status, body = await call(vbr, "GET", "/api/v1/serverTime")
    assert (status, body["errorCode"]) == (400, "NotImplemented")
    expected = "v1.0-rev1, v1.0-rev2, v1.1-rev0" if lists else "The specified API version is not supported."
    assert expected in body["message"]


@pytest.mark.parametrize("vbr", ["12.0"], indirect=True)
async def test_12_0_has_no_task_sessions_and_names_jobs_by_activity_id(vbr: Harness) -> None:
    """1.1-rev0: /taskSessions is absent (404), sessions carry activityId and the one Job type (§2.2, §3.1)."""
    vbr.sim.add_job_run(start=NOW - timedelta(hours=1))
    token = (await logon(vbr, "1.1-rev0"))["access_token"]
    assert (await call(vbr, "GET", "/api/v1/taskSessions", version="1.1-rev0", token=token))[0] == 404
    status, body = await call(vbr, "GET", "/api/v1/sessions", version="1.1-rev0", token=token)
    row = body["data"][0]
    assert (status, row["sessionType"], "activityId" in row, "jobId" in row) == (200, "Job", True, False)
    assert [v for v in vbr.contract.violations if "taskSessions" in v]  # asking at all breaks the contract
    vbr.contract.violations.clear()


@pytest.mark.parametrize(
    ("version", "has_retry"), [("1.3-rev2", True), ("1.3-rev0", False), ("1.2-rev1", False)]
)
async def test_retry_fields_arrive_in_1_3_rev2(vbr: Harness, version: str, has_retry: bool) -> None:
    """originalSessionId/retryInfo (and ianaTimeZoneId) exist from 1.3-rev2 only; a retry's name carries " (Retry 1)" (Q5)."""
    first = vbr.sim.add_job_run(results={"dbserver01": "Failed"}, start=NOW - timedelta(hours=2))
    retry = vbr.sim.add_job_run(vms=first.failed_objects, retry_of=first, start=NOW - timedelta(hours=1))
    token = (await logon(vbr, version))["access_token"]
    _, body = await call(vbr, "GET", f"/api/v1/sessions/{retry.session.id}", version=version, token=token)
    assert body["name"] == "SQL Daily (Retry 1)"
    assert ("retryInfo" in body, body.get("originalSessionId")) == (
        (True, first.session.id) if has_retry else (False, None)
    )
    _, clock = await call(vbr, "GET", "/api/v1/serverTime", version=version)
    assert ("ianaTimeZoneId" in clock) is has_retry


@pytest.mark.parametrize(("version", "job_type"), [("1.2-rev1", "Backup"), ("1.3-rev0", "VSphereBackup")])
async def test_job_holds_its_retry_settings(vbr: Harness, version: str, job_type: str) -> None:
    """GET /api/v1/jobs/{id} (OpenAPI GetJob) answers a backup job's BackupJobModel with schedule.retry; other ids 404."""
    run = vbr.sim.add_job_run(start=NOW - timedelta(hours=1))
    vbr.sim.set_job("SQL Daily", retry_count=5, await_minutes=15)
    replica = vbr.sim.add_job_run(job_name="DR", session_type="ReplicaJob", task_type="Replica")
    token = (await logon(vbr, version))["access_token"]
    status, body = await call(vbr, "GET", f"/api/v1/jobs/{run.session.job_id}", version=version, token=token)
    assert (status, body["id"], body["name"], body["type"]) == (
        200,
        run.session.job_id,
        "SQL Daily",
        job_type,
    )
    assert body["schedule"]["retry"] == {"isEnabled": True, "retryCount": 5, "awaitMinutes": 15}
    for job_id in (replica.session.job_id, "6f1d2c3b-0000-4000-8000-000000000000"):
        status, body = await call(vbr, "GET", f"/api/v1/jobs/{job_id}", version=version, token=token)
        assert (status, body["errorCode"]) == (404, "NotFound")


async def test_times_are_server_local(vbr: Harness) -> None:
    """Sessions carry the server's offset, task sessions none, serverTime 7 digits (§2.3); the zone is New York."""
    run = vbr.sim.add_job_run(start=NOW - timedelta(hours=1))
    token = (await logon(vbr))["access_token"]
    _, clock = await call(vbr, "GET", "/api/v1/serverTime")
    assert clock["serverTime"] == "2025-08-15T02:00:00.0000000-04:00"
    _, session = await call(vbr, "GET", f"/api/v1/sessions/{run.session.id}", token=token)
    assert session["creationTime"] == "2025-08-15T01:00:00.000-04:00"
    _, tasks = await call(
        vbr,
        "GET",
        "/api/v1/taskSessions",
        token=token,
        query=[("orderColumn", "CreationTime"), ("orderAsc", "true")],
    )
    assert tasks["data"][0]["creationTime"] == "2025-08-15T01:00:30.000000"


@pytest.mark.parametrize(
    ("offsets", "bound", "found"),
    [
        ("honour", "2025-08-15T05:30:00Z", 1),  # 01:30 New York: the 01:34 task ended after it
        ("ignore", "2025-08-15T05:30:00Z", 0),  # read as 05:30 New York: hours too late (§8.2)
        ("ignore", "2025-08-15T01:30:00-04:00", 1),  # the server's own offset works either way
        ("honour", "2025-08-15T01:30:00-04:00", 1),
        ("ignore", "2025-08-15T01:34:00-04:00", 0),  # the bound itself is excluded (Q1)
    ],
)
async def test_ended_after_filter_readings(vbr: Harness, offsets: str, bound: str, found: int) -> None:
    """endedAfterFilter under both readings of Q1: a Z value is only safe if the server honours offsets."""
    vbr.sim.settings.filter_offsets = offsets  # type: ignore[assignment]
    session = vbr.sim.add_session(creation_time=NOW - timedelta(minutes=30))
    vbr.sim.add_task(
        session,
        result="Failed",
        creation_time=NOW - timedelta(minutes=28),
        end_time=NOW - timedelta(minutes=26),
    )
    token = (await logon(vbr))["access_token"]
    _, body = await call(vbr, "GET", "/api/v1/taskSessions", token=token, query=[("endedAfterFilter", bound)])
    assert body["pagination"]["total"] == found


@pytest.mark.parametrize(
    "query",
    [
        [("limit", "0")],
        [("skip", "-1")],
        [("resultFilter", "failed")],
        [("sessionIdFilter", "x")],
        [("LIMIT", "5")],
    ],
)
async def test_invalid_parameters_are_refused(vbr: Harness, query: list[tuple[str, str]]) -> None:
    """Undocumented values and names are refused with 400 UnexpectedContent (Q2; names are case-sensitive)."""
    token = (await logon(vbr))["access_token"]
    status, body = await call(vbr, "GET", "/api/v1/taskSessions", token=token, query=query)
    assert (status, body["errorCode"]) == (400, "UnexpectedContent")
    assert vbr.contract.violations  # the request itself breaks the contract, and the checker says so
    vbr.contract.violations.clear()


@pytest.mark.parametrize(("version", "count"), [("1.3-rev0", 200), ("1.3-rev2", 250)])
async def test_session_task_sessions_cap_before_1_3_rev1(vbr: Harness, version: str, count: int) -> None:
    """/sessions/{id}/taskSessions has no paging before 1.3-rev1 and stops at 200 with the true total (Q3)."""
    run = vbr.sim.add_job_run(vms=[f"vm{i}" for i in range(250)], start=NOW - timedelta(hours=10))
    token = (await logon(vbr, version))["access_token"]
    query = [("limit", "1000")] if version == "1.3-rev2" else []
    _, body = await call(
        vbr,
        "GET",
        f"/api/v1/sessions/{run.session.id}/taskSessions",
        version=version,
        token=token,
        query=query,
    )
    assert (len(body["data"]), body["pagination"]["total"]) == (count, 250)


async def test_silent_limit_cap(vbr: Harness) -> None:
    """With max_limit, a larger limit is served short and pagination.limit says so (Q2)."""
    vbr.sim.settings.max_limit = 100
    vbr.sim.add_job_run(vms=[f"vm{i}" for i in range(150)], start=NOW - timedelta(hours=5))
    token = (await logon(vbr))["access_token"]
    _, body = await call(vbr, "GET", "/api/v1/taskSessions", token=token, query=[("limit", "500")])
    assert (len(body["data"]), body["pagination"]) == (
        100,
        {"total": 150, "count": 100, "skip": 0, "limit": 100},
    )


async def test_other_task_types_render_their_own_shape(vbr: Harness) -> None:
    """Antivirus rows have scan fields and no result; Replica rows no repository (OpenAPI subtypes)."""
    session = vbr.sim.add_session()
    vbr.sim.add_task(session, type="Antivirus", name="winsrv88 [11/4/2024 5:18:45 PM]")
    vbr.sim.add_task(session, type="Replica", name="web01")
    vbr.sim.add_task(session, type="Restore", name="web02")
    token = (await logon(vbr))["access_token"]
    _, body = await call(vbr, "GET", "/api/v1/taskSessions", token=token)
    shapes = {row["type"]: set(row) for row in body["data"]}
    assert "result" not in shapes["Antivirus"] and "scanResult" in shapes["Antivirus"]
    assert "repositoryId" not in shapes["Replica"] and "progress" in shapes["Replica"]
    assert "progress" not in shapes["Restore"]


async def test_unknown_path_and_missing_token(vbr: Harness) -> None:
    """An undocumented path answers 404 NotFound; a protected one without a token 401."""
    token = (await logon(vbr))["access_token"]
    assert (await call(vbr, "GET", "/api/v1/backupObjects", token=token))[0] == 404
    assert (await call(vbr, "GET", "/api/v1/sessions"))[0] == 401
    assert vbr.contract.violations  # both requests break the contract
    vbr.contract.violations.clear()


def test_entry_point_arguments() -> None:
    """python -m alertd.simulator.vbr takes a profile among the simulated builds and the VBR port."""
    args = parse_args(["--profile", "12.0", "--no-live"])
    assert (args.profile, args.port, args.no_live) == ("12.0", 9419, True)
    assert set(PROFILES) == {"12.0", "12.2", "12.3.1", "13.0", "13.1"}
    with pytest.raises(ValueError):
        SimulatedVBR(profile="11.0")


async def test_self_signed_certificate_for_demos(tmp_path: Path) -> None:
    """The simulator's throwaway certificate serves HTTPS that alertd accepts by its SHA-256 pin alone."""
    made = self_signed(tmp_path)
    contract = ContractObserver()
    sim = SimulatedVBR(username=USER, password=PASSWORD, clock=ManualClock(NOW), observer=contract)
    url = await sim.start(ssl_context=made.context)
    conn = VBRConnection(
        source="demo", url=url, username=USER, password=PASSWORD, tls_fingerprint=made.fingerprint
    )
    client = VBRClient(conn, clock=ManualClock(NOW))
    try:
        assert (await client.server_time()).iana == "America/New_York"
    finally:
        await client.close()
        await sim.stop()
    assert contract.violations == []

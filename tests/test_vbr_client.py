"""alertd.vbr's client over real HTTPS against the simulator: tokens, revisions, paging, TLS, limits."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import AsyncIterator
from datetime import UTC, timedelta
from typing import Any

import pytest
from vbr_support import NOW, PASSWORD, USER, Harness

from alertd.vbr import VBRClient, VBRError

pytest_plugins = ["vbr_fixtures"]

SESSIONS = [("orderColumn", "EndTime"), ("orderAsc", "true")]


async def read(client: VBRClient) -> int:
    """Read every job session; returns how many."""
    return len((await client.sessions(SESSIONS, UTC)).rows)


def client_for(vbr: Harness, **changes: Any) -> VBRClient:
    return VBRClient(vbr.connection(**changes), clock=vbr.clock)


@contextlib.asynccontextmanager
async def open_client(vbr: Harness, **changes: Any) -> AsyncIterator[VBRClient]:
    """A client for the harness (with ``changes`` to its connection), closed at the end."""
    client = client_for(vbr, **changes)
    try:
        yield client
    finally:
        await client.close()


async def test_logon_once_and_reuse_the_token(vbr: Harness) -> None:
    """One password grant serves every later request until the token is due for refresh."""
    vbr.sim.add_job_run(start=NOW - timedelta(hours=2))
    async with open_client(vbr) as client:
        assert await read(client) == 1
        assert await read(client) == 1
    assert vbr.grants() == {"password": 1, "refresh_token": 0}
    assert vbr.count("/api/oauth2/token", "POST") == 1


async def test_refresh_at_80_percent_and_rotate(vbr: Harness) -> None:
    """At 80 % of expires_in the token is refreshed, and the new refresh token is used next time."""
    async with open_client(vbr) as client:
        await read(client)
        vbr.clock.advance(seconds=719)
        await read(client)
        assert vbr.grants() == {"password": 1, "refresh_token": 0}
        vbr.clock.advance(seconds=2)
        await read(client)
        assert vbr.grants() == {"password": 1, "refresh_token": 1}
        vbr.clock.advance(seconds=721)
        await read(client)  # the simulator refuses a used refresh token: this proves rotation
        assert client.auth.grants == {"password": 1, "refresh_token": 2}  # what a metric would export
    assert vbr.grants() == {"password": 1, "refresh_token": 2}


async def test_lifetime_follows_expires_in(vbr: Harness) -> None:
    """A 60-minute token (the docs table's figure) is refreshed at 48 minutes, not at 12."""
    vbr.sim.settings.expires_in = 3600
    async with open_client(vbr) as client:
        await read(client)
        vbr.clock.advance(minutes=47)
        await read(client)
        assert vbr.grants()["refresh_token"] == 0
        vbr.clock.advance(minutes=2)
        await read(client)
    assert vbr.grants() == {"password": 1, "refresh_token": 1}


async def test_refused_refresh_falls_back_to_the_password_grant(vbr: Harness) -> None:
    """When the server forgot the refresh token (a restart), alertd logs on again and carries on."""
    async with open_client(vbr) as client:
        await read(client)
        vbr.sim.tokens.expire_all()
        vbr.clock.advance(seconds=721)
        assert await read(client) == 0
    assert vbr.grants() == {"password": 2, "refresh_token": 0}
    assert vbr.count("/api/oauth2/token", "POST", status=401) == 1


async def test_one_relogon_on_401(vbr: Harness) -> None:
    """An access token the server no longer honours costs one re-logon and a repeated request."""
    async with open_client(vbr) as client:
        await read(client)
        vbr.sim.tokens.expire_all()
        assert await read(client) == 0
    assert vbr.grants()["password"] == 2
    assert vbr.count("/api/v1/sessions", status=401) == 1


async def test_second_401_is_an_auth_error(vbr: Harness) -> None:
    """A fresh token refused too is an auth error, after exactly one re-logon."""
    vbr.sim.faults.unauthorized_next(2, path="/api/v1/sessions")
    async with open_client(vbr) as client:
        with pytest.raises(VBRError) as info:
            await read(client)
    assert (info.value.kind, info.value.status) == ("auth", 401)
    assert vbr.grants()["password"] == 2


@pytest.mark.parametrize("cause", ["password", "mfa"])
async def test_refused_logon_explains_role_and_mfa(vbr: Harness, cause: str) -> None:
    """A refused logon names the user, the Backup Viewer role and MFA, never the password."""
    changes = {"password": "wrong-password"} if cause == "password" else {}
    vbr.sim.settings.mfa_enabled = cause == "mfa"
    async with open_client(vbr, **changes) as client:
        with pytest.raises(VBRError) as info:
            await read(client)
    message = info.value.message
    assert info.value.kind == "auth"
    assert repr(USER) in message and "Backup Viewer" in message and "MFA" in message
    assert "Authentication failed" in message  # what the server said
    assert "wrong-password" not in message and PASSWORD not in message


async def test_refused_logons_back_off(vbr: Harness) -> None:
    """After a refused logon the account is not tried again for 30 s, then 60 s (no lockout)."""
    async with open_client(vbr, password="wrong-password") as client:
        for _ in range(2):
            with pytest.raises(VBRError):
                await read(client)
        assert vbr.count("/api/oauth2/token", "POST") == 1
        vbr.clock.advance(seconds=31)
        with pytest.raises(VBRError) as info:
            await read(client)
        assert vbr.count("/api/oauth2/token", "POST") == 2
        vbr.clock.advance(seconds=31)
        with pytest.raises(VBRError) as info:
            await read(client)
    assert "waits until" in info.value.message
    assert vbr.count("/api/oauth2/token", "POST") == 2


async def test_secrets_never_reach_logs_or_errors(vbr: Harness, collect_logs: list[dict[str, Any]]) -> None:
    """Password, access and refresh tokens appear in no log event and no error, through refresh and failure."""
    seen: list[str] = []
    async with open_client(vbr) as client:
        await read(client)
        vbr.clock.advance(seconds=721)
        await read(client)
        vbr.sim.faults.unauthorized_next(2, path="/api/v1/sessions")
        with pytest.raises(VBRError) as info:
            await read(client)
        seen.append(str(info.value) + repr(info.value) + repr(client.conn))
    grants = [json.loads(ex.response_body) for ex in vbr.contract.exchanges if ex.path == "/api/oauth2/token"]
    secrets = [PASSWORD] + [g[key] for g in grants for key in ("access_token", "refresh_token")]
    text = " ".join(seen + [repr(event) for event in collect_logs])
    assert len(secrets) == 7  # the password, and 3 grants (logon, refresh, re-logon) of 2 tokens
    assert not [s for s in secrets if s in text]


@pytest.mark.parametrize(
    ("vbr", "revision", "refused"),
    [
        ("13.1", "1.3-rev2", 0),
        ("13.0", "1.3-rev0", 1),
        ("12.3.1", "1.2-rev1", 1),
        ("12.2", "1.1-rev2", 1),
        ("12.0", "1.1-rev0", 1),
    ],
    indirect=["vbr"],
)
async def test_version_negotiation(
    vbr: Harness, revision: str, refused: int, collect_logs: list[dict[str, Any]]
) -> None:
    """The newest revision alertd knows is tried first; a refusal's list picks the newest both speak."""
    async with open_client(vbr) as client:
        await client.server_time()
        assert client.revision == revision
        await read(client)
    assert vbr.count("/api/v1/serverTime", status=400) == refused
    assert {ex.header("x-api-version") for ex in vbr.contract.exchanges if ex.status != 400} == {revision}
    chosen = [e for e in collect_logs if e["event"] == "vbr_api_version"]
    assert [e["api_version"] for e in chosen] == [revision]


@pytest.mark.parametrize("vbr", ["13.0"], indirect=True)
async def test_negotiation_steps_down_without_a_list(vbr: Harness) -> None:
    """1.3-rev2's documented refusal lists nothing: alertd tries each older revision it knows."""
    vbr.sim.settings.version_error_lists = False
    async with open_client(vbr) as client:
        await client.server_time()
        assert client.revision == "1.3-rev0"
    assert vbr.count("/api/v1/serverTime", status=400) == 2


@pytest.mark.parametrize("vbr", ["12.3.1"], indirect=True)
async def test_pinned_version_the_server_lacks(vbr: Harness) -> None:
    """A pinned api_version the server refuses is a version error listing what it supports."""
    async with open_client(vbr, api_version="1.3-rev2") as client:
        with pytest.raises(VBRError) as info:
            await client.server_time()
    assert info.value.kind == "version"
    assert "1.2-rev1" in info.value.message and "api_version" in info.value.message


@pytest.mark.parametrize(("page_size", "cap", "pages"), [(200, None, 3), (200, 100, 5), (500, None, 1)])
async def test_pages_to_the_end(vbr: Harness, page_size: int, cap: int | None, pages: int) -> None:
    """450 task sessions come back whole, stepping skip by the rows received (a silent cap included)."""
    vbr.sim.settings.max_limit = cap
    run = vbr.sim.add_job_run(vms=[f"vm{i:03d}" for i in range(450)], start=NOW - timedelta(hours=20))
    async with open_client(vbr, page_size=page_size) as client:
        got = await client.task_sessions([("sessionIdFilter", run.session.id), *SESSIONS], UTC)
    assert sorted(r.name for r in got.rows) == [f"vm{i:03d}" for i in range(450)]
    skips = [ex.query for ex in vbr.contract.exchanges if ex.path == "/api/v1/taskSessions"]
    assert len(skips) == pages
    assert [dict(q)["limit"] for q in skips] == [str(page_size)] * pages


async def test_tls_with_ca_file(vbr: Harness) -> None:
    """A server certificate is accepted when ca_file holds its CA."""
    async with open_client(vbr) as client:
        await client.server_time()


async def test_tls_refused_without_trust(vbr: Harness) -> None:
    """Without ca_file or a pin the self-signed certificate is refused with a tls error naming both fixes."""
    async with open_client(vbr, ca_file=None) as client:
        with pytest.raises(VBRError) as info:
            await client.server_time()
    assert info.value.kind == "tls"
    assert "tls_fingerprint" in info.value.message and "ca_file" in info.value.message


@pytest.mark.parametrize("spelling", ["plain", "colons"])
async def test_tls_pin_accepts_the_right_certificate(vbr: Harness, spelling: str) -> None:
    """The right SHA-256 pin works without any CA (VBR's self-signed case)."""
    pin = (
        vbr.tls.fingerprint
        if spelling == "plain"
        else ":".join(vbr.tls.fingerprint[i : i + 2] for i in range(0, 64, 2)).upper()
    )
    async with open_client(vbr, ca_file=None, tls_fingerprint=pin) as client:
        await client.server_time()
        await read(client)


async def test_tls_pin_refuses_another_certificate(vbr: Harness) -> None:
    """A wrong pin is a tls error naming both fingerprints, and nothing (no credentials) is sent."""
    async with open_client(vbr, ca_file=None, tls_fingerprint="ab" * 32) as client:
        with pytest.raises(VBRError) as info:
            await read(client)
    assert info.value.kind == "tls"
    assert "does not match tls_fingerprint" in info.value.message
    assert vbr.tls.fingerprint.upper()[:2] in info.value.message.replace(":", "")
    assert len(vbr.sim.requests) == 0


def test_settings_are_checked(vbr: Harness) -> None:
    """Contradictory or invalid settings fail at construction with the key named."""
    for changes, says in (
        ({"tls_fingerprint": "ab" * 32}, "either tls_fingerprint or ca_file"),
        ({"api_version": "2.0"}, "api_version"),
        ({"page_size": 0}, "page_size"),
        ({"url": "http://vbr:9419"}, "https"),
    ):
        with pytest.raises(ValueError, match=says):
            client_for(vbr, **changes)


async def test_unreadable_ca_file(vbr: Harness, tmp_path: Any) -> None:
    """A missing ca_file is a tls error at construction."""
    with pytest.raises(VBRError) as info:
        client_for(vbr, ca_file=str(tmp_path / "missing.pem"))
    assert info.value.kind == "tls"


@pytest.mark.parametrize("declare", [True, False])
async def test_size_cap(vbr: Harness, declare: bool) -> None:
    """An answer over max_response_bytes stops at the cap (announced or streamed) with too_large."""
    vbr.sim.faults.oversized_next(size=3_000_000, declare_length=declare, path="/api/v1/sessions")
    async with open_client(vbr, max_response_bytes=1_000_000) as client:
        with pytest.raises(VBRError) as info:
            await read(client)
    assert info.value.kind == "too_large"
    assert "max_response_bytes=1000000" in info.value.message


async def test_malformed_body(vbr: Harness) -> None:
    """A cut-off JSON body is a malformed error, not a crash."""
    vbr.sim.faults.malformed_next(path="/api/v1/sessions")
    async with open_client(vbr) as client:
        with pytest.raises(VBRError) as info:
            await read(client)
    assert info.value.kind == "malformed"


@pytest.mark.parametrize(
    ("status", "kind", "says"),
    [(500, "http", "ServiceUnavailable"), (403, "auth", "Backup Viewer"), (503, "http", "next poll")],
)
async def test_error_statuses(vbr: Harness, status: int, kind: str, says: str) -> None:
    """Non-2xx answers carry the server's Error text and a hint."""
    vbr.sim.faults.fail_next(status=status, path="/api/v1/sessions")
    async with open_client(vbr) as client:
        with pytest.raises(VBRError) as info:
            await read(client)
    assert (info.value.kind, info.value.status) == (kind, status)
    assert says in info.value.message


async def test_unreachable(vbr: Harness) -> None:
    """A port nobody listens on is unreachable."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with open_client(vbr, url=f"https://127.0.0.1:{port}") as client:
        with pytest.raises(VBRError) as info:
            await client.server_time()
    assert info.value.kind == "unreachable"


async def test_read_timeout(vbr: Harness) -> None:
    """A server that does not answer within read_timeout is a timeout error."""
    vbr.sim.faults.delay_next(seconds=30, path="/api/v1/serverTime")
    async with open_client(vbr, read_timeout=0.2) as client:
        with pytest.raises(VBRError) as info:
            await client.server_time()
    assert info.value.kind == "timeout"


async def test_close_logs_out(vbr: Harness) -> None:
    """close() posts the logout with the bearer token; the server forgets the tokens; twice is fine."""
    client = client_for(vbr)
    await read(client)
    assert vbr.sim.tokens.active == 1
    await client.close()
    await client.close()
    assert vbr.count("/api/oauth2/logout", "POST", status=200) == 1
    assert vbr.sim.tokens.active == 0
    with pytest.raises(RuntimeError):
        await read(client)

"""Tests for alertd.em.client: real HTTP against the EM simulator and a small hand-written server."""

from __future__ import annotations

import asyncio
import pickle
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
import trustme
from aiohttp import web
from aiohttp.test_utils import TestServer
from em_support import NOW, PASSWORD, USER, connection

from alertd.em import client as client_module
from alertd.em.client import EMClient, EMError
from alertd.em.filters import failed_since
from alertd.em.transport import Transport
from alertd.simulator import SimulatedEM
from alertd.simulator.auth import LogonSession
from alertd.simulator.clock import ManualClock

SINCE = failed_since(NOW - timedelta(days=1), ["Failed", "Warning"])


@pytest.fixture
async def sim() -> AsyncIterator[tuple[SimulatedEM, str]]:
    """A plain-HTTP simulator on a free loopback port, with a hand-driven clock."""
    em = SimulatedEM(username=USER, password=PASSWORD, clock=ManualClock(NOW))
    url = await em.start(host="127.0.0.1", port=0, ssl_context=None)
    yield em, url
    await em.stop()


def add_failures(em: SimulatedEM, n: int, *, result: str = "Failed", job: str = "Backup Job 1") -> None:
    """Add ``n`` completed task sessions with ``result``, ending within the last hour."""
    for i in range(n):
        end = NOW - timedelta(minutes=30) + timedelta(seconds=i)
        em.add_task_session(
            job_name=job,
            vm=f"vm{i:04d}",
            result=result,
            state="Completed",
            creation_time=end - timedelta(minutes=2),
            end_time=end,
            reason=f"disk full {i}" if result != "Success" else "",
            backup_server="vbr01.tech.local",
        )


def logons(em: SimulatedEM) -> int:
    """How many logon requests the simulator received."""
    return int(em.requests.count_matching(path="/api/sessionMngr", method="POST"))


# --- the happy path -------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["xml", "json"])
async def test_reads_every_page(sim: tuple[SimulatedEM, str], fmt: str) -> None:
    """450 sessions with page_size 200 come back whole from 3 pages, each asked with pageSize and page."""
    em, url = sim
    add_failures(em, 450)
    async with EMClient(connection(url, format=fmt, page_size=200)) as client:
        sessions = await client.query_task_sessions(SINCE)
    assert len(sessions) == 450
    assert len({s.uid for s in sessions}) == 450
    assert sorted(s.vm for s in sessions) == [f"vm{i:04d}" for i in range(450)]
    queries = em.requests.queries()
    assert [q.query.get("page") for q in queries] == ["1", "2", "3"]
    assert {q.query.get("pageSize") for q in queries} == {"200"}
    assert {(q.query.get("type"), q.query.get("format"), q.query.get("sortAsc")) for q in queries} == {
        ("BackupTaskSession", "Entities", "EndTime")
    }
    assert {q.query.get("filter") for q in queries} == {SINCE}


@pytest.mark.parametrize("fmt", ["xml", "json"])
async def test_decodes_session_fields(sim: tuple[SimulatedEM, str], fmt: str) -> None:
    """A simulated failure comes back with its job, VM, server, result, reason, times and source."""
    em, url = sim
    end = NOW - timedelta(minutes=5)
    em.add_task_session(
        job_name="Nightly @ HQ",
        vm="db 01",
        result="Failed",
        state="Completed",
        creation_time=end - timedelta(minutes=3),
        end_time=end,
        reason='Error: "disk" full',
        backup_server="vbr01.tech.local",
    )
    async with EMClient(connection(url, format=fmt)) as client:
        (session,) = await client.query_task_sessions(SINCE)
    assert (session.job_name, session.vm, session.backup_server) == (
        "Nightly @ HQ",
        "db 01",
        "vbr01.tech.local",
    )
    assert (session.state, session.result, session.reason) == ("Completed", "Failed", 'Error: "disk" full')
    assert session.end_time == end
    assert session.creation_time == end - timedelta(minutes=3)
    assert session.source == "em-test"
    assert session.uid


async def test_filter_selects_failures_and_warnings(sim: tuple[SimulatedEM, str]) -> None:
    """The poller's filter, sent through the client, returns Failed and Warning but not Success."""
    em, url = sim
    add_failures(em, 3, result="Failed")
    add_failures(em, 2, result="Warning", job="Job B")
    add_failures(em, 4, result="Success", job="Job C")
    async with EMClient(connection(url)) as client:
        sessions = await client.query_task_sessions(SINCE)
    assert sorted(s.result for s in sessions) == ["Failed"] * 3 + ["Warning"] * 2


async def test_json_camel_case_and_api_url() -> None:
    """EM 13-style camelCase JSON decodes, and a url ending in /api/ is accepted as the server root."""
    em = SimulatedEM(username=USER, password=PASSWORD, clock=ManualClock(NOW), json_camel_case=True)
    await em.start(host="127.0.0.1", port=0, ssl_context=None)
    try:
        add_failures(em, 3)
        async with EMClient(connection(em.api_url, format="json", page_size=2)) as client:
            sessions = await client.query_task_sessions(SINCE)
    finally:
        await em.stop()
    assert sorted(s.vm for s in sessions) == ["vm0000", "vm0001", "vm0002"]
    assert {s.job_name for s in sessions} == {"Backup Job 1"}


async def test_empty_result(sim: tuple[SimulatedEM, str]) -> None:
    """A query matching nothing returns an empty list after one page."""
    em, url = sim
    async with EMClient(connection(url)) as client:
        assert await client.query_task_sessions(SINCE) == []
    assert len(em.requests.queries()) == 1


# --- sessions and tokens ---------------------------------------------------------------------


async def test_token_reused_across_calls(sim: tuple[SimulatedEM, str]) -> None:
    """Several queries, sequential and concurrent, share a single logon."""
    em, url = sim
    add_failures(em, 5)
    async with EMClient(connection(url, page_size=2)) as client:
        await client.query_task_sessions(SINCE)
        await client.query_task_sessions(SINCE)
        await asyncio.gather(*(client.query_task_sessions(SINCE) for _ in range(3)))
    assert logons(em) == 1
    assert all(q.authenticated for q in em.requests.queries())


async def test_expired_token_relogs_on_once(sim: tuple[SimulatedEM, str]) -> None:
    """After EM forgets the token, the next query gets a 401, logs on again once and succeeds."""
    em, url = sim
    add_failures(em, 3)
    async with EMClient(connection(url)) as client:
        await client.query_task_sessions(SINCE)
        em.faults.expire_tokens()
        assert len(await client.query_task_sessions(SINCE)) == 3
    assert logons(em) == 2
    assert em.requests.count_matching(path="/api/query", status=401) == 1


async def test_second_401_fails_cleanly(sim: tuple[SimulatedEM, str]) -> None:
    """A 401 right after a fresh logon raises EMError(auth) instead of looping."""
    em, url = sim
    add_failures(em, 1)
    async with EMClient(connection(url)) as client:
        await client.query_task_sessions(SINCE)
        em.faults.unauthorized_next(2, path="/api/query")
        with pytest.raises(EMError) as info:
            await client.query_task_sessions(SINCE)
    assert (info.value.kind, info.value.status) == ("auth", 401)
    assert logons(em) == 2


async def test_bad_credentials(sim: tuple[SimulatedEM, str]) -> None:
    """A refused logon is EMError(auth) naming the user, never the password."""
    _, url = sim
    async with EMClient(replace(connection(url), password="wrong")) as client:
        with pytest.raises(EMError) as info:
            await client.query_task_sessions(SINCE)
    assert (info.value.kind, info.value.status) == ("auth", 401)
    assert USER in str(info.value)
    assert "wrong" not in str(info.value)


async def test_logoff_on_close(sim: tuple[SimulatedEM, str]) -> None:
    """close() deletes the logon session once; a second close() sends nothing."""
    em, url = sim
    client = EMClient(connection(url))
    await client.query_task_sessions(SINCE)
    await client.close()
    await client.close()
    deletes = [r for r in em.requests if r.method == "DELETE"]
    assert len(deletes) == 1
    assert deletes[0].path.lower().startswith("/api/logonsessions/")
    assert deletes[0].status == 204
    with pytest.raises(RuntimeError):
        await client.query_task_sessions(SINCE)


async def test_close_without_logon_sends_nothing(sim: tuple[SimulatedEM, str]) -> None:
    """Closing a client that never logged on makes no request."""
    em, url = sim
    await EMClient(connection(url)).close()
    assert len(em.requests) == 0


async def test_requests_made_counts_every_request(sim: tuple[SimulatedEM, str]) -> None:
    """requests_made counts logon, every page and logoff, matching what EM received."""
    em, url = sim
    add_failures(em, 5)
    client = EMClient(connection(url, page_size=2))
    await client.query_task_sessions(SINCE)
    await client.close()
    assert client.requests_made == len(em.requests) == 1 + 3 + 1


# --- EM failures -----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["xml", "json"])
async def test_503_is_http_error_with_em_message(sim: tuple[SimulatedEM, str], fmt: str) -> None:
    """A 503 becomes EMError(http, status 503) carrying EM's Error message."""
    em, url = sim
    em.faults.fail_next(1, status=503, message="Maintenance mode is on", path="/api/query")
    async with EMClient(connection(url, format=fmt)) as client:
        with pytest.raises(EMError) as info:
            await client.query_task_sessions(SINCE)
    assert (info.value.kind, info.value.status) == ("http", 503)
    assert "Maintenance mode is on" in info.value.message
    assert "503" in info.value.message


async def test_failed_later_page_fails_whole_query(sim: tuple[SimulatedEM, str]) -> None:
    """An error on page 2 raises; no partial result is returned."""
    em, url = sim
    add_failures(em, 5)
    em.faults.malformed_page(2)
    async with EMClient(connection(url, page_size=2)) as client:
        with pytest.raises(EMError) as info:
            await client.query_task_sessions(SINCE)
    assert info.value.kind == "malformed"
    assert "page 2" in info.value.message


@pytest.mark.parametrize("fmt", ["xml", "json"])
async def test_malformed_page(sim: tuple[SimulatedEM, str], fmt: str) -> None:
    """A cut-off body is EMError(malformed)."""
    em, url = sim
    add_failures(em, 3)
    em.faults.malformed_next(1)
    async with EMClient(connection(url, format=fmt)) as client:
        with pytest.raises(EMError) as info:
            await client.query_task_sessions(SINCE)
    assert info.value.kind == "malformed"


@pytest.mark.parametrize("declare_length", [True, False])
async def test_oversized_body(sim: tuple[SimulatedEM, str], declare_length: bool) -> None:
    """A body over max_response_bytes is EMError(too_large), with or without a Content-Length."""
    em, url = sim
    em.faults.oversized_next(1, size=3 * 1024 * 1024, declare_length=declare_length)
    async with EMClient(connection(url, max_response_bytes=1024 * 1024)) as client:
        with pytest.raises(EMError) as info:
            await client.query_task_sessions(SINCE)
    assert info.value.kind == "too_large"
    assert "max_response_bytes" in info.value.message


async def test_connection_resets_are_unreachable(sim: tuple[SimulatedEM, str]) -> None:
    """Connections reset without an answer (twice, past aiohttp's own retry) are EMError(unreachable)."""
    em, url = sim
    async with EMClient(connection(url)) as client:
        await client.query_task_sessions(SINCE)
        em.faults.reset_next(2, path="/api/query")
        with pytest.raises(EMError) as info:
            await client.query_task_sessions(SINCE)
    assert info.value.kind == "unreachable"


async def test_unreachable_port() -> None:
    """Nothing listening on the port is EMError(unreachable) with a hint about the url."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with EMClient(connection(f"http://127.0.0.1:{port}")) as client:
        with pytest.raises(EMError) as info:
            await client.query_task_sessions(SINCE)
    assert info.value.kind == "unreachable"
    assert f"127.0.0.1:{port}" in info.value.message
    assert "9398" in info.value.message


async def test_secrets_never_logged_or_raised(
    sim: tuple[SimulatedEM, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through logon, re-logon, failures and logoff, neither password nor any token EM issued appears in logs or errors."""
    em, url = sim
    add_failures(em, 3)
    tokens: list[str] = []  # every token EM hands out, as EM issues it
    issue = em.tokens.logon

    def issue_and_record() -> LogonSession:
        session = issue()
        tokens.append(session.token)
        return session

    monkeypatch.setattr(em.tokens, "logon", issue_and_record)
    texts: list[str] = []
    with structlog.testing.capture_logs() as logs:
        client = EMClient(connection(url, page_size=2))
        await client.query_task_sessions(SINCE)
        em.faults.expire_tokens()
        await client.query_task_sessions(SINCE)
        faults: list[Callable[[], None]] = [
            lambda: em.faults.fail_next(1, status=503),
            lambda: em.faults.unauthorized_next(2, path="/api/query"),
        ]
        for arm in faults:
            arm()
            with pytest.raises(EMError) as info:
                await client.query_task_sessions(SINCE)
            texts += [str(info.value), repr(info.value)]
        await client.close()
    texts += [repr(entry) for entry in logs] + [repr(connection(url))]
    assert {e["event"] for e in logs} >= {"em_logon", "em_token_rejected", "em_request_failed", "em_logoff"}
    assert all(e.get("source") == "em-test" for e in logs)
    assert len(tokens) >= 2  # the first logon and the one after the expiry
    for secret in [PASSWORD, *tokens]:
        assert not any(secret in text for text in texts)


# --- TLS ---------------------------------------------------------------------------------------


@pytest.fixture
async def tls_sim(tmp_path: Path) -> AsyncIterator[tuple[SimulatedEM, str, Path]]:
    """The simulator over HTTPS with a certificate from a throwaway CA; yields the CA's PEM path."""
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    ca_file = tmp_path / "em-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    em = SimulatedEM(username=USER, password=PASSWORD, clock=ManualClock(NOW))
    url = await em.start(host="127.0.0.1", port=0, ssl_context=server_ctx)
    yield em, url, ca_file
    await em.stop()


async def test_tls_with_ca_file(tls_sim: tuple[SimulatedEM, str, Path]) -> None:
    """A self-signed EM is accepted when ca_file holds its CA."""
    em, url, ca_file = tls_sim
    assert url.startswith("https://")
    add_failures(em, 2)
    async with EMClient(connection(url, ca_file=str(ca_file))) as client:
        assert len(await client.query_task_sessions(SINCE)) == 2


async def test_tls_refused_without_ca_file(tls_sim: tuple[SimulatedEM, str, Path]) -> None:
    """Without ca_file the self-signed certificate is refused with EMError(tls) saying to set ca_file."""
    em, url, _ = tls_sim
    async with EMClient(connection(url)) as client:
        with pytest.raises(EMError) as info:
            await client.query_task_sessions(SINCE)
    assert info.value.kind == "tls"
    assert info.value.message.startswith(f"certificate verify failed for {url.rstrip('/')}")
    assert "ca_file" in info.value.message
    assert logons(em) == 0


async def test_tls_verification_off(tls_sim: tuple[SimulatedEM, str, Path]) -> None:
    """verify_tls=False accepts any certificate."""
    _, url, _ = tls_sim
    async with EMClient(connection(url, verify_tls=False)) as client:
        assert await client.query_task_sessions(SINCE) == []


def test_unreadable_ca_file(tmp_path: Path) -> None:
    """A missing or non-PEM ca_file fails at construction with EMError(tls)."""
    bad = tmp_path / "not.pem"
    bad.write_text("not a certificate")
    for path in (tmp_path / "missing.pem", bad):
        with pytest.raises(EMError) as info:
            EMClient(connection("https://em:9398", ca_file=str(path)))
        assert info.value.kind == "tls"
        assert "ca_file" in info.value.message


# --- configuration -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"url": "ftp://em:9398"},
        {"url": "em:9398"},
        {"url": "https://user:pw@em:9398"},
        {"format": "yaml"},
        {"page_size": 0},
        {"read_timeout": 0},
        {"username": "a:b"},
    ],
)
def test_bad_configuration_rejected(changes: dict[str, Any]) -> None:
    """Invalid connection settings raise ValueError at construction, without echoing secrets."""
    with pytest.raises(ValueError) as info:
        EMClient(replace(connection("https://em:9398"), **changes))
    assert "pw" not in str(info.value)


def test_em_error_str_repr_and_pickle() -> None:
    """EMError reads as its message, shows its kind in repr, survives pickling, and refuses unknown kinds."""
    err = EMError("http", "EM answered 503", 503)
    assert str(err) == "EM answered 503"
    assert repr(err) == "EMError(kind='http', message='EM answered 503', status=503)"
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.kind, copy.message, copy.status) == ("http", "EM answered 503", 503)
    with pytest.raises(ValueError):
        EMError("oops", "x")  # type: ignore[arg-type]


def test_connection_repr_hides_password() -> None:
    """EMConnection's repr leaves the password out."""
    assert PASSWORD not in repr(connection("https://em:9398"))


# --- wire details, against a hand-written server ------------------------------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
LOGON_XML = (
    '<LogonSession xmlns="http://www.veeam.com/ent/v1.0"><UserName>alertd</UserName>'
    "<SessionId>sess-1</SessionId></LogonSession>"
)
EMPTY_PAGE = (
    '<QueryResult xmlns="http://www.veeam.com/ent/v1.0"><Entities><BackupTaskSessions/></Entities>'
    '<PagingInfo PageNum="1" PageSize="200" PagesCount="1"/></QueryResult>'
)


class RawEM:
    """A minimal EM look-alike recording request headers, which the simulator's log does not."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        self.logons = 0
        self.query: Handler = self.empty_page
        self.logon: Handler = self.issue_token
        self.release = asyncio.Event()
        app = web.Application()
        app.router.add_post("/api/sessionMngr/", self.route_logon)
        app.router.add_get("/api/query", self.route_query)
        app.router.add_delete("/api/logonSessions/{sid}", self.logoff)
        self.server = TestServer(app, host="127.0.0.1")

    async def route_logon(self, request: web.Request) -> web.StreamResponse:
        """Record the logon's headers and answer with the current ``logon`` handler."""
        self.seen.append(("POST", request.path, dict(request.headers)))
        self.logons += 1
        return await self.logon(request)

    async def issue_token(self, request: web.Request) -> web.Response:
        """Issue token ``tok-N`` in the header and a different one in a cookie, as EM does."""
        resp = web.Response(status=201, text=LOGON_XML, content_type="application/xml")
        resp.headers["x-restsvcsessionid"] = f"tok-{self.logons}"
        resp.set_cookie("X-RestSvcSessionId", f"cookie-{self.logons}", path="/api")
        return resp

    async def route_query(self, request: web.Request) -> web.StreamResponse:
        """Record the query's headers and answer with the current ``query`` handler."""
        self.seen.append(("GET", request.path, dict(request.headers)))
        return await self.query(request)

    async def empty_page(self, request: web.Request) -> web.Response:
        """An empty one-page result."""
        return web.Response(text=EMPTY_PAGE, content_type="application/xml")

    async def logoff(self, request: web.Request) -> web.Response:
        """Accept the logoff."""
        self.seen.append(("DELETE", request.path, dict(request.headers)))
        return web.Response(status=204)

    @property
    def url(self) -> str:
        """The server root."""
        return str(self.server.make_url("")).rstrip("/")


@pytest.fixture
async def raw() -> AsyncIterator[RawEM]:
    """A started RawEM; any handler blocked on ``release`` is let go at teardown."""
    em = RawEM()
    await em.server.start_server()
    yield em
    em.release.set()
    await em.server.close()


@pytest.mark.parametrize(("fmt", "media"), [("xml", "application/xml"), ("json", "application/json")])
async def test_headers_one_media_type_token_and_no_cookie(raw: RawEM, fmt: str, media: str) -> None:
    """Every request sends exactly one Accept type; queries send the header token and never EM's cookie."""

    async def expire_once(request: web.Request) -> web.Response:
        raw.query = raw.empty_page
        return web.Response(status=401, text='<Error Message="expired" StatusCode="401"/>')

    async with EMClient(connection(raw.url, format=fmt)) as client:
        await client.query_task_sessions(SINCE)
        raw.query = expire_once
        await client.query_task_sessions(SINCE)
    assert [m for m, _, _ in raw.seen] == ["POST", "GET", "GET", "POST", "GET", "DELETE"]
    assert all(h.get("Accept") == media for _, _, h in raw.seen)
    assert all("Cookie" not in h for _, _, h in raw.seen)
    assert [h.get("X-RestSvcSessionId") for m, _, h in raw.seen if m != "POST"] == [
        "tok-1",
        "tok-1",
        "tok-2",
        "tok-2",
    ]
    assert raw.seen[0][2]["Authorization"].startswith("Basic ")


async def test_redirect_not_followed(raw: RawEM) -> None:
    """A redirect is reported as EMError(http) naming the target, and the token is not sent on."""

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound("http://127.0.0.1:9/elsewhere")

    raw.query = redirect
    async with EMClient(connection(raw.url)) as client:
        with pytest.raises(EMError) as info:
            await client.query_task_sessions(SINCE)
    assert (info.value.kind, info.value.status) == ("http", 302)
    assert "127.0.0.1:9/elsewhere" in info.value.message


async def test_forbidden_is_auth(raw: RawEM) -> None:
    """A 403 is EMError(auth) with EM's message and a hint about the account's role."""

    async def forbidden(request: web.Request) -> web.Response:
        return web.Response(status=403, text='{"Message":"Access denied","StatusCode":403}')

    raw.query = forbidden
    async with EMClient(connection(raw.url, format="json")) as client:
        with pytest.raises(EMError) as info:
            await client.query_task_sessions(SINCE)
    assert (info.value.kind, info.value.status) == ("auth", 403)
    assert "Access denied" in info.value.message
    assert "Portal Administrator" in info.value.message


async def test_read_timeout(raw: RawEM) -> None:
    """A server that never answers is EMError(timeout) after read_timeout."""

    async def hang(request: web.Request) -> web.Response:
        await raw.release.wait()
        return web.Response(status=204)

    raw.query = hang
    async with EMClient(connection(raw.url, read_timeout=0.2)) as client:
        with pytest.raises(EMError) as info:
            await client.query_task_sessions(SINCE)
    assert info.value.kind == "timeout"
    assert "read_timeout" in info.value.message


async def test_logon_without_token_header_is_malformed(raw: RawEM) -> None:
    """A logon answer without X-RestSvcSessionId means this is not EM: EMError(malformed)."""

    async def no_token(request: web.Request) -> web.Response:
        return web.Response(status=201, text=LOGON_XML)

    raw.logon = no_token
    async with EMClient(connection(raw.url)) as client:
        with pytest.raises(EMError) as info:
            await client.query_task_sessions(SINCE)
    assert info.value.kind == "malformed"
    assert "X-RestSvcSessionId" in info.value.message
    assert [m for m, _, _ in raw.seen] == ["POST"]


async def test_error_body_in_other_format_is_still_read(raw: RawEM) -> None:
    """An XML Error body answering a JSON client still yields EM's message."""

    async def xml_error(request: web.Request) -> web.Response:
        return web.Response(
            status=500,
            text='<Error xmlns="http://www.veeam.com/ent/v1.0" Message="Object reference not set" '
            'StatusCode="500"/>',
        )

    raw.query = xml_error
    async with EMClient(connection(raw.url, format="json")) as client:
        with pytest.raises(EMError) as info:
            await client.query_task_sessions(SINCE)
    assert (info.value.kind, info.value.status) == ("http", 500)
    assert "Object reference not set (StatusCode 500)" in info.value.message


async def test_logoff_failure_is_quiet(raw: RawEM) -> None:
    """A logoff that cannot reach EM is logged and swallowed; close() still completes."""
    client = EMClient(connection(raw.url))
    await client.query_task_sessions(SINCE)
    with structlog.testing.capture_logs() as logs:
        await raw.server.close()
        await client.close()
    assert [e["event"] for e in logs] == ["em_logoff_failed"]
    assert logs[0]["kind"] == "unreachable"


async def test_paging_that_goes_backwards_is_malformed(raw: RawEM) -> None:
    """A PageNum other than the page asked for, short of PagesCount, raises instead of looping."""

    async def stuck(request: web.Request) -> web.Response:
        body = EMPTY_PAGE.replace('PagesCount="1"', 'PagesCount="5"')
        return web.Response(text=body, content_type="application/xml")

    raw.query = stuck
    async with EMClient(connection(raw.url)) as client:
        with pytest.raises(EMError) as info:
            await client.query_task_sessions(SINCE)
    assert info.value.kind == "malformed"
    # Pages 1 and 2, and page 3, already asked for (one ahead) while page 2 was decoded; its
    # answer is dropped. Nothing further.
    assert len([1 for m, _, _ in raw.seen if m == "GET"]) == 3


# --- fidelity: logon headers, EM's clock, undecodable entities, peeks ----------------------------


async def test_logon_sends_no_content_type(raw: RawEM) -> None:
    """The empty logon POST carries no Content-Type (aiohttp would add application/octet-stream)."""
    async with EMClient(connection(raw.url)) as client:
        await client.query_task_sessions(SINCE)
    logon_headers = raw.seen[0][2]
    assert raw.seen[0][0] == "POST" and "Content-Type" not in logon_headers
    assert all("Content-Type" not in headers for _, _, headers in raw.seen)


async def test_logon_accepted_by_a_strict_simulator(sim: tuple[SimulatedEM, str]) -> None:
    """Against a simulator refusing any logon Content-Type but XML, the client logs on and queries."""
    em, url = sim
    em.settings.strict_logon_content_type = True
    add_failures(em, 1)
    async with EMClient(connection(url)) as client:
        assert len(await client.query_task_sessions(SINCE)) == 1
    assert [r.content_type for r in em.requests if r.method == "POST"] == [None]


@pytest.mark.parametrize(
    ("date", "skew"),
    [
        ("Fri, 15 Aug 2025 06:00:00 GMT", timedelta(0)),
        ("Fri, 15 Aug 2025 07:00:05 GMT", timedelta(hours=1, seconds=5)),
        ("Thu, 14 Aug 2025 06:00:00 GMT", timedelta(days=-1)),
        ("Fri, 15 Aug 2025 06:00:00 -0000", timedelta(0)),
    ],
)
async def test_clock_skew_from_date_header(raw: RawEM, date: str, skew: timedelta) -> None:
    """clock_skew is EM's Date minus alertd's clock (truncated to the second), server_time EM's Date."""

    async def dated(request: web.Request) -> web.Response:
        return web.Response(text=EMPTY_PAGE, content_type="application/xml", headers={"Date": date})

    raw.query = dated
    alertd_clock = ManualClock(NOW + timedelta(milliseconds=900))
    async with EMClient(connection(raw.url), clock=alertd_clock) as client:
        await client.query_task_sessions(SINCE)
        assert client.clock_skew == skew
        assert client.server_time == NOW + skew


@pytest.mark.parametrize("date", ["yesterday", "Mon, 01 Jan 1900 00:00:00 GMT", ""])
async def test_unreadable_date_header_is_ignored_and_logged_once(raw: RawEM, date: str) -> None:
    """A Date EM should never send leaves the skew as it was and is logged once, not per response."""

    async def dated(request: web.Request) -> web.Response:
        return web.Response(text=EMPTY_PAGE, content_type="application/xml", headers={"Date": date})

    async def logon_dated(request: web.Request) -> web.Response:
        resp = await raw.issue_token(request)
        resp.headers["Date"] = "Fri, 15 Aug 2025 06:00:00 GMT"
        return resp

    raw.logon, raw.query = logon_dated, dated
    with structlog.testing.capture_logs() as logs:
        async with EMClient(connection(raw.url), clock=ManualClock(NOW)) as client:
            await client.query_task_sessions(SINCE)
            await client.query_task_sessions(SINCE)
            assert client.clock_skew == timedelta(0)  # from the logon's readable Date
    warned = [e for e in logs if e["event"] == "em_date_header_unreadable"]
    assert len(warned) == (1 if date else 0)


def _entity(
    uid: str, *, end: str | None = "2025-08-15T05:00:00Z", creation: str = "2025-08-15T04:59:00Z"
) -> str:
    """A BackupTaskSession element with links, failed, ending at ``end``."""
    end_el = f"<EndTimeUTC>{end}</EndTimeUTC>" if end else ""
    return (
        f'<BackupTaskSession UID="{uid}" Name="vm@x" VmDisplayName="vm"><Links>'
        '<Link Type="BackupServerReference" Name="vbr01"/>'
        '<Link Type="BackupJobSessionReference" Name="Job@2025-08-15 04:58:00"/></Links>'
        f"<JobSessionUid>urn:veeam:BackupJobSession:1</JobSessionUid><CreationTimeUTC>{creation}</CreationTimeUTC>"
        f"{end_el}<State>Completed</State><Result>Failed</Result><Reason>x</Reason><TotalSize>1</TotalSize>"
        "</BackupTaskSession>"
    )


def _page(entities: str, page: int, pages: int, size: int = 200) -> str:
    return (
        '<QueryResult xmlns="http://www.veeam.com/ent/v1.0"><Entities><BackupTaskSessions>'
        f'{entities}</BackupTaskSessions></Entities><PagingInfo PageNum="{page}" PageSize="{size}" '
        f'PagesCount="{pages}"/></QueryResult>'
    )


async def test_undecodable_sessions_are_counted_once_and_logged_once(raw: RawEM) -> None:
    """Each undecodable UID counts once, across shifted pages and re-reads; a re-read logs it at debug, not warning."""
    partial = _entity("partial", creation="1900-01-01T00:00:00Z")
    pages = {
        "1": _page(_entity("ok") + partial + _entity("no-end", end=None), 1, 2),
        "2": _page(partial + '<BackupTaskSession Name="anonymous"/>', 2, 2),
    }

    async def paged(request: web.Request) -> web.Response:
        return web.Response(text=pages[request.query["page"]], content_type="application/xml")

    raw.query = paged
    with structlog.testing.capture_logs() as logs:
        async with EMClient(connection(raw.url)) as client:
            first = await client.read_task_sessions(SINCE)
            second = await client.read_task_sessions(SINCE)
            assert [s.uid for s in await client.query_task_sessions(SINCE)] == ["ok", "partial"]
    assert [s.uid for s in first.sessions] == ["ok", "partial"]
    assert first.undecodable == 3  # partial, no-end, one without a UID
    assert second.undecodable == 1  # only the entity without a UID, which cannot be recognised again
    undecodable = [e for e in logs if e["event"] == "session_undecodable"]
    warned = [(e["uid"], e["kept"]) for e in undecodable if e["log_level"] == "warning"]
    # The anonymous entity has no UID to remember, so it is warned about on every read.
    assert warned == [("no-end", False), ("partial", True)] + [(None, False)] * 3
    assert all(e["problems"] for e in undecodable)


@pytest.mark.parametrize(
    ("entities", "page_size", "pages_count", "count"),
    [
        (0, 1, 0, 0),
        (0, 1, 1, 0),  # PagesCount of an empty result is unknown: the empty page decides
        (1, 1, 1, 1),
        (1, 1, 250, 250),
        (3, 100, 1, 3),  # EM ignored pageSize=1, but everything fits on the page
        (100, 100, 4, None),  # ...and here it cannot be told
    ],
)
async def test_peek_counts_from_pages_count(
    raw: RawEM, entities: int, page_size: int, pages_count: int, count: int | None
) -> None:
    """peek_task_sessions asks pageSize=1 and reads the count from PagesCount, the page and PageSize."""

    async def peek(request: web.Request) -> web.Response:
        assert (request.query["pageSize"], request.query["page"], request.query["sortDesc"]) == (
            "1",
            "1",
            "EndTime",
        )
        body = _page("".join(_entity(f"u{i}") for i in range(entities)), 1, pages_count, page_size)
        return web.Response(text=body, content_type="application/xml")

    raw.query = peek
    async with EMClient(connection(raw.url)) as client:
        got = await client.peek_task_sessions(SINCE)
    assert got.count == count
    assert (got.first.uid if got.first else None) == ("u0" if entities else None)


@pytest.mark.parametrize("fmt", ["xml", "json"])
async def test_api_versions(sim: tuple[SimulatedEM, str], fmt: str) -> None:
    """GET /api/ (no logon) lists the supported versions in XML and double-wrapped JSON."""
    em, url = sim
    async with EMClient(connection(url, format=fmt)) as client:
        assert await client.api_versions() == ["v1_5", "v1_6", "v1_7"]
    assert logons(em) == 0


async def test_job_session_404_names_the_job_session(sim: tuple[SimulatedEM, str]) -> None:
    """A job session EM does not know is EMError(http, 404) with a hint about the session, not the URL."""
    _, url = sim
    async with EMClient(connection(url)) as client:
        with pytest.raises(EMError) as info:
            await client.job_session("urn:veeam:BackupJobSession:00000000-0000-4000-8000-000000000000")
    assert (info.value.kind, info.value.status) == ("http", 404)
    assert "does not know this job session" in info.value.message


async def test_next_page_is_requested_before_this_one_is_decoded(
    raw: RawEM, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the page count is known, page n+1 is being sent while page n is decoded (one ahead)."""
    events: list[str] = []
    pages = {str(n): _page(_entity(f"s{n}"), n, 4) for n in range(1, 5)}

    async def paged(request: web.Request) -> web.Response:
        return web.Response(text=pages[request.query["page"]], content_type="application/xml")

    real_send = Transport.send

    async def send(self: Transport, method: str, path_and_query: str, *args: Any, **kw: Any) -> Any:
        if "page=" in path_and_query:
            events.append("send " + path_and_query.split("&page=")[1].split("&")[0])
        return await real_send(self, method, path_and_query, *args, **kw)

    real_decode = client_module.decode_task_sessions

    def decode(body: bytes, *, source: str) -> Any:
        decoded = real_decode(body, source=source)
        events.append(f"decode {decoded.page.page_num}")
        return decoded

    raw.query = paged
    monkeypatch.setattr(Transport, "send", send)
    monkeypatch.setattr(client_module, "decode_task_sessions", decode)
    async with EMClient(connection(raw.url)) as client:
        found = await client.query_task_sessions(SINCE)
    assert [s.uid for s in found] == ["s1", "s2", "s3", "s4"]
    # Page 1 alone tells the count; from then on each page's request is under way before the
    # page before it is decoded (it was sent only after, overlapping nothing, until this test).
    assert events == ["send 1", "decode 1", "send 2", "send 3", "decode 2", "send 4", "decode 3", "decode 4"]

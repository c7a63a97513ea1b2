"""Security: hostile EM answers (entity bombs, XXE, external DTDs, gzip bombs), the template sandbox
through config, secrets kept out of logs, state and CLI output, and the state file's permissions.
"""

from __future__ import annotations

import base64
import gzip
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import structlog
import yaml
from aiohttp import web
from e2e import e2e_config, em_source, now, run_once
from process import AlertdProcess
from support.smtp import SmtpServer
from support.webhook import Reply, WebhookCollector

from alertd.config import load_document
from alertd.em.client import EMClient, EMConnection, EMError
from alertd.records import PollRecord, SourceCursor
from alertd.render import TemplateError
from alertd.runtime import build_renderer
from alertd.simulator import SimulatedEM
from alertd.state import SQLiteStore

NS = "http://www.veeam.com/ent/v1.0"
LOGON_XML = (
    f'<LogonSession xmlns="{NS}"><UserName>alertd</UserName><SessionId>sess-1</SessionId></LogonSession>'
)
EMPTY_PAGE = (
    f'<QueryResult xmlns="{NS}"><Entities><BackupTaskSessions/></Entities>'
    '<PagingInfo PageNum="1" PageSize="200" PagesCount="1"/></QueryResult>'
)
ERROR_XML = f'<Error xmlns="{NS}"><Message>{{message}}</Message><StatusCode>500</StatusCode></Error>'
PAGE_WITH_REASON = (
    '<QueryResult xmlns="{ns}"><Entities><BackupTaskSessions>'
    '<BackupTaskSession Type="BackupTaskSession" Href="x" Name="vm@t" UID="urn:veeam:BackupTaskSession:1">'
    "<Reason>{reason}</Reason></BackupTaskSession>"
    '</BackupTaskSessions></Entities><PagingInfo PageNum="1" PageSize="1" PagesCount="1"/></QueryResult>'
)
LOL = "".join(
    f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' if i else '<!ENTITY lol0 "lol">'
    for i in range(10)
)


def hostile_xml(kind: str, secret_file: Path, dtd_url: str, body: str) -> str:
    """``body`` (XML using ``&x;`` where the payload goes) behind a hostile DOCTYPE."""
    root = body.split(" ", 1)[0].lstrip("<")
    doctype = {
        "bomb": f'<!DOCTYPE {root} [{LOL}<!ENTITY x "&lol9;">]>',
        "xxe": f'<!DOCTYPE {root} [<!ENTITY x SYSTEM "file://{secret_file}">]>',
        "dtd": f'<!DOCTYPE {root} SYSTEM "{dtd_url}">',
        "param": f'<!DOCTYPE {root} [<!ENTITY % ext SYSTEM "{dtd_url}"> %ext;]>',
    }[kind]
    if kind in ("dtd", "param"):
        body = body.replace("&x;", "")
    return f'<?xml version="1.0"?>\n{doctype}\n{body}'


class HostileEM:
    """An EM look-alike on loopback whose logon, query or error answers can be replaced; counts DTD fetches."""

    def __init__(self) -> None:
        self.logon_body = LOGON_XML
        self.query_body: bytes = EMPTY_PAGE.encode()
        self.query_status = 200
        self.query_headers: dict[str, str] = {}
        self.dtd_fetches = 0
        self.url = ""
        app = web.Application()
        app.router.add_post("/api/sessionMngr/", self._logon)
        app.router.add_get("/api/query", self._query)
        app.router.add_delete("/api/logonSessions/{sid}", self._logoff)
        app.router.add_get("/evil.dtd", self._dtd)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)

    @property
    def dtd_url(self) -> str:
        return f"{self.url}/evil.dtd"

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        await self._runner.cleanup()

    async def _logon(self, request: web.Request) -> web.Response:
        resp = web.Response(status=201, text=self.logon_body, content_type="application/xml")
        resp.headers["X-RestSvcSessionId"] = "tok-1"
        return resp

    async def _query(self, request: web.Request) -> web.Response:
        headers = {"Content-Type": "application/xml; charset=utf-8", **self.query_headers}
        return web.Response(status=self.query_status, body=self.query_body, headers=headers)

    async def _logoff(self, request: web.Request) -> web.Response:
        return web.Response(status=204)

    async def _dtd(self, request: web.Request) -> web.Response:
        self.dtd_fetches += 1
        return web.Response(text='<!ENTITY x "DTD-WAS-FETCHED">', content_type="application/xml-dtd")


@pytest.fixture
async def hostile() -> AsyncIterator[HostileEM]:
    em = HostileEM()
    await em.start()
    yield em
    await em.stop()


@pytest.mark.parametrize("kind", ["bomb", "xxe", "dtd", "param"])
@pytest.mark.parametrize("where", ["logon", "query", "error"])
async def test_hostile_xml_from_em_is_never_expanded(
    tmp_path: Path, hostile: HostileEM, webhook: WebhookCollector, kind: str, where: str
) -> None:
    """Entity bombs, external entities and external DTDs in any EM answer are refused unexpanded: no file read, no DTD fetched, nothing alerted."""
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text("XXE-FILE-CONTENT")
    if where == "logon":
        hostile.logon_body = hostile_xml(
            kind, secret_file, hostile.dtd_url, LOGON_XML.replace("sess-1", "&x;")
        )
    elif where == "query":
        page = PAGE_WITH_REASON.format(ns=NS, reason="&x;")
        hostile.query_body = hostile_xml(kind, secret_file, hostile.dtd_url, page).encode()
    else:
        hostile.query_status = 500
        error = ERROR_XML.format(message="&x;")
        hostile.query_body = hostile_xml(kind, secret_file, hostile.dtd_url, error).encode()
    cfg = e2e_config(tmp_path, hostile.url, [webhook.url])
    started = time.monotonic()
    with structlog.testing.capture_logs() as logs:
        code = await run_once(cfg)
    assert time.monotonic() - started < 5
    text = repr(logs)
    assert "XXE-FILE-CONTENT" not in text and "DTD-WAS-FETCHED" not in text and "lollol" not in text
    assert hostile.dtd_fetches == 0
    assert webhook.requests == []
    if where == "logon":
        # The token header is all a poll needs; only the logoff (SessionId) is lost.
        assert code == 0
        [unreadable] = [e for e in logs if e["event"] == "em_logon_body_unreadable"]
        assert "unsafe" in unreadable["error"]
    else:
        assert code == 1
        [failed] = [e for e in logs if e["event"] == "poll_failed"]
        assert failed["kind"] == ("malformed" if where == "query" else "http")
        if where == "query":
            assert "unsafe" in failed["error"]


async def test_gzip_bomb_is_refused_by_the_size_cap(hostile: HostileEM) -> None:
    """A 20 KB gzip body inflating to 20 MB is refused once the inflated bytes pass the cap, without inflating it all."""
    hostile.query_body = gzip.compress(b"<QueryResult>" + b" " * 20_000_000, 9)
    hostile.query_headers = {"Content-Encoding": "gzip"}
    assert len(hostile.query_body) < 1_000_000
    conn = EMConnection("em1", hostile.url, "u", "p", max_response_bytes=1024 * 1024)
    started = time.monotonic()
    async with EMClient(conn) as client:
        with pytest.raises(EMError) as err:
            await client.query_task_sessions("State==Completed")
    assert time.monotonic() - started < 3
    assert err.value.kind == "too_large"
    assert "max_response_bytes=1048576" in err.value.message


# --- templates ---------------------------------------------------------------------------------

TRICKS = [
    "{{ cycler.__init__.__globals__.os.environ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ group.__class__.__init__.__globals__ }}",
    "{{ alerts[0].__class__.__dict__ }}",
    "{{ '{0.__class__.__init__.__globals__}'.format(group) }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ vms.__iter__.__self__.__class__ }}",
    "{% set x = alerts.append(1) %}{{ alerts|length }}",
]


def doc_with_templates(tmp_path: Path, em_url: str, urls: list[str], templates: Path) -> dict[str, Any]:
    return {
        "sources": [{"name": "em1", "url": em_url, "username": "CORP\\svc-alertd", "password": "secret"}],
        "state": {"path": str(tmp_path / "state.db")},
        "receivers": [
            {"name": "ops", "urls": urls, "templates": str(templates)},
            {"name": "dba", "urls": urls},
        ],
        "routes": [{"receivers": ["ops", "dba"], "group_wait": "0s"}],
        "delivery": {"min_interval": "10ms", "retry_for": "1m", "max_backoff": "200ms"},
        "http": {"listen": None},
    }


@pytest.mark.parametrize("trick", TRICKS)
def test_sandbox_blocks_tricks_in_templates_loaded_through_config(
    tmp_path: Path, trick: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A receivers[].templates override loaded through config cannot reach Python internals or the environment."""
    from factories import session

    from alertd.model import AlertGroup

    monkeypatch.setenv("ALERTD_TEST_ENV_SECRET", "ENV-SECRET-42")
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "alert_chat.md.j2").write_text(trick)
    cfg = load_document(
        doc_with_templates(tmp_path, "https://em:9398", ["json://127.0.0.1:9/hook"], templates)
    )
    renderer = build_renderer(cfg)
    alerts = (session("vm1"),)
    group = AlertGroup(key="k", receiver="ops", alerts=alerts, sequence=1, earlier_count=0, labels={})
    with pytest.raises(TemplateError) as err:
        renderer.render(group, "chat")
    assert "alert_chat.md.j2" in str(err.value)
    assert "ENV-SECRET-42" not in str(err.value)
    # The other receiver, without overrides, is unaffected.
    other = AlertGroup(key="k", receiver="dba", alerts=alerts, sequence=1, earlier_count=0, labels={})
    assert "vm1" in renderer.render(other, "chat").body


async def test_unsafe_override_template_neither_crashes_nor_loses_the_alert(
    tmp_path: Path, webhook: WebhookCollector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sandbox violation in one receiver's template is logged naming the template; every receiver still gets the alert, nothing leaks."""
    monkeypatch.setenv("ALERTD_TEST_ENV_SECRET", "ENV-SECRET-42")
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "alert_chat.md.j2").write_text(TRICKS[0])
    async with SimulatedEM() as sim:
        sim.add_task_session(vm="vm1", result="Failed", end_time=now() - timedelta(minutes=1))
        cfg = load_document(doc_with_templates(tmp_path, sim.url, [webhook.url], templates))
        with structlog.testing.capture_logs() as logs:
            assert await run_once(cfg) == 0
    assert "ENV-SECRET-42" not in repr(logs) + repr(webhook.received)
    assert any("alert_chat.md.j2" in repr(e) and "SecurityError" in repr(e) for e in logs)
    assert len(webhook.received) == 2  # ops (default templates as a fallback) and dba
    assert all("vm1" in p["message"] for p in webhook.received)


# --- secrets -----------------------------------------------------------------------------------

EM_PASSWORD = "S3cr3t-P@ss"
HOOK_SECRET = "tok-ABCDEF123456"
SMTP_PASSWORD = "smtp-Pa55-XYZ987"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def secret_forms(secret: str) -> set[str]:
    """A secret as it could appear in a log: raw, URL-encoded, and base64 on its own."""
    return {secret, quote(secret, safe=""), b64(secret)}


async def test_full_run_logs_and_state_hold_no_secrets(tmp_path: Path) -> None:
    """A full `alertd run` at debug level through re-logon, EM errors and webhook/SMTP retries logs no password, Basic header, session token or webhook secret; webhook Basic auth still works."""
    username = "CORP\\svc-alertd"
    sim = SimulatedEM(username=username, password=EM_PASSWORD)
    tokens: list[str] = []
    logon = sim.tokens.logon

    def record_logon() -> Any:
        session = logon()
        tokens.append(session.token)
        return session

    sim.tokens.logon = record_logon  # type: ignore[method-assign]
    state = tmp_path / "private" / "state" / "alertd.db"
    echo = f"denied for user:{HOOK_SECRET}"  # a webhook quoting the secret back: redacted
    with (
        WebhookCollector([Reply(500, body=echo), Reply(429, retry_after=0.1, body=echo)]) as hook,
        SmtpServer(["451 4.3.0 Try later"], auth=("alertd", SMTP_PASSWORD)) as smtp,
    ):
        hook_url = f"json://user:{HOOK_SECRET}@127.0.0.1:{hook.port}/hook"
        async with sim:
            sim.add_task_session(vm="vm1", result="Failed", end_time=now() - timedelta(minutes=1))
            sim.faults.fail_next(1, status=503, path="/api/query")
            doc: dict[str, Any] = {
                "sources": [em_source(sim.url, username=username, password=EM_PASSWORD)],
                "state": {"path": str(state)},
                "receivers": [{"name": "ops", "urls": [hook_url, smtp.url]}],
                "routes": [{"receivers": ["ops"], "group_wait": "100ms"}],
                "delivery": {"min_interval": "10ms", "max_backoff": "200ms", "retry_for": "5m"},
                "http": {"listen": None},
                "log": {"format": "json", "level": "debug"},
            }
            proc = AlertdProcess(tmp_path, doc)
            proc.start()
            try:
                await proc.wait_for(
                    lambda: 200 in hook.statuses and len(smtp.mails) == 1,
                    what="delivery",
                )
                sim.faults.unauthorized_next(1, path="/api/query")  # token refused: re-logon
                sim.add_task_session(vm="vm2", result="Failed", end_time=now())
                await proc.wait_for(lambda: hook.statuses.count(200) == 2, what="second alert")
                await proc.wait_for(lambda: '"delivery_sent"' in proc.output(), what="log")
                proc.signal(signal.SIGTERM)
                assert await proc.wait_exit(10) == 0
            finally:
                proc.kill()
            assert sim.faults.pending == {}
    output = proc.output()
    for event in (
        "em_logon",
        "em_token_rejected",
        "poll_failed",
        "delivery_retry",
        "delivery_sent",
        "em_logoff",
    ):
        assert f'"{event}"' in output, event
    assert len(tokens) >= 2
    # Webhook Basic auth reached the server intact.
    assert {r.headers.get("Authorization") for r in hook.requests} == {f"Basic {b64('user:' + HOOK_SECRET)}"}
    secrets = (
        secret_forms(EM_PASSWORD)
        | secret_forms(HOOK_SECRET)
        | secret_forms(SMTP_PASSWORD)
        | {b64(f"{username}:{EM_PASSWORD}"), b64(f"user:{HOOK_SECRET}")}
        | set(tokens)
    )
    state_bytes = b"".join(p.read_bytes() for p in state.parent.iterdir())
    for secret in secrets:
        assert secret not in output, f"{secret!r} in the log"
        assert secret.encode() not in state_bytes, f"{secret!r} in the state files"
    # The state file is private, and so is the directory alertd created for it.
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    assert stat.S_IMODE(state.parent.stat().st_mode) & 0o077 == 0


def test_state_files_private_even_with_permissive_umask(tmp_path: Path) -> None:
    """Under umask 000 the state file, its WAL and SHM are 0600 and the new directory 0700; an existing 0644 file is tightened."""
    old = os.umask(0)
    try:
        path = tmp_path / "new" / "state.db"
        store = SQLiteStore(path)
        store.record_poll("em1", [], [], now(), lambda state: PollRecord(cursor=SourceCursor(now())))
        files = [path, path.with_name("state.db-wal"), path.with_name("state.db-shm")]
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in files}
        store.close()
        existing = tmp_path / "existing.db"
        existing.write_bytes(b"")
        existing.chmod(0o644)
        SQLiteStore(existing).close()
    finally:
        os.umask(old)
    assert modes == dict.fromkeys(modes, 0o600)
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(existing.stat().st_mode) == 0o600


# --- CLI output --------------------------------------------------------------------------------


def cli(tmp_path: Path, doc: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "alertd.yaml"
    path.write_text(yaml.safe_dump(doc))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALERTD_")}
    return subprocess.run(
        [sys.executable, "-m", "alertd", *args, "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def cli_doc(tmp_path: Path, urls: list[str], em_url: str = "https://em.example:9398") -> dict[str, Any]:
    return {
        "sources": [{"name": "em1", "url": em_url, "username": "CORP\\svc-alertd", "password": EM_PASSWORD}],
        "state": {"path": str(tmp_path / "state.db")},
        "receivers": [{"name": "ops", "urls": urls}],
        "routes": [{"receivers": ["ops"]}],
        "http": {"listen": None},
    }


BAD_URLS = [
    f"slack://{HOOK_SECRET}/",
    f"slack://T1/B2/{HOOK_SECRET}-but-too-long-and-wrong-{HOOK_SECRET}/#chan",
    f"json://user:{HOOK_SECRET}@",
    f"mailtos://user:{HOOK_SECRET}@",
    f"discord://{HOOK_SECRET}",
    f"workflows://{HOOK_SECRET}",
    f"tgram://{HOOK_SECRET}/",
    f"notascheme://user:{HOOK_SECRET}@host",
    HOOK_SECRET,
    f"  json://user:{HOOK_SECRET}@[::1",
]


def test_check_config_with_bad_urls_does_not_leak_secrets(tmp_path: Path) -> None:
    """check-config names each bad URL's key and problem without repeating its token or the EM password."""
    proc = cli(tmp_path, cli_doc(tmp_path, ["json://127.0.0.1:9/ok", *BAD_URLS]), "check-config")
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert [line.split(":", 1)[0] for line in lines] == [f"receivers[0].urls[{i}]" for i in range(1, 11)]
    for secret in secret_forms(HOOK_SECRET) | secret_forms(EM_PASSWORD):
        assert secret not in proc.stdout + proc.stderr


def test_check_config_bad_em_url_does_not_leak_credentials(tmp_path: Path) -> None:
    """A source url with a wrong scheme and credentials is reported without the credentials."""
    proc = cli(
        tmp_path,
        cli_doc(tmp_path, ["json://127.0.0.1:9/ok"], f"ftp://admin:{EM_PASSWORD}@em:9398"),
        "check-config",
    )
    assert proc.returncode == 2 and "sources[0].url" in proc.stderr
    assert EM_PASSWORD not in proc.stdout + proc.stderr


def test_em_url_with_credentials_is_a_config_error(tmp_path: Path) -> None:
    """A source url carrying user:password@ fails check-config (exit 2, naming the key), never a traceback at start."""
    doc = cli_doc(tmp_path, ["json://127.0.0.1:9/ok"], f"https://admin:{quote(EM_PASSWORD)}@em:9398")
    checked = cli(tmp_path, doc, "check-config")
    once = cli(tmp_path, doc, "once", "--deliver-timeout", "1")
    for proc in (checked, once):
        assert proc.returncode == 2, proc.stderr
        assert "sources[0].url" in proc.stderr and "Traceback" not in proc.stderr
        assert EM_PASSWORD not in proc.stderr and quote(EM_PASSWORD) not in proc.stderr


async def test_webhook_secrets_in_headers_and_query_are_not_logged(
    tmp_path: Path, webhook: WebhookCollector
) -> None:
    """A generic webhook authenticated by a header or a query parameter works, and neither value is logged."""
    header_secret, query_secret = "hdr-SECRET-777", "qry-SECRET-888"
    url = f"{webhook.url}?+X-Api-Key={header_secret}&-token={query_secret}"
    async with SimulatedEM() as sim:
        sim.add_task_session(vm="x", result="Failed", end_time=now() - timedelta(minutes=1))
        with structlog.testing.capture_logs() as logs:
            assert await run_once(e2e_config(tmp_path, sim.url, [url])) == 0
    [request] = webhook.requests
    assert request.headers.get("X-Api-Key") == header_secret
    assert header_secret not in repr(logs) and query_secret not in repr(logs)


def test_native_slack_and_teams_urls_accepted_and_masked(tmp_path: Path) -> None:
    """The README's native Slack and Teams Workflows https:// URLs pass check-config and never print their tokens."""
    slack_token = "SLACKTOKENabcdef123456XY"
    signature = "SIGabcdefghijklmnopqrstuvwxyz0123456789ABCDE"
    urls = [
        f"https://hooks.slack.com/services/T00000000/B00000000/{slack_token}",
        "https://prod-00.westeurope.logic.azure.com:443/workflows/abcdef0123456789abcdef0123456789/"
        f"triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={signature}",
    ]
    proc = cli(tmp_path, cli_doc(tmp_path, urls), "check-config")
    assert proc.returncode == 0, proc.stderr
    assert slack_token not in proc.stdout + proc.stderr and signature not in proc.stdout + proc.stderr


async def test_em_errors_never_echo_the_password(tmp_path: Path, webhook: WebhookCollector) -> None:
    """A refused logon, and an EM Error body quoting the request, reach the log without the password or Basic header."""
    async with SimulatedEM(password="another-password") as sim:
        cfg = e2e_config(tmp_path, sim.url, [webhook.url], source={"password": EM_PASSWORD})
        with structlog.testing.capture_logs() as logs:
            assert await run_once(cfg) == 1
    [failed] = [e for e in logs if e["event"] == "poll_failed"]
    assert failed["kind"] == "auth" and "check username and password" in failed["error"]
    text = repr(logs)
    assert EM_PASSWORD not in text and b64(f"CORP\\svc-alertd:{EM_PASSWORD}") not in text


async def test_hostile_em_error_message_quoting_secrets_is_bounded(
    hostile: HostileEM, tmp_path: Path
) -> None:
    """EM's own Error message is logged bounded to 500 characters, so a hostile EM cannot flood the log."""
    hostile.query_status = 500
    hostile.query_body = ERROR_XML.format(message="A" * 100_000).encode()
    cfg = e2e_config(tmp_path, hostile.url, ["json://127.0.0.1:9/hook"])
    with structlog.testing.capture_logs() as logs:
        assert await run_once(cfg, deliver_timeout=1) == 1
    [failed] = [e for e in logs if e["event"] == "poll_failed"]
    assert "A" * 500 in failed["error"] and "A" * 501 not in failed["error"]


PATH_SECRET = "hookpath-SECRET-4242"
QUERY_SECRET = "qryval-SECRET-5353"
HEADER_SECRET = "hdrval-SECRET-6464"
NATIVE_SECRET = "slackhook-SECRET-7575"


async def test_debug_run_never_prints_target_secrets(tmp_path: Path) -> None:
    """`alertd run` at debug level, through a failed then a successful delivery, prints no webhook path, query value, header value, EM or SMTP password."""
    sim = SimulatedEM(username="svc", password=EM_PASSWORD)
    # The webhook first fails quoting its own path back (as some services do), then accepts.
    echo = f"unknown hook /{PATH_SECRET}?token={QUERY_SECRET}"
    with (
        WebhookCollector([Reply(500, body=echo)], path=f"/{PATH_SECRET}") as hook,
        WebhookCollector(
            [Reply(429, retry_after=0.2, body=f"slow down, /services/T0/B0/{NATIVE_SECRET}")],
            path=f"/services/T0/B0/{NATIVE_SECRET}",
        ) as slack,
        SmtpServer(auth=("alertd", SMTP_PASSWORD)) as smtp,
    ):
        slack_url = f"slack+{slack.http_url}"
        hook_url = (
            f"json://127.0.0.1:{hook.port}/{PATH_SECRET}?+X-Api-Key={HEADER_SECRET}&-token={QUERY_SECRET}"
        )
        async with sim:
            sim.add_task_session(vm="vm1", result="Failed", end_time=now() - timedelta(minutes=1))
            doc: dict[str, Any] = {
                "sources": [em_source(sim.url, username="svc", password=EM_PASSWORD)],
                "state": {"path": str(tmp_path / "state.db")},
                "receivers": [{"name": "ops", "urls": [hook_url, smtp.url, slack_url]}],
                "routes": [{"receivers": ["ops"], "group_wait": "100ms"}],
                "delivery": {"min_interval": "10ms", "max_backoff": "200ms", "retry_for": "5m"},
                "http": {"listen": None},
                "log": {"format": "json", "level": "debug"},
            }
            proc = AlertdProcess(tmp_path, doc)
            proc.start()
            try:
                await proc.wait_for(
                    lambda: 200 in hook.statuses and 200 in slack.statuses and len(smtp.mails) == 1,
                    what="delivery",
                )
                await proc.wait_for(lambda: proc.output().count('"delivery_sent"') >= 3, what="log")
                proc.signal(signal.SIGTERM)
                assert await proc.wait_exit(10) == 0
            finally:
                proc.kill()
    output = proc.output()
    assert '"delivery_retry"' in output and '"level": "debug"' in output
    assert hook.requests[0].headers.get("X-Api-Key") == HEADER_SECRET  # the secrets were used
    for secret in (PATH_SECRET, QUERY_SECRET, HEADER_SECRET, NATIVE_SECRET, EM_PASSWORD, SMTP_PASSWORD):
        for form in secret_forms(secret):
            assert form not in output, f"{form!r} in the log"

"""The apprise alertd is pinned to, and the log text of it that alertd/notify.py classifies failures by.

notify.py decides whether a failed send is worth retrying from what apprise logs: ``error=NNN`` on
an HTTP answer, smtplib's ``(NNN, b'...')`` reply forms, "SMTP AUTH extension not supported".
apprise does not promise that text, so it is pinned to one minor release (pyproject.toml, and an
exact release in constraints.txt), and these tests send through plain apprise, without alertd, to
the real loopback webhook and SMTP server and pin what that release logs, on which logger and at
which level. Moving the pin means re-reading notify.py against these tests. The last tests pin
the plugin classes notify.py builds common schemes from (without apprise's plugin table).
"""

from __future__ import annotations

import importlib
import logging
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import apprise
import pytest
from apprise.plugins import N_MGR
from apprise.result import AppriseResultStatus
from support import Reply, SmtpServer, WebhookCollector

from alertd.notify import NATIVE_PLUGINS

#: The minor release notify.py's classification was written against.
PINNED_MINOR = "2.3"
ROOT = Path(__file__).resolve().parent.parent

# The forms notify.py looks for (kept here as the contract, not imported from its internals).
HTTP_STATUS = re.compile(r"\berror=(\d{3})\b")
SMTP_REPLY = re.compile(r"\((\d{3}), b?['\"]")
RESPONSE_DETAILS = re.compile(r"Response Details: (b?'.*'|b?\".*\")$")


def test_installed_apprise_is_the_pinned_minor() -> None:
    """The installed apprise, pyproject's range and constraints.txt's lock are all the minor notify.py was written against."""
    assert apprise.__version__.startswith(PINNED_MINOR + "."), apprise.__version__
    major, minor = PINNED_MINOR.split(".")
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert [d for d in deps if d.startswith("apprise")] == [
        f"apprise>={PINNED_MINOR},<{major}.{int(minor) + 1}"
    ]
    locked = [
        line for line in (ROOT / "constraints.txt").read_text().splitlines() if line.startswith("apprise==")
    ]
    assert len(locked) == 1 and locked[0].startswith(f"apprise=={PINNED_MINOR}."), locked


async def _send(url: str, caplog: pytest.LogCaptureFixture, timeout: float = 30) -> tuple[bool, str]:
    """Send one message through a plain apprise (no retries) and return (ok, its log as text lines)."""
    caplog.set_level(logging.DEBUG, logger="apprise")
    caplog.clear()
    notifier = apprise.Apprise(asset=apprise.AppriseAsset(async_mode=True, default_service_retry=0))
    assert notifier.add(url)
    result = await notifier.async_notify(body="body", title="title", timeout=timeout)
    with result:
        ok = bool(result)
    lines = [
        f"{r.name} {r.levelname} " + " ".join(r.getMessage().split())
        for r in caplog.records
        if r.name.startswith("apprise")
    ]
    return ok, "\n".join(lines)


@pytest.mark.parametrize("status", [400, 404, 408, 429, 500, 503])
async def test_http_failure_logs_error_status(
    webhook: WebhookCollector, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    """A non-2xx answer is logged at WARNING as '..., error=NNN.' with exactly that status."""
    webhook.script(status)
    ok, log = await _send(webhook.url, caplog)
    assert not ok
    [line] = [line for line in log.splitlines() if HTTP_STATUS.search(line)]
    assert line.startswith("apprise WARNING Failed to send JSON POST notification:"), line
    assert HTTP_STATUS.findall(line) == [str(status)]


async def test_http_failure_logs_response_body(
    webhook: WebhookCollector, caplog: pytest.LogCaptureFixture
) -> None:
    """The answer's body follows at DEBUG as 'Response Details: b'...'' (Slack and Teams explain a 4xx there)."""
    webhook.script(Reply(400, body="invalid_payload"))
    ok, log = await _send(webhook.url, caplog)
    assert not ok
    details = [line.split(" ", 2) for line in log.splitlines() if "Response Details:" in line]
    assert [(name, level) for name, level, _ in details] == [("apprise", "DEBUG")]
    match = RESPONSE_DETAILS.match(details[0][2])
    assert match is not None and match.group(1) == "b'invalid_payload'", details


@pytest.mark.parametrize("reply", ["451 4.3.0 Try again later", "554 5.7.1 Message rejected"])
async def test_smtp_rejection_at_data_logs_the_reply(
    smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture, reply: str
) -> None:
    """A rejected DATA is logged as smtplib's '(NNN, b'...')' at DEBUG on apprise's module logger, not only as 'failed'."""
    smtp_server.script(reply)
    ok, log = await _send(smtp_server.url, caplog)
    assert not ok and smtp_server.messages == []
    code, text = reply.split(" ", 1)
    [line] = [line for line in log.splitlines() if SMTP_REPLY.search(line)]
    # apprise's SMTP wrapper logs this itself ("apprise" logger); the plugin only says "failed".
    assert line == f"apprise DEBUG Socket Exception: ({code}, b'{text}')", log
    assert SMTP_REPLY.findall(line) == [code]
    assert 'apprise WARNING Sending email to "ops@example.com" failed.' in log


async def test_smtp_refused_recipient_logs_the_reply(
    smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Every recipient refused is logged as smtplib's '{'rcpt': (NNN, b'...')}' at DEBUG."""
    smtp_server.script_rcpt("550 5.1.1 No such user")
    ok, log = await _send(smtp_server.url, caplog)
    assert not ok and smtp_server.attempts == 0
    [line] = [line for line in log.splitlines() if SMTP_REPLY.search(line)]
    assert line == "apprise DEBUG Socket Exception: {'ops@example.com': (550, b'5.1.1 No such user')}", log


async def test_smtp_wrong_password_logs_the_reply(caplog: pytest.LogCaptureFixture) -> None:
    """A refused login is logged as smtplib's '(535, b'...')' after a WARNING 'Connection error'."""
    with SmtpServer(auth=("alertd", "right-pw")) as server:
        ok, log = await _send(server.url.replace("right-pw", "wrong-pw"), caplog)
    assert not ok
    [line] = [line for line in log.splitlines() if SMTP_REPLY.search(line)]
    assert line.startswith("apprise DEBUG Socket Exception: (535, b'"), log
    assert 'apprise WARNING Connection error while submitting email to "127.0.0.1"' in log


async def test_smtp_credentials_without_server_auth_log_the_reason(
    smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Credentials for a server that offers no AUTH log 'SMTP AUTH extension not supported by server'."""
    ok, log = await _send(smtp_server.url.replace("mailto://", "mailto://alertd:pw@"), caplog)
    assert not ok and smtp_server.attempts == 0
    assert "apprise DEBUG Socket Exception: SMTP AUTH extension not supported by server." in log.splitlines()


async def test_send_outlasting_apprise_timeout_is_a_timeout_result(webhook: WebhookCollector) -> None:
    """async_notify(timeout=) gives up on a slow service with the TIMEOUT status notify.py checks."""
    webhook.script(Reply(200, delay=5))
    notifier = apprise.Apprise(asset=apprise.AppriseAsset(async_mode=True, default_service_retry=0))
    assert notifier.add(webhook.url)
    result = await notifier.async_notify(body="body", title="title", timeout=0.5)
    with result:
        assert not result and result.status == AppriseResultStatus.TIMEOUT


@pytest.mark.parametrize("scheme", sorted(NATIVE_PLUGINS))
def test_native_plugin_table_matches_apprise(scheme: str) -> None:
    """Each scheme alertd builds from one plugin class is the class apprise's own table gives it."""
    module, name = NATIVE_PLUGINS[scheme]
    cls = getattr(importlib.import_module(f"apprise.plugins.{module}"), name)
    assert N_MGR[scheme] is cls


def test_json_target_loads_one_plugin_not_the_table() -> None:
    """A json:// target in a fresh interpreter imports apprise's JSON plugin only, not its ~150-plugin table."""
    code = (
        "import sys\n"
        "from alertd.notify import AppriseTarget\n"
        "AppriseTarget('ops', 0, 'json://127.0.0.1:9/hook')\n"
        "from apprise.plugins import N_MGR\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('apprise.plugins.') and m.count('.') == 2)\n"
        "print(bool(N_MGR), loaded)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.split() == ["False", "['apprise.plugins.base',", "'apprise.plugins.custom_json']"], out

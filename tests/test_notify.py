"""Delivery through real apprise to loopback servers: outcomes, retry classes, secrets, throttle, email parts, branding."""

from __future__ import annotations

import logging
import time

import apprise
import pytest
import structlog
from support import Reply, SmtpServer, WebhookCollector
from support.smtp import free_port

from alertd.model import Attachment, BodyFormat, Channel, NotifyType, RenderedMessage
from alertd.notify import AppriseTarget, SendOutcome, TargetError

CHAT = RenderedMessage(
    title="[Failed] SQL Daily on vbr01: 1 failed",
    body="**SQL Daily** on vbr01: 1 failed\n\n- ❌ **sql01** Failed: snapshot",
    body_format=BodyFormat.MARKDOWN,
    notify_type=NotifyType.FAILURE,
)
EMAIL = RenderedMessage(
    title="[Warning] SQL Daily on vbr01: 1 warning",
    body="<p>Job <strong>SQL Daily</strong></p><table><tr><td>sql01</td><td>Warning</td></tr></table>",
    body_format=BodyFormat.HTML,
    notify_type=NotifyType.WARNING,
    text="SQL Daily on vbr01: 1 warning\n  ! sql01  Warning",
)
SLACK = "slack://T1SECRETA/B2SECRETB/c3secretsecretsecretsecret/#alerts"
WORKFLOWS = "workflows://prod-01.westeurope.logic.azure.com:443/wf0SECRETID/sigSECRETSIG0/"


async def test_message_reaches_webhook(webhook: WebhookCollector) -> None:
    """A chat message arrives at the json:// webhook with its title, body and type."""
    outcome = await AppriseTarget("ops", 0, webhook.url).send(CHAT)
    assert outcome == SendOutcome(ok=True, retryable=False, detail="delivered")
    [payload] = webhook.received
    assert payload["title"] == CHAT.title
    assert "sql01" in payload["message"]
    assert payload["type"] == "failure"


@pytest.mark.parametrize(
    ("reply", "retryable"),
    [
        (Reply(500), True),
        (Reply(502), True),
        (Reply(503, retry_after=30), True),
        (Reply(429, retry_after=2), True),
        (Reply(408), True),
        (Reply(400, body="invalid_payload"), False),
        (Reply(401), False),
        (Reply(403, body="action_prohibited"), False),
        (Reply(404, body="no_service"), False),
        (Reply(410, body="channel_is_archived"), False),
    ],
)
async def test_http_status_classification(webhook: WebhookCollector, reply: Reply, retryable: bool) -> None:
    """5xx, 408 and 429 are retryable; other 4xx are permanent; the detail names status and body."""
    webhook.script(reply)
    outcome = await AppriseTarget("ops", 0, webhook.url).send(CHAT)
    assert not outcome.ok
    assert outcome.retryable is retryable
    assert f"error={reply.status}" in outcome.detail
    assert reply.body in outcome.detail  # Slack/Teams explain a 4xx in the body
    assert webhook.statuses == [reply.status]  # apprise did not retry by itself


async def test_unreachable_port_is_retryable() -> None:
    """Connection refused is a retryable failure whose detail says so."""
    outcome = await AppriseTarget("ops", 0, f"json://127.0.0.1:{free_port()}/hook").send(CHAT)
    assert (outcome.ok, outcome.retryable) == (False, True)
    assert "Connection refused" in outcome.detail


async def test_slow_webhook_times_out_retryably(webhook: WebhookCollector) -> None:
    """A send that exceeds its timeout returns a retryable outcome instead of hanging."""
    webhook.script(Reply(200, delay=5))
    outcome = await AppriseTarget("ops", 0, webhook.url).send(CHAT, timeout=0.3)
    assert (outcome.ok, outcome.retryable) == (False, True)
    assert "timed out after 0.3s" in outcome.detail


async def test_apprise_retry_parameter_is_ignored(webhook: WebhookCollector) -> None:
    """A ?retry= in the URL does not make apprise re-send: alertd owns retries."""
    webhook.script(500, 200)
    target = AppriseTarget("ops", 0, webhook.url + "?retry=3&wait=0.1")
    assert not (await target.send(CHAT)).ok
    assert webhook.statuses == [500]


async def test_failing_target_does_not_resend_to_others() -> None:
    """Each target has its own apprise object, so retrying one never re-sends to another."""
    with WebhookCollector([500, 500]) as bad, WebhookCollector() as good:
        targets = [AppriseTarget("ops", 0, bad.url), AppriseTarget("ops", 1, good.url)]
        outcomes = [await t.send(CHAT) for t in targets]
        assert [o.ok for o in outcomes] == [False, True]
        assert not (await targets[0].send(CHAT)).ok  # the retry
        assert (len(bad.received), len(good.received)) == (2, 1)


async def test_email_arrives_with_subject_and_html(smtp_server: SmtpServer) -> None:
    """An HTML message reaches the SMTP server as multipart/alternative with Subject = title."""
    target = AppriseTarget("ops", 0, smtp_server.url)
    assert target.channel is Channel.EMAIL
    assert (await target.send(EMAIL)).ok
    [msg] = smtp_server.messages
    assert msg["Subject"] == EMAIL.title
    assert msg.get_content_type() == "multipart/alternative"
    html = msg.get_body(preferencelist=("html",))
    text = msg.get_body(preferencelist=("plain",))
    assert html is not None and "<strong>SQL Daily</strong>" in html.get_content()
    assert text is not None and text.get_content().replace("\r", "").strip() == EMAIL.text  # alertd's part
    assert smtp_server.mails[0].rcpt_tos == ("ops@example.com",)


async def test_email_carries_attachments_and_no_apprise_branding(smtp_server: SmtpServer) -> None:
    """A CSV attachment arrives as multipart/mixed; no header or name says Apprise."""
    csv = Attachment("alertd-SQL_Daily.csv", "text/csv", "vm,result\r\nsql01,Failed\r\n")
    outcome = await AppriseTarget("ops", "mail", smtp_server.url).send(
        RenderedMessage(
            EMAIL.title, EMAIL.body, BodyFormat.HTML, NotifyType.WARNING, text="t", attachments=(csv,)
        )
    )
    assert outcome.ok
    [msg] = smtp_server.messages
    assert msg.get_content_type() == "multipart/mixed"
    [part] = list(msg.iter_attachments())
    assert (part.get_filename(), part.get_content_type()) == (csv.name, "text/csv")
    assert part.get_content().replace("\r\n", "\n") == csv.content.replace("\r\n", "\n")
    assert "apprise" not in msg.as_string().lower()
    assert msg["X-Application"] == "alertd"


async def test_chat_message_has_no_apprise_branding(webhook: WebhookCollector) -> None:
    """A generic chat webhook payload mentions neither apprise nor its icon."""
    assert (await AppriseTarget("ops", 0, webhook.url).send(CHAT)).ok
    assert "apprise" not in webhook.requests[0].text.lower()
    assert "apprise" not in webhook.requests[0].headers.get("User-Agent", "").lower()


async def test_smtp_down_then_up() -> None:
    """SMTP down is a retryable failure; once the server is up the same target delivers."""
    server = SmtpServer()
    target = AppriseTarget("ops", 0, server.url)
    down = await target.send(EMAIL)
    assert (down.ok, down.retryable) == (False, True)
    assert "Connection refused" in down.detail
    with server:
        assert (await target.send(EMAIL)).ok
    assert len(server.messages) == 1


async def test_smtp_temporary_rejection_is_retryable(smtp_server: SmtpServer) -> None:
    """A 451 at DATA is a retryable failure, and nothing was stored."""
    smtp_server.script("451 4.3.0 Try again later")
    outcome = await AppriseTarget("ops", 0, smtp_server.url).send(EMAIL)
    assert (outcome.ok, outcome.retryable) == (False, True)
    assert smtp_server.attempts == 1
    assert smtp_server.messages == []


@pytest.mark.parametrize("reply", ["554 5.7.1 Message rejected as spam", "552 5.3.4 Message too big"])
async def test_smtp_permanent_rejection_at_data_is_not_retryable(smtp_server: SmtpServer, reply: str) -> None:
    """A 5xx at DATA is a permanent failure whose detail quotes the server's reply (not retried until retry_for)."""
    smtp_server.script(reply)
    outcome = await AppriseTarget("ops", 0, smtp_server.url).send(EMAIL)
    assert (outcome.ok, outcome.retryable) == (False, False), outcome
    code, text = reply.split(" ", 1)
    assert f"({code}, b'{text}')" in outcome.detail, outcome.detail
    assert smtp_server.attempts == 1 and smtp_server.messages == []


async def test_smtp_refused_recipient_is_not_retryable(smtp_server: SmtpServer) -> None:
    """A 5xx to RCPT (no such user) is a permanent failure naming the reply; no DATA was sent."""
    smtp_server.script_rcpt("550 5.1.1 No such user")
    outcome = await AppriseTarget("ops", 0, smtp_server.url).send(EMAIL)
    assert (outcome.ok, outcome.retryable) == (False, False), outcome
    assert "(550, b'5.1.1 No such user')" in outcome.detail, outcome.detail
    assert smtp_server.attempts == 0


async def test_smtp_one_refused_recipient_of_several_is_not_retryable(smtp_server: SmtpServer) -> None:
    """A 5xx to one recipient while the copy goes out is permanent: the detail names the reply."""
    smtp_server.script_rcpt("550 5.1.1 No such user")
    url = smtp_server.url + "&cc=dev@example.com"
    outcome = await AppriseTarget("ops", 0, url).send(EMAIL)
    assert (outcome.ok, outcome.retryable) == (False, False), outcome
    assert "was refused: 550" in outcome.detail, outcome.detail
    assert [m.rcpt_tos for m in smtp_server.mails] == [("dev@example.com",)]


async def test_smtp_temporary_rcpt_rejection_is_retryable(smtp_server: SmtpServer) -> None:
    """A 4xx to RCPT (greylisting) stays retryable, and the next send gets through."""
    smtp_server.script_rcpt("450 4.2.0 Greylisted, try again")
    target = AppriseTarget("ops", 0, smtp_server.url)
    outcome = await target.send(EMAIL)
    assert (outcome.ok, outcome.retryable) == (False, True), outcome
    assert "(450, b'4.2.0 Greylisted, try again')" in outcome.detail
    assert (await target.send(EMAIL)).ok and len(smtp_server.messages) == 1


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


async def test_smtp_reply_is_not_logged_outside_the_send(smtp_server: SmtpServer) -> None:
    """The SMTP wrapper's DEBUG lines go into the send's result, never to the daemon's log handlers."""
    root, collect = logging.getLogger(), _Collect()
    level = root.level
    root.addHandler(collect)
    root.setLevel(logging.DEBUG)
    try:
        smtp_server.script("554 5.7.1 Message rejected")
        outcome = await AppriseTarget("ops", 0, smtp_server.url).send(EMAIL)
    finally:
        root.removeHandler(collect)
        root.setLevel(level)
    assert not outcome.retryable
    assert not [m for m in collect.messages if "Socket Exception" in m], collect.messages


@pytest.mark.parametrize(
    ("password", "ok", "retryable"), [("right-pw", True, False), ("wrong-pw", False, False)]
)
async def test_smtp_auth(password: str, ok: bool, retryable: bool) -> None:
    """Credentials in a mailto URL log in; wrong ones are a permanent failure (535)."""
    with SmtpServer(auth=("alertd", "right-pw")) as server:
        url = server.url.replace("right-pw", password)
        outcome = await AppriseTarget("ops", 0, url).send(EMAIL)
        assert (outcome.ok, outcome.retryable) == (ok, retryable)
        assert password not in outcome.detail
        assert len(server.messages) == int(ok)


@pytest.mark.parametrize(
    ("url", "secret", "expect"),
    [
        ("hooks.slack.com/services/T0/B0/secretsecret", "secretsecret", "not a URL"),
        ("nosuchservice://user:secretpw@host/secrettoken", "secret", "unsupported scheme nosuchservice://"),
        ("slack://secrettokenvalue", "secrettokenvalue", "invalid slack:// URL"),
        ("workflows://host.example.com/secretid/", "secretid", "invalid workflows:// URL"),
        ("", "", "not a URL"),
    ],
)
def test_invalid_url_raises_target_error_without_secret(
    url: str, secret: str, expect: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A bad URL raises TargetError naming receiver[index] and the scheme, never the secret."""
    with pytest.raises(TargetError) as err:
        AppriseTarget("ops", 2, url)
    assert "ops[2]" in str(err.value)
    assert expect in str(err.value)
    if secret:
        assert secret not in str(err.value)
        assert secret not in caplog.text


@pytest.mark.parametrize(
    ("url", "secrets"),
    [
        (SLACK, ["T1SECRETA", "B2SECRETB", "c3secretsecretsecretsecret"]),
        (WORKFLOWS, ["wf0SECRETID", "sigSECRETSIG0"]),
        ("mailtos://alertd:pa55w0rd-secret@smtp.example.com?to=ops@example.com", ["pa55w0rd-secret"]),
        ("json://user:jsonpassword@127.0.0.1:9/hook", ["jsonpassword"]),
        ("json://127.0.0.1:9/hook-PATHTOKEN?+X-Api-Key=HEADERTOKEN&-token=QUERYTOKEN", ["TOKEN"]),
    ],
)
def test_privacy_url_hides_tokens(url: str, secrets: list[str]) -> None:
    """privacy_url (the only URL form alertd shows) masks tokens, passwords, path segments and query values."""
    target = AppriseTarget("ops", 0, url)
    for secret in secrets:
        assert secret not in target.privacy_url
        assert secret not in repr(target)
    assert target.name == "ops[0]"


async def test_back_to_back_sends_are_not_throttled(smtp_server: SmtpServer) -> None:
    """apprise's blocking throttle (5.5 s between two sends to email and Teams) is off: two sends take less."""
    assert apprise.Apprise.instantiate(smtp_server.url).request_rate_per_sec == 5.5  # apprise's own default
    target = AppriseTarget("ops", 0, smtp_server.url)
    started = time.monotonic()
    assert (await target.send(EMAIL)).ok and (await target.send(EMAIL)).ok
    # Throttled, the second send alone would sleep 5.5 s minus the first send's duration.
    assert time.monotonic() - started < 5.5
    assert len(smtp_server.messages) == 2


async def test_retry_in_the_url_is_not_done_inside_a_send(webhook: WebhookCollector) -> None:
    """A user's ?retry=2 does not make apprise repeat the request within one send (alertd's outbox retries)."""
    webhook.script(500, 500, 500)
    outcome = await AppriseTarget("ops", 0, webhook.url + "?retry=2&wait=0").send(CHAT)
    assert not outcome.ok and outcome.retryable
    assert webhook.statuses == [500]


@pytest.mark.parametrize(
    ("url", "channel"),
    [
        ("mailto://127.0.0.1:25?from=a@example.com&to=b@example.com&mode=insecure", Channel.EMAIL),
        ("mailtos://u:p@smtp.example.com?to=ops@example.com", Channel.EMAIL),
        ("sendgrid://apikey:alertd@example.com/ops@example.com", Channel.EMAIL),
        ("json://127.0.0.1:9/hook", Channel.CHAT),
        ("discord://1234567890/abcdefABCDEF", Channel.CHAT),
    ],
)
def test_channel(url: str, channel: Channel) -> None:
    """Email plugins are the EMAIL channel (HTML with a text part); everything else is CHAT (Markdown)."""
    target = AppriseTarget("ops", 0, url)
    assert (target.channel, target.kind) == (channel, channel.value)


async def test_secrets_stay_out_of_details_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Failure details and every log line (apprise DEBUG included) show only the privacy URL."""
    caplog.set_level(logging.DEBUG)
    with WebhookCollector([500]) as hook:
        url = hook.url.replace("json://", "json://alertd:hooksecret99@")
        target = AppriseTarget("ops", 0, url)
        with structlog.testing.capture_logs() as events:
            failed = await target.send(CHAT)
            delivered = await target.send(CHAT)
    assert not failed.ok and delivered.ok
    assert "hooksecret99" not in failed.detail
    assert "hooksecret99" not in caplog.text
    assert "hooksecret99" not in repr(events)
    assert {e["url"] for e in events} == {target.privacy_url}
    assert hook.requests[0].headers["Authorization"].startswith("Basic ")  # the secret was used

"""Native Slack and Teams targets against loopback servers speaking those APIs; URL forms, privacy, lazy apprise."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from render_data import group, session
from support import Reply, WebhookCollector
from support.smtp import free_port

from alertd.channels import TargetError, make_target, privacy_form
from alertd.channels.base import parse_retry_after
from alertd.model import Channel
from alertd.render import Renderer
from alertd.render.limits import slack_problems, teams_problems

BOT = "xoxb-1234-5678-SECRETbotTOKEN"
SLACK_ERRORS = ["invalid_blocks", "channel_not_found", "invalid_auth"]


def slack_hook(hook: WebhookCollector, channel: str = "") -> str:
    return f"slack+{hook.http_url}" + (f"#{channel}" if channel else "")


def slack_bot(hook: WebhookCollector) -> str:
    return f"slack+http://{BOT}@127.0.0.1:{hook.port}/#alerts"


def teams_hook(hook: WebhookCollector) -> str:
    return f"teams+{hook.http_url}?api-version=1&sig=SIGsecret123"


def ok_json() -> Reply:
    return Reply(200, body='{"ok": true, "ts": "1.2"}', headers={"Content-Type": "application/json"})


async def test_slack_webhook_receives_valid_block_kit(webhook: WebhookCollector) -> None:
    """A rendered alert reaches a Slack webhook as Block Kit within Slack's limits, with the channel override."""
    target = make_target("ops", slack_hook(webhook, "alerts"), "slack-1")
    msg = Renderer().render(group(session(1), session(2)), target.channel)
    outcome = await target.send(msg)
    assert (outcome.ok, outcome.detail, outcome.retry_after) == (True, "delivered", None)
    [request] = webhook.requests
    assert slack_problems(request.payload) == []
    assert request.payload["channel"] == "#alerts"
    assert request.headers["Content-Type"].startswith("application/json")


async def test_slack_bot_posts_with_bearer_token(webhook: WebhookCollector) -> None:
    """The bot form posts to /api/chat.postMessage with the token as a Bearer header and the channel in the body."""
    webhook.script(ok_json())
    target = make_target("ops", slack_bot(webhook), "bot")
    outcome = await target.send(Renderer().render(group(session(1)), Channel.SLACK))
    assert outcome.ok
    [request] = webhook.requests
    assert (request.path, request.headers["Authorization"]) == ("/api/chat.postMessage", f"Bearer {BOT}")
    assert request.payload["channel"] == "#alerts"


@pytest.mark.parametrize("error", SLACK_ERRORS)
async def test_slack_ok_false_is_permanent_with_reason(webhook: WebhookCollector, error: str) -> None:
    """chat.postMessage answering 200 {"ok": false, "error": ...} is a permanent failure naming Slack's reason."""
    webhook.script(Reply(200, body=json.dumps({"ok": False, "error": error})))
    outcome = await make_target("ops", slack_bot(webhook), "bot").send(
        Renderer().render_test("ops", Channel.SLACK)
    )
    assert (outcome.ok, outcome.retryable) == (False, False)
    assert outcome.detail == f"Slack refused the message: {error}"


@pytest.mark.parametrize(
    ("reply", "retryable", "detail"),
    [
        (
            Reply(404, body="channel_not_found"),
            False,
            "Slack refused the message (HTTP 404): channel_not_found",
        ),
        (Reply(400, body="invalid_blocks"), False, "Slack refused the message (HTTP 400): invalid_blocks"),
        (Reply(410, body="channel_is_archived"), False, "(HTTP 410): channel_is_archived"),
        (Reply(403, body="action_prohibited"), False, "(HTTP 403): action_prohibited"),
        (Reply(500, body="oops"), True, "Slack answered HTTP 500: oops"),
        (Reply(503, retry_after=7), True, "Slack answered HTTP 503"),
        (Reply(200, body='{"ok": false, "error": "internal_error"}'), True, "internal_error"),
    ],
)
async def test_slack_webhook_errors_are_classified(
    webhook: WebhookCollector, reply: Reply, retryable: bool, detail: str
) -> None:
    """Webhook 4xx text bodies are permanent with the reason; 5xx and Slack's transient errors are retryable."""
    webhook.script(reply)
    target = make_target("ops", slack_bot(webhook) if reply.status == 200 else slack_hook(webhook), "s")
    outcome = await target.send(Renderer().render_test("ops", Channel.SLACK))
    assert (outcome.ok, outcome.retryable) == (False, retryable)
    assert detail in outcome.detail


@pytest.mark.parametrize("kind", ["slack", "teams"])
@pytest.mark.parametrize(
    ("header", "seconds"),
    [("30", 30.0), ("0.5", 0.5), (None, None), ("99999", 3600.0)],
)
async def test_429_is_retryable_with_retry_after(
    webhook: WebhookCollector, kind: str, header: str | None, seconds: float | None
) -> None:
    """HTTP 429 is retryable and reports the service's Retry-After (seconds, capped at an hour) as retry_after."""
    webhook.script(Reply(429, body="rate_limited", headers={"Retry-After": header} if header else {}))
    url = slack_hook(webhook) if kind == "slack" else teams_hook(webhook)
    target = make_target("ops", url, "x")
    outcome = await target.send(Renderer().render_test("ops", target.channel))
    assert (outcome.ok, outcome.retryable, outcome.retry_after) == (False, True, seconds)
    assert "HTTP 429" in outcome.detail


def test_retry_after_accepts_an_http_date() -> None:
    """Retry-After may be an HTTP-date (RFC 9110); it becomes the seconds from now."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    header = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(header, now.timestamp()) == 90.0
    assert parse_retry_after("soon") is None


async def test_teams_workflow_receives_a_valid_card(webhook: WebhookCollector) -> None:
    """A rendered alert reaches a Workflows webhook (202 Accepted) as a valid Adaptive Card message, query kept."""
    webhook.script(202)
    target = make_target("dba", teams_hook(webhook), "teams-1")
    msg = Renderer().render(group(session(1)), target.channel)
    assert (await target.send(msg)).ok
    [request] = webhook.requests
    assert teams_problems(request.text) == []
    assert request.path == "/hook"


async def test_teams_schema_mismatch_is_permanent_with_reason(webhook: WebhookCollector) -> None:
    """Workflows' 400 TriggerInputSchemaMismatch is permanent; the detail carries its code and message."""
    error = {
        "error": {
            "code": "TriggerInputSchemaMismatch",
            "message": "The input body does not match the schema.",
        }
    }
    webhook.script(Reply(400, body=json.dumps(error)))
    outcome = await make_target("dba", teams_hook(webhook), "t").send(
        Renderer().render_test("dba", Channel.TEAMS)
    )
    assert (outcome.ok, outcome.retryable) == (False, False)
    assert "TriggerInputSchemaMismatch The input body does not match the schema." in outcome.detail


@pytest.mark.parametrize("kind", ["slack", "teams"])
async def test_network_failures_are_retryable(webhook: WebhookCollector, kind: str) -> None:
    """Connection refused and a timeout are retryable failures that say so."""
    port = free_port()
    url = f"{kind}+http://127.0.0.1:{port}/hook"
    refused = await make_target("ops", url, "x").send(Renderer().render_test("ops", Channel.SLACK))
    assert (refused.ok, refused.retryable) == (False, True) and "cannot connect" in refused.detail
    webhook.script(Reply(200, delay=5))
    slow_url = slack_hook(webhook) if kind == "slack" else teams_hook(webhook)
    slow = await make_target("ops", slow_url, "x").send(
        Renderer().render_test("ops", Channel.TEAMS), timeout=0.3
    )
    assert (slow.ok, slow.retryable, slow.detail) == (False, True, "timed out after 0.3s")


@pytest.mark.parametrize(
    ("form", "secret"),
    [
        ("slack+http://{bot}@127.0.0.1:{port}/hook#alerts", BOT),
        ("teams+http://127.0.0.1:{port}/hook?sig=SIGsecret123", "SIGsecret123"),
    ],
)
async def test_echoed_secrets_are_redacted_from_details(
    webhook: WebhookCollector, form: str, secret: str
) -> None:
    """A service quoting the token or signature back in its error never puts it in the detail."""
    webhook.script(Reply(400, body=f"bad credential {secret} in {webhook.http_url}?sig={secret}"))
    target = make_target("ops", form.format(bot=BOT, port=webhook.port), "x")
    outcome = await target.send(Renderer().render_test("ops", target.channel))
    assert "bad credential ***" in outcome.detail
    assert secret not in outcome.detail


@pytest.mark.parametrize(
    ("url", "channel", "endpoint"),
    [
        (
            "https://hooks.slack.com/services/T0/B0/XyZ123",
            Channel.SLACK,
            "https://hooks.slack.com/services/T0/B0/XyZ123",
        ),
        (
            "slack://T1/B2/C3xyz/#alerts",
            Channel.SLACK,
            "https://hooks.slack.com/services/T1/B2/C3xyz|channel=#alerts",
        ),
        (
            "slack://alertd@T1/B2/C3xyz?mode=gov-hook",
            Channel.SLACK,
            "https://hooks.slack-gov.com/services/T1/B2/C3xyz",
        ),
        (
            f"slack://{BOT}/#ops",
            Channel.SLACK,
            f"https://slack.com/api/chat.postMessage|token={BOT}|channel=#ops",
        ),
        (
            "workflows://prod-01.westeurope.logic.azure.com:443/wfID/sigX/",
            Channel.TEAMS,
            "https://prod-01.westeurope.logic.azure.com:443/workflows/wfID/triggers/manual/paths/invoke"
            "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=sigX",
        ),
        (
            "workflows://env.environment.api.powerplatform.com/wfID/sigX/?pa=yes&route=7",
            Channel.TEAMS,
            "https://env.environment.api.powerplatform.com/powerautomate/automations/direct/cu/7/workflows/wfID/"
            "triggers/manual/paths/invoke?api-version=2022-03-01-preview&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=sigX",
        ),
        (
            "https://prod-00.westeurope.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sig=S",
            Channel.TEAMS,
            "https://prod-00.westeurope.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sig=S",
        ),
        ("teams+http://127.0.0.1:9/wf?sig=S", Channel.TEAMS, "http://127.0.0.1:9/wf?sig=S"),
        ("json://127.0.0.1:9/hook", Channel.CHAT, None),
        ("mailtos://u:p@smtp.example.com?to=ops@example.com", Channel.EMAIL, None),
    ],
)
def test_url_forms_pick_the_target(url: str, channel: Channel, endpoint: str | None) -> None:
    """Pasted Slack/Teams URL forms become native targets posting to the right endpoint; the rest go to apprise."""
    target = make_target("ops", url, "x")
    assert target.channel is channel
    if endpoint is not None:
        assert target.identity.split(":", 1)[1] == endpoint


@pytest.mark.parametrize(
    ("url", "expect"),
    [
        ("slack://T1/B2/#alerts", "expected slack://TokenA/TokenB/TokenC"),
        ("slack://xoxb-1-SECRETtok", "needs a channel"),
        ("slack://T1/B2/C3SECRET/#a/#b", "one URL per channel"),
        ("workflows://host.example.com/SECRETid/", "expected workflows://HOST/WORKFLOW_ID/SIGNATURE"),
        ("slack+http://xoxq-SECRET@127.0.0.1/#a", "bot token looks like"),
    ],
)
def test_malformed_native_urls_name_the_target_not_the_secret(url: str, expect: str) -> None:
    """A malformed Slack/Teams URL raises TargetError naming receiver[label] and the problem, never a token."""
    with pytest.raises(TargetError) as err:
        make_target("ops", url, "slack-1")
    assert "ops[slack-1]" in str(err.value) and expect in str(err.value)
    assert "SECRET" not in str(err.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "https://hooks.slack.com/services/T0SECRET/B0SECRET/SECRETxyz",
            "https://hooks.slack.com/***/***/***/***",
        ),
        (f"slack://{BOT}/#SECRETchannel", "https://slack.com/***/***#***"),
        (
            "https://prod-00.westeurope.logic.azure.com:443/workflows/SECRETid/triggers/manual/paths/invoke?api-version=1&sig=SECRETsig",
            "https://prod-00.westeurope.logic.azure.com:443/***/***/***/***/***/***?api-version=***&sig=***",
        ),
        ("json://127.0.0.1:9/hook-SECRET?+X-Api-Key=SECRETkey&-token=SECRETq", "json://127.0.0.1:9/***?"),
        (
            "mailtos://alertd:SECRETpw@smtp.example.com?to=ops@example.com",
            "mailtos://alertd:***@smtp.example.com/***?",
        ),
    ],
)
def test_privacy_url_hides_every_path_segment_and_query_value(url: str, shown: str) -> None:
    """privacy_url hides every path segment, query value and password, for native and apprise targets alike."""
    target = make_target("ops", url, "x")
    assert target.privacy_url.startswith(shown)
    assert "SECRET" not in target.privacy_url and "SECRET" not in repr(target)
    assert target.name == "ops[x]"


def test_privacy_form_of_odd_urls() -> None:
    """privacy_form keeps scheme, host, port and keys, masks everything else, and survives a bad URL."""
    assert (
        privacy_form("https://u:p@h.example:8443/a/b/?k=v&e=#frag")
        == "https://u:***@h.example:8443/***/***/?k=***&e#***"
    )
    assert privacy_form("json://[::1") == "json://***"


def test_identity_is_stable_and_distinct() -> None:
    """identity is the same for the same URL and differs between destinations (a stable key for the outbox)."""
    a1 = make_target("ops", "slack://T1/B2/C3/#a", "x").identity
    a2 = make_target("ops", "slack://T1/B2/C3/#a", "y").identity
    b = make_target("ops", "slack://T1/B2/C3/#b", "x").identity
    assert a1 == a2 != b


def test_slack_and_teams_only_config_never_imports_apprise() -> None:
    """Building Slack/Teams targets and rendering for them does not import apprise (its plugin table costs memory)."""
    code = (
        "import sys\n"
        "from alertd.channels import make_target\n"
        "from alertd.render import Renderer\n"
        "import alertd.pipeline, alertd.runtime\n"
        "t = make_target('ops', 'slack://T1/B2/C3/#a', 'x')\n"
        "u = make_target('ops', 'workflows://h.logic.azure.com/w/s/', 'y')\n"
        "Renderer().render_test('ops', t.channel)\n"
        "print('apprise' in sys.modules, 'alertd.notify' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    # alertd.runtime still imports alertd.notify until it builds targets with make_target.
    loaded = out.stdout.split()
    assert loaded[0] == loaded[1]
    code_without_runtime = code.replace(
        "import alertd.pipeline, alertd.runtime\n", "import alertd.pipeline\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code_without_runtime], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.split() == ["False", "False"]

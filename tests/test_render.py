"""Rendering: titles, job context, time zones, links and silence hint, templates and their sandbox."""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from jinja2.exceptions import SecurityError
from render_data import START, group, mixed, session

from alertd.model import AlertDetail, BodyFormat, Channel, GroupKind, NotifyType
from alertd.render import (
    TITLE_MAX_CHARS,
    DisplayOptions,
    Renderer,
    RouteLinks,
    TemplateError,
    TimeZoneError,
    check_link_template,
)
from alertd.render.chat import chat_fits
from alertd.render.links import silence_hint

FORMATS = {
    Channel.CHAT: BodyFormat.MARKDOWN,
    Channel.EMAIL: BodyFormat.HTML,
    Channel.SLACK: BodyFormat.JSON,
    Channel.TEAMS: BodyFormat.JSON,
}


@pytest.fixture
def renderer() -> Renderer:
    return Renderer()


@pytest.mark.parametrize(
    ("failed", "warnings", "runs", "title", "notify_type"),
    [
        (37, 5, None, "[Failed] SQL Daily on vbr01.corp.local: 37 failed, 5 warnings", NotifyType.FAILURE),
        (
            3,
            2,
            40,
            "[Failed] SQL Daily on vbr01.corp.local: 3 failed, 2 warnings of 40 VMs",
            NotifyType.FAILURE,
        ),
        (1, 0, None, "[Failed] SQL Daily on vbr01.corp.local: 1 failed", NotifyType.FAILURE),
        (0, 1, 1, "[Warning] SQL Daily on vbr01.corp.local: 1 warning of 1 VM", NotifyType.WARNING),
        (0, 3, None, "[Warning] SQL Daily on vbr01.corp.local: 3 warnings", NotifyType.WARNING),
    ],
)
@pytest.mark.parametrize("channel", list(Channel))
def test_title_names_counts_job_context_and_worst_result(
    renderer: Renderer,
    failed: int,
    warnings: int,
    runs: int | None,
    title: str,
    notify_type: NotifyType,
    channel: Channel,
) -> None:
    """The title carries job, server, counts ("of 40 VMs" when the run's size is known) and worst result, on every channel."""
    msg = renderer.render(mixed(failed, warnings, task_count=runs), channel)
    assert (msg.title, msg.notify_type, msg.body_format) == (title, notify_type, FORMATS[channel])


@pytest.mark.parametrize(
    ("failed", "warnings", "earlier", "title"),
    [
        (2, 0, 37, "[Failed] SQL Daily on vbr01.corp.local: 2 more failed (follow-up, 37 reported earlier)"),
        (1, 2, 0, "[Failed] SQL Daily on vbr01.corp.local: 1 more failed, 2 more warnings (follow-up)"),
    ],
)
def test_follow_up_title_says_more_and_earlier_count(
    renderer: Renderer, failed: int, warnings: int, earlier: int, title: str
) -> None:
    """A follow-up (sequence > 1) says "more", "(follow-up)" and how many went out earlier."""
    msg = renderer.render(mixed(failed, warnings, sequence=2, earlier=earlier), Channel.CHAT)
    assert msg.title == title
    assert msg.body.startswith("**Follow-up 2**")


def test_long_title_is_cut_but_keeps_counts(renderer: Renderer) -> None:
    """Titles stay within 150 characters; job and server shrink before the counts do."""
    alerts = [session(i, job="Nightly " + "very long job name " * 20) for i in range(3)]
    msg = renderer.render(group(*alerts), Channel.CHAT)
    assert len(msg.title) <= TITLE_MAX_CHARS
    assert msg.title.endswith(": 3 failed")


@pytest.mark.parametrize(
    ("zone", "start", "end", "expected"),
    [
        ("UTC", START, START + timedelta(hours=1), "2025-06-05 01:04 → 02:04 UTC"),
        (
            "UTC",
            datetime(2025, 6, 5, 3, 4, tzinfo=timezone(timedelta(hours=2))),
            datetime(2025, 6, 5, 4, 0, tzinfo=timezone(timedelta(hours=2))),
            "2025-06-05 01:04 → 02:00 UTC",
        ),
        (
            "Europe/Berlin",
            START,
            START + timedelta(minutes=87),
            "2025-06-05 03:04 → 04:31 CEST (01:04 → 02:31 UTC)",
        ),
        (
            "America/New_York",
            START,
            START + timedelta(hours=1),
            "2025-06-04 21:04 → 22:04 EDT (2025-06-05 01:04 → 02:04 UTC)",
        ),
        ("UTC", datetime(2025, 6, 5, 1, 4), None, "2025-06-05 01:04 UTC → still running"),
    ],
)
@pytest.mark.parametrize("channel", [Channel.CHAT, Channel.EMAIL])
def test_run_times_in_display_zone_with_utc_in_brackets(
    zone: str, start: datetime, end: datetime | None, expected: str, channel: Channel
) -> None:
    """The run's span shows in display.timezone (IANA) with UTC kept in brackets; naive times are UTC."""
    renderer = Renderer(display=DisplayOptions(timezone=zone))
    msg = renderer.render(group(session(1, start=start, end=end)), channel)
    assert expected in msg.body


def test_unknown_display_zone_is_refused() -> None:
    """A display.timezone that is not an IANA zone fails when the Renderer is built, naming it."""
    with pytest.raises(TimeZoneError, match="Mars/Olympus"):
        Renderer(display=DisplayOptions(timezone="Mars/Olympus"))


@pytest.mark.parametrize("channel", list(Channel))
def test_duration_and_job_context_on_every_channel(renderer: Renderer, channel: Channel) -> None:
    """Every channel shows "3 failed, 2 warnings of 40 VMs" and the run's duration."""
    msg = renderer.render(mixed(3, 2, task_count=40), channel)
    body = (
        json.dumps(json.loads(msg.body), ensure_ascii=False)
        if msg.body_format is BodyFormat.JSON
        else msg.body
    )
    assert "3 failed, 2 warnings of 40 VMs" in body
    assert "1h 30m" in body  # the job run's own start and end (EM's job-session entity)


@pytest.mark.parametrize("channel", list(Channel))
@pytest.mark.parametrize("is_retry", [True, False])
def test_a_retry_run_says_so_on_every_channel(renderer: Renderer, channel: Channel, is_retry: bool) -> None:
    """Failures of Veeam's automatic retry (EM IsRetry, VBR retry detection) are marked on the Run line."""
    msg = renderer.render(mixed(2, 0, task_count=40, is_retry=is_retry), channel)
    body = (
        msg.body
        if msg.body_format is not BodyFormat.JSON
        else json.dumps(json.loads(msg.body), ensure_ascii=False)
    )
    assert ("Veeam's automatic retry" in html.unescape(body)) is is_retry
    assert "automatic retry" not in msg.title


def test_job_context_degrades_without_the_job_run(renderer: Renderer) -> None:
    """Without the job-session entity the counts leave out "of N VMs" and the span comes from the tasks."""
    msg = renderer.render(mixed(3, 2), Channel.CHAT)
    assert "3 failed, 2 warnings" in msg.body and " of " not in msg.title
    assert "(1h 27m)" in msg.body


LINKS = RouteLinks(
    runbook_url="https://wiki.example.com/runbooks/{{ job_name }}",
    dashboard_url="https://grafana.example.com/d/veeam?job={{ job_name }}&server={{ backup_server }}",
)


@pytest.mark.parametrize(
    ("channel", "expected"),
    [
        (Channel.CHAT, "[Runbook](https://wiki.example.com/runbooks/SQL%20%26%20%3Cb%3E%7Cx)"),
        (Channel.EMAIL, 'href="https://wiki.example.com/runbooks/SQL%20%26%20%3Cb%3E%7Cx"'),
        (Channel.SLACK, "<https://wiki.example.com/runbooks/SQL%20%26%20%3Cb%3E%7Cx|Runbook>"),
        (Channel.TEAMS, '"url":"https://wiki.example.com/runbooks/SQL%20%26%20%3Cb%3E%7Cx"'),
    ],
)
def test_route_links_are_templated_and_encoded(channel: Channel, expected: str) -> None:
    """A route's links expand per message; job names are percent-encoded so they cannot add parameters or break a link."""
    msg = Renderer().render(group(session(1, job="SQL & <b>|x")), channel, links=LINKS)
    assert expected in msg.body
    assert "Dashboard" in msg.body


@pytest.mark.parametrize(
    ("template", "error"),
    [
        ("ftp://files.example.com/{{ job_name }}", "http"),
        ("{{ job_name }}", "http"),
        ("https://x.example/{{ no_such }}", "UndefinedError"),
        ("https://x.example/{{ ''.__class__ }}", "SecurityError"),
    ],
)
def test_bad_link_templates_are_refused(template: str, error: str) -> None:
    """A link template that is not http(s), names an unknown variable or escapes the sandbox is a TemplateError."""
    with pytest.raises(TemplateError, match=error):
        check_link_template("runbook_url", template)


@pytest.mark.parametrize(
    ("job", "server", "config", "expected"),
    [
        (
            "SQL Daily",
            "vbr01",
            None,
            """alertd silence add 'backup_server="vbr01"' 'job_name="SQL Daily"' --for 4h --comment WHY""",
        ),
        (
            'It\'s "odd" $(x)',
            None,
            "/etc/alertd/a.yaml",
            """alertd silence add --config /etc/alertd/a.yaml 'job_name="It'"'"'s \\"odd\\" $(x)"' --for 4h --comment WHY""",
        ),
    ],
)
def test_silence_hint_is_the_exact_command(
    job: str, server: str | None, config: str | None, expected: str
) -> None:
    """The silence hint is a paste-ready command: matchers escaped for alertd, words quoted for the shell."""
    assert silence_hint(job, server, config) == expected


@pytest.mark.parametrize("channel", list(Channel))
def test_silence_hint_and_run_shown_for_firing_not_for_resolved(channel: Channel) -> None:
    """Firing messages carry the silence hint (with --config when known); recovery messages do not."""
    renderer = Renderer(display=DisplayOptions(config_path="/etc/alertd/alertd.yaml"))
    firing = renderer.render(group(session(1)), channel).body
    resolved = renderer.render(
        group(session(1, result="Success", reason=""), kind=GroupKind.RESOLVED), channel
    ).body
    assert "silence add --config /etc/alertd/alertd.yaml" in firing
    assert "silence add" not in resolved


@pytest.mark.parametrize("channel", list(Channel))
def test_streak_attempts_and_late_collection_are_shown(renderer: Renderer, channel: Channel) -> None:
    """Per-VM notes: Veeam's attempts, the failed-run streak and "collected late" when EM was late."""
    alert = session(1)
    detail = AlertDetail(attempts=3, streak=4, late_by=timedelta(minutes=47))
    body = renderer.render(group(alert, details={alert.uid: detail}), channel).body
    for text in ("after 3 attempts", "4 runs in a row", "collected 47m late"):
        assert text in body


def test_resolved_message_tells_the_recovery(renderer: Renderer) -> None:
    """A resolved group says how many runs failed and for how long, per VM."""
    alert = session(1, result="Success", reason="")
    detail = AlertDetail(failed_runs=2, since=START - timedelta(hours=14))
    msg = renderer.render(group(alert, kind=GroupKind.RESOLVED, details={alert.uid: detail}), Channel.CHAT)
    assert msg.title.startswith("[Resolved] ")
    assert "recovered after 2 failed runs, 15h" in msg.body


TRICKS = [
    "{{ ''.__class__.__mro__ }}",
    "{{ group.__class__.__init__.__globals__ }}",
    "{{ ''.format.__self__.__class__ }}",
    "{{ '{0.__class__.__mro__}'.format(group) }}",
    "{{ cycler.__init__.__globals__.os }}",
    "{{ alerts.append(1) }}",
]


@pytest.mark.parametrize("trick", TRICKS)
def test_sandbox_blocks_attribute_tricks(tmp_path: Path, trick: str) -> None:
    """A template author cannot reach Python internals: TemplateError (cause SecurityError)."""
    (tmp_path / "alert_title.txt.j2").write_text(trick)
    with pytest.raises(TemplateError) as err:
        Renderer({"ops": tmp_path}).render(group(session(1)), Channel.SLACK)
    assert err.value.template == "alert_title.txt.j2"
    assert isinstance(err.value.__cause__, SecurityError)


@pytest.mark.parametrize(
    ("name", "source", "channel", "error"),
    [
        ("alert_chat.md.j2", "{{ no_such_variable }}", Channel.CHAT, "UndefinedError"),
        ("alert_email.html.j2", "{% if %}", Channel.EMAIL, "TemplateSyntaxError"),
        ("alert_email.txt.j2", "{{ 1 / 0 }}", Channel.EMAIL, "ZeroDivisionError"),
        ("alert_slack.json.j2", "{not json", Channel.SLACK, "not valid JSON"),
        ("alert_slack.json.j2", '{"blocks": []}', Channel.SLACK, "no top-level text"),
        ("alert_teams.json.j2", '{"type": "message", "attachments": []}', Channel.TEAMS, "one attachment"),
    ],
)
def test_template_errors_name_the_template(
    tmp_path: Path, name: str, source: str, channel: Channel, error: str
) -> None:
    """Broken, undefined-variable or limit-breaking templates raise TemplateError naming the file."""
    (tmp_path / name).write_text(source)
    with pytest.raises(TemplateError, match=rf"'{name}'.*{error}"):
        Renderer({"ops": tmp_path}).render(group(session(1)), channel)


def test_override_directory_replaces_one_template_per_receiver(tmp_path: Path) -> None:
    """A receiver's directory overrides only the files it has and only for that receiver."""
    (tmp_path / "alert_chat.md.j2").write_text(
        "custom: {{ total }} VMs, worst {{ worst }}, {{ view.summary }}"
    )
    (tmp_path / "alert_title.txt.j2").write_text("{{ worst }}: {{ job_name }}")
    renderer = Renderer({"ops": tmp_path})
    ops = renderer.render(group(session(1), session(2)), Channel.CHAT)
    assert (ops.title, ops.body) == ("Failed: SQL Daily", "custom: 2 VMs, worst Failed, 2 failed")
    slack = json.loads(renderer.render(group(session(1)), Channel.SLACK).body)
    assert slack["text"] == "Failed: SQL Daily"  # the title override reaches the native layouts
    assert "<table" in renderer.render(group(session(1)), Channel.EMAIL).body
    assert renderer.render(group(session(1), receiver="dba"), Channel.CHAT).body.startswith("**SQL Daily**")


def test_native_layout_override_is_used_when_valid(tmp_path: Path) -> None:
    """A receiver's alert_slack.json.j2 replaces the Block Kit layout when it passes Slack's limits."""
    (tmp_path / "alert_slack.json.j2").write_text(
        '{"text": {{ title | tojson }}, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": {{ (total ~ " VMs") | slack | tojson }}}}]}'
    )
    msg = Renderer({"ops": tmp_path}).render(group(session(1), session(2)), Channel.SLACK)
    assert json.loads(msg.body)["blocks"][0]["text"]["text"] == "2 VMs"


def test_missing_override_directory_is_rejected(tmp_path: Path) -> None:
    """An override directory that does not exist fails when the Renderer is built."""
    with pytest.raises(TemplateError, match="does not exist"):
        Renderer({"ops": tmp_path / "nope"})


def test_oversized_chat_override_is_cut_to_fit(tmp_path: Path) -> None:
    """Even a template that writes too much yields a chat body within the limits, cut with "…"."""
    (tmp_path / "alert_chat.md.j2").write_text("{{ 'x' * 10000 }}")
    body = Renderer({"ops": tmp_path}).render(group(session(1)), Channel.CHAT).body
    assert chat_fits(body)
    assert body.endswith("x\n…\n_+1 more (see the email or alertd history)_")


@pytest.mark.parametrize("channel", list(Channel))
def test_helper_messages_render_on_every_channel(renderer: Renderer, channel: Channel) -> None:
    """Test, dead-letter and self-monitoring messages render for every channel with the right type."""
    test = renderer.render_test("ops", channel, now=START)
    assert (test.title, test.notify_type) == ("[alertd] Test message for receiver ops", NotifyType.INFO)
    assert "2025-06-05 01:04:29 UTC" in test.body
    dead = renderer.render_dead_letter(
        "ops",
        "json://127.0.0.1:9/***",
        "[Failed] SQL Daily: <1 failed>",
        "error=500",
        6,
        START,
        channel=channel,
    )
    assert dead.notify_type is NotifyType.FAILURE
    assert dead.title == "[alertd] Undeliverable after 6 attempts to ops: [Failed] SQL Daily: <1 failed>"
    assert "error=500" in dead.body
    down = renderer.render_self_alert("em01", "EM API unreachable", START, recovered=False, channel=channel)
    up = renderer.render_self_alert("em01", "EM API unreachable", START, recovered=True, channel=channel)
    assert (down.title, down.notify_type) == (
        "[alertd] Problem: em01: EM API unreachable",
        NotifyType.FAILURE,
    )
    assert (up.title, up.notify_type) == ("[alertd] Recovered: em01: EM API unreachable", NotifyType.SUCCESS)
    assert "since 2025-06-05 01:04 UTC" in down.body


def test_teams_dead_letter_lines_are_separate_elements(renderer: Renderer) -> None:
    """In Teams each dead-letter fact is its own element, so Markdown cannot run the lines together."""
    msg = renderer.render_dead_letter(
        "ops", "https://x/***", "title", "boom\nsecond line", 3, START, channel=Channel.TEAMS
    )
    body = json.loads(msg.body)["attachments"][0]["content"]["body"]
    labels = [
        b["inlines"][0]["text"] for b in body if b["type"] == "RichTextBlock" and len(b["inlines"]) == 2
    ]
    assert labels == ["Target: ", "Message: ", "Attempts: ", "Last error: "]
    assert all("\n" not in json.dumps(b) for b in body if b["type"] == "TextBlock")


def test_daemon_callers_passing_kind_still_work(renderer: Renderer) -> None:
    """render_dead_letter/render_self_alert accept the former ``kind=`` keyword until every caller passes ``channel=``."""
    msg = renderer.render_self_alert("em01", "down", START, False, kind="email", for_receiver="ops")
    assert msg.body_format is BodyFormat.HTML and msg.text


def test_empty_group_is_a_programming_error(renderer: Renderer) -> None:
    """An empty group is refused rather than rendered as a blank alert."""
    with pytest.raises(ValueError, match="empty"):
        renderer.render(group(), Channel.CHAT)


def test_times_default_to_utc_for_templates_using_the_utc_filter(tmp_path: Path) -> None:
    """Custom templates using ``| utc`` keep getting UTC even with a display zone set."""
    (tmp_path / "alert_chat.md.j2").write_text("{{ start | utc }} / {{ start | when }}")
    renderer = Renderer({"ops": tmp_path}, display=DisplayOptions(timezone="Europe/Berlin"))
    body = renderer.render(group(session(1, start=datetime(2025, 1, 5, 1, 4, tzinfo=UTC))), Channel.CHAT).body
    assert body == "2025-01-05 01:04 UTC / 2025-01-05 02:04 CET (01:04 UTC)"

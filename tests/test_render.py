"""Rendering: titles, chat size limits, email tables, UTC times, sandbox and template overrides."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import apprise
import pytest
from apprise.plugins.workflows import NotifyWorkflows
from jinja2.exceptions import SecurityError

from alertd.model import AlertGroup, BodyFormat, NotifyType, TaskSession
from alertd.render import (
    CHAT_MAX_CHARS,
    CHAT_MIN_VMS,
    TITLE_MAX_CHARS,
    Kind,
    Renderer,
    TemplateError,
    chat_fits,
    md_escape,
    one_line,
)

START = datetime(2025, 6, 5, 1, 4, 29, tzinfo=UTC)
SNAPSHOT = "Error: Failed to create VM snapshot. Details: CBT data is invalid, failing over to full scan"
TEAMS_CARD_LIMIT = 28 * 1024
VM_LINE = re.compile(r"^- (❌|⚠️) ", re.MULTILINE)


def session(
    i: int,
    result: str = "Failed",
    reason: str = SNAPSHOT,
    vm: str | None = None,
    start: datetime = START,
    end: datetime | None = START + timedelta(minutes=87),
    job: str = "SQL Daily",
) -> TaskSession:
    """A task session as the EM client would produce it."""
    name = vm if vm is not None else f"sql{i:03d}"
    return TaskSession(
        uid=f"urn:veeam:BackupTaskSession:{i:08d}",
        name=f"{name}@2025-06-05 01:04:29",
        vm=name,
        vm_uid=f"urn:VMware:Vm:{i}",
        job_session_uid="urn:veeam:BackupJobSession:1",
        job_name=job,
        backup_server="vbr01.corp.local",
        creation_time=start,
        end_time=end,
        state="Completed",
        result=result,
        reason=reason,
        total_size=1_073_741_824 * i,
        source="em01",
    )


def group(*alerts: TaskSession, sequence: int = 1, earlier: int = 0, receiver: str = "ops") -> AlertGroup:
    return AlertGroup(
        key="vbr01/SQL Daily/1", receiver=receiver, alerts=alerts, sequence=sequence, earlier_count=earlier
    )


def mixed(failed: int, warnings: int, sequence: int = 1, earlier: int = 0) -> AlertGroup:
    alerts = [session(i) for i in range(failed)]
    alerts += [
        session(failed + i, result="Warning", reason="Warning: low disk space") for i in range(warnings)
    ]
    return group(*alerts, sequence=sequence, earlier=earlier)


def vm_lines(body: str) -> list[str]:
    return VM_LINE.findall(body)


@pytest.fixture
def renderer() -> Renderer:
    return Renderer()


@pytest.mark.parametrize(
    ("failed", "warnings", "title", "notify_type"),
    [
        (37, 5, "[Failed] SQL Daily on vbr01.corp.local: 37 failed, 5 warnings", NotifyType.FAILURE),
        (1, 0, "[Failed] SQL Daily on vbr01.corp.local: 1 failed", NotifyType.FAILURE),
        (1, 1, "[Failed] SQL Daily on vbr01.corp.local: 1 failed, 1 warning", NotifyType.FAILURE),
        (0, 1, "[Warning] SQL Daily on vbr01.corp.local: 1 warning", NotifyType.WARNING),
        (0, 3, "[Warning] SQL Daily on vbr01.corp.local: 3 warnings", NotifyType.WARNING),
    ],
)
@pytest.mark.parametrize("kind", ["chat", "email"])
def test_title_names_counts_and_worst_result(
    renderer: Renderer, failed: int, warnings: int, title: str, notify_type: NotifyType, kind: Kind
) -> None:
    """The title carries job, server, counts and worst result; FAILURE iff any Failed."""
    msg = renderer.render(mixed(failed, warnings), kind)
    assert msg.title == title
    assert msg.notify_type is notify_type
    assert msg.body_format is (BodyFormat.HTML if kind == "email" else BodyFormat.MARKDOWN)


@pytest.mark.parametrize(
    ("failed", "warnings", "earlier", "title"),
    [
        (2, 0, 37, "[Failed] SQL Daily on vbr01.corp.local: 2 more failed (follow-up, 37 reported earlier)"),
        (0, 1, 5, "[Warning] SQL Daily on vbr01.corp.local: 1 more warning (follow-up, 5 reported earlier)"),
        (1, 2, 0, "[Failed] SQL Daily on vbr01.corp.local: 1 more failed, 2 more warnings (follow-up)"),
    ],
)
def test_follow_up_title_says_more_and_earlier_count(
    renderer: Renderer, failed: int, warnings: int, earlier: int, title: str
) -> None:
    """A follow-up (sequence > 1) says "more", "(follow-up)" and how many went out earlier."""
    msg = renderer.render(mixed(failed, warnings, sequence=2, earlier=earlier), "chat")
    assert msg.title == title
    assert msg.body.startswith("**Follow-up 2**")


def test_long_title_is_cut_but_keeps_counts(renderer: Renderer) -> None:
    """Titles stay within 150 characters; job and server shrink before the counts do."""
    alerts = [session(i, job="Nightly " + "very long job name " * 20) for i in range(3)]
    msg = renderer.render(group(*alerts), "chat")
    assert len(msg.title) <= TITLE_MAX_CHARS
    assert msg.title.endswith(": 3 failed")


@pytest.mark.parametrize("total", [1, 20, 21, 42, 120, 500])
@pytest.mark.parametrize(
    "shape",
    ["shared reason", "unique long reasons", "long names", "non-ascii"],
)
def test_chat_lists_at_least_20_vms_and_fits_limits(renderer: Renderer, total: int, shape: str) -> None:
    """Chat shows >= 20 VMs (or all) before "+N more", and always fits Slack's 4,000 chars."""
    alerts = []
    for i in range(total):
        if shape == "shared reason":
            alerts.append(session(i))
        elif shape == "unique long reasons":
            alerts.append(session(i, reason=f"Error {i}: " + "disk write failed; " * 30))
        elif shape == "long names":
            alerts.append(session(i, vm=f"vm-{i}-" + "x" * 150, reason=f"Error {i}: " + "y" * 300))
        else:
            alerts.append(session(i, vm=f"сервер-БД-{i}-😀", reason=f"Ошибка {i}: 🔥 " + "нет места " * 30))
    body = renderer.render(group(*alerts), "chat").body
    shown = len(vm_lines(body))
    assert shown >= min(CHAT_MIN_VMS, total)
    assert len(body) <= CHAT_MAX_CHARS
    assert chat_fits(body)
    if shown < total:
        assert body.rstrip().endswith(f"_+{total - shown} more (see email / alertd history)_")
    else:
        assert "more (see email" not in body


def test_500_vm_group_fits_4000_chars_and_reports_the_rest(renderer: Renderer) -> None:
    """A 500-VM job run stays under 4,000 characters and names how many VMs it left out."""
    alerts = [
        session(i) if i % 5 else session(i, result="Warning", reason="Warning: low disk") for i in range(500)
    ]
    body = renderer.render(group(*alerts), "chat").body
    assert len(body) < 4000
    shown = len(vm_lines(body))
    assert f"+{500 - shown} more" in body
    assert "1. 400 VMs: Error: Failed to create VM snapshot" in body  # top reasons, counted once
    assert "2. 100 VMs: Warning: low disk" in body


@pytest.mark.parametrize("vm", ["sql001", "сервер-БД-😀", 'q"uote\\back\u2028line'])
def test_teams_card_stays_under_28_kb(renderer: Renderer, vm: str) -> None:
    """apprise's Workflows (Teams) card JSON for a 500-VM chat message stays under 28 KB."""
    alerts = [session(i, vm=f"{vm}-{i}", reason="🔥 Ошибка: " + "é" * 400 + f" {i}") for i in range(500)]
    msg = renderer.render(group(*alerts), "chat")
    workflows = apprise.Apprise.instantiate("workflows://prod-01.westeurope.logic.azure.com/abc123/sig456/")
    assert isinstance(workflows, NotifyWorkflows)
    payload = workflows.gen_payload(  # type: ignore[no-untyped-call]
        body=msg.body, title=msg.title, notify_type=apprise.NotifyType.FAILURE
    )
    assert len(json.dumps(payload).encode()) < TEAMS_CARD_LIMIT


def test_chat_orders_failures_first_and_shortens_reasons(renderer: Renderer) -> None:
    """Failed VMs come before warnings; a multi-line reason becomes one line of <= 200 chars."""
    long_reason = "Line one\r\nline two " + "z" * 400
    msg = renderer.render(
        group(
            session(1, result="Warning", reason="Warning: low disk", vm="a-warn"),
            session(2, reason=long_reason, vm="b-fail"),
        ),
        "chat",
    )
    lines = [line for line in msg.body.splitlines() if VM_LINE.match(line)]
    assert "b-fail" in lines[0]
    assert "a-warn" in lines[1]
    reason_text = lines[0].split("Failed: ", 1)[1]
    assert reason_text.startswith("Line one line two")
    assert reason_text.endswith("…")
    assert len(reason_text) <= 200


def test_email_has_full_list_and_escapes_html(renderer: Renderer) -> None:
    """Email lists every VM in an HTML table and escapes names and reasons (no live <script>)."""
    alerts = [session(i) for i in range(499)]
    alerts.append(session(499, vm="<script>alert(1)</script>", reason="<b>bad</b> & worse"))
    msg = renderer.render(group(*alerts), "email")
    assert msg.body_format is BodyFormat.HTML
    assert msg.body.count("<tr>") == 500 + 1  # header row + every VM
    for i in range(499):
        assert f"<td>sql{i:03d}</td>" in msg.body
    assert "<script>" not in msg.body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in msg.body
    assert "&lt;b&gt;bad&lt;/b&gt; &amp; worse" in msg.body
    assert "more (see email" not in msg.body


def test_chat_escapes_markup_and_mentions(renderer: Renderer) -> None:
    """Data cannot ping a channel or break formatting in chat; plain VM names stay readable."""
    msg = renderer.render(
        group(session(1, vm="SQL_PROD_01", reason="<!channel> *urgent* [x](http://evil)")), "chat"
    )
    assert "**SQL_PROD_01**" in msg.body
    assert "<!channel>" not in msg.body
    assert r"\<!channel\> \*urgent\* \[x\](http://evil)" in msg.body


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (START, START + timedelta(hours=1), "2025-06-05 01:04 UTC → 2025-06-05 02:04 UTC"),
        (
            datetime(2025, 6, 5, 3, 4, tzinfo=timezone(timedelta(hours=2))),
            datetime(2025, 6, 5, 4, 0, tzinfo=timezone(timedelta(hours=2))),
            "2025-06-05 01:04 UTC → 2025-06-05 02:00 UTC",
        ),
        (datetime(2025, 6, 5, 1, 4), None, "2025-06-05 01:04 UTC → still running"),
    ],
)
@pytest.mark.parametrize("kind", ["chat", "email"])
def test_times_are_rendered_in_utc(
    renderer: Renderer, start: datetime, end: datetime | None, expected: str, kind: Kind
) -> None:
    """Job run start/end are shown in UTC with the zone named, whatever the input offset."""
    msg = renderer.render(group(session(1, start=start, end=end)), kind)
    assert f"Job run: {expected}" in msg.body


@pytest.mark.parametrize(
    "trick",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ group.__class__.__init__.__globals__ }}",
        "{{ ''.format.__self__.__class__ }}",
        "{{ '{0.__class__.__mro__}'.format(group) }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{{ alerts.append(1) }}",
    ],
)
def test_sandbox_blocks_attribute_tricks(tmp_path: Path, trick: str) -> None:
    """A template author cannot reach Python internals: TemplateError (cause SecurityError)."""
    (tmp_path / "alert_title.txt.j2").write_text(trick)
    renderer = Renderer({"ops": tmp_path})
    with pytest.raises(TemplateError) as err:
        renderer.render(group(session(1)), "chat")
    assert err.value.template == "alert_title.txt.j2"
    assert "alert_title.txt.j2" in str(err.value)
    assert isinstance(err.value.__cause__, SecurityError)


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("{{ no_such_variable }}", "UndefinedError"),
        ("{% if %}", "TemplateSyntaxError"),
        ("{{ 1 / 0 }}", "ZeroDivisionError"),
    ],
)
def test_template_errors_name_the_template(tmp_path: Path, source: str, error: str) -> None:
    """Broken or undefined-variable templates raise our TemplateError naming the file."""
    (tmp_path / "alert_chat.md.j2").write_text(source)
    with pytest.raises(TemplateError, match=rf"'alert_chat\.md\.j2'.*{error}"):
        Renderer({"ops": tmp_path}).render(group(session(1)), "chat")


def test_override_directory_replaces_one_template(tmp_path: Path) -> None:
    """A receiver's directory overrides only the files it has and only for that receiver."""
    (tmp_path / "alert_chat.md.j2").write_text("custom: {{ total }} VMs, worst {{ worst }}")
    renderer = Renderer({"ops": tmp_path})
    ops = renderer.render(group(session(1), session(2)), "chat")
    assert ops.body == "custom: 2 VMs, worst Failed"
    assert ops.title.startswith("[Failed] SQL Daily")  # default title still used
    assert "<table" in renderer.render(group(session(1)), "email").body  # default email
    other = renderer.render(group(session(1), receiver="dba"), "chat")
    assert other.body.startswith("**SQL Daily**")


def test_missing_override_directory_is_rejected(tmp_path: Path) -> None:
    """An override directory that does not exist fails when the Renderer is built."""
    with pytest.raises(TemplateError, match="does not exist"):
        Renderer({"ops": tmp_path / "nope"})


def test_validate_compiles_every_template(tmp_path: Path) -> None:
    """validate() finds a syntax error in any receiver's override before anything is rendered."""
    Renderer().validate()
    (tmp_path / "test_chat.md.j2").write_text("{% for %}")
    with pytest.raises(TemplateError, match="test_chat"):
        Renderer({"ops": tmp_path}).validate()


def test_oversized_override_is_cut_to_fit(tmp_path: Path) -> None:
    """Even a template that writes too much yields a chat body within the limits, cut with "…"."""
    (tmp_path / "alert_chat.md.j2").write_text("{{ 'x' * 10000 }}")
    body = Renderer({"ops": tmp_path}).render(group(session(1)), "chat").body
    assert chat_fits(body)
    assert body.endswith("x\n…\n_+1 more (see email / alertd history)_")


@pytest.mark.parametrize("kind", ["chat", "email"])
def test_helper_messages_render(renderer: Renderer, kind: Kind) -> None:
    """Test, dead-letter and self-monitoring messages render for both kinds with the right type."""
    body_format = BodyFormat.HTML if kind == "email" else BodyFormat.MARKDOWN
    test = renderer.render_test("ops", kind, now=START)
    assert (test.title, test.notify_type, test.body_format) == (
        "[alertd] Test message for receiver ops",
        NotifyType.INFO,
        body_format,
    )
    assert "2025-06-05 01:04:29 UTC" in test.body

    dead = renderer.render_dead_letter(
        "ops",
        "json://127.0.0.1:9/***",
        "[Failed] SQL Daily: <1 failed>",
        "error=500",
        6,
        START,
        kind=kind,
    )
    assert dead.notify_type is NotifyType.FAILURE
    assert dead.title == "[alertd] Undeliverable after 6 attempts to ops: [Failed] SQL Daily: <1 failed>"
    assert "error=500" in dead.body
    assert "2025-06-05 01:04 UTC" in dead.body
    assert "<1 failed>" not in dead.body  # escaped for HTML and for Markdown

    down = renderer.render_self_alert("em01", "EM API unreachable", START, recovered=False, kind=kind)
    up = renderer.render_self_alert("em01", "EM API unreachable", START, recovered=True, kind=kind)
    assert (down.title, down.notify_type) == (
        "[alertd] Problem: em01: EM API unreachable",
        NotifyType.FAILURE,
    )
    assert (up.title, up.notify_type) == ("[alertd] Recovered: em01: EM API unreachable", NotifyType.SUCCESS)
    assert "since 2025-06-05 01:04 UTC" in down.body


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("a\r\n  b\tc", 200, "a b c"),
        ("abcdef", 4, "abc…"),
        ("abc", 0, ""),
    ],
)
def test_one_line(text: str, limit: int, expected: str) -> None:
    """Reasons collapse to one line and are cut with an ellipsis."""
    assert one_line(text, limit) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SQL_PROD_01", "SQL_PROD_01"),
        ("_tmp_", r"\_tmp\_"),
        ("a*b", r"a\*b"),
        ("<@U123>", r"\<@U123\>"),
        (r"C:\Backup\job.vbk", r"C:\Backup\job.vbk"),
        ("`x`", r"\`x\`"),
    ],
)
def test_md_escape(text: str, expected: str) -> None:
    """Markdown escaping neutralises markup but leaves names and Windows paths readable."""
    assert md_escape(text) == expected


def test_empty_group_is_a_programming_error(renderer: Renderer) -> None:
    """An empty group is refused rather than rendered as a blank alert."""
    with pytest.raises(ValueError, match="empty"):
        renderer.render(group(), "chat")

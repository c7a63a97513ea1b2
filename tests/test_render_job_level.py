"""Job-level entries (a VBR job run that failed with no failed VM) rendered as a line about the job run, in every channel.

Such an entry (``TaskSession.job_level``) is not a VM: it is said in the counts ("job run failed"),
shown as its own "Job run: Failed: <reason>" line before the VMs, and kept out of the VM list,
the VM counts and "Top reasons", in chat Markdown, the email's HTML and text parts, Slack and Teams.
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from render_data import DISK, HOSTILE, START, group, session

from alertd.model import AlertDetail, AlertGroup, Channel, GroupKind, NotifyType, RenderedMessage, TaskSession
from alertd.render import Renderer
from alertd.render.chat import chat_fits
from alertd.render.limits import EMAIL_HTML_BYTES, SLACK_HEADER_CHARS, slack_problems, teams_problems

SYNTHETIC = "Creating synthetic full backup (22% done)"
SERVER = "vbr01.corp.local"


def job(
    n: int = 1,
    result: str = "Failed",
    reason: str = SYNTHETIC,
    name: str = "SQL Daily",
    start: timedelta = timedelta(0),
) -> TaskSession:
    """A job-level entry as the VBR source produces it: ``vm`` empty, ``uid`` the job session's."""
    base = session(
        0,
        result=result,
        reason=reason,
        job=name,
        start=START + start,
        end=START + start + timedelta(minutes=87),
    )
    return dataclasses.replace(
        base,
        uid=f"vbr:vbr01:session:{n:04d}",
        name=f"{name}@{START + start:%Y-%m-%d %H:%M:%S}",
        vm="",
        vm_uid=None,
        total_size=0,
        job_level=True,
    )


def _resolved(*alerts: TaskSession) -> AlertGroup:
    """A resolved group: every alert recovered after 2 failed runs that began 14 hours before this run."""
    detail = AlertDetail(streak=0, failed_runs=2, since=START - timedelta(hours=14))
    return group(*alerts, kind=GroupKind.RESOLVED, details={a.uid: detail for a in alerts})


def _ok(i: int) -> TaskSession:
    return session(i, result="Success", reason="")


#: The groups of the tables below, by name.
GROUPS: dict[str, Callable[[], AlertGroup]] = {
    "job only": lambda: group(job(), task_count=1),
    "job warning, streak": lambda: group(
        job(result="Warning", reason="Nothing to process"),
        details={job().uid: AlertDetail(streak=3)},
    ),
    "mixed": lambda: group(
        job(), session(0), session(1), session(2, result="Warning", reason="Snapshot is old"), task_count=40
    ),
    "warning VM, failed job": lambda: group(job(), session(1, result="Warning", reason="Snapshot is old")),
    "follow-up": lambda: group(job(), session(4), sequence=2, earlier=3),
    "two job runs": lambda: group(
        job(1), job(2, result="Warning", reason="Nothing to process", start=timedelta(hours=1))
    ),
    "resolved job": lambda: _resolved(job(result="Success", reason="")),
    "resolved mixed": lambda: _resolved(job(result="Success", reason=""), _ok(1), _ok(2)),
    "recovered on retry": lambda: group(job(result="Success", reason=""), kind=GroupKind.RECOVERED_ON_RETRY),
    "flapping": lambda: group(job(), kind=GroupKind.FLAPPING),
}


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


def render(renderer: Renderer, name: str, channel: Channel) -> RenderedMessage:
    """The message of ``GROUPS[name]`` for ``channel``."""
    return renderer.render(GROUPS[name](), channel)


def _slack_lines(body: str) -> list[str]:
    payload = json.loads(body)
    blocks = [*payload["blocks"], *(b for a in payload.get("attachments", []) for b in a["blocks"])]
    texts = []
    for block in blocks:
        if "text" in block:
            texts.append(block["text"]["text"])
        texts += [e["text"] for e in block.get("elements", [])]
    return texts


def _teams_text(node: dict[str, Any]) -> list[str]:
    kind = node.get("type")
    if kind == "RichTextBlock":
        return ["".join(i["text"] for i in node["inlines"])]
    if kind == "TextBlock":
        return [node["text"]]
    if kind == "FactSet":
        return [f"{f['title']}: {f['value']}" for f in node["facts"]]
    if kind == "Container":
        return [t for item in node["items"] for t in _teams_text(item)]
    if kind == "Table":
        return [
            " | ".join(t for cell in row["cells"] for item in cell["items"] for t in _teams_text(item))
            for row in node["rows"]
        ]
    return []


def _teams_lines(body: str) -> list[str]:
    card = json.loads(body)["attachments"][0]["content"]
    return [t for node in card["body"] for t in _teams_text(node)]


#: What a reader sees, line by line, in each part of a message (markup kept for chat and Slack).
PARTS: dict[str, tuple[Channel, Callable[[RenderedMessage], list[str]]]] = {
    "chat": (Channel.CHAT, lambda m: m.body.splitlines()),
    "email html": (
        Channel.EMAIL,
        lambda m: [
            html.unescape(re.sub(r"<[^>]+>", " ", ln)) for ln in m.body.split("<body>", 1)[1].splitlines()
        ],
    ),
    "email text": (Channel.EMAIL, lambda m: (m.text or "").splitlines()),
    "slack": (Channel.SLACK, lambda m: [ln for t in _slack_lines(m.body) for ln in t.splitlines()]),
    "teams": (Channel.TEAMS, lambda m: _teams_lines(m.body)),
}


def lines(renderer: Renderer, name: str | AlertGroup, part: str) -> list[str]:
    """The non-empty visible lines of one part of a message (``GROUPS[name]``'s), whitespace collapsed."""
    channel, extract = PARTS[part]
    alerts = GROUPS[name]() if isinstance(name, str) else name
    found = extract(renderer.render(alerts, channel))
    return [" ".join(ln.replace("\u200b", "").split()) for ln in found if ln.strip()]


def _contains_run(haystack: list[str], needle: tuple[str, ...]) -> bool:
    return any(tuple(haystack[i : i + len(needle)]) == needle for i in range(len(haystack)))


@pytest.mark.parametrize(
    ("name", "title", "notify_type"),
    [
        ("job only", "[Failed] SQL Daily on vbr01.corp.local: job run failed", NotifyType.FAILURE),
        (
            "job warning, streak",
            "[Warning] SQL Daily on vbr01.corp.local: job run finished with a warning",
            NotifyType.WARNING,
        ),
        (
            "mixed",
            "[Failed] SQL Daily on vbr01.corp.local: 2 failed, 1 warning of 40 VMs; job run failed",
            NotifyType.FAILURE,
        ),
        (
            "warning VM, failed job",
            "[Failed] SQL Daily on vbr01.corp.local: 1 warning; job run failed",
            NotifyType.FAILURE,
        ),
        (
            "follow-up",
            "[Failed] SQL Daily on vbr01.corp.local: 1 more failed; job run failed (follow-up, 3 reported earlier)",
            NotifyType.FAILURE,
        ),
        (
            "two job runs",
            "[Failed] SQL Daily on vbr01.corp.local: 1 job run failed, 1 job run finished with a warning",
            NotifyType.FAILURE,
        ),
        (
            "resolved job",
            "[Resolved] SQL Daily on vbr01.corp.local: job run succeeded again",
            NotifyType.SUCCESS,
        ),
        (
            "resolved mixed",
            "[Resolved] SQL Daily on vbr01.corp.local: 2 VMs recovered; job run succeeded again",
            NotifyType.SUCCESS,
        ),
        (
            "recovered on retry",
            "[Recovered on retry] SQL Daily on vbr01.corp.local: job run succeeded on Veeam's retry",
            NotifyType.INFO,
        ),
        (
            "flapping",
            "[Flapping] SQL Daily on vbr01.corp.local: job run flapping between success and failure",
            NotifyType.WARNING,
        ),
    ],
)
@pytest.mark.parametrize("channel", list(Channel))
def test_title_counts_job_runs_apart_from_vms(
    renderer: Renderer, name: str, title: str, notify_type: NotifyType, channel: Channel
) -> None:
    """The title says "job run failed" (or succeeded again) after the VM counts, never counting the job run as a VM."""
    msg = render(renderer, name, channel)
    assert (msg.title, msg.notify_type) == (title, notify_type)


JOB_LINES: dict[tuple[str, str], tuple[str, ...]] = {
    ("job only", "chat"): (f"❌ **Job run:** Failed: {SYNTHETIC}",),
    ("job only", "email html"): ("Job run", f"Failed {SYNTHETIC}"),
    ("job only", "email text"): (f"Job run: Failed: {SYNTHETIC}",),
    ("job only", "slack"): (f"❌ *Job run*: Failed: `{SYNTHETIC}`",),
    ("job only", "teams"): (f"Job run: Failed: {SYNTHETIC}",),
    ("job warning, streak", "chat"): ("⚠️ **Job run:** Warning (3 runs in a row): Nothing to process",),
    ("job warning, streak", "email html"): ("Job run", "Warning 3 runs in a row Nothing to process"),
    ("job warning, streak", "email text"): ("Job run: Warning (3 runs in a row): Nothing to process",),
    ("job warning, streak", "slack"): ("⚠️ *Job run*: Warning (3 runs in a row): `Nothing to process`",),
    ("job warning, streak", "teams"): ("Job run: Warning (3 runs in a row): Nothing to process",),
    ("mixed", "chat"): (f"❌ **Job run:** Failed: {SYNTHETIC}",),
    ("mixed", "email html"): ("Job run", f"Failed {SYNTHETIC}"),
    ("mixed", "email text"): (f"Job run: Failed: {SYNTHETIC}",),
    ("mixed", "slack"): (f"❌ *Job run*: Failed: `{SYNTHETIC}`",),
    ("mixed", "teams"): (f"Job run: Failed: {SYNTHETIC}",),
    ("two job runs", "chat"): (
        f"❌ **Job run SQL Daily, started 2025-06-05 01:04 UTC:** Failed: {SYNTHETIC}",
        "⚠️ **Job run SQL Daily, started 2025-06-05 02:04 UTC:** Warning: Nothing to process",
    ),
    ("two job runs", "email html"): (
        "Job runs (2)",
        f"Job run SQL Daily, started 2025-06-05 01:04 UTC Failed {SYNTHETIC}",
        "Job run SQL Daily, started 2025-06-05 02:04 UTC Warning Nothing to process",
    ),
    ("two job runs", "email text"): (
        f"Job run SQL Daily, started 2025-06-05 01:04 UTC: Failed: {SYNTHETIC}",
        "Job run SQL Daily, started 2025-06-05 02:04 UTC: Warning: Nothing to process",
    ),
    ("two job runs", "slack"): (
        f"❌ *Job run SQL Daily, started 2025-06-05 01:04 UTC*: Failed: `{SYNTHETIC}`",
        "⚠️ *Job run SQL Daily, started 2025-06-05 02:04 UTC*: Warning: `Nothing to process`",
    ),
    ("two job runs", "teams"): (
        f"Job run SQL Daily, started 2025-06-05 01:04 UTC: Failed: {SYNTHETIC}",
        "Job run SQL Daily, started 2025-06-05 02:04 UTC: Warning: Nothing to process",
    ),
    ("resolved job", "chat"): ("✅ **Job run:** succeeded again after 2 failed runs, 15h 27m",),
    ("resolved job", "email html"): ("Job run", "succeeded again after 2 failed runs, 15h 27m"),
    ("resolved job", "email text"): ("Job run: succeeded again after 2 failed runs, 15h 27m",),
    ("resolved job", "slack"): ("✅ *Job run*: succeeded again after 2 failed runs, 15h 27m",),
    ("resolved job", "teams"): ("Job run: succeeded again after 2 failed runs, 15h 27m",),
    ("resolved mixed", "chat"): ("✅ **Job run:** succeeded again after 2 failed runs, 15h 27m",),
    ("resolved mixed", "email html"): ("Job run", "succeeded again after 2 failed runs, 15h 27m"),
    ("resolved mixed", "email text"): ("Job run: succeeded again after 2 failed runs, 15h 27m",),
    ("resolved mixed", "slack"): ("✅ *Job run*: succeeded again after 2 failed runs, 15h 27m",),
    ("resolved mixed", "teams"): ("Job run: succeeded again after 2 failed runs, 15h 27m",),
    ("recovered on retry", "chat"): ("🔁 **Job run:** failed, then succeeded on Veeam's retry",),
    ("recovered on retry", "slack"): ("🔁 *Job run*: failed, then succeeded on Veeam's retry",),
    ("flapping", "chat"): (
        "This job keeps switching between success and failure. "
        "alertd stays quiet about it until it is stable again.",
        "🔀 **Job run:** flapping (last result Failed)",
    ),
}


@pytest.mark.parametrize(("name", "part"), list(JOB_LINES))
def test_job_run_has_its_own_line(renderer: Renderer, name: str, part: str) -> None:
    """Each job-level entry is one "Job run: <result>: <reason>" line (or its recovery story) in every part of every channel."""
    assert _contains_run(lines(renderer, name, part), JOB_LINES[name, part])


#: How each part would list a VM or head the VM list; none of it may appear without VMs.
VM_MARKS = {
    "chat": re.compile(r"VMs \(|^- "),
    "email html": re.compile(r"VMs? \("),
    "email text": re.compile(r"VMs \(|^[x!-] "),
    "slack": re.compile(r"VMs \(|more VMs"),
    "teams": re.compile(r"VMs \(|^VM \| "),
}


@pytest.mark.parametrize("part", list(PARTS))
@pytest.mark.parametrize(
    "name", ["job only", "job warning, streak", "two job runs", "resolved job", "flapping"]
)
def test_no_vm_list_without_vms(renderer: Renderer, name: str, part: str) -> None:
    """Without VM entries there is no "VMs (N)" heading, no VM row or table and no VM count ("1 failed", "recovered")."""
    found = lines(renderer, name, part)
    assert [ln for ln in found if VM_MARKS[part].search(ln)] == []
    assert not [ln for ln in found if re.search(r"\b1 failed\b|\brecovered\b|\bof 1 VM\b", ln)]
    if part == "email html":
        assert 'class="name"' not in render(renderer, name, Channel.EMAIL).body


#: Markers that must appear in this order in a mixed message: job run, Top reasons, VM heading, first VM.
ORDER = {
    "chat": ["**Job run:**", "**Top reasons**", "**VMs (3)**", "- ❌ **sql000**"],
    "email html": ["Job run", "Top reasons", "VMs (3)", "sql000"],
    "email text": ["Job run: Failed", "Top reasons:", "VMs (3):", "x sql000"],
    "slack": ["*Job run*: Failed", "*Top reasons*", "*VMs (3)*", "❌ *sql000*"],
    "teams": ["Job run: Failed", "Top reasons", "VM | Reason", "sql000"],
}


@pytest.mark.parametrize("part", list(PARTS))
def test_job_run_line_precedes_top_reasons_and_vms(renderer: Renderer, part: str) -> None:
    """In a mixed message the job run comes first, then "Top reasons", then the VMs (under "VMs (N)" where a list has a heading)."""
    found = lines(renderer, "mixed", part)
    at = [next(i for i, ln in enumerate(found) if mark in ln) for mark in ORDER[part]]
    assert at == sorted(at) and len(set(at)) == len(at), list(zip(ORDER[part], at, strict=True))


@pytest.mark.parametrize("part", list(PARTS))
def test_top_reasons_count_vms_only(renderer: Renderer, part: str) -> None:
    """ "Top reasons" counts VMs only: a job run failing for the same reason does not make "2 VMs" into 3."""
    same = lines(renderer, group(job(reason=DISK.format(vm="sql001")), session(0), session(1)), part)
    assert any(re.search(r"2 VMs: `?Error: There is not enough space on the disk", ln) for ln in same)
    assert not [ln for ln in same if "3 VMs" in ln]
    two_jobs = lines(renderer, group(job(1), job(2, start=timedelta(hours=1))), part)
    assert not [ln for ln in two_jobs if "Top reasons" in ln]


@pytest.mark.parametrize("channel", list(Channel))
def test_job_only_message_keeps_job_context_and_silence_hint(renderer: Renderer, channel: Channel) -> None:
    """A job-only message still names job, server, the run's span and the silence command for the job."""
    msg = render(renderer, "job only", channel)
    text = msg.body if channel is not Channel.TEAMS else json.dumps(json.loads(msg.body), ensure_ascii=False)
    for expected in ("SQL Daily", SERVER, "2025-06-05 01:04", "job_name=", "silence add"):
        assert expected in text, expected


def test_override_templates_see_job_rows(tmp_path: Any) -> None:
    """Receiver templates get ``job_rows`` (label, result, reason, note) beside the VM rows and counts."""
    (tmp_path / "alert_chat.md.j2").write_text(
        "{% for j in job_rows %}{{ j.label }}={{ j.result }}:{{ j.reason }};{% endfor %} {{ total }} VMs, {{ summary }}"
    )
    msg = Renderer({"ops": tmp_path}).render(GROUPS["mixed"](), Channel.CHAT)
    assert msg.body == f"Job run=Failed:{SYNTHETIC}; 3 VMs, 2 failed, 1 warning of 40 VMs; job run failed"


def _many(jobs: int, vms: int) -> AlertGroup:
    """``jobs`` job-level entries with hostile names and 5,000-character reasons, then ``vms`` failed VMs."""
    entries = [
        job(
            n,
            name=f"{HOSTILE[n % len(HOSTILE)]} job {n}",
            reason=f"{HOSTILE[n % len(HOSTILE)]} " + "z" * 5000,
        )
        for n in range(jobs)
    ]
    return group(*entries, *(session(i) for i in range(vms)))


SIZES = [(1, 250), (60, 0), (60, 250), (250, 40)]


def _shown_entries(msg: RenderedMessage, channel: Channel) -> tuple[int, str]:
    """How many job runs and VMs a size-limited channel lists, and its "+N more" text ("" when none)."""
    if channel is Channel.SLACK:
        payload = json.loads(msg.body)
        found = [ln for t in _slack_lines(msg.body) for ln in t.splitlines()]
        more = [b["elements"][0]["text"] for b in payload["blocks"] if b["type"] == "context"]
        return sum(1 for ln in found if ln.startswith(("❌ ", "⚠️ "))), "".join(more)
    if channel is Channel.TEAMS:
        card = json.loads(msg.body)["attachments"][0]["content"]
        job_lines = [
            b
            for b in card["body"]
            if b["type"] == "RichTextBlock" and b["inlines"][0]["text"].startswith("Job run")
        ]
        vm_rows = sum(len(b["rows"]) - 1 for b in card["body"] if b["type"] == "Table")
        more = [b["text"] for b in card["body"] if b["type"] == "TextBlock" and "more" in b["text"]]
        return len(job_lines) + vm_rows, "".join(more)
    body = msg.body
    shown = len(re.findall(r"^(?:- )?(?:❌|⚠️) ", body, re.MULTILINE))
    return shown, "\n".join(re.findall(r"^_\+\d+ more.*_$", body, re.MULTILINE))


@pytest.mark.parametrize(("jobs", "vms"), SIZES)
@pytest.mark.parametrize("channel", [Channel.SLACK, Channel.TEAMS, Channel.CHAT])
def test_many_job_runs_fit_chat_slack_and_teams(
    renderer: Renderer, jobs: int, vms: int, channel: Channel
) -> None:
    """Job run lines share the channel's limits with the VMs: still valid, at least 20 entries, "+N more job runs" for the rest."""
    msg = renderer.render(_many(jobs, vms), channel)
    if channel is Channel.SLACK:
        payload = json.loads(msg.body)
        assert slack_problems(payload) == []
        assert len(payload["blocks"][0]["text"]["text"]) <= SLACK_HEADER_CHARS
    elif channel is Channel.TEAMS:
        assert teams_problems(msg.body) == []
    else:
        assert chat_fits(msg.body)
    shown, more = _shown_entries(msg, channel)
    assert shown >= min(20, jobs + vms)
    assert (shown < jobs + vms) == bool(more)
    if shown < jobs:
        assert f"+{jobs - shown} more job runs" in more


@pytest.mark.parametrize(("jobs", "vms"), SIZES)
def test_many_job_runs_fit_the_email(renderer: Renderer, jobs: int, vms: int) -> None:
    """Email: under 90 KB with job runs listed before the VMs (at most 200, then "and N more job runs"), text part alike."""
    msg = renderer.render(_many(jobs, vms), Channel.EMAIL)
    assert len(msg.body.encode()) < EMAIL_HTML_BYTES
    listed = (
        msg.body.count('<tr><td><span class="job">Job run ')
        if jobs > 1
        else msg.body.count("<h2>Job run</h2>")
    )
    assert listed == min(jobs, 200)
    assert msg.text is not None
    assert sum(1 for ln in msg.text.splitlines() if ln.startswith("Job run")) == min(jobs, 200)
    if jobs > 200:
        assert f"and {jobs - 200} more job runs" in msg.body and f"and {jobs - 200} more job runs" in msg.text
    if vms <= 200:
        assert (msg.body.count('<span class="name">'), msg.attachments) == (vms, ())
    else:  # the CSV attachment lists every VM, and only VMs
        [attachment] = msg.attachments
        assert len(attachment.content.splitlines()) == vms + 1


#: What must not arrive live, per channel (as in test_render_limits): raw where the channel would act on it.
LIVE = {
    Channel.SLACK: [r"<!channel>", r"<http://evil"],
    Channel.EMAIL: [r"<script>", r"</td></tr></table>", r"<!channel>"],
    Channel.CHAT: [r"(?<!\\)<!channel", r"(?<!\\)\[t\]\(", r"(?<!\\)\*x\*"],
    Channel.TEAMS: [r'"type":"TextBlock","text":"[^"]*(?:<!channel>|\*x\*)'],
}


@pytest.mark.parametrize("channel", list(Channel))
def test_hostile_job_names_and_reasons_stay_inert(renderer: Renderer, channel: Channel) -> None:
    """Mentions, markup, scripts and bidi overrides in a job run's name or message never arrive live."""
    msg = renderer.render(_many(len(HOSTILE), 2), channel)
    for pattern in LIVE[channel]:
        assert not re.search(pattern, msg.body), (channel, pattern)
    for invisible in ("\u202e", "zero\u200bwidth"):
        assert invisible not in msg.body + (msg.text or "")


BROWSER_RUNS: dict[str, Callable[[], AlertGroup]] = {
    "job only": GROUPS["job only"],
    "mixed": GROUPS["mixed"],
    "two job runs": GROUPS["two job runs"],
    "long job name and reason": lambda: group(
        job(1, name="Backup " + "x" * 150, reason="Error: " + "y" * 400),
        job(2, name="Backup " + "x" * 150, reason=SYNTHETIC, start=timedelta(hours=1)),
        session(1),
    ),
}


def _browser_ready(cards: bool) -> str | None:
    """Why the real-browser check cannot run here ("" when it can)."""
    from browser import adaptivecards_js, chromium

    if chromium() is None:
        return "Chromium is not installed (apt-get install chromium)"
    if cards and adaptivecards_js() is None:
        return "the adaptivecards npm package is not installed (.ci/run installs it)"
    return None


@pytest.mark.parametrize("width", ["desktop", "phone"])
@pytest.mark.parametrize("run", list(BROWSER_RUNS))
@pytest.mark.parametrize("channel", [Channel.EMAIL, Channel.TEAMS])
def test_job_run_line_fits_the_screen(renderer: Renderer, channel: Channel, run: str, width: str) -> None:
    """In headless Chromium (Teams via adaptivecards.js) the job run section never scrolls sideways and its reason is visible."""
    missing = _browser_ready(cards=channel is Channel.TEAMS)
    if missing:
        pytest.skip(missing)
    from browser import WIDTHS, card_page, measure

    msg = renderer.render(BROWSER_RUNS[run](), channel)
    page = msg.body if channel is Channel.EMAIL else card_page(msg.body)
    title = msg.title.split(":")[0] if channel is Channel.EMAIL else msg.title
    layout = measure(page, WIDTHS[width], [title, SYNTHETIC], [])
    assert layout.overflow <= 0, f"{layout.overflow}px horizontal overflow"
    assert layout.missing == []

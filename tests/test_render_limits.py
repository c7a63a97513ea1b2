"""Every payload within its channel's documented limits, for 1, 5, 250 and 2,000-VM runs and hostile EM text."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

import pytest
from render_data import HOSTILE, run_of

from alertd.model import Channel, RenderedMessage
from alertd.render import Renderer, RouteLinks
from alertd.render.chat import CHAT_MIN_VMS, chat_fits
from alertd.render.limits import (
    EMAIL_HTML_BYTES,
    SLACK_HEADER_CHARS,
    TEAMS_MAX_BYTES,
    slack_problems,
    teams_problems,
)

SIZES = [1, 5, 250, 2000]
SHAPES = ["realistic", "long names", "hostile"]
LINKS = RouteLinks(
    runbook_url="https://wiki.example.com/{{ job_name }}", dashboard_url="https://d.example.com/"
)
_CACHE: dict[tuple[int, str, Channel], RenderedMessage] = {}


def render(total: int, shape: str, channel: Channel) -> RenderedMessage:
    """One rendering per (size, shape, channel), shared by the tests below (2,000-VM runs are slow)."""
    key = (total, shape, channel)
    if key not in _CACHE:
        _CACHE[key] = Renderer().render(run_of(total, shape), channel, links=LINKS)
    return _CACHE[key]


def texts(node: Any) -> list[str]:
    """Every "text", "value" and "title" string in a JSON document."""
    if isinstance(node, dict):
        own = [v for k, v in node.items() if k in ("text", "value", "title") and isinstance(v, str)]
        return own + [t for v in node.values() for t in texts(v)]
    if isinstance(node, list):
        return [t for v in node for t in texts(v)]
    return []


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("total", SIZES)
def test_slack_blocks_within_block_kit_limits(total: int, shape: str) -> None:
    """Slack: top-level text, header <= 150, sections <= 3,000, <= 50 blocks, no backslash escapes, "+N more"."""
    msg = render(total, shape, Channel.SLACK)
    payload = json.loads(msg.body)
    assert slack_problems(payload) == []
    assert len(payload["blocks"][0]["text"]["text"]) <= SLACK_HEADER_CHARS
    assert msg.text == payload["text"]
    lines = [ln for b in payload["blocks"] if b["type"] == "section" for ln in b["text"]["text"].splitlines()]
    shown = sum(1 for ln in lines if ln.startswith(("❌ ", "⚠️ ")))
    more = [b for b in payload["blocks"] if b["type"] == "context"]
    assert shown >= min(total, 20)
    assert (shown < total) == bool(more)
    if more:
        assert f"+{total - shown} more VMs" in more[0]["elements"][0]["text"]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("total", SIZES)
def test_teams_card_within_adaptive_card_limits(total: int, shape: str) -> None:
    """Teams: a Workflows message with one Adaptive Card 1.5 of known element types, under 28 KB, "+N more" past that."""
    msg = render(total, shape, Channel.TEAMS)
    assert teams_problems(msg.body) == []
    assert len(msg.body.encode()) < TEAMS_MAX_BYTES
    card = json.loads(msg.body)["attachments"][0]["content"]
    table = next(e for e in card["body"] if e["type"] == "Table")
    shown = len(table["rows"]) - 1
    assert shown >= min(total, 20)
    assert (shown < total) == any("more VMs" in t for t in texts(card["body"]))
    assert [a["title"] for a in card["actions"]] == ["Runbook", "Dashboard"]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("total", SIZES)
def test_email_html_under_90_kb_with_csv_past_200(total: int, shape: str) -> None:
    """Email: HTML < 90 KB; every VM listed up to 200, past that a summary plus every VM in a CSV attachment."""
    msg = render(total, shape, Channel.EMAIL)
    assert len(msg.body.encode()) < EMAIL_HTML_BYTES
    assert msg.text and len(msg.text.splitlines()) <= 240  # a compact list, not a cell per line
    if total <= 200:
        assert msg.attachments == ()
        assert msg.body.count('<span class="name">') == total
    else:
        [attachment] = msg.attachments
        rows = list(csv.reader(io.StringIO(attachment.content)))
        assert (attachment.mime_type, len(rows)) == ("text/csv", total + 1)
        assert attachment.name in msg.body and attachment.name in msg.text


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("total", SIZES)
def test_chat_markdown_fits_and_lists_at_least_20(total: int, shape: str) -> None:
    """apprise chat: Markdown within ~4,000 characters listing at least 20 VMs (or all) before "+N more"."""
    body = render(total, shape, Channel.CHAT).body
    assert chat_fits(body)
    shown = len(re.findall(r"^- (?:❌|⚠️) ", body, re.MULTILINE))
    assert shown >= min(CHAT_MIN_VMS, total)
    assert (shown < total) == (f"+{total - shown} more" in body)


def test_csv_neutralises_spreadsheet_formulas() -> None:
    """CSV cells that a spreadsheet would run as formulas (=, +, -, @) are prefixed with a quote."""
    msg = Renderer().render(run_of(250, "hostile"), Channel.EMAIL)
    cells = [c for row in csv.reader(io.StringIO(msg.attachments[0].content)) for c in row]
    assert not [c for c in cells if c.startswith(("=", "+", "-", "@"))]
    assert "'@here-1" in cells


#: What must not arrive live, per channel: raw where the channel would act on it.
LIVE = {
    Channel.SLACK: [r"<!channel>", r"<http://evil"],
    Channel.EMAIL: [r"<script>", r"</td></tr></table>", r"<!channel>"],
    Channel.CHAT: [r"(?<!\\)<!channel", r"(?<!\\)\[t\]\(", r"(?<!\\)\*x\*"],
    Channel.TEAMS: [],  # EM text only in TextRuns or inert FactSet values (tested below)
}


@pytest.mark.parametrize("channel", list(Channel))
def test_hostile_text_stays_inert_everywhere(channel: Channel) -> None:
    """Mentions, markup, scripts, RTL overrides and zero-width spaces from EM never arrive live on any channel."""
    msg = render(5 * len(HOSTILE), "hostile", channel)
    for pattern in LIVE[channel]:
        assert not re.search(pattern, msg.body), (channel, pattern)
    for invisible in ("\u202e", "zero\u200bwidth"):
        assert invisible not in msg.body + (msg.text or "")
    if channel is Channel.EMAIL:  # every VM listed: the override is gone, the name is there
        assert "vm-exe.txt" in msg.body


def test_slack_puts_reasons_in_code_spans_without_backslashes() -> None:
    """Slack: reasons sit in single-line code spans; markup in names moves the name into one; never a backslash escape."""
    payload = json.loads(render(5 * len(HOSTILE), "hostile", Channel.SLACK).body)
    lines = [
        ln for b in payload["blocks"][2:] if b["type"] == "section" for ln in b["text"]["text"].splitlines()
    ]
    assert all(line.count("`") % 2 == 0 for line in lines)
    assert any("`*x*-2`" in line for line in lines)  # a name Markdown would bold is shown as code
    assert "&lt;!channel&gt;" in json.dumps(payload, ensure_ascii=False)
    assert not any("\\*" in t or "\\_" in t for t in texts(payload))


def test_teams_data_only_in_text_runs_or_inert_facts() -> None:
    """Teams: EM text appears only in TextRuns (never formatted) or in FactSet values with formatting characters neutralised."""
    card = json.loads(render(5 * len(HOSTILE), "hostile", Channel.TEAMS).body)["attachments"][0]["content"]

    def blocks(node: Any) -> list[dict[str, Any]]:
        if isinstance(node, dict):
            own = [node] if node.get("type") in ("TextBlock", "FactSet") else []
            return own + [b for v in node.values() for b in blocks(v)]
        return [b for v in node for b in blocks(v)] if isinstance(node, list) else []

    markdown = [t for b in blocks(card["body"]) for t in texts(b)]
    assert markdown
    for text in markdown:
        assert not re.search(r"\*\S|\]\(|`|^\s*[-#]\s", text), text

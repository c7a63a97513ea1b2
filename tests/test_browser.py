"""Real-browser checks: the email HTML and the Teams card (Microsoft's adaptivecards renderer) in headless Chromium.

At desktop (1024 px) and phone (375 px) widths the page must not scroll sideways, and the title and
every VM shown must be laid out inside the viewport, unclipped; VM names stay on one line. Skipped,
and reported as skipped, when Chromium or the adaptivecards npm package is missing (.ci/run installs both).
"""

from __future__ import annotations

import html
import json

import pytest
from browser import WIDTHS, adaptivecards_js, card_page, chromium, measure
from render_data import run_of

from alertd.model import Channel, RenderedMessage
from alertd.preview import sample_group
from alertd.render import Renderer, RouteLinks

pytestmark = pytest.mark.skipif(
    chromium() is None, reason="Chromium is not installed (apt-get install chromium)"
)
LINKS = RouteLinks("https://wiki.example.com/runbooks/{{ job_name }}", "https://grafana.example.com/d/veeam")
RUNS = {
    "1 VM": lambda: sample_group("ops", 1),
    "5 VMs": lambda: sample_group("ops", 5),
    "250 VMs": lambda: sample_group("ops", 250),
    "long names": lambda: run_of(5, "long names"),
    "hostile": lambda: run_of(13, "hostile"),
}


def shown_vms(msg: RenderedMessage) -> list[str]:
    """The VM names a Teams card lists (its Table's first column)."""
    card = json.loads(msg.body)["attachments"][0]["content"]
    table = next(e for e in card["body"] if e["type"] == "Table")
    return [row["cells"][0]["items"][0]["inlines"][0]["text"] for row in table["rows"][1:]]


@pytest.mark.parametrize("width", list(WIDTHS))
@pytest.mark.parametrize("run", list(RUNS))
def test_email_fits_the_screen_and_shows_every_vm(run: str, width: str) -> None:
    """The email never scrolls sideways; its title and every VM listed are visible; ordinary VM names are not broken."""
    msg = Renderer().render(RUNS[run](), Channel.EMAIL, links=LINKS)
    names = [
        line.split('<span class="name">', 1)[1].split("</span>", 1)[0]
        for line in msg.body.split("\n")
        if '<span class="name">' in line
    ]
    names = [n for chunk in names for n in chunk.split('</span>, <span class="name">')]
    plain = [html.unescape(n) for n in names]  # the check compares laid-out text, not HTML entities
    layout = measure(msg.body, WIDTHS[width], [msg.title, *plain], [n for n in plain if len(n) < 30])
    assert layout.overflow <= 0, f"{layout.overflow}px horizontal overflow"
    assert layout.missing == []
    assert layout.broken == []


@pytest.mark.skipif(
    adaptivecards_js() is None, reason="the adaptivecards npm package is not installed (.ci/run installs it)"
)
@pytest.mark.parametrize("width", list(WIDTHS))
@pytest.mark.parametrize("run", list(RUNS))
def test_teams_card_fits_the_screen_and_shows_every_vm(run: str, width: str) -> None:
    """The Teams card, rendered by adaptivecards.js, never scrolls sideways and shows its whole title and every VM it lists."""
    msg = Renderer().render(RUNS[run](), Channel.TEAMS, links=LINKS)
    vms = shown_vms(msg)
    layout = measure(card_page(msg.body), WIDTHS[width], [msg.title, *vms], [v for v in vms if len(v) < 20])
    assert layout.overflow <= 0, f"{layout.overflow}px horizontal overflow"
    assert layout.missing == []
    assert layout.broken == []

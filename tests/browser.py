"""Headless Chromium for the real-browser checks: lay out an email or a Teams card, measure it, screenshot it.

The email HTML is opened as it is; a Teams card is rendered by Microsoft's ``adaptivecards``
JavaScript renderer (npm package, installed by ``.ci/run`` under ``.cache/npm``) with a Teams-like
host config. A small script in the page measures horizontal overflow and whether each expected
text (title, VM names) is laid out inside the viewport and not clipped, and writes the result as
JSON into the page, which ``--dump-dom`` returns.

Run ``python tests/browser.py docs/screenshots`` to regenerate the screenshots in the docs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]
WIDTHS = {"desktop": 1024, "phone": 375}

_CHECK_JS = r"""
<script>
(function () {
  function clipped(rect, el) {
    let box = el;  // the text must stay inside its own block box (not run into the next column)
    while (box && getComputedStyle(box).display.startsWith("inline")) box = box.parentElement;
    if (box) {
      const b = box.getBoundingClientRect();
      if (rect.left < b.left - 1 || rect.right > b.right + 1) return true;
    }
    for (let a = el; a && a !== document.documentElement; a = a.parentElement) {
      const s = getComputedStyle(a);
      if (s.display === "none" || s.visibility === "hidden" || s.opacity === "0") return true;
      if (s.overflowX !== "visible" || s.overflowY !== "visible" || s.textOverflow === "ellipsis") {
        const r = a.getBoundingClientRect();
        if (rect.left < r.left - 1 || rect.right > r.right + 1 || rect.top < r.top - 1 || rect.bottom > r.bottom + 1) return true;
      }
    }
    return false;
  }
  function visible(text, vw) {
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
      const node = walker.currentNode;
      const at = node.data.indexOf(text);
      if (at < 0) continue;
      const range = document.createRange();
      range.setStart(node, at);
      range.setEnd(node, at + text.length);
      const rects = Array.from(range.getClientRects()).filter(r => r.width > 0 && r.height > 0);
      if (!rects.length) continue;
      const inside = rects.every(r => r.left >= -0.5 && r.right <= vw + 0.5 && !clipped(r, node.parentElement));
      if (inside) return {ok: true, lines: new Set(rects.map(r => Math.round(r.top))).size};
    }
    return {ok: false, lines: 0};
  }
  function run() {
    const expected = JSON.parse(document.getElementById("alertd-expected").textContent);
    const vw = document.documentElement.clientWidth;
    const width = Math.max(document.documentElement.scrollWidth, document.body.scrollWidth);
    const result = {viewport: vw, overflow: width - vw, missing: [], broken: []};
    for (const text of expected.visible) if (!visible(text, vw).ok) result.missing.push(text);
    for (const text of expected.unbroken) { const v = visible(text, vw); if (v.ok && v.lines > 1) result.broken.push(text); }
    const out = document.createElement("pre");
    out.id = "alertd-check";
    out.textContent = JSON.stringify(result);
    document.body.appendChild(out);
  }
  window.addEventListener("load", () => setTimeout(run, 50));
})();
</script>
"""

_CARD_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ margin: 0; background: #f5f5f5; font-family: "Segoe UI", Helvetica, Arial, sans-serif; }}
#card {{ margin: 8px; background: #fff; border-radius: 6px; box-shadow: 0 1px 3px rgba(0,0,0,.2); overflow: hidden; }}
</style>
<script src="{script}"></script></head>
<body><div id="card"></div>
<script>
const card = new AdaptiveCards.AdaptiveCard();
card.hostConfig = new AdaptiveCards.HostConfig({host});
card.parse({card});
document.getElementById("card").appendChild(card.render());
</script>
</body></html>
"""

#: Close to Teams' light theme: Segoe UI, its text sizes and container colours.
TEAMS_HOST = {
    "fontFamily": "'Segoe UI', 'Helvetica Neue', Arial, sans-serif",
    "spacing": {"small": 4, "default": 8, "medium": 12, "large": 16, "extraLarge": 24, "padding": 12},
    "fontSizes": {"small": 12, "default": 14, "medium": 16, "large": 20, "extraLarge": 24},
    "containerStyles": {
        "default": {
            "backgroundColor": "#ffffff",
            "foregroundColors": {
                "default": {"default": "#242424", "subtle": "#616161"},
                "attention": {"default": "#c4314b"},
                "warning": {"default": "#835c00"},
                "good": {"default": "#237b4b"},
            },
        },
        "emphasis": {
            "backgroundColor": "#f5f5f5",
            "foregroundColors": {"default": {"default": "#242424", "subtle": "#616161"}},
        },
        "attention": {"backgroundColor": "#fcf4f6", "foregroundColors": {"default": {"default": "#242424"}}},
        "warning": {"backgroundColor": "#fbf6d9", "foregroundColors": {"default": {"default": "#242424"}}},
        "good": {"backgroundColor": "#e7f2da", "foregroundColors": {"default": {"default": "#242424"}}},
        "accent": {"backgroundColor": "#e8ebfa", "foregroundColors": {"default": {"default": "#242424"}}},
    },
    "actions": {"maxActions": 6, "buttonSpacing": 8, "actionsOrientation": "horizontal"},
}


def chromium() -> str | None:
    """The Chromium binary, or None when it is not installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def adaptivecards_js() -> Path | None:
    """Microsoft's adaptivecards renderer (npm), or None when it is not installed."""
    found = os.environ.get("ALERTD_ADAPTIVECARDS_JS")
    path = Path(found) if found else ROOT / ".cache/npm/node_modules/adaptivecards/dist/adaptivecards.min.js"
    return path if path.is_file() else None


@dataclass(frozen=True)
class Layout:
    """What the page measured: pixels of horizontal overflow, expected texts not visible, names wrapped."""

    overflow: float
    missing: list[str]
    broken: list[str]


def card_page(workflows_message: str) -> str:
    """An HTML page rendering the Adaptive Card of a Workflows message with adaptivecards.js."""
    script = adaptivecards_js()
    assert script is not None
    card = json.loads(workflows_message)["attachments"][0]["content"]
    # "</script>" inside EM text must not end the page's script element ("<\\/" is the same JSON).
    return _CARD_PAGE.format(
        script=script.as_uri(), host=json.dumps(TEAMS_HOST), card=json.dumps(card).replace("</", "<\\/")
    )


def _run(args: list[str], profile: str) -> str:
    binary = chromium()
    assert binary is not None
    done = subprocess.run(
        [binary, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    return done.stdout


def measure(
    html: str, width: int, visible: list[str], unbroken: list[str], screenshot: Path | None = None
) -> Layout:
    """Open ``html`` at ``width`` pixels; report overflow and which expected texts are not visible."""
    expected = json.dumps({"visible": visible, "unbroken": unbroken}).replace("</", "<\\/")
    tag = f'<script type="application/json" id="alertd-expected">{expected}</script>{_CHECK_JS}'
    page = re.sub(r"</body>", lambda _: tag + "</body>", html, count=1) if "</body>" in html else html + tag
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "page.html"
        path.write_text(page)
        size = f"--window-size={width},1400"
        dom = _run([size, "--virtual-time-budget=5000", "--dump-dom", path.as_uri()], str(Path(tmp) / "p1"))
        if screenshot is not None:
            path.write_text(html)
            height = 2200 if width > 500 else 2600
            _run(
                [
                    f"--window-size={width},{height}",
                    f"--screenshot={screenshot}",
                    "--virtual-time-budget=5000",
                    path.as_uri(),
                ],
                str(Path(tmp) / "p2"),
            )
    found = re.search(r'<pre id="alertd-check">(.*?)</pre>', dom, re.S)
    assert found, f"the check script did not run: {dom[-500:]}"
    data = json.loads(
        found.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    )
    return Layout(float(data["overflow"]), list(data["missing"]), list(data["broken"]))


def main(out: str) -> None:
    """Write the docs screenshots: email and Teams card of sample runs at desktop and phone widths."""
    sys.path.insert(0, str(ROOT))
    from alertd.model import Channel
    from alertd.preview import sample_group
    from alertd.render import DisplayOptions, Renderer, RouteLinks

    renderer = Renderer(
        display=DisplayOptions(timezone="Europe/Berlin", config_path="/etc/alertd/alertd.yaml")
    )
    links = RouteLinks(
        "https://wiki.example.com/runbooks/{{ job_name }}",
        "https://grafana.example.com/d/veeam?var-job={{ job_name }}",
    )
    target = Path(out)
    target.mkdir(parents=True, exist_ok=True)
    for vms in (5, 250):
        group = sample_group("ops", vms)
        email = renderer.render(group, Channel.EMAIL, links=links)
        teams = renderer.render(group, Channel.TEAMS, links=links)
        for name, width in WIDTHS.items():
            measure(email.body, width, [], [], target / f"email-{vms}-{name}.png")
            if adaptivecards_js() is not None:
                measure(card_page(teams.body), width, [], [], target / f"teams-{vms}-{name}.png")
        (target / f"slack-{vms}.json").write_text(
            json.dumps(
                json.loads(renderer.render(group, Channel.SLACK, links=links).body),
                ensure_ascii=False,
                indent=2,
            )
        )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots")

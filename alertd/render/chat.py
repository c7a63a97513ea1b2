"""Generic chat layout (apprise's chat services): Markdown sized to a chat message.

Discord, Telegram, ntfy, Mattermost, generic ``json://`` webhooks and the rest take Markdown of a
few thousand characters. The alert template is rendered with fewer VMs (at least
``CHAT_MIN_VMS``, shortening reasons first) until the body fits ``CHAT_MAX_CHARS``; a body that
cannot fit (a huge override template) is cut by characters with "…".
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

from alertd.render.limits import largest_fitting
from alertd.render.text import ELLIPSIS, one_line
from alertd.render.view import VmRow

#: The common ceiling of chat services (Slack 4,000, Discord 2,000 per embed field is per field).
CHAT_MAX_CHARS = 3800
#: JSON-escaped size ceiling (services that post the body inside JSON, emoji as \\u escapes).
CHAT_MAX_JSON_BYTES = 20_000
#: A chat message lists at least this many VMs before any "+N more" line.
CHAT_MIN_VMS = 20
#: Per-VM reasons are shortened to these lengths in turn until enough VMs fit.
REASON_STEPS = (200, 120, 60, 0)
NAME_CHARS = 80
MORE_HINT = "see the email or alertd history"


def chat_fits(text: str) -> bool:
    """True when a chat body fits the character and JSON-size budgets."""
    return len(text) <= CHAT_MAX_CHARS and len(json.dumps(text)) <= CHAT_MAX_JSON_BYTES


def fit(render: Callable[[dict[str, Any]], str], ctx: dict[str, Any]) -> str:
    """Render with as many VMs as fit (at least CHAT_MIN_VMS), shortening reasons if needed."""
    rows: list[VmRow] = ctx["all_vms"]
    want = min(CHAT_MIN_VMS, len(rows))
    best: tuple[str, int] | None = None
    for chars in REASON_STEPS:
        short = [_shorten(r, chars) for r in rows]
        body, shown = largest_fitting(_builder(render, ctx, short), chat_fits, len(rows))
        if best is None or shown > best[1]:
            best = (body, shown)
        if shown == len(rows) or shown >= want:
            break
    assert best is not None
    body, shown = best
    return body if chat_fits(body) else cut(body, len(rows) - shown)


def _builder(
    render: Callable[[dict[str, Any]], str], ctx: dict[str, Any], rows: list[VmRow]
) -> Callable[[int], str]:
    return lambda n: render({**ctx, "vms": rows[:n], "hidden_count": len(rows) - n})


def _shorten(row: VmRow, reason_chars: int) -> VmRow:
    return dataclasses.replace(
        row, name=one_line(row.name, NAME_CHARS), reason_short=one_line(row.reason, reason_chars)
    )


def cut(body: str, hidden: int = 0) -> str:
    """``body`` unchanged when it fits, else cut by characters so it plus a "+N more" line fits."""
    if chat_fits(body):
        return body
    tail = f"\n{ELLIPSIS}\n_+{hidden} more ({MORE_HINT})_" if hidden else f"\n{ELLIPSIS}"
    lo, hi = 0, len(body)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if chat_fits(body[:mid] + tail):
            lo = mid
        else:
            hi = mid - 1
    return body[:lo].rstrip() + tail

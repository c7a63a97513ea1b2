"""Generic chat layout (apprise's chat services): Markdown sized to a chat message.

Discord, Telegram, ntfy, Mattermost, generic ``json://`` webhooks and the rest take Markdown of a
few thousand characters. The alert template is rendered with fewer VMs (at least
``CHAT_MIN_VMS``, shortening reasons first) until the body fits ``CHAT_MAX_CHARS``; a body that
cannot fit (a huge override template) is cut by characters with "…". Job-level entries (a job
run's own result) come first and are fitted with the VMs: ``job_rows`` and ``hidden_jobs`` are
what the template lists of them and leaves out.
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
#: A job run's own reason (the job session's message) is the point of its line: cut less, never dropped.
JOB_REASON_STEPS = (600, 300, 120, 60)
NAME_CHARS = 80
MORE_HINT = "see the email or alertd history"


def chat_fits(text: str) -> bool:
    """True when a chat body fits the character and JSON-size budgets."""
    return len(text) <= CHAT_MAX_CHARS and len(json.dumps(text)) <= CHAT_MAX_JSON_BYTES


def fit(render: Callable[[dict[str, Any]], str], ctx: dict[str, Any]) -> str:
    """Render with as many entries as fit (at least CHAT_MIN_VMS), shortening reasons if needed.

    Entries are the job-level rows (``job_rows``) then the VMs (``all_vms``), in that order.
    """
    jobs: list[VmRow] = ctx["job_rows"]
    rows: list[VmRow] = ctx["all_vms"]
    total = len(jobs) + len(rows)
    want = min(CHAT_MIN_VMS, total)
    best: tuple[str, int] | None = None
    for chars, job_chars in zip(REASON_STEPS, JOB_REASON_STEPS, strict=True):
        short = [_shorten(r, chars) for r in rows]
        short_jobs = [_shorten(r, job_chars) for r in jobs]
        body, shown = largest_fitting(_builder(render, ctx, short_jobs, short), chat_fits, total)
        if best is None or shown > best[1]:
            best = (body, shown)
        if shown == total or shown >= want:
            break
    assert best is not None
    body, shown = best
    return body if chat_fits(body) else cut(body, total - shown)


def _builder(
    render: Callable[[dict[str, Any]], str], ctx: dict[str, Any], jobs: list[VmRow], rows: list[VmRow]
) -> Callable[[int], str]:
    def build(n: int) -> str:
        j = min(n, len(jobs))
        vms = rows[: n - j]
        return render(
            {
                **ctx,
                "job_rows": jobs[:j],
                "hidden_jobs": len(jobs) - j,
                "vms": vms,
                "hidden_count": len(rows) - len(vms),
            }
        )

    return build


def _shorten(row: VmRow, reason_chars: int) -> VmRow:
    return dataclasses.replace(
        row,
        name=one_line(row.name, NAME_CHARS),
        label=one_line(row.label, 2 * NAME_CHARS),
        reason_short=one_line(row.reason, reason_chars),
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

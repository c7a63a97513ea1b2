"""Slack layout: an alert message as Block Kit, posted by alertd's own Slack target.

Layout, top to bottom: top-level ``text`` (the notification line: the title); a header (emoji
by worst result + title, <= 150 characters after escaping); a first section that fits in the
first lines (counts "3 failed, 2 warnings of 40 VMs", job, server, run span and duration);
the job runs' own results ("Job run: Failed: <reason>", for a job run that failed with no failed
VM); "Top reasons"; the VMs (under "VMs (N)" when a job run line precedes them), one line each,
packed into sections of <= 3,000 characters; "+N more" past what fits 50 blocks and
SLACK_VM_CHARS (job run lines and VM lines share both); then a coloured attachment (colour by worst
result) holding one short context block: links and the silence hint. Slack collapses long
attachments, so only that short footer lives in one; everything else is a top-level block.

Escaping: only ``& < >`` (Slack has no backslash escapes). Reasons and hostile names go in
code spans, where mrkdwn cannot act on them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from alertd.model import GroupKind
from alertd.render.limits import (
    SLACK_HEADER_CHARS,
    SLACK_MAX_BLOCKS,
    SLACK_SECTION_CHARS,
    SLACK_VM_CHARS,
    largest_fitting,
)
from alertd.render.text import isolate, one_line, slack_code, slack_escape, slack_strong
from alertd.render.view import AlertView, VmRow, more_text

COLOURS = {"failed": "#d32f2f", "warning": "#f9a825", "ok": "#2e7d32", "info": "#1976d2"}
EMOJI = {"failed": "🔴", "warning": "🟠", "ok": "✅", "info": "🔵"}
#: Names are cut to this many characters in a VM line; reasons in steps until enough VMs fit.
NAME_CHARS = 80
REASON_STEPS = (200, 100, 0)
#: A job run's own reason, per step of REASON_STEPS: it is the point of its line, so never dropped.
JOB_REASON_STEPS = (1000, 300, 150)
_ROW_EMOJI = {
    GroupKind.RESOLVED: "✅",
    GroupKind.RECOVERED_ON_RETRY: "🔁",
    GroupKind.FLAPPING: "🔀",
}


def header(title: str, severity: str) -> dict[str, Any]:
    """A header block: emoji and title, escaped, within 150 characters after escaping."""
    text = slack_escape(f"{EMOJI.get(severity, '')} {title}".strip())
    if len(text) > SLACK_HEADER_CHARS:
        cut = f"{EMOJI.get(severity, '')} {title}".strip()
        while len(slack_escape(cut)) > SLACK_HEADER_CHARS - 1:
            cut = cut[:-1]
        text = slack_escape(cut.rstrip()) + "…"
    return {"type": "header", "text": {"type": "plain_text", "text": text, "emoji": False}}


def section(text: str) -> dict[str, Any]:
    """A mrkdwn section (the caller has escaped and sized ``text``)."""
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def context(*texts: str) -> dict[str, Any]:
    """A context block of mrkdwn elements."""
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": t} for t in texts if t]}


def footer(severity: str, *texts: str) -> list[dict[str, Any]]:
    """The coloured attachment: a thin bar in the result's colour with a short context line."""
    return [{"color": COLOURS.get(severity, COLOURS["info"]), "blocks": [context(*texts)]}]


def message(title: str, blocks: list[dict[str, Any]], attachments: list[dict[str, Any]]) -> dict[str, Any]:
    """The posted payload: notification text, blocks and the coloured footer."""
    return {"text": slack_escape(one_line(title, 300)), "blocks": blocks, "attachments": attachments}


def _first_section(view: AlertView) -> str:
    lines = [f"*{slack_escape(view.summary)}*"]
    if view.is_follow_up:
        earlier = f", {view.earlier_count} reported earlier" if view.earlier_count else ""
        lines[0] += f"  (follow-up {view.sequence}{earlier})"
    lines.append(f"Job {slack_strong(view.job_name)} on {slack_strong(view.backup_server)}")
    run = " · ".join(p for p in (f"Run {slack_escape(view.span)}", view.duration, view.retry_note) if p)
    lines.append(run)
    if view.late_count:
        lines.append(f"_{view.late_count} collected late by Enterprise Manager_")
    if view.flapping_note:
        lines.append(slack_escape(view.flapping_note))
    return "\n".join(lines)


def _top_reasons(view: AlertView) -> str:
    if not view.top_reasons or view.kind is not GroupKind.FIRING:
        return ""
    lines = ["*Top reasons*"]
    lines += [f"{r.number}. {r.count} VMs: {slack_code(one_line(r.reason, 300))}" for r in view.top_reasons]
    return "\n".join(lines)


def vm_line(view: AlertView, row: VmRow, reason_chars: int) -> str:
    """One VM: emoji, name, result and note, then its reason (or which top reason it is)."""
    emoji = _ROW_EMOJI.get(view.kind, "❌" if row.failed else "⚠️")
    name = slack_strong(one_line(row.name, NAME_CHARS))
    if view.kind is not GroupKind.FIRING:
        return f"{emoji} {name} {slack_escape(isolate(row.note))}"
    head = f"{emoji} {name} {slack_escape(one_line(row.result, 20))}"
    if row.note:
        head += f" · {slack_escape(row.note)}"
    reason = one_line(row.reason, reason_chars)
    if reason:
        return f"{head}: {slack_code(reason)}"
    # Reasons dropped to fit: point at the top reason the VM shares, if any.
    return f"{head} → reason {row.reason_ref}" if row.reason_ref else head


def job_line(view: AlertView, row: VmRow, reason_chars: int) -> str:
    """A job run's own result: "❌ *Job run*: Failed (note): `reason`", or its recovery story."""
    emoji = _ROW_EMOJI.get(view.kind, "❌" if row.failed else "⚠️")
    label = f"{slack_strong(one_line(row.label, 2 * NAME_CHARS))}:"  # names the job when several
    if view.kind is not GroupKind.FIRING:
        return f"{emoji} {label} {slack_escape(isolate(row.note))}"
    head = f"{emoji} {label} {slack_escape(one_line(row.result, 20))}"
    if row.note:
        head += f" ({slack_escape(row.note)})"
    reason = one_line(row.reason, reason_chars)
    return f"{head}: {slack_code(reason)}" if reason else head


def pack(lines: list[str], limit: int = SLACK_SECTION_CHARS) -> list[str]:
    """Join lines into as few texts of <= ``limit`` characters as possible (a longer line is cut)."""
    texts: list[str] = []
    for line in lines:
        line = line if len(line) <= limit else line[: limit - 1] + "…"
        if texts and len(texts[-1]) + 1 + len(line) <= limit:
            texts[-1] += "\n" + line
        else:
            texts.append(line)
    return texts


def _footer_texts(view: AlertView) -> list[str]:
    texts = []
    if view.links:
        texts.append(" · ".join(f"<{link.url}|{slack_escape(link.label)}>" for link in view.links))
    if view.silence_hint:
        texts.append(f"Silence this job: {slack_code(view.silence_hint)}")
    texts.append(f"alertd · {slack_escape(view.source)}")
    return texts


def alert(view: AlertView, title: str) -> dict[str, Any]:
    """The Block Kit payload of an alert message, fitted to Slack's limits."""
    fixed = [header(title, view.severity), section(_first_section(view))]
    top = _top_reasons(view)
    jobs, rows = list(view.job_rows), list(view.rows)
    total = len(jobs) + len(rows)

    def build(n: int, reason_chars: int, job_chars: int) -> list[dict[str, Any]]:
        shown_jobs = jobs[: min(n, len(jobs))]
        shown_vms = rows[: n - len(shown_jobs)]
        job_texts = pack([job_line(view, r, job_chars) for r in shown_jobs])
        vm_lines = [vm_line(view, r, reason_chars) for r in shown_vms]
        if jobs and vm_lines:
            vm_lines.insert(0, f"*VMs ({len(rows)})*")
        blocks = fixed + [section(t) for t in job_texts]
        blocks += [section(top)] if top else []
        blocks += [section(t) for t in pack(vm_lines)]
        if n < total:
            blocks.append(context(more_text(len(jobs) - len(shown_jobs), len(rows) - len(shown_vms))))
        return blocks

    def fits(blocks: list[dict[str, Any]]) -> bool:
        # Job run and VM lines share the block count and the SLACK_VM_CHARS budget ("Top reasons" is fixed).
        listed = sum(len(b.get("text", {}).get("text", "")) for b in blocks[len(fixed) :]) - len(top)
        return len(blocks) <= SLACK_MAX_BLOCKS and listed <= SLACK_VM_CHARS

    best: tuple[list[dict[str, Any]], int] | None = None
    for chars, job_chars in zip(REASON_STEPS, JOB_REASON_STEPS, strict=True):
        blocks, shown = largest_fitting(_bind(build, chars, job_chars), fits, total)
        if best is None or shown > best[1]:
            best = (blocks, shown)
        if shown == total or shown >= 20:
            break
    assert best is not None
    return message(title, best[0], footer(view.severity, *_footer_texts(view)))


def _bind(
    build: Callable[[int, int, int], list[dict[str, Any]]], chars: int, job_chars: int
) -> Callable[[int], list[dict[str, Any]]]:
    return lambda n: build(n, chars, job_chars)


def simple(title: str, severity: str, paragraphs: list[str], facts: list[tuple[str, str]]) -> dict[str, Any]:
    """A short message (test, dead letter, self-alert): each paragraph and fact on its own line.

    Fact values (targets, titles, errors) may quote EM text, so they sit in code spans.
    """
    lines = [f"*{slack_escape(label)}:* {slack_code(one_line(value, 1000))}" for label, value in facts]
    texts = [slack_escape(p) for p in paragraphs[:1]] + (["\n".join(lines)] if lines else [])
    texts += [slack_escape(p) for p in paragraphs[1:]]
    blocks = [header(title, severity), *(section(t) for t in pack(texts))]
    return message(title, blocks, footer(severity, "alertd"))

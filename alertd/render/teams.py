"""Teams layout: an alert message as an Adaptive Card 1.5, posted to a Power Automate Workflows webhook.

Layout: a coloured title bar (Container style by worst result) whose title is a RichTextBlock
(it always wraps, so a phone shows the whole title with its counts); a FactSet (Job, Server,
Run, Counts, Duration); the job runs' own results, one RichTextBlock each ("Job run: Failed:
<reason>", for a job run that failed with no failed VM); "Top reasons"; the VMs as a Table (VM
and result | reason; no Table when the message holds no VM); "+N more" past what fits Teams'
~28 KB; the silence hint; ``Action.OpenUrl`` buttons for the links.

Escaping: Teams formats TextBlock and FactSet text as a Markdown subset (bold, italic, lists,
links) and shows backslash escapes literally. EM data therefore goes into TextRuns, which Teams
never formats; in FactSet values (Markdown) the characters that would format are replaced by
look-alikes (``ac_inert``). Dead-letter and self-alert lines are separate elements, never
joined by single newlines (which Markdown would run together).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from alertd.model import GroupKind
from alertd.render.limits import TEAMS_BUDGET_BYTES, TEAMS_CARD_VERSION, largest_fitting
from alertd.render.text import isolate, one_line
from alertd.render.view import AlertView, VmRow, more_text

STYLES = {"failed": "attention", "warning": "warning", "ok": "good", "info": "accent"}
EMOJI = {"failed": "🔴", "warning": "🟠", "ok": "✅", "info": "🔵"}
COLOURS = {"failed": "Attention", "warning": "Warning", "ok": "Good", "info": "Accent"}
REASON_STEPS = (300, 120, 60, 0)
#: A job run's own reason, per step of REASON_STEPS: it is the point of its line, so never dropped.
JOB_REASON_STEPS = (1000, 300, 150, 100)
NAME_CHARS = 80

_ACTIVE = re.compile(r"[*`~\[\]]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])|^\s*(?:[-+#>]|\d+[.)])\s")
_INERT = str.maketrans(
    {"*": "\u2217", "`": "\u02cb", "~": "\u223c", "[": "\uff3b", "]": "\uff3d", "_": "\uff3f"}
)


def ac_inert(text: str) -> str:
    """``text`` made safe for Teams' Markdown (FactSet values): formatting characters become look-alikes.

    Only text Markdown would act on is changed; ``SQL_PROD_01`` stays as it is.
    """
    if not _ACTIVE.search(text):
        return text
    out = []
    for i, ch in enumerate(text):
        edge = ch == "_" and not (0 < i < len(text) - 1 and text[i - 1].isalnum() and text[i + 1].isalnum())
        out.append(ch.translate(_INERT) if ch != "_" or edge else ch)
    inert = "".join(out)
    return "\u00a0" + inert if re.match(r"\s*(?:[-+#>]|\d+[.)])\s", inert) else inert


_LONG_WORD = re.compile(r"[^\s\-]{20,}")
_CHUNK = 12


def breakable(text: str) -> str:
    """Long unbroken words (a 150-character VM name) get invisible break points every 12 characters.

    Teams does not wrap a word longer than its column: it clips it or runs it into the next
    column (a phone's VM column holds about 14 characters). Only runs of 20 characters or more
    without a space or hyphen are touched; a break point is used only where the line is full.
    """
    return _LONG_WORD.sub(
        lambda m: "\u200b".join(m.group(0)[i : i + _CHUNK] for i in range(0, len(m.group(0)), _CHUNK)), text
    )


def run(text: str, **style: Any) -> dict[str, Any]:
    """A TextRun: shown exactly as given (Teams applies no Markdown to it)."""
    return {"type": "TextRun", "text": text, **style}


def rich(*runs: dict[str, Any], **props: Any) -> dict[str, Any]:
    """A RichTextBlock (always wraps)."""
    return {"type": "RichTextBlock", "inlines": list(runs), **props}


def text_block(text: str, **props: Any) -> dict[str, Any]:
    """A wrapped TextBlock for alertd's own words (never EM data)."""
    return {"type": "TextBlock", "text": text, "wrap": True, **props}


def title_bar(title: str, severity: str) -> dict[str, Any]:
    """The coloured bar with the wrapped title."""
    title_run = run(
        breakable(f"{EMOJI.get(severity, '')} {isolate(title)}".strip()), weight="Bolder", size="Medium"
    )
    return {
        "type": "Container",
        "style": STYLES.get(severity, "accent"),
        "bleed": True,
        "items": [rich(title_run)],
    }


def envelope(card_body: list[dict[str, Any]], actions: list[dict[str, Any]]) -> str:
    """The Workflows message around a card, as the JSON text that is posted (UTF-8, compact)."""
    card: dict[str, Any] = {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": TEAMS_CARD_VERSION,
        "msteams": {"width": "Full"},
        "body": card_body,
    }
    if actions:
        card["actions"] = actions
    message = {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
        ],
    }
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"))


def _facts(view: AlertView) -> dict[str, Any]:
    facts = [
        ("Job", ac_inert(view.job_name)),
        ("Server", ac_inert(view.backup_server)),
        ("Run", ac_inert(" · ".join(p for p in (view.span, view.retry_note) if p))),
        ("Counts", view.summary),
    ]
    if view.duration:
        facts.append(("Duration", view.duration))
    if view.is_follow_up:
        earlier = f", {view.earlier_count} reported earlier" if view.earlier_count else ""
        facts.append(("Follow-up", f"message {view.sequence}{earlier}"))
    if view.late_count:
        facts.append(("Late", f"{view.late_count} collected late by Enterprise Manager"))
    return {"type": "FactSet", "facts": [{"title": t, "value": v} for t, v in facts], "spacing": "Medium"}


def _top_reasons(view: AlertView) -> list[dict[str, Any]]:
    if not view.top_reasons or view.kind is not GroupKind.FIRING:
        return []
    items: list[dict[str, Any]] = [text_block("Top reasons", weight="Bolder", spacing="Medium")]
    for r in view.top_reasons:
        items.append(
            rich(run(f"{r.count} VMs: ", weight="Bolder"), run(one_line(r.reason, 300)), spacing="Small")
        )
    return items


def _job_line(view: AlertView, row: VmRow, reason_chars: int) -> dict[str, Any]:
    """A job run's own result: "Job run: Failed (note): reason", or its recovery story (TextRuns only)."""
    label = run(breakable(isolate(one_line(row.label, 2 * NAME_CHARS))) + ": ", weight="Bolder")
    if view.kind is not GroupKind.FIRING:
        return rich(label, run(row.note or one_line(row.result, 20)), spacing="Medium")
    runs = [label, run(one_line(row.result, 20), color="Attention" if row.failed else "Warning")]
    if row.note:
        runs.append(run(f" ({row.note})", isSubtle=True))
    reason = one_line(row.reason, reason_chars)
    if reason:
        runs += [run(": "), run(breakable(isolate(reason)))]
    return rich(*runs, spacing="Medium")


def _cell(*items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "TableCell", "items": list(items)}


def _vm_row(view: AlertView, row: VmRow, reason_chars: int) -> dict[str, Any]:
    name = rich(run(breakable(isolate(one_line(row.name, NAME_CHARS))), weight="Bolder"))
    if view.kind is GroupKind.FIRING:
        colour = "Attention" if row.failed else "Warning"
        status = rich(
            run(one_line(row.result, 20), color=colour),
            *([run(" · " + row.note, isSubtle=True)] if row.note else []),
        )
        detail = one_line(row.reason, reason_chars) or (
            f"→ reason {row.reason_ref}" if row.reason_ref else ""
        )
    else:
        status = rich(run(one_line(row.result, 20), isSubtle=True))
        detail = row.note
    return {
        "type": "TableRow",
        "cells": [_cell(name, status), _cell(rich(run(breakable(isolate(detail)) or "—")))],
    }


def _table(view: AlertView, rows: list[VmRow], reason_chars: int) -> dict[str, Any]:
    heading = "Reason" if view.kind is GroupKind.FIRING else "What happened"
    head = {
        "type": "TableRow",
        "style": "emphasis",
        "cells": [_cell(text_block("VM", weight="Bolder")), _cell(text_block(heading, weight="Bolder"))],
    }
    return {
        "type": "Table",
        "columns": [{"width": 2}, {"width": 3}],
        "firstRowAsHeaders": True,
        "showGridLines": False,
        "spacing": "Medium",
        "rows": [head, *(_vm_row(view, r, reason_chars) for r in rows)],
    }


def _footer(view: AlertView) -> list[dict[str, Any]]:
    if not view.silence_hint:
        return []
    return [
        rich(
            run("Silence this job: ", isSubtle=True, size="Small"),
            run(view.silence_hint, fontType="Monospace", size="Small"),
            spacing="Medium",
        )
    ]


def alert(view: AlertView, title: str) -> str:
    """The Workflows message (JSON text) of an alert, fitted under Teams' size limit."""
    head = [title_bar(title, view.severity), _facts(view)]
    top = _top_reasons(view)
    actions = [{"type": "Action.OpenUrl", "title": link.label, "url": link.url} for link in view.links]
    jobs, rows = list(view.job_rows), list(view.rows)
    total = len(jobs) + len(rows)

    def build(n: int, chars: int, job_chars: int) -> str:
        shown_jobs = jobs[: min(n, len(jobs))]
        shown_vms = rows[: n - len(shown_jobs)]
        body = [*head, *(_job_line(view, r, job_chars) for r in shown_jobs), *top]
        if shown_vms:
            body.append(_table(view, shown_vms, chars))
        if n < total:
            more = more_text(len(jobs) - len(shown_jobs), len(rows) - len(shown_vms))
            body.append(text_block(more, isSubtle=True))
        return envelope([*body, *_footer(view)], actions)

    def fits(body: str) -> bool:
        return len(body.encode()) <= TEAMS_BUDGET_BYTES

    best: tuple[str, int] | None = None
    for chars, job_chars in zip(REASON_STEPS, JOB_REASON_STEPS, strict=True):
        body, shown = largest_fitting(_bind(build, chars, job_chars), fits, total)
        if best is None or shown > best[1]:
            best = (body, shown)
        if shown == total or shown >= 20:
            break
    assert best is not None
    return best[0]


def _bind(build: Callable[[int, int, int], str], chars: int, job_chars: int) -> Callable[[int], str]:
    return lambda n: build(n, chars, job_chars)


def simple(title: str, severity: str, paragraphs: list[str], facts: list[tuple[str, str]]) -> str:
    """A short message (test, dead letter, self-alert): each line its own element."""
    body: list[dict[str, Any]] = [title_bar(title, severity)]
    body += [rich(run(p), spacing="Small") for p in paragraphs[:1]]
    for label, value in facts:
        body.append(
            rich(run(f"{label}: ", weight="Bolder"), run(isolate(one_line(value, 1000))), spacing="Small")
        )
    body += [rich(run(p), spacing="Small") for p in paragraphs[1:]]
    return envelope(body, [])

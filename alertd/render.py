"""Rendering: alert groups and daemon events become ``RenderedMessage`` objects via Jinja2 templates.

This module owns the default templates in ``alertd/templates``, per-receiver template overrides,
the channel size rules (Slack's ~4,000 characters, Teams' 28 KB Adaptive Card) and the sandbox
that keeps template authors away from Python internals. It is pure: apart from reading template
files it does no I/O, and it never talks to a channel.

Templates (each may be overridden per receiver by a file of the same name):

* ``<message>_title.txt.j2``: one line, used as chat title and email Subject;
* ``<message>_chat.md.j2``: Markdown for Slack (apprise converts to mrkdwn) and Teams TextBlocks;
* ``<message>_email.html.j2``: HTML (autoescaped) that extends ``email_layout.html.j2``;

for ``<message>`` in ``alert``, ``test``, ``dead_letter`` and ``self_alert``.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import sandbox

from alertd import __version__
from alertd.durations import format_duration
from alertd.model import (
    AlertGroup,
    BodyFormat,
    Channel,
    GroupKind,
    NotifyType,
    RenderedMessage,
    Result,
    TaskSession,
)

Kind = Channel

#: Titles beyond this are cut: Slack header blocks stop at 150 and email subjects get unreadable.
TITLE_MAX_CHARS = 150
#: Slack advises keeping ``text`` under 4,000 characters; apprise's mrkdwn conversion grows the
#: text a little (``&`` becomes ``&amp;``), so we aim below that.
CHAT_MAX_CHARS = 3800
#: Teams rejects cards over ~28 KB. apprise sends ``json.dumps`` output (ASCII-escaped, so one
#: emoji costs 12 bytes); keeping the body's JSON form under 20 KB leaves room for title and card.
CHAT_MAX_JSON_BYTES = 20_000
#: A chat message lists at least this many VMs before any "+N more" line.
CHAT_MIN_VMS = 20
#: Per-VM reasons in chat are shortened to one line of at most this many characters ...
CHAT_REASON_CHARS = 200
#: ... and, when that would push VMs below CHAT_MIN_VMS, to these shorter lengths in turn.
_CHAT_REASON_STEPS = (CHAT_REASON_CHARS, 120, 60, 0)
#: VM and job names longer than this are shortened in chat lines.
CHAT_NAME_CHARS = 80
#: How many distinct reasons shared by two or more VMs the "Top reasons" section names.
TOP_REASONS = 3

MORE_HINT = "see email / alertd history"
ELLIPSIS = "…"

_DEFAULT_TEMPLATES = Path(__file__).parent / "templates"
_WS = re.compile(r"\s+")
_DIGITS = re.compile(r"(\d+)")
# What in VM names and reasons could become Markdown or a Slack/Teams mention: `*~<>[]` always,
# ``_`` only at a word edge (``SQL_PROD_01`` is literal in CommonMark and Slack, and most
# VM names look like that), and a backslash only where it would escape the next character
# (Windows paths in reasons stay readable). apprise's Slack converter understands these escapes.
_MD_SPECIAL = re.compile(r"\\(?=[!-/:-@\[-`{-~]|$)|[`*~<>\[\]]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


class TemplateError(Exception):
    """A template failed to load or render; ``template`` names it (or the override directory)."""

    def __init__(self, template: str, message: str) -> None:
        super().__init__(f"template {template!r}: {message}")
        self.template = template


# --------------------------------------------------------------------------------------------
# Filters available to templates (also handy for tests and other modules).


def as_utc(value: datetime | None, seconds: bool = False) -> str:
    """Format a datetime in UTC with the zone named, e.g. ``2025-06-05 01:04 UTC``.

    Naive datetimes are taken to be UTC already (EM reports ``*UTC`` fields).
    """
    if value is None:
        return "—"
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    fmt = "%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC"
    return aware.astimezone(UTC).strftime(fmt)


def one_line(text: object, limit: int = CHAT_REASON_CHARS) -> str:
    """Collapse whitespace (EM reasons carry CR/LF) and shorten to ``limit`` characters with "…"."""
    flat = _WS.sub(" ", str(text)).strip()
    if limit <= 0:
        return ""
    if len(flat) <= limit:
        return flat
    return flat[: limit - 1].rstrip() + ELLIPSIS


def md_escape(text: object) -> str:
    """Backslash-escape CommonMark punctuation so data never becomes markup or a mention."""
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), str(text))


def file_size(value: int | None) -> str:
    """Bytes as a short human size (``1.5 GiB``)."""
    if value is None:
        return "—"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def chat_fits(text: str) -> bool:
    """True when a chat body fits Slack's character and Teams' card-size budgets."""
    return len(text) <= CHAT_MAX_CHARS and len(json.dumps(text)) <= CHAT_MAX_JSON_BYTES


# --------------------------------------------------------------------------------------------
# Template context objects (plain, read-only values; the sandbox allows attribute access).


@dataclass(frozen=True, slots=True)
class VmRow:
    """One VM line/row as templates see it."""

    name: str
    result: str
    failed: bool
    reason: str
    reason_short: str
    reason_ref: int
    start: datetime
    end: datetime | None
    size: int
    session: TaskSession
    attempts: int = 1
    streak: int = 1
    failed_runs: int = 0
    down_for: str = ""


@dataclass(frozen=True, slots=True)
class ReasonCount:
    """A reason shared by several VMs, numbered for "→ reason N" references in chat."""

    number: int
    reason: str
    count: int


def _rank(result: str) -> int:
    r = result.strip().casefold()
    if r == Result.FAILED.casefold():
        return 0
    if r == Result.WARNING.casefold():
        return 1
    return 2


def _vm_name(alert: TaskSession) -> str:
    # EM's Name is "vm@YYYY-MM-DD hh:mm:ss"; VmDisplayName is what admins recognise.
    return alert.vm or alert.name.split("@", 1)[0] or alert.uid


def _natural(name: str) -> list[int | str]:
    """Sort key putting ``sql2`` before ``sql10``: re.split alternates text and digit runs."""
    return [int(part) if part.isdecimal() else part.casefold() for part in _DIGITS.split(name)]


def _summary(failed: int, warnings: int, follow_up: bool) -> str:
    """``37 failed, 5 warnings``, or for a follow-up ``2 more failed, 1 more warning``."""
    more = "more " if follow_up else ""
    parts = []
    if failed:
        parts.append(f"{failed} {more}failed")
    if warnings:
        parts.append(f"{warnings} {more}{'warning' if warnings == 1 else 'warnings'}")
    return ", ".join(parts) or f"{more}alerts"


def _badge(kind: GroupKind, failed: int) -> str:
    if kind is GroupKind.RESOLVED:
        return "Resolved"
    if kind is GroupKind.RECOVERED_ON_RETRY:
        return "Recovered on retry"
    if kind is GroupKind.FLAPPING:
        return "Flapping"
    return Result.FAILED.value if failed else Result.WARNING.value


def _notify_type(kind: GroupKind, failed: int) -> NotifyType:
    if kind in (GroupKind.RESOLVED, GroupKind.RECOVERED_ON_RETRY):
        return NotifyType.SUCCESS if kind is GroupKind.RESOLVED else NotifyType.INFO
    if kind is GroupKind.FLAPPING:
        return NotifyType.WARNING
    return NotifyType.FAILURE if failed else NotifyType.WARNING


def _kind_summary(kind: GroupKind, total: int, failed: int, warnings: int, follow_up: bool) -> str:
    vms = "VM" if total == 1 else "VMs"
    if kind is GroupKind.RESOLVED:
        return f"{total} {vms} recovered"
    if kind is GroupKind.RECOVERED_ON_RETRY:
        return f"{total} {vms} succeeded on Veeam's retry"
    if kind is GroupKind.FLAPPING:
        return f"{total} {vms} flapping between success and failure"
    return _summary(failed, warnings, follow_up)


def _down_for(since: datetime | None, until: datetime | None) -> str:
    """How long a VM was failing, e.g. ``14h`` (empty when unknown)."""
    if since is None or until is None or until < since:
        return ""
    return format_duration(until - since)


def _single_or_count(values: Sequence[str], what: str) -> str:
    distinct = sorted({v for v in values if v})
    if len(distinct) == 1:
        return distinct[0]
    return f"{len(distinct)} {what}s" if distinct else f"unknown {what}"


class Renderer:
    """Renders messages from the default templates or a receiver's override directory.

    One sandboxed environment is built per override directory (lazily) and cached; Jinja's own
    cache then re-reads a template only when its file changes.
    """

    def __init__(self, template_dir_overrides: Mapping[str, Path] | None = None) -> None:
        self._overrides = {name: Path(path) for name, path in (template_dir_overrides or {}).items()}
        for path in self._overrides.values():
            if not path.is_dir():
                # Fail at config time, not at 3 a.m. when the first alert is rendered.
                raise TemplateError(str(path), "template override directory does not exist")
        self._envs: dict[str, jinja2.Environment] = {}

    # ---- public API ----------------------------------------------------------------------

    def render(self, group: AlertGroup, kind: Kind) -> RenderedMessage:
        """Render one job run's group of failed/warning task sessions for a chat or email target."""
        if not group.alerts:
            raise ValueError("cannot render an empty alert group")
        ctx = self._alert_context(group)
        notify_type = _notify_type(group.kind, ctx["failed_count"])
        title = self._title("alert_title.txt.j2", group.receiver, ctx, shorten=("job_name", "backup_server"))
        ctx["title"] = title
        if kind == "email":
            body = self._render("alert_email.html.j2", group.receiver, ctx)
            return RenderedMessage(title, body, BodyFormat.HTML, notify_type)
        body = self._fit_chat(group.receiver, ctx)
        return RenderedMessage(title, body, BodyFormat.MARKDOWN, notify_type)

    def render_test(self, receiver: str, kind: Kind, *, now: datetime | None = None) -> RenderedMessage:
        """A harmless message proving a receiver's targets work (``alertd test``)."""
        ctx: dict[str, Any] = {"receiver": receiver, "now": now or datetime.now(UTC)}
        return self._simple("test", receiver, kind, ctx, NotifyType.INFO)

    def render_dead_letter(
        self,
        receiver: str,
        target_privacy_url: str,
        title: str,
        reason: str,
        attempts: int,
        first_attempt_at: datetime,
        *,
        kind: Kind = Channel.CHAT,
        for_receiver: str | None = None,
    ) -> RenderedMessage:
        """Tell the fallback receiver that a message for ``receiver`` could not be delivered.

        ``for_receiver`` is the (fallback) receiver that carries this report; its template
        overrides apply. Without it the default templates are used.
        """
        ctx: dict[str, Any] = {
            "receiver": receiver,
            "target": target_privacy_url,
            "original_title": title,
            "reason": reason,
            "reason_short": one_line(reason, 500),
            "attempts": attempts,
            "first_attempt_at": first_attempt_at,
        }
        return self._simple("dead_letter", for_receiver or "", kind, ctx, NotifyType.FAILURE)

    def render_self_alert(
        self,
        source: str,
        problem: str,
        since: datetime,
        recovered: bool,
        *,
        kind: Kind = Channel.CHAT,
        for_receiver: str | None = None,
    ) -> RenderedMessage:
        """alertd reporting on itself: a source (e.g. an EM server) failing or recovering."""
        ctx: dict[str, Any] = {
            "source": source,
            "problem": problem,
            "problem_short": one_line(problem, 500),
            "since": since,
            "recovered": recovered,
        }
        notify_type = NotifyType.SUCCESS if recovered else NotifyType.FAILURE
        return self._simple("self_alert", for_receiver or "", kind, ctx, notify_type)

    def validate(self) -> None:
        """Compile every template for every receiver; raises ``TemplateError`` on the first bad one."""
        for receiver in ("", *self._overrides):
            env = self._env(receiver)
            for name in env.list_templates(filter_func=lambda n: n.endswith(".j2")):
                try:
                    env.get_template(name)
                except jinja2.TemplateError as exc:
                    raise TemplateError(name, _describe(exc)) from exc

    # ---- internals -----------------------------------------------------------------------

    def _env(self, receiver: str) -> jinja2.Environment:
        key = receiver if receiver in self._overrides else ""
        env = self._envs.get(key)
        if env is None:
            dirs = [self._overrides[key]] if key else []
            loader = jinja2.FileSystemLoader([*dirs, _DEFAULT_TEMPLATES])
            # Immutable sandbox: templates are user-editable config and must not reach Python
            # internals or mutate the objects we hand them.
            env = sandbox.ImmutableSandboxedEnvironment(
                loader=loader,
                autoescape=jinja2.select_autoescape(
                    enabled_extensions=("html.j2",), default_for_string=False, default=False
                ),
                undefined=jinja2.StrictUndefined,
                trim_blocks=True,
                lstrip_blocks=True,
                keep_trailing_newline=False,
            )
            filters: dict[str, Callable[..., Any]] = {
                "utc": as_utc,
                "oneline": one_line,
                "md": md_escape,
                "filesize": file_size,
            }
            env.filters.update(filters)
            env.globals["alertd_version"] = __version__
            env.globals["more_hint"] = MORE_HINT
            self._envs[key] = env
        return env

    def _render(self, name: str, receiver: str, ctx: Mapping[str, Any]) -> str:
        try:
            return self._env(receiver).get_template(name).render(ctx).strip()
        except jinja2.TemplateError as exc:
            raise TemplateError(name, _describe(exc)) from exc
        except Exception as exc:  # a template doing 1/0 or calling something that raises
            raise TemplateError(name, f"{type(exc).__name__}: {exc}") from exc

    def _title(self, name: str, receiver: str, ctx: dict[str, Any], shorten: Sequence[str] = ()) -> str:
        title = one_line(self._render(name, receiver, ctx), 10_000)
        if len(title) > TITLE_MAX_CHARS and shorten:
            # Keep counts and result readable: shorten the free-text parts before cutting the end.
            short = {**ctx, **{k: one_line(ctx[k], 40) for k in shorten}}
            title = one_line(self._render(name, receiver, short), 10_000)
        return one_line(title, TITLE_MAX_CHARS)

    def _simple(
        self, message: str, receiver: str, kind: Kind, ctx: dict[str, Any], notify_type: NotifyType
    ) -> RenderedMessage:
        title = self._title(f"{message}_title.txt.j2", receiver, ctx)
        ctx = {**ctx, "title": title}
        if kind == "email":
            body = self._render(f"{message}_email.html.j2", receiver, ctx)
            return RenderedMessage(title, body, BodyFormat.HTML, notify_type)
        body = self._render(f"{message}_chat.md.j2", receiver, ctx)
        if not chat_fits(body):
            body = _hard_truncate(body, 0)
        return RenderedMessage(title, body, BodyFormat.MARKDOWN, notify_type)

    def _alert_context(self, group: AlertGroup) -> dict[str, Any]:
        alerts = sorted(group.alerts, key=lambda a: (_rank(a.result), _natural(_vm_name(a)), a.uid))
        failed = sum(1 for a in alerts if _rank(a.result) == 0)
        warnings = sum(1 for a in alerts if _rank(a.result) == 1)
        reasons = Counter(one_line(a.reason, 10_000) for a in alerts if a.reason.strip())
        top = [
            ReasonCount(i, reason, count)
            for i, (reason, count) in enumerate(
                ((r, c) for r, c in reasons.most_common(TOP_REASONS) if c >= 2), start=1
            )
        ]
        ref = {t.reason: t.number for t in top}
        rows = [
            VmRow(
                name=_vm_name(a),
                result=a.result,
                failed=_rank(a.result) == 0,
                reason=a.reason,
                reason_short=one_line(a.reason, CHAT_REASON_CHARS),
                reason_ref=ref.get(one_line(a.reason, 10_000), 0),
                start=a.creation_time,
                end=a.end_time,
                size=a.total_size,
                session=a,
                attempts=group.detail(a.uid).attempts,
                streak=group.detail(a.uid).streak,
                failed_runs=group.detail(a.uid).failed_runs,
                down_for=_down_for(group.detail(a.uid).since, a.end_time),
            )
            for a in alerts
        ]
        ends = [a.end_time for a in alerts if a.end_time is not None]
        return {
            "group": group,
            "alerts": alerts,
            "receiver": group.receiver,
            "job_name": _single_or_count([a.job_name for a in alerts], "job"),
            "backup_server": _single_or_count([a.backup_server for a in alerts], "backup server"),
            "worst": _badge(group.kind, failed),
            "kind": group.kind.value,
            "failed_count": failed,
            "warning_count": warnings,
            "total": len(alerts),
            "summary": _kind_summary(group.kind, len(alerts), failed, warnings, group.is_follow_up),
            "is_follow_up": group.is_follow_up,
            "sequence": group.sequence,
            "earlier_count": group.earlier_count,
            "start": min(a.creation_time for a in alerts),
            "end": max(ends) if ends else None,
            "running": len(ends) < len(alerts),
            "top_reasons": top,
            "all_vms": rows,
            "vms": rows,
            "hidden_count": 0,
        }

    def _fit_chat(self, receiver: str, ctx: dict[str, Any]) -> str:
        """Render chat with as many VMs as fit (at least CHAT_MIN_VMS), shortening reasons if needed."""
        rows: list[VmRow] = ctx["all_vms"]
        want = min(CHAT_MIN_VMS, len(rows))
        best: tuple[str, int] | None = None
        for reason_chars in _CHAT_REASON_STEPS:
            short_rows = [_shorten_row(r, reason_chars) for r in rows]
            body, shown = self._largest_fitting(receiver, ctx, short_rows)
            if shown == len(rows):
                return body
            if best is None or shown > best[1]:
                best = (body, shown)
            if shown >= want:
                return body
        assert best is not None
        body, shown = best
        if chat_fits(body):
            return body
        # Even zero VM lines overflow (a huge job name or override template): cut by characters.
        return _hard_truncate(body, len(rows) - shown)

    def _largest_fitting(self, receiver: str, ctx: dict[str, Any], rows: list[VmRow]) -> tuple[str, int]:
        """Binary-search the number of VM lines whose rendering fits the chat budget."""

        def attempt(n: int) -> str:
            return self._render(
                "alert_chat.md.j2", receiver, {**ctx, "vms": rows[:n], "hidden_count": len(rows) - n}
            )

        full = attempt(len(rows))
        if chat_fits(full):
            return full, len(rows)
        lo, hi = 0, len(rows) - 1  # invariant: answer in [lo, hi]; lo may not fit when lo == 0
        best = attempt(0)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            body = attempt(mid)
            if chat_fits(body):
                lo, best = mid, body
            else:
                hi = mid - 1
        return best, lo


def _shorten_row(row: VmRow, reason_chars: int) -> VmRow:
    return dataclasses.replace(
        row, name=one_line(row.name, CHAT_NAME_CHARS), reason_short=one_line(row.reason, reason_chars)
    )


def _hard_truncate(body: str, hidden: int) -> str:
    """Cut ``body`` by characters so it plus a "+N more" line fits the chat budget."""
    tail = f"\n{ELLIPSIS}\n_+{hidden} more ({MORE_HINT})_" if hidden else f"\n{ELLIPSIS}"
    lo, hi = 0, len(body)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if chat_fits(body[:mid] + tail):
            lo = mid
        else:
            hi = mid - 1
    return body[:lo].rstrip() + tail


def _describe(exc: jinja2.TemplateError) -> str:
    line = getattr(exc, "lineno", None)
    where = f" (line {line})" if line else ""
    return f"{type(exc).__name__}{where}: {exc.message or exc}"

"""The Renderer: one ``RenderedMessage`` per message and channel, from templates and the native layouts.

``render(group, Channel.X)`` builds the channel-independent ``AlertView`` once per call, then:

* ``CHAT`` (apprise's chat services): Markdown from ``alert_chat.md.j2``, with as many VMs as fit
  ~4,000 characters (at least 20, then "+N more");
* ``EMAIL``: HTML from ``alert_email.html.j2`` (< 90 KB; past 200 VMs a summary plus a CSV
  attachment) and a text/plain part from ``alert_email.txt.j2``;
* ``SLACK``: Block Kit JSON (``alertd.render.slack``), ``text`` the notification line;
* ``TEAMS``: a Workflows message with an Adaptive Card 1.5 (``alertd.render.teams``).

Every channel's title comes from ``<message>_title.txt.j2``. A receiver's template directory may
override any default template, and may add ``<message>_slack.json.j2`` / ``<message>_teams.json.j2``
to replace a native layout entirely (checked against the channel's limits). The renderer is
pure: apart from reading template files it does no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2

from alertd.model import AlertGroup, Attachment, BodyFormat, Channel, NotifyType, RenderedMessage
from alertd.render import chat, slack, teams
from alertd.render.email import (
    EMAIL_FULL_LIST,
    JOB_REASON_STEPS,
    REASON_STEPS,
    SUMMARY_NAMES,
    csv_attachment,
    csv_name,
    job_context,
    reason_groups,
)
from alertd.render.env import TemplateError, describe, message_env
from alertd.render.limits import EMAIL_HTML_BYTES, largest_fitting, slack_problems, teams_problems
from alertd.render.links import RouteLinks, expand_links
from alertd.render.text import clean, one_line
from alertd.render.timefmt import TimeFormat, zone
from alertd.render.view import AlertView, build_view, link_values

#: Titles beyond this are cut: Slack header blocks stop at 150 and email subjects get unreadable.
TITLE_MAX_CHARS = 150


@dataclass(frozen=True, slots=True)
class DisplayOptions:
    """How messages show times and commands: ``display.timezone`` (IANA) and the config path."""

    timezone: str = "UTC"
    #: Named in the silence hint (``alertd silence add --config PATH ...``) when set.
    config_path: str | None = None


def _channel(value: Channel | str) -> Channel:
    return value if isinstance(value, Channel) else Channel(value)


class Renderer:
    """Renders messages from the default templates or a receiver's override directory."""

    def __init__(
        self,
        template_dir_overrides: Mapping[str, Path] | None = None,
        *,
        display: DisplayOptions | None = None,
    ) -> None:
        self._overrides = {name: Path(path) for name, path in (template_dir_overrides or {}).items()}
        for path in self._overrides.values():
            if not path.is_dir():
                raise TemplateError(str(path), "template override directory does not exist")
        self.display = display or DisplayOptions()
        self.times = TimeFormat(zone(self.display.timezone))  # raises TimeZoneError early
        self._envs: dict[str, jinja2.Environment] = {}

    # ---- public API ----------------------------------------------------------------------

    def render(
        self, group: AlertGroup, channel: Channel | str, *, links: RouteLinks | None = None
    ) -> RenderedMessage:
        """Render one job run's group of failed/warning task sessions for one channel."""
        if not group.alerts:
            raise ValueError("cannot render an empty alert group")
        channel = _channel(channel)
        expanded = expand_links(links, link_values(group))
        view = build_view(group, self.times, expanded, self.display.config_path)
        ctx = self._alert_context(group, view)
        title = self._title("alert_title.txt.j2", group.receiver, ctx, shorten=("job_name", "backup_server"))
        ctx["title"] = title
        custom = self._native_override("alert", channel, group.receiver, ctx, view.notify_type)
        if custom is not None:
            return custom
        if channel is Channel.SLACK:
            payload = slack.alert(view, title)
            return RenderedMessage(
                title, _json(payload), BodyFormat.JSON, view.notify_type, text=payload["text"]
            )
        if channel is Channel.TEAMS:
            return RenderedMessage(
                title, teams.alert(view, title), BodyFormat.JSON, view.notify_type, text=title
            )
        if channel is Channel.EMAIL:
            return self._email(group.receiver, view, ctx)
        body = chat.fit(lambda c: self._render("alert_chat.md.j2", group.receiver, c), ctx)
        return RenderedMessage(title, body, BodyFormat.MARKDOWN, view.notify_type)

    def render_test(
        self, receiver: str, channel: Channel | str, *, now: datetime | None = None
    ) -> RenderedMessage:
        """A harmless message proving a receiver's targets work (``alertd test-notify``)."""
        now = now or datetime.now(UTC)
        ctx: dict[str, Any] = {"receiver": clean(receiver), "now": now}
        paragraphs = [
            f"This is a test message from alertd for receiver {clean(receiver)}, sent {self.times.at(now, seconds=True)}.",
            "If you can read this, the target works. No action is needed.",
        ]
        return self._simple("test", receiver, _channel(channel), ctx, NotifyType.INFO, "info", paragraphs, [])

    def render_dead_letter(
        self,
        receiver: str,
        target_privacy_url: str,
        title: str,
        reason: str,
        attempts: int,
        first_attempt_at: datetime,
        *,
        channel: Channel | str = Channel.CHAT,
        for_receiver: str | None = None,
        kind: str | None = None,
    ) -> RenderedMessage:
        """Tell the fallback receiver that a message for ``receiver`` could not be delivered.

        ``for_receiver`` is the receiver carrying this report (its template overrides apply).
        ``kind`` is the former name of ``channel``, accepted until every caller passes ``channel``.
        """
        ctx: dict[str, Any] = {
            "receiver": receiver,
            "target": target_privacy_url,
            "original_title": title,
            "reason": clean(reason),
            "reason_short": one_line(clean(reason), 500),
            "attempts": attempts,
            "first_attempt_at": first_attempt_at,
        }
        facts = [
            ("Target", target_privacy_url),
            ("Message", title),
            ("Attempts", f"{attempts}, first at {self.times.at(first_attempt_at)}"),
            ("Last error", ctx["reason_short"]),
        ]
        paragraphs = [
            f"alertd could not deliver a message to receiver {receiver}.",
            "The message is kept in the alertd outbox; check the target's configuration and the alertd log.",
        ]
        return self._simple(
            "dead_letter",
            for_receiver or "",
            _channel(kind or channel),
            ctx,
            NotifyType.FAILURE,
            "failed",
            paragraphs,
            facts,
        )

    def render_self_alert(
        self,
        source: str,
        problem: str,
        since: datetime,
        recovered: bool,
        *,
        channel: Channel | str = Channel.CHAT,
        for_receiver: str | None = None,
        kind: str | None = None,
    ) -> RenderedMessage:
        """alertd reporting on itself: a source (e.g. an EM server) failing or recovering."""
        ctx: dict[str, Any] = {
            "source": source,
            "problem": clean(problem),
            "problem_short": one_line(clean(problem), 500),
            "since": since,
            "recovered": recovered,
        }
        if recovered:
            paragraphs = [f"{source} works again. It had failed since {self.times.at(since)}."]
        else:
            paragraphs = [
                f"{source} has been failing since {self.times.at(since)}.",
                "Alerts from this source may be delayed until it recovers.",
            ]
        facts = [("Problem", ctx["problem_short"])]
        notify_type, severity = (NotifyType.SUCCESS, "ok") if recovered else (NotifyType.FAILURE, "failed")
        return self._simple(
            "self_alert",
            for_receiver or "",
            _channel(kind or channel),
            ctx,
            notify_type,
            severity,
            paragraphs,
            facts,
        )

    # ---- internals -----------------------------------------------------------------------

    def _env(self, receiver: str) -> jinja2.Environment:
        key = receiver if receiver in self._overrides else ""
        env = self._envs.get(key)
        if env is None:
            filters: dict[str, Callable[..., Any]] = {"when": self.times.at, "utc": _utc}
            env = message_env(self._overrides.get(key), filters)
            env.globals["more_hint"] = chat.MORE_HINT
            self._envs[key] = env
        return env

    def _render(self, name: str, receiver: str, ctx: Mapping[str, Any]) -> str:
        try:
            return self._env(receiver).get_template(name).render(ctx).strip()
        except jinja2.TemplateError as exc:
            raise TemplateError(name, describe(exc)) from exc
        except Exception as exc:  # a template doing 1/0 or calling something that raises
            raise TemplateError(name, f"{type(exc).__name__}: {exc}") from exc

    def _title(self, name: str, receiver: str, ctx: dict[str, Any], shorten: tuple[str, ...] = ()) -> str:
        title = one_line(self._render(name, receiver, ctx), 10_000)
        if len(title) > TITLE_MAX_CHARS and shorten:
            # Keep counts and result readable: shorten the free-text parts before cutting the end.
            short = {**ctx, **{k: one_line(ctx[k], 40) for k in shorten}}
            title = one_line(self._render(name, receiver, short), 10_000)
        return one_line(title, TITLE_MAX_CHARS)

    def _native_override(
        self, message: str, channel: Channel, receiver: str, ctx: Mapping[str, Any], notify_type: NotifyType
    ) -> RenderedMessage | None:
        """A receiver's own ``<message>_slack.json.j2`` / ``_teams.json.j2``, parsed and checked."""
        if channel not in (Channel.SLACK, Channel.TEAMS) or receiver not in self._overrides:
            return None
        name = f"{message}_{channel.value}.json.j2"
        if not (self._overrides[receiver] / name).is_file():
            return None
        text = self._render(name, receiver, ctx)
        try:
            payload = json.loads(text)
        except ValueError as exc:
            raise TemplateError(name, f"not valid JSON: {exc}") from exc
        body = _json(payload)
        problems = slack_problems(payload) if channel is Channel.SLACK else teams_problems(body)
        if problems:
            raise TemplateError(name, "; ".join(problems[:3]))
        note = payload.get("text") if channel is Channel.SLACK else ctx["title"]
        return RenderedMessage(ctx["title"], body, BodyFormat.JSON, notify_type, text=str(note))

    def _simple(
        self,
        message: str,
        receiver: str,
        channel: Channel,
        ctx: dict[str, Any],
        notify_type: NotifyType,
        severity: str,
        paragraphs: list[str],
        facts: list[tuple[str, str]],
    ) -> RenderedMessage:
        title = self._title(f"{message}_title.txt.j2", receiver, ctx)
        ctx = {**ctx, "title": title}
        custom = self._native_override(message, channel, receiver, ctx, notify_type)
        if custom is not None:
            return custom
        if channel is Channel.SLACK:
            payload = slack.simple(title, severity, paragraphs, facts)
            return RenderedMessage(title, _json(payload), BodyFormat.JSON, notify_type, text=payload["text"])
        if channel is Channel.TEAMS:
            return RenderedMessage(
                title,
                teams.simple(title, severity, paragraphs, facts),
                BodyFormat.JSON,
                notify_type,
                text=title,
            )
        if channel is Channel.EMAIL:
            html = self._render(f"{message}_email.html.j2", receiver, ctx)
            text = self._render(f"{message}_email.txt.j2", receiver, ctx)
            return RenderedMessage(title, html, BodyFormat.HTML, notify_type, text=text)
        body = chat.cut(self._render(f"{message}_chat.md.j2", receiver, ctx))
        return RenderedMessage(title, body, BodyFormat.MARKDOWN, notify_type)

    def _alert_context(self, group: AlertGroup, view: AlertView) -> dict[str, Any]:
        """What alert templates see: ``view`` plus the names earlier templates used."""
        rows = list(view.rows)
        return {
            "view": view,
            "group": group,
            "alerts": [r.session for r in (*view.job_rows, *rows)],
            "receiver": group.receiver,
            "job_name": view.job_name,
            "backup_server": view.backup_server,
            "worst": view.badge,
            "kind": view.kind.value,
            "failed_count": view.failed_count,
            "warning_count": view.warning_count,
            "total": view.total,
            "summary": view.summary,
            "is_follow_up": view.is_follow_up,
            "sequence": view.sequence,
            "earlier_count": view.earlier_count,
            "start": view.start,
            "end": view.end,
            "running": view.end is None,
            "span": view.span,
            "top_reasons": list(view.top_reasons),
            "all_vms": rows,
            "vms": rows,
            "hidden_count": 0,
            "job_rows": list(view.job_rows),
            "hidden_jobs": 0,
        }

    def _fewest_groups(self, receiver: str, ctx: dict[str, Any], groups: list[Any], name: str) -> str:
        """Thousands of distinct reasons: the HTML naming as many reason groups as fit (the CSV has all)."""
        jobs = job_context(ctx["view"], JOB_REASON_STEPS[-1])

        def build(n: int) -> str:
            return self._render(
                "alert_email.html.j2",
                receiver,
                {**ctx, **jobs, "reason_groups": groups[:n], "csv_name": name},
            )

        html, _ = largest_fitting(build, lambda h: len(h.encode()) <= EMAIL_HTML_BYTES, len(groups))
        return html

    def _email(self, receiver: str, view: AlertView, ctx: dict[str, Any]) -> RenderedMessage:
        summary = view.total > EMAIL_FULL_LIST
        attachments: tuple[Attachment, ...] = (csv_attachment(view),) if summary else ()
        name = csv_name(view) if summary else ""
        html = ""
        for chars, job_chars in zip(REASON_STEPS, JOB_REASON_STEPS, strict=True):
            jobs = job_context(view, job_chars)
            for names in (SUMMARY_NAMES, 10, 1) if summary else (None,):
                groups = reason_groups(view, chars, names)
                html = self._render(
                    "alert_email.html.j2",
                    receiver,
                    {**ctx, **jobs, "reason_groups": groups, "csv_name": name},
                )
                if len(html.encode()) <= EMAIL_HTML_BYTES:
                    break
            if len(html.encode()) <= EMAIL_HTML_BYTES:
                break
        else:
            # Thousands of distinct reasons: name fewer reason groups (the CSV holds them all).
            html = self._fewest_groups(receiver, ctx, reason_groups(view, 0, 1), name)
            if not attachments:
                attachments = (csv_attachment(view),)
        shown = list(view.rows[:EMAIL_FULL_LIST])
        jobs_shown = list(view.job_rows[:EMAIL_FULL_LIST])
        text_ctx = {
            **ctx,
            "text_vms": shown,
            "text_hidden": view.total - len(shown),
            "text_jobs": jobs_shown,
            "text_hidden_jobs": len(view.job_rows) - len(jobs_shown),
            "csv_name": name,
        }
        text = self._render("alert_email.txt.j2", receiver, text_ctx)
        return RenderedMessage(
            ctx["title"], html, BodyFormat.HTML, view.notify_type, text=text, attachments=attachments
        )


def _utc(value: datetime | None, seconds: bool = False) -> str:
    """The ``utc`` template filter: ``2025-06-05 01:04 UTC`` whatever the display zone."""
    if value is None:
        return "—"
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC")


def _json(payload: Any) -> str:
    """Native payloads as posted: compact UTF-8 JSON (one emoji costs 4 bytes, not 12)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))

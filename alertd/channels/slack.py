"""The native Slack target: Block Kit payloads posted to an incoming webhook or ``chat.postMessage``.

Incoming webhooks answer 200 ``ok`` or a 4xx with a short text reason (``invalid_blocks``,
``no_text``, ``channel_not_found``, ``channel_is_archived``, ``action_prohibited``);
``chat.postMessage`` answers 200 with ``{"ok": false, "error": ...}``. Both answer 429 with
``Retry-After``. Errors Slack documents as transient (``ratelimited``, ``internal_error``,
``fatal_error``, ``service_unavailable``, ``request_timeout``) are retryable; every other
``ok:false`` error (``invalid_blocks``, ``channel_not_found``, ``invalid_auth``, ...) is permanent,
with Slack's reason as the detail shown by ``test-notify`` and ``history``.
"""

from __future__ import annotations

import json
from typing import Any

import structlog

from alertd.channels.base import SendOutcome, privacy_form
from alertd.channels.http import JsonPostTarget, Response, reason_text
from alertd.channels.urls import NativeSpec
from alertd.model import BodyFormat, Channel, RenderedMessage
from alertd.render.text import one_line, slack_escape

log = structlog.get_logger(__name__)

_TRANSIENT = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)


class SlackTarget(JsonPostTarget):
    """One Slack destination (a webhook, or a bot token and channel), sends serialised."""

    channel = Channel.SLACK
    service = "Slack"
    log = log

    def __init__(self, receiver: str, label: str, spec: NativeSpec, url: str) -> None:
        super().__init__(receiver, label, spec, url, [spec.token] if spec.token else [])

    @property
    def privacy_url(self) -> str:
        """Where the target posts, every path segment, query value and the channel hidden."""
        text = privacy_form(self._spec.endpoint)
        return f"{text}#***" if self._spec.slack_channel else text

    def payload(self, msg: RenderedMessage) -> dict[str, Any]:
        """The JSON posted for ``msg``: its Block Kit body plus this target's channel and bot name."""
        if msg.body_format is BodyFormat.JSON:
            payload: dict[str, Any] = json.loads(msg.body)
        else:  # a message rendered for another channel (e.g. queued before an upgrade): plain text
            payload = {"text": slack_escape(one_line(msg.title, 300) + "\n\n" + msg.body)[:3000]}
        if self._spec.slack_channel:
            payload["channel"] = self._spec.slack_channel
        if self._spec.username:
            payload["username"] = self._spec.username
        if self._spec.mode == "slack-bot":
            payload.setdefault("unfurl_links", False)
        return payload

    def body(self, msg: RenderedMessage) -> str:
        """`payload` as compact JSON text."""
        return json.dumps(self.payload(msg), ensure_ascii=False, separators=(",", ":"))

    def headers(self) -> dict[str, str] | None:
        """The bot token, for ``chat.postMessage``."""
        return {"Authorization": f"Bearer {self._spec.token}"} if self._spec.token else None

    def _outcome(self, resp: Response) -> SendOutcome:
        if not 200 <= resp.status < 300 or self._spec.mode != "slack-bot":
            return super()._outcome(resp)
        data = resp.json()
        if isinstance(data, dict) and data.get("ok") is True:
            return SendOutcome(True, False, "delivered")
        error = reason_text(resp) or "no reason given"
        if error in _TRANSIENT:
            return SendOutcome(
                False, True, f"Slack could not take the message now: {error}", resp.retry_after
            )
        return SendOutcome(False, False, f"Slack refused the message: {error}")

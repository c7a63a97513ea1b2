"""The native Teams target: Adaptive Card messages posted to a Power Automate Workflows webhook.

A Workflows webhook answers 202 Accepted (sometimes 200) before the flow runs, so a card that
Teams cannot show fails on Microsoft's side without a word: alertd checks the card's shape and
size when rendering (``alertd.render.limits``). A body that does not match the trigger's schema
answers 400 with ``{"error": {"code": "TriggerInputSchemaMismatch", "message": ...}}``: permanent,
the code and message are the detail. 429 (Power Automate throttling) is retryable with
``Retry-After``.
"""

from __future__ import annotations

import structlog

from alertd.channels.http import JsonPostTarget
from alertd.model import BodyFormat, Channel, RenderedMessage
from alertd.render import teams as layout

log = structlog.get_logger(__name__)


class TeamsTarget(JsonPostTarget):
    """One Workflows webhook, sends serialised."""

    channel = Channel.TEAMS
    service = "Teams (Workflows)"
    log = log

    def body(self, msg: RenderedMessage) -> str:
        """The JSON text posted for ``msg``: its Workflows message, or a plain card for other formats."""
        if msg.body_format is BodyFormat.JSON:
            return msg.body
        # A message rendered for another channel (e.g. queued before an upgrade): title and text.
        return layout.simple(msg.title, "info", [msg.text or msg.body], [])

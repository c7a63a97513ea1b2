"""The native Teams target: Adaptive Card messages posted to a Power Automate Workflows webhook.

A Workflows webhook answers 202 Accepted (sometimes 200) before the flow runs, so a card that
Teams cannot show fails on Microsoft's side without a word: alertd checks the card's shape and
size when rendering (``alertd.render.limits``). A body that does not match the trigger's schema
answers 400 with ``{"error": {"code": "TriggerInputSchemaMismatch", "message": ...}}``: permanent,
the code and message are the detail. 429 (Power Automate throttling) is retryable with
``Retry-After``.
"""

from __future__ import annotations

import asyncio

import structlog

from alertd.channels.base import SendOutcome, privacy_form, redact, secret_parts
from alertd.channels.http import classify, post_json
from alertd.channels.urls import NativeSpec
from alertd.model import BodyFormat, Channel, RenderedMessage
from alertd.render import teams as layout

log = structlog.get_logger(__name__)


class TeamsTarget:
    """One Workflows webhook, sends serialised."""

    channel = Channel.TEAMS

    def __init__(self, receiver: str, label: str, spec: NativeSpec, url: str) -> None:
        self.receiver = receiver
        self.label = label
        self._spec = spec
        self._secrets = secret_parts(url) + secret_parts(spec.endpoint)
        self._lock = asyncio.Lock()

    @property
    def name(self) -> str:
        """``receiver[label]``: how logs, metrics and the outbox name this target."""
        return f"{self.receiver}[{self.label}]"

    @property
    def privacy_url(self) -> str:
        """The webhook with every path segment and query value (the signature) hidden."""
        return privacy_form(self._spec.endpoint)

    @property
    def identity(self) -> str:
        """The normalised target (secret; the caller hashes it into a stable key)."""
        return self._spec.identity

    def __repr__(self) -> str:
        return f"<TeamsTarget {self.name} {self.privacy_url}>"

    def body(self, msg: RenderedMessage) -> str:
        """The JSON text posted for ``msg``: its Workflows message, or a plain card for other formats."""
        if msg.body_format is BodyFormat.JSON:
            return msg.body
        # A message rendered for another channel (e.g. queued before an upgrade): title and text.
        return layout.simple(msg.title, "info", [msg.text or msg.body], [])

    async def send(self, msg: RenderedMessage, timeout: float = 30) -> SendOutcome:
        """Post one message; never raises for a delivery failure (the outcome says what happened)."""
        async with self._lock:
            answer = await post_json(self._spec.endpoint, self.body(msg), timeout)
        if isinstance(answer, SendOutcome):
            outcome = answer
        elif 200 <= answer.status < 300:
            outcome = SendOutcome(True, False, "delivered")
        else:
            outcome = classify(answer, "Teams (Workflows)", self._secrets)
        outcome = SendOutcome(
            outcome.ok, outcome.retryable, redact(outcome.detail, self._secrets), outcome.retry_after
        )
        log.debug(
            "notify.send",
            target=self.name,
            url=self.privacy_url,
            ok=outcome.ok,
            retryable=outcome.retryable,
            detail=outcome.detail,
        )
        return outcome

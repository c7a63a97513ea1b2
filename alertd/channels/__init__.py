"""Delivery targets: where a rendered message goes, and what a send attempt reports.

``make_target(receiver, url, label)`` builds the target for any configured URL: alertd's own
Slack (Block Kit, webhook or bot) and Teams (Workflows, Adaptive Card) targets posted with aiohttp,
or an apprise target for email and every other service (apprise is imported only then). Every
target has ``name`` (``receiver[label]``), ``channel``, ``privacy_url`` (safe to log),
``identity`` (secret, for a stable key) and ``async send(msg, timeout) -> SendOutcome``.
"""

from alertd.channels.base import SendOutcome, Target, TargetError, privacy_form
from alertd.channels.factory import make_target

__all__ = ["SendOutcome", "Target", "TargetError", "make_target", "privacy_form"]

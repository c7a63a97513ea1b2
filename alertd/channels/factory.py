"""One factory for every target URL: alertd's own Slack and Teams targets, apprise for the rest."""

from __future__ import annotations

from alertd.channels.base import Target, TargetError
from alertd.channels.slack import SlackTarget
from alertd.channels.teams import TeamsTarget
from alertd.channels.urls import native_spec
from alertd.model import Channel


def make_target(receiver: str, url: str, label: str) -> Target:
    """The target for ``url``, named ``receiver[label]`` (e.g. ``ops[slack-1]``).

    Slack and Teams Workflows URLs (see ``alertd.channels.urls``) become native targets; any other
    URL goes to apprise, imported only now so that a config without apprise URLs never loads it.
    Raises ``TargetError`` (naming ``receiver[label]``, never the URL) for an unusable URL.
    """
    where = f"target {receiver}[{label}]"
    spec = native_spec(url, where)
    if spec is not None:
        if spec.channel is Channel.SLACK:
            return SlackTarget(receiver, label, spec, url)
        return TeamsTarget(receiver, label, spec, url)
    from alertd.notify import AppriseTarget

    return AppriseTarget(receiver, label, url)


__all__ = ["TargetError", "make_target"]

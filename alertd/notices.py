"""alertd's own messages, besides alerts: dead-letter reports to ``delivery.fallback`` (and the planning of
self-alerts), rendered for every target of a receiver with the default templates as a fallback."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import structlog

from alertd.planner import Render, RenderFailure, TargetInfo, plan_message
from alertd.records import Delivery, PlannedMessage
from alertd.render import Renderer

log = structlog.get_logger(__name__)


def plan_notice(
    receiver: str, targets: Mapping[str, Sequence[TargetInfo]], renderer: Renderer, render: Render
) -> PlannedMessage:
    """One message to every target of ``receiver``; a failing template override is logged."""
    failures: list[RenderFailure] = []
    planned = plan_message(receiver, targets.get(receiver, ()), renderer, render, failures=failures)
    for failure in failures:
        log.error(
            "template_failed", receiver=failure.receiver, template=failure.template, error=failure.error
        )
    return planned


def dead_letter_report(
    row: Delivery,
    reason: str,
    fallback: str | None,
    label: Callable[[str], str],
    plan: Callable[[str, Render], PlannedMessage],
) -> PlannedMessage | None:
    """The report telling ``fallback`` that ``row`` was given up (None: no fallback, or it is the receiver)."""
    if fallback is None or fallback == row.receiver:
        return None
    target = label(row.target)
    return plan(
        fallback,
        lambda renderer, channel: renderer.render_dead_letter(
            row.receiver,
            target,
            row.message.title,
            reason,
            row.attempts + 1,
            row.created_at,
            channel=channel,
            for_receiver=fallback,
        ),
    )

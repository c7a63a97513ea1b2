"""What becomes of the pending messages of a URL that the configuration no longer has.

Targets are identified by receiver and normalised URL, so a reload (or a restart with an edited
config) that removes a URL leaves its pending outbox rows without a target. Each such row is:

* **closed** ("removed by reload") when another URL of the same receiver already has the message;
* **moved** once to the receiver's remaining URLs when none has it, or to ``delivery.fallback``
  when the receiver has no URL left (the message is rendered again for each new URL's channel);
* **kept** pending when there is nowhere to send it, until a configuration names a URL again.

Nothing lost, nothing twice. `plan_redirect` decides (pure); `reconcile_outbox` applies it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

import structlog

from alertd.model import BodyFormat, Channel, RenderedMessage
from alertd.planner import TargetInfo
from alertd.records import Delivery, PlannedDelivery
from alertd.render import Renderer, TemplateError
from alertd.state import Outbox

log = structlog.get_logger(__name__)


class Redirect(StrEnum):
    """What to do with a pending row whose URL was removed."""

    CLOSE = "close"
    MOVE = "move"
    WAIT = "wait"


@dataclass(frozen=True, slots=True)
class RedirectPlan:
    """The decision for one orphaned row: to whom and which targets a moved message goes."""

    action: Redirect
    reason: str
    receiver: str = ""
    targets: tuple[TargetInfo, ...] = ()


def plan_redirect(
    row: Delivery,
    has_message: set[str],
    targets: Mapping[str, Sequence[TargetInfo]],
    fallback: str | None,
) -> RedirectPlan:
    """Close, move or keep ``row``; ``has_message`` are the targets that already have its message."""
    remaining = tuple(targets.get(row.receiver, ()))
    if any(t.name in has_message for t in remaining):
        return RedirectPlan(Redirect.CLOSE, "removed by reload; another URL of the receiver has the message")
    if remaining:
        return RedirectPlan(
            Redirect.MOVE, "removed by reload; sent to the receiver's remaining URLs", row.receiver, remaining
        )
    backup = tuple(targets.get(fallback, ())) if fallback is not None else ()
    if fallback is not None and backup:
        if any(t.name in has_message for t in backup):
            return RedirectPlan(Redirect.CLOSE, "removed by reload; delivery.fallback has the message")
        return RedirectPlan(
            Redirect.MOVE,
            "removed by reload; the receiver has no URL left: sent to delivery.fallback",
            fallback,
            backup,
        )
    return RedirectPlan(Redirect.WAIT, "its receiver has no URL and there is no delivery.fallback")


def _as_text(message: RenderedMessage) -> RenderedMessage:
    """A message that cannot be rendered again (self-alert, report) as plain text for any channel."""
    if message.body_format is not BodyFormat.JSON:
        return message
    return RenderedMessage(message.title, message.text or message.title, BodyFormat.TEXT, message.notify_type)


def _render(
    store: Outbox, renderer: Renderer, row: Delivery, receiver: str, channel: Channel
) -> RenderedMessage:
    """The row's message for ``channel``: rendered again from its alert group when there is one."""
    group = store.message_group(row.message_id)
    if group is not None:
        try:
            return renderer.render(replace(group, receiver=receiver), channel)
        except TemplateError as err:
            log.error("template_failed", receiver=receiver, template=err.template, error=str(err))
            return Renderer().render(replace(group, receiver=receiver), channel)
    return _as_text(row.message)


def reconcile_outbox(
    store: Outbox,
    targets: Mapping[str, Sequence[TargetInfo]],
    configured: Sequence[str],
    renderer: Renderer,
    fallback: str | None,
    now: datetime,
) -> int:
    """Close, move or keep every pending row whose target is no longer configured; returns how many moved."""
    moved = 0
    for row in store.orphaned_deliveries(configured):
        plan = plan_redirect(row, store.message_targets(row.message_id), targets, fallback)
        if plan.action is Redirect.WAIT:
            log.warning(
                "delivery_waiting_for_receiver", delivery=row.id, receiver=row.receiver, note=plan.reason
            )
            continue
        deliveries = [
            PlannedDelivery(plan.receiver, t.name, _render(store, renderer, row, plan.receiver, t.channel))
            for t in plan.targets
        ]
        if store.redirect_delivery(row.id, deliveries, plan.reason, now):
            moved += bool(deliveries)
            log.info(
                "delivery_redirected",
                delivery=row.id,
                removed_target=row.target,
                action=plan.action.value,
                to=[t.name for t in plan.targets],
                note=plan.reason,
            )
    return moved

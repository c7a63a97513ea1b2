"""Planning a group's messages: who receives them, in what order the VMs read, what each target gets. Pure.

The flush hands a due group to `plan_group`; the result (`FlushPlan`) is written to the outbox
as it is. Rendering happens here, once per channel per message, with the default templates as
the fallback when a receiver's override fails, so a message is never lost to a template.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from alertd.grouping import DueGroup
from alertd.model import AlertGroup, Channel, GroupKind, JobRun, RenderedMessage, TaskSession
from alertd.records import FlushPlan, Notified, PlannedDelivery, PlannedMessage
from alertd.render import Renderer, RouteLinks, TemplateError
from alertd.routing import Route

#: Renders one message for one channel with a given renderer.
Render = Callable[[Renderer, Channel], RenderedMessage]


@dataclass(frozen=True, slots=True)
class TargetInfo:
    """What planning needs to know about one target of a receiver."""

    name: str
    channel: Channel


@dataclass(frozen=True, slots=True)
class Substitution:
    """A receiver of a group that has no targets, and who gets its messages instead (None: nobody yet)."""

    receiver: str
    instead: str | None


@dataclass(frozen=True, slots=True)
class RenderFailure:
    """A receiver's template override that failed; the default template was used instead."""

    receiver: str
    template: str
    error: str


def choose_receivers(
    wanted: Sequence[str], targets: Mapping[str, Sequence[TargetInfo]], fallback: str | None
) -> tuple[list[str] | None, list[Substitution]]:
    """Who gets a group: its receivers, one without targets replaced by ``fallback``.

    None when a receiver has no targets (removed at a reload) and there is no fallback either:
    the group then stays open, to go out once the configuration names the receiver again.
    """
    chosen: list[str] = []
    substitutions = []
    for receiver in wanted:
        name: str | None = receiver
        if not targets.get(receiver):
            name = fallback if fallback is not None and targets.get(fallback) else None
            substitutions.append(Substitution(receiver, name))
        if name is None:
            return None, substitutions
        if name not in chosen:
            chosen.append(name)
    return chosen, substitutions


def ordered(sessions: Sequence[TaskSession]) -> tuple[TaskSession, ...]:
    """Failures first, then by VM name, so the list reads the same in every channel."""
    rank = {"Failed": 0, "Warning": 1}
    return tuple(sorted(sessions, key=lambda s: (rank.get(s.result, 2), s.vm.lower(), s.uid)))


def common_labels(sessions: Sequence[TaskSession]) -> dict[str, str]:
    """Labels every alert of the group shares (what the title can speak of)."""
    if not sessions:
        return {}
    first = sessions[0].labels()
    return {k: v for k, v in first.items() if all(s.labels().get(k) == v for s in sessions[1:])}


def notified(group: DueGroup, routes: Mapping[str, Route]) -> tuple[Notified, ...]:
    """Recoveries this flush makes owed: firing alerts sent through a route with send_resolved."""
    return tuple(
        Notified(m.session.source, m.key, m.route, m.session.end_time or m.session.creation_time)
        for m in group.members
        if m.kind is GroupKind.FIRING and m.route in routes and routes[m.route].send_resolved
    )


def plan_message(
    receiver: str,
    targets: Sequence[TargetInfo],
    renderer: Renderer,
    render: Render,
    *,
    sequence: int = 1,
    alert_count: int = 0,
    failures: list[RenderFailure] | None = None,
) -> PlannedMessage:
    """One message to every target of ``receiver``, rendered once per channel.

    A broken template override falls back to the default templates; the failure is appended to
    ``failures`` for the caller to log.
    """
    rendered: dict[Channel, RenderedMessage] = {}
    deliveries = []
    for target in targets:
        if target.channel not in rendered:
            try:
                rendered[target.channel] = render(renderer, target.channel)
            except TemplateError as err:
                if failures is not None:
                    failures.append(RenderFailure(receiver, err.template, str(err)))
                rendered[target.channel] = render(Renderer(), target.channel)
        deliveries.append(PlannedDelivery(receiver, target.name, rendered[target.channel]))
    title = next(iter(rendered.values())).title if rendered else receiver
    return PlannedMessage(receiver, sequence, alert_count, title, tuple(deliveries))


def route_links(route: Route | None) -> RouteLinks | None:
    """The links a route's messages show (None when it has none)."""
    if route is None or not (route.runbook_url or route.dashboard_url):
        return None
    return RouteLinks(route.runbook_url, route.dashboard_url)


def plan_group(
    group: DueGroup,
    receivers: Sequence[str],
    targets: Mapping[str, Sequence[TargetInfo]],
    renderer: Renderer,
    history: Mapping[str, tuple[int, int]],
    routes: Mapping[str, Route],
    failures: list[RenderFailure] | None = None,
    runs: Mapping[str, JobRun] | None = None,
) -> FlushPlan:
    """The messages of one due group, one per receiver.

    ``history`` is (messages, alerts) sent before per receiver; ``runs`` the job runs known for
    the group's job sessions (for job context in the message).
    """
    sessions = ordered([m.session for m in group.members])
    details = {m.session.uid: m.detail for m in group.members}
    links = route_links(routes.get(group.members[0].route))
    messages = []
    for receiver in receivers:
        sent_before, alerts_before = history.get(receiver, (0, 0))
        alert_group = AlertGroup(
            key=group.key,
            receiver=receiver,
            alerts=sessions,
            sequence=sent_before + 1,
            earlier_count=alerts_before,
            labels=common_labels(sessions),
            kind=group.members[0].kind,
            details=details,
            job_runs={
                s.job_session_uid: runs[s.job_session_uid]
                for s in sessions
                if runs and s.job_session_uid in runs
            },
        )

        def render(by: Renderer, channel: Channel, one: AlertGroup = alert_group) -> RenderedMessage:
            return by.render(one, channel, links=links)

        messages.append(
            plan_message(
                receiver,
                targets.get(receiver, ()),
                renderer,
                render,
                sequence=sent_before + 1,
                alert_count=len(sessions),
                failures=failures,
            )
        )
    return FlushPlan(group.key, tuple(m.id for m in group.members), tuple(messages), notified(group, routes))

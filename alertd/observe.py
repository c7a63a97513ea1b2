"""What a poll decided that no message shows: logged and counted here, so nothing is dropped silently."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

import structlog

from alertd.decide import Decision
from alertd.planner import RenderFailure, Substitution
from alertd.reading import Fetched
from alertd.records import AlertStatus, FlushPlan
from alertd.window import ReadPlan

log = structlog.get_logger(__name__)


class PipelineMetrics(Protocol):
    """The counters the pipeline reports to."""

    def poll_done(self, source: str, ok: bool, seconds: float, error_kind: str | None) -> None: ...
    def alerts(self, source: str, result: str, count: int) -> None: ...
    def unrouted(self, source: str, count: int) -> None: ...
    def silenced(self, source: str, count: int) -> None: ...
    def recovered_on_retry(self, source: str, count: int) -> None: ...
    def watermark(self, source: str, watermark: datetime, now: datetime) -> None: ...
    def late_sessions(self, source: str, backup_server: str, count: int) -> None: ...
    def undecodable(self, source: str, count: int) -> None: ...
    def success_query_failed(self, source: str, count: int) -> None: ...
    def clock_skew(self, source: str, seconds: float) -> None: ...


#: A source clock further off than this is worth a warning (holds and windows follow its clock).
SKEW_WARNING = timedelta(seconds=60)


def report_plan(source: str, plan: ReadPlan) -> None:
    """Say when a configured window was cut back to what alertd still remembers."""
    if plan.clamped_from is not None:
        log.warning(
            "window_clamped",
            source=source,
            wanted=plan.clamped_from.isoformat(),
            start=plan.start.isoformat(),
            note="a widened overlap cannot reach before what alertd still remembers; nothing there is re-alerted",
        )


def report_flush(flush: FlushPlan) -> None:
    """One line per message a flush wrote to the outbox."""
    for msg in flush.messages:
        log.info(
            "group_flushed",
            group=flush.group_key,
            receiver=msg.receiver,
            alerts=msg.alert_count,
            title=msg.title,
        )


def report_substitutions(group_key: str, substitutions: Sequence[Substitution]) -> None:
    """A receiver of a group is missing: say where its messages go instead."""
    for sub in substitutions:
        note = "sent to delivery.fallback" if sub.instead else "kept until the receiver is configured again"
        log.warning(
            "receiver_missing", receiver=sub.receiver, group=group_key, fallback=sub.instead, note=note
        )


def report_render_failures(failures: Sequence[RenderFailure]) -> None:
    """A receiver's template override failed; the default template was used."""
    for failure in failures:
        log.error(
            "template_failed",
            receiver=failure.receiver,
            template=failure.template,
            error=failure.error,
            note="sent with the default template; fix the receiver's templates directory",
        )


def report_poll(
    source: str,
    decision: Decision,
    fetched: Fetched,
    added: int,
    plan: ReadPlan,
    now: datetime,
    metrics: PipelineMetrics | None,
) -> None:
    """Log and count what one poll read and decided that no message will show."""
    if added:
        log.info(
            "alerts_new",
            source=source,
            new=added,
            read=len(fetched.failures),
            window_start=plan.start.isoformat(),
        )
    for session, late_by in decision.late:
        log.warning(
            "late_session",
            source=source,
            uid=session.uid,
            vm=session.vm,
            job=session.job_name,
            backup_server=session.backup_server,
            end_time=session.end_time.isoformat() if session.end_time else None,
            late_by_s=round(late_by.total_seconds()),
            note="found by the reconciliation sweep: EM collected it after the normal window had passed it",
        )
    if abs(fetched.skew) > SKEW_WARNING:
        log.warning(
            "source_clock_skew",
            source=source,
            skew_s=round(fetched.skew.total_seconds()),
            note="the source's clock differs from alertd's; windows and retry holds follow the source's clock",
        )
    cursor = decision.record.cursor
    watermark = cursor.watermark if cursor and cursor.watermark else now
    report_decision(source, decision, watermark, now + fetched.skew, metrics)
    if metrics is None:
        return
    metrics.clock_skew(source, fetched.skew.total_seconds())
    servers: dict[str, int] = {}
    for session, _ in decision.late:
        servers[session.backup_server] = servers.get(session.backup_server, 0) + 1
    for server, count in servers.items():
        metrics.late_sessions(source, server, count)
    if fetched.undecodable:
        metrics.undecodable(source, fetched.undecodable)
    if fetched.failed_success_queries:
        metrics.success_query_failed(source, fetched.failed_success_queries)


def report_decision(
    source: str, decision: Decision, watermark: datetime, now: datetime, metrics: PipelineMetrics | None
) -> None:
    """Log and count unrouted, silenced and recovered alerts, lost recoveries and ended silences."""
    for session in decision.unrouted:
        log.warning(
            "alert_unrouted",
            source=source,
            uid=session.uid,
            vm=session.vm,
            job=session.job_name,
            note="no route matched; add a catch-all route",
        )
    for session, silence_id in decision.silenced:
        log.info("alert_silenced", source=source, uid=session.uid, vm=session.vm, silence=silence_id)
    for session in decision.recovered_on_retry:
        log.info(
            "alert_recovered_on_retry", source=source, uid=session.uid, vm=session.vm, job=session.job_name
        )
    for session, route_key in decision.lost_routes:
        log.warning(
            "resolved_route_gone",
            source=source,
            vm=session.vm,
            job=session.job_name,
            route=route_key,
            note="the route that alerted this VM is no longer configured; its recovery is not announced",
        )
    for silence_id, reason in decision.record.expire_silences:
        log.info("silence_expired", silence=silence_id, reason=reason.value)
    if metrics is None:
        return
    metrics.watermark(source, watermark, now)
    if decision.unrouted:
        metrics.unrouted(source, len(decision.unrouted))
    if decision.silenced:
        metrics.silenced(source, len(decision.silenced))
    if decision.recovered_on_retry:
        metrics.recovered_on_retry(source, len(decision.recovered_on_retry))
    for result in ("Failed", "Warning"):
        count = sum(
            1
            for a in decision.record.alerts
            if a.session.result == result and a.status is not AlertStatus.SUCCESS
        )
        if count:
            metrics.alerts(source, result, count)

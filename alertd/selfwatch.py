"""alertd watching itself: each poll's outcome folded into its source's checks, and the self-alerts they send.

`alertd.selfmon` decides (pure); this module keeps each source's check state, writes every change
together with the self-alert it sends (one transaction, so a restart neither repeats an alert nor
loses its recovery), and wakes delivery.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

import structlog

from alertd.config import SelfAlertsConfig
from alertd.pipeline import PollResult
from alertd.planner import Render
from alertd.records import PlannedMessage
from alertd.selfmon import Action, Check, CheckState, Verdict, assess
from alertd.source import Source, SourceError
from alertd.state import StateError
from alertd.state.interface import SelfMonitorStore

log = structlog.get_logger(__name__)

#: Plans one message to every target of a receiver.
Planner = Callable[[str, Render], PlannedMessage]


class SelfWatch:
    """The check states of every source, loaded from the state at start."""

    def __init__(self, store: SelfMonitorStore, wake: Callable[[], None]) -> None:
        self._store = store
        self._wake = wake
        self.checks: dict[tuple[str, Check], CheckState] = store.self_checks()

    def observe(
        self,
        name: str,
        *,
        ok: bool,
        error: str | None,
        watermark: datetime | None,
        now: datetime,
        settings: SelfAlertsConfig,
        plan: Planner,
    ) -> None:
        """Fold one poll into the source's checks; store each change with the message it sends."""
        states = {check: self.checks.get((name, check), CheckState()) for check in Check}
        verdicts = assess(
            states,
            ok=ok,
            now=now,
            after=settings.after,
            stale_after=settings.stale_after,
            error=error or "unknown error",
            watermark=watermark,
        )
        for verdict in verdicts:
            self._record(name, verdict, now, settings.receiver, plan)

    def _record(
        self, name: str, verdict: Verdict, now: datetime, receiver: str | None, plan: Planner
    ) -> None:
        """Store one check's new state together with its self-alert, in one transaction.

        An alert with no self_alerts.receiver to send it to is not marked sent, so no recovery is
        owed for it (and it is sent if a reload adds the receiver while the problem lasts).
        """
        state = verdict.state
        message = None
        if verdict.action is not Action.NONE and receiver is not None:
            recovered = verdict.action is Action.RECOVER
            since = verdict.since or now
            problem = verdict.problem
            key = f"self|{name}|{verdict.check.value}|{'recovered' if recovered else 'failing'}"
            planned = plan(
                receiver,
                lambda renderer, channel: renderer.render_self_alert(
                    name, problem, since, recovered, channel=channel, for_receiver=receiver
                ),
            )
            message = (key, planned)
        elif verdict.action is Action.ALERT:
            state = CheckState(state.failing_since, state.detail, alerted=False)
        if message is None and state == self.checks.get((name, verdict.check), CheckState()):
            return
        try:
            self._store.save_check(name, verdict.check, state, now, message)
        except StateError as err:
            # Kept as it was in memory too, so the next poll decides (and sends) again.
            log.error("self_check_write_failed", source=name, check=verdict.check.value, error=str(err))
            return
        if state == CheckState():
            self.checks.pop((name, verdict.check), None)
        else:
            self.checks[(name, verdict.check)] = state
        if message is not None:
            self._wake()
            log.warning(
                "self_alert",
                source=name,
                check=verdict.check.value,
                action=verdict.action.value,
                receiver=receiver,
            )


async def with_newest_end(name: str, client: Source, result: PollResult) -> PollResult:
    """``result`` whose watermark also counts the newest session of any result (for stale_after).

    A healthy estate with no failures must not look stale: one small question tells "no backup
    ended" from "no backup failed". If it cannot be answered, the watermark alone decides.
    """
    try:
        newest = await client.newest_end()
    except SourceError as err:
        log.warning("newest_session_unreadable", source=name, kind=err.kind, error=str(err))
        return result
    if newest is None or (result.watermark is not None and newest <= result.watermark):
        return result
    return replace(result, watermark=newest)

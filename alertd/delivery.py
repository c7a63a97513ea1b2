"""The outbox worker: sends pending deliveries, one send in flight and paced per target, with retry.

Each target (one apprise URL of a receiver) has its own worker, so a failing or slow target never
holds up, or causes a re-send to, another. A row is retried with exponential backoff and jitter
until ``delivery.retry_for`` has passed since it was written; then it is dead-lettered: logged,
counted and reported to the fallback receiver. Attempts are recorded in the store after each
try, so the retry budget survives restarts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import structlog
from tenacity import AsyncRetrying, RetryCallState, retry_if_result, wait_exponential_jitter

from alertd.config import DeliveryConfig
from alertd.model import RenderedMessage
from alertd.records import Delivery, PlannedMessage
from alertd.state import Outbox, StateError

log = structlog.get_logger(__name__)


class Outcome(Protocol):
    """What a send attempt reports.

    An outcome may also carry ``retry_after`` (seconds): the service's own Retry-After, which
    then replaces the backoff for the next attempt.
    """

    @property
    def ok(self) -> bool: ...
    @property
    def retryable(self) -> bool: ...
    @property
    def detail(self) -> str: ...


class Sender(Protocol):
    """One delivery target (one apprise URL)."""

    @property
    def name(self) -> str: ...
    @property
    def privacy_url(self) -> str: ...
    async def send(self, msg: RenderedMessage, timeout: float = 30) -> Outcome: ...


class DeliveryMetrics(Protocol):
    """The counters delivery reports to."""

    def delivery(self, receiver: str, outcome: str) -> None: ...
    def retry(self, receiver: str) -> None: ...
    def dead_letter(self, receiver: str) -> None: ...


class _NoMetrics:
    def delivery(self, receiver: str, outcome: str) -> None:
        pass

    def retry(self, receiver: str) -> None:
        pass

    def dead_letter(self, receiver: str) -> None:
        pass


@dataclass(frozen=True, slots=True)
class _Failed:
    ok: bool
    retryable: bool
    detail: str


#: Builds the dead-letter report for a row, or None when there is no fallback to tell.
DeadLetterReport = Callable[[Delivery, str], PlannedMessage | None]


class DeliveryService:
    """Owns one worker task per target with pending rows."""

    def __init__(
        self,
        store: Outbox,
        targets: Mapping[str, Sender],
        cfg: DeliveryConfig,
        *,
        clock: Callable[[], datetime],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        dead_letter_report: DeadLetterReport | None = None,
        metrics: DeliveryMetrics | None = None,
        initial_backoff: float = 1.0,
    ) -> None:
        self._store = store
        self._targets = dict(targets)
        self._cfg = cfg
        self._clock = clock
        self._sleep = sleep
        self._report = dead_letter_report
        self._metrics = metrics or _NoMetrics()
        self._initial_backoff = initial_backoff
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._wakeups: dict[str, asyncio.Event] = {}
        self._last_send: dict[str, float] = {}
        self._stopping = False
        self._stop_event = asyncio.Event()
        # Rows delivered whose "sent" mark could not be written yet: retried as a mark, not a send.
        self._sent_unmarked: set[int] = set()

    def replace_targets(self, targets: Mapping[str, Sender]) -> None:
        """Swap in targets built from a reloaded config.

        A target that is gone stops at once: its worker is cancelled mid-backoff (or mid-send: the
        row stays pending, and the outbox reconciliation closes it or moves it to the receiver's
        remaining URLs), so a removed URL gets no further request. Other workers pick up the new
        target objects on their next attempt.
        """
        self._targets = dict(targets)
        for name, task in list(self._workers.items()):
            if name not in self._targets and not task.done():
                task.cancel()
                log.info(
                    "delivery_target_removed",
                    target=self._label(name),
                    note="stopped; its pending rows are reconciled",
                )
        self.wake()

    def _label(self, key: str) -> str:
        """A target's name for logs (``ops[slack-1]``); its key once the configuration dropped it."""
        target = self._targets.get(key)
        return target.name if target is not None else key

    def wake(self) -> None:
        """Make sure every target with pending rows has a running worker, and nudge idle ones."""
        if self._stopping:
            return
        try:
            pending = self._store.pending_targets()
        except StateError as err:
            log.error("outbox_read_failed", error=str(err))
            return
        for name in pending:
            if name not in self._targets:
                continue  # waits for the outbox reconciliation (its URL was removed from the config)
            task = self._workers.get(name)
            if task is None or task.done():
                self._wakeups[name] = asyncio.Event()
                self._workers[name] = asyncio.create_task(self._worker(name), name=f"deliver:{name}")
            self._wakeups[name].set()

    async def drain(self, timeout: float) -> bool:
        """Wait until nothing is pending (or ``timeout`` seconds pass). True when the outbox is empty."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self.wake()
        while loop.time() < deadline:
            if self._store.outbox_depth() == 0:
                return True
            await asyncio.sleep(0.02)
        return self._store.outbox_depth() == 0

    async def stop(self, grace: float) -> None:
        """Stop taking rows; let sends in flight finish within ``grace`` seconds, then cancel.

        A cancelled row stays pending in the outbox and is sent after the next start.
        """
        self._stopping = True
        self._stop_event.set()
        for event in self._wakeups.values():
            event.set()
        tasks = [t for t in self._workers.values() if not t.done()]
        if tasks:
            _, still = await asyncio.wait(tasks, timeout=grace)
            for task in still:
                task.cancel()
            if still:
                log.warning("delivery_stop_deadline", cancelled=len(still), note="left pending in the outbox")
                await asyncio.gather(*still, return_exceptions=True)

    async def _worker(self, name: str) -> None:
        event = self._wakeups[name]
        while not self._stopping and name in self._targets:
            event.clear()
            try:
                rows = self._store.pending_deliveries(name)
            except StateError as err:
                log.error("outbox_read_failed", target=self._label(name), error=str(err))
                rows = []
                await self._sleep(self._initial_backoff)
            if not rows:
                await event.wait()
                continue
            for row in rows:
                if self._stopping:
                    return
                try:
                    await self._deliver(row)
                except StateError as err:
                    # The send may have gone out; the row stays pending and is sent again (at-least-once).
                    log.error(
                        "outbox_write_failed", target=self._label(name), delivery=row.id, error=str(err)
                    )
                    await self._sleep(self._initial_backoff)
                except Exception as err:  # a bug must not end this target's worker; retried after a pause
                    log.exception(
                        "delivery_worker_error", target=self._label(name), delivery=row.id, error=repr(err)
                    )
                    await self._sleep(max(self._initial_backoff, 1.0))
                    break

    async def _interruptible_sleep(self, seconds: float) -> None:
        """Back off, but wake at once when stopping so shutdown does not wait out a long backoff."""
        if self._stopping:
            return
        sleeper = asyncio.ensure_future(self._sleep(seconds))
        stopper = asyncio.ensure_future(self._stop_event.wait())
        try:
            await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, stopper):
                task.cancel()
            await asyncio.gather(sleeper, stopper, return_exceptions=True)

    async def _pace(self, name: str) -> None:
        loop = asyncio.get_running_loop()
        gap = self._cfg.min_interval.total_seconds()
        last = self._last_send.get(name)
        if last is not None and gap > 0:
            wait = last + gap - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
        self._last_send[name] = loop.time()

    async def _deliver(self, row: Delivery) -> None:
        if row.id in self._sent_unmarked:
            # Sent already; only recording that failed (state locked or full). Never send it again.
            self._store.mark_sent(row.id, self._clock())
            self._sent_unmarked.discard(row.id)
            log.info("delivery_marked_sent", target=self._label(row.target), delivery=row.id)
            return
        target = self._targets.get(row.target)
        if target is None:
            return  # removed by a reload: the outbox reconciliation closes or moves the row

        def past_deadline(state: RetryCallState) -> bool:
            # Stopping, or the target's removal, ends the retries too, but without dead-lettering.
            return (
                self._stopping
                or row.target not in self._targets
                or self._clock() - row.created_at >= self._cfg.retry_for
            )

        exponential = wait_exponential_jitter(
            multiplier=self._initial_backoff,
            max=self._cfg.max_backoff.total_seconds(),
            jitter=self._initial_backoff,
        )

        def backoff(state: RetryCallState) -> float:
            # A service that says when to come back (429 Retry-After) is believed, within retry_for.
            said = getattr(state.outcome.result(), "retry_after", None) if state.outcome else None
            return float(said) if isinstance(said, int | float) and said >= 0 else exponential(state)

        def log_retry(state: RetryCallState) -> None:
            self._metrics.retry(row.receiver)
            sleep = state.next_action.sleep if state.next_action else 0.0
            log.warning(
                "delivery_retry",
                target=self._label(row.target),
                url=target.privacy_url,
                delivery=row.id,
                attempt=row.attempts + state.attempt_number,
                retry_in_s=round(sleep, 2),
                error=getattr(state.outcome.result(), "detail", "") if state.outcome else "",
            )

        retrying = AsyncRetrying(
            retry=retry_if_result(lambda o: not o.ok and o.retryable),
            stop=past_deadline,
            wait=backoff,
            sleep=self._interruptible_sleep,
            before_sleep=log_retry,
            retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
        )
        outcome: Outcome | None = await retrying(self._attempt, row, target)
        if outcome is None or outcome.ok:
            return
        if self._stopping and outcome.retryable:
            log.info(
                "delivery_left_pending",
                target=self._label(row.target),
                delivery=row.id,
                note="sent after the next start",
            )
            return
        if row.target not in self._targets and outcome.retryable:
            return  # removed by a reload while being retried: reconciled, never dead-lettered here
        reason = (
            outcome.detail
            if not outcome.retryable
            else f"gave up after {self._cfg.retry_for}: {outcome.detail}"
        )
        log.error(
            "delivery_dead",
            target=self._label(row.target),
            url=target.privacy_url,
            delivery=row.id,
            reason=reason,
        )
        self._dead(row, reason)

    async def _attempt(self, row: Delivery, target: Sender) -> Outcome:
        # A reload may have replaced the target object (same URL): always send through the current one,
        # and never through a removed one.
        current = self._targets.get(row.target)
        if current is None:
            return _Failed(False, True, "target removed from the configuration")
        target = current
        await self._pace(row.target)
        try:
            outcome = await target.send(row.message, timeout=self._cfg.send_timeout.total_seconds())
        except Exception as err:  # a notifier bug must not kill the worker; treat as transient
            outcome = _Failed(False, True, f"unexpected error: {type(err).__name__}: {err}")
        now = self._clock()
        if outcome.ok:
            try:
                self._store.mark_sent(row.id, now)
            except StateError:
                self._sent_unmarked.add(row.id)
                raise
            self._metrics.delivery(row.receiver, "sent")
            log.info(
                "delivery_sent",
                target=self._label(row.target),
                url=target.privacy_url,
                delivery=row.id,
                title=row.message.title,
            )
        else:
            self._store.record_attempt(row.id, now, outcome.detail)
            self._metrics.delivery(row.receiver, "failed")
        return outcome

    def _dead(self, row: Delivery, reason: str) -> None:
        report = None
        if self._report is not None:
            try:
                report = self._report(row, reason)
            except Exception as err:  # the dead letter itself is still recorded and logged
                log.exception("dead_letter_report_failed", delivery=row.id, error=repr(err))
        self._store.mark_dead(row.id, self._clock(), reason, report)
        self._metrics.delivery(row.receiver, "dead")
        self._metrics.dead_letter(row.receiver)
        if report is not None:
            self.wake()

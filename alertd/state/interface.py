"""The narrow interface between alertd and its durable state.

The pipeline, the delivery worker and the daemon see only these Protocols; `alertd.state.sqlite`
is today's one implementation. A second backend implements them and changes nothing else.

One writer: every method is one transaction, and the only method that decides on what it read
(`PollStore.record_poll`) runs the caller's pure ``decide`` inside its transaction. State read
before an ``await`` is used to plan reads from a source, never to decide a write.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from alertd.incidents import IncidentKey
from alertd.model import AlertGroup, JobRun
from alertd.records import (
    Delivery,
    FlushPlan,
    GroupDue,
    OpenMember,
    PlannedDelivery,
    PlannedMessage,
    PollRecord,
    PollState,
    SourceCursor,
    WatchRow,
)
from alertd.selfmon import Check, CheckState


class PollStore(Protocol):
    """What a poll reads and writes."""

    def cursor(self, source: str) -> SourceCursor: ...
    def watched(self, source: str, failed_after: datetime) -> list[WatchRow]: ...
    def job_runs(self, source: str, uids: Iterable[str]) -> dict[str, JobRun]: ...
    def record_poll(
        self,
        source: str,
        uids: Sequence[str],
        keys: Iterable[IncidentKey],
        now: datetime,
        decide: Callable[[PollState], PollRecord],
        keep_history: timedelta = ...,
    ) -> int: ...


class FlushStore(Protocol):
    """What a flush reads and writes."""

    def open_groups(self) -> list[GroupDue]: ...
    def job_runs(self, source: str, uids: Iterable[str]) -> dict[str, JobRun]: ...
    def group_members(self, keys: Sequence[str]) -> dict[str, list[OpenMember]]: ...
    def group_histories(self, keys: Sequence[str]) -> dict[tuple[str, str], tuple[int, int]]: ...
    def flush_group(self, plan: FlushPlan, now: datetime) -> None: ...
    def flush_groups(self, plans: Sequence[FlushPlan], now: datetime) -> None: ...


class Outbox(Protocol):
    """What delivery and the daemon's own messages read and write."""

    def add_message(self, group_key: str, message: PlannedMessage, now: datetime) -> int: ...
    def pending_deliveries(self, target: str | None = None) -> list[Delivery]: ...
    def pending_targets(self) -> set[str]: ...
    def outbox_depth(self) -> int: ...
    def record_attempt(self, delivery_id: int, now: datetime, error: str | None) -> None: ...
    def mark_sent(self, delivery_id: int, now: datetime) -> None: ...
    def mark_dead(
        self, delivery_id: int, now: datetime, error: str, report: PlannedMessage | None
    ) -> None: ...
    def prune_history(self, now: datetime, keep_history: timedelta) -> None: ...
    def orphaned_deliveries(self, configured: Iterable[str]) -> list[Delivery]: ...
    def message_targets(self, message_id: int) -> set[str]: ...
    def message_group(self, message_id: int) -> AlertGroup | None: ...
    def redirect_delivery(
        self, delivery_id: int, moved_to: Sequence[PlannedDelivery], reason: str, now: datetime
    ) -> bool: ...


class SelfMonitorStore(Protocol):
    """What self-monitoring reads at start and writes after each poll (`alertd.selfmon`)."""

    def self_checks(self) -> dict[tuple[str, Check], CheckState]: ...
    def save_check(
        self,
        source: str,
        check: Check,
        state: CheckState,
        now: datetime,
        message: tuple[str, PlannedMessage] | None = None,
    ) -> None: ...


class StateStore(PollStore, FlushStore, Outbox, SelfMonitorStore, Protocol):
    """Everything the daemon needs from its state."""

    def close(self) -> None: ...

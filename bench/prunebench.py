"""``SQLiteStore.prune_history`` cost against the number of old sent messages (the daemon's flush loop
calls it every ``PRUNE_EVERY``)."""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alertd.model import BodyFormat, NotifyType, RenderedMessage
from alertd.records import PlannedDelivery, PlannedMessage
from alertd.state import SQLiteStore

BODY = "x" * 3000


def _add_sent(store: SQLiteStore, messages: int, when: datetime) -> None:
    rendered = RenderedMessage("title", BODY, BodyFormat.MARKDOWN, NotifyType.FAILURE)
    for i in range(messages):
        planned = PlannedMessage("ops", 1, 20, "title", (PlannedDelivery("ops", "ops[0]", rendered),))
        store.add_message(f"group-{when:%j}-{i}", planned, when)
    for row in store.pending_deliveries():
        store.mark_sent(row.id, when)


def prune_history_times(sizes: tuple[int, ...] = (250, 500, 1000)) -> list[tuple[int, float]]:
    """(n, seconds) for one prune_history over n old sent messages plus n recent ones it keeps."""
    old = datetime(2026, 1, 1, tzinfo=UTC)
    now = old + timedelta(days=30)
    found = []
    with tempfile.TemporaryDirectory(prefix="alertd-prune-") as tmp:
        for n in sizes:
            store = SQLiteStore(Path(tmp) / f"{n}.db")
            try:
                _add_sent(store, n, old)
                _add_sent(store, n, now - timedelta(days=1))
                started = time.perf_counter()
                store.prune_history(now, timedelta(days=7))
                found.append((n, time.perf_counter() - started))
            finally:
                store.close()
    return found

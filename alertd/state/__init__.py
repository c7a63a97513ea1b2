"""Durable state: watermarks, alerted UIDs, incidents, open groups, the outbox, silences and self-monitoring.

`StateStore` (in `alertd.state.interface`) is what the rest of alertd uses; `SQLiteStore` is the
one implementation. Every method is one transaction, so a crash at any instant leaves either the
state before it or the state after it.
"""

from __future__ import annotations

from alertd.state.db import StateError
from alertd.state.interface import FlushStore, Outbox, PollStore, SelfMonitorStore, StateStore
from alertd.state.schema import SCHEMA_VERSION
from alertd.state.sqlite import SQLiteStore

__all__ = [
    "SCHEMA_VERSION",
    "FlushStore",
    "Outbox",
    "PollStore",
    "SQLiteStore",
    "SelfMonitorStore",
    "StateError",
    "StateStore",
]

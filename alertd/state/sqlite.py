"""The SQLite implementation of the state interface: one file, one class assembled from its areas."""

from __future__ import annotations

from datetime import datetime, timedelta

from alertd.state.groups import GroupsMixin
from alertd.state.polls import PollsMixin
from alertd.state.reports import ReportsMixin
from alertd.state.selfmon import SelfMonitorMixin
from alertd.state.silences import SilencesMixin


class SQLiteStore(PollsMixin, GroupsMixin, SilencesMixin, ReportsMixin, SelfMonitorMixin):
    """The state database (polls, groups and outbox, silences, reports, self-monitoring) in one SQLite file."""

    def prune_history(self, now: datetime, keep_history: timedelta) -> None:
        """Forget finished messages, deliveries and ended silences older than ``keep_history``."""
        super().prune_history(now, keep_history)
        self.prune_silences(now, keep_history)

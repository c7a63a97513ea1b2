"""The SQLite implementation of the state interface: one file, one class assembled from its areas."""

from __future__ import annotations

from alertd.state.groups import GroupsMixin
from alertd.state.polls import PollsMixin
from alertd.state.reports import ReportsMixin
from alertd.state.silences import SilencesMixin


class SQLiteStore(PollsMixin, GroupsMixin, SilencesMixin, ReportsMixin):
    """The state database (polls, groups and outbox, silences, reports) in one SQLite file."""

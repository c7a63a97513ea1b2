"""EM's collection job: when a session that happened on a backup server becomes visible in EM.

EM is a cache: a collection job pulls sessions from each backup server, every 15 minutes by
default, so a failure can show up late (reference §6.1; Veeam help "Collecting Data from Backup
Servers", em/collecting_data_from_backup_servers.html). How that lag interacts with several
backup servers behind one EM is an open question of the reference (audit notes), so the model
here is deliberately simple and fully in the test's hands:

* Each backup server has a **collection lag** (how long after a change on that server EM shows
  it; 0 by default) and a **clock offset** (its clock minus EM's; a wrong clock stamps its
  sessions in the future or the past).
* A change (a new session, a completion) *happened*, on EM's clock, at its stamp (EndTime, else
  CreationTime) minus the server's clock offset, but never later than the moment the test makes
  it: a session stamped in the future on a server with a correct clock was simply stamped wrong.
  It becomes visible at ``happened + lag``.
* A **stall** (EM's collection job not running, for all servers or one) freezes what EM shows at
  the instant it began; changes pile up and appear when collection resumes.

With no lag, no offset and no stall every change is visible at once, as before this model.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from alertd.simulator.clock import Clock


@dataclass(slots=True)
class BackupServer:
    """How EM collects one backup server."""

    name: str
    #: How long after a change on this server EM shows it.
    collection_lag: timedelta = timedelta(0)
    #: This server's clock minus EM's (positive: its sessions are stamped in the future).
    clock_offset: timedelta = timedelta(0)


class Collection:
    """Per-server lags and clock offsets, and stalls; answers when a change becomes visible."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._servers: dict[str, BackupServer] = {}
        self._stalled_all: datetime | None = None
        self._stalled: dict[str, datetime] = {}

    def server(
        self,
        name: str,
        *,
        collection_lag: timedelta | None = None,
        clock_offset: timedelta | None = None,
    ) -> BackupServer:
        """Configure backup server ``name`` (case-insensitive) and return it; unset values are kept."""
        server = self._servers.setdefault(name.lower(), BackupServer(name))
        if collection_lag is not None:
            if collection_lag < timedelta(0):
                raise ValueError("collection_lag cannot be negative")
            server.collection_lag = collection_lag
        if clock_offset is not None:
            server.clock_offset = clock_offset
        return server

    def settings_of(self, name: str) -> BackupServer:
        """Backup server ``name`` as configured (lag and offset 0 when never configured)."""
        return self._servers.get(name.lower()) or BackupServer(name)

    def stall(self, server: str | None = None) -> None:
        """Stop collecting (every server, or one): EM keeps showing what it had at this instant."""
        now = self._clock()
        if server is None:
            self._stalled_all = self._stalled_all or now
        else:
            self._stalled.setdefault(server.lower(), now)

    def resume(self, server: str | None = None) -> None:
        """Collect again (every server, or one); what piled up appears at the next request."""
        if server is None:
            self._stalled_all = None
            self._stalled.clear()
        else:
            self._stalled.pop(server.lower(), None)

    def stalled(self, server: str) -> bool:
        """Whether collection of ``server`` is stalled."""
        return self._stalled_all is not None or server.lower() in self._stalled

    def cutoff(self, server: str) -> datetime:
        """Changes of ``server`` due at or before this instant are visible now."""
        limits = [self._clock()]
        if self._stalled_all is not None:
            limits.append(self._stalled_all)
        if server.lower() in self._stalled:
            limits.append(self._stalled[server.lower()])
        return min(limits)

    def due(self, server: str, stamp: datetime) -> datetime | None:
        """When a change of ``server`` stamped ``stamp`` becomes visible; None when it is visible now."""
        config = self.settings_of(server)
        happened = min(stamp - config.clock_offset, self._clock())
        due = happened + config.collection_lag
        return None if due <= self.cutoff(server) else due

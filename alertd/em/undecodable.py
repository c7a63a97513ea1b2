"""Report entities EM sent that could not be fully decoded: log each, count each once.

This module owns the ``session_undecodable`` log event. A poll re-reads its whole overlap
window, so one bad entity would be logged (and counted) every poll: each UID is logged at warning
level and counted the first time, at debug level and not counted afterwards (the memory is
bounded, so a UID forgotten long ago is warned about and counted again).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Final

from alertd.em.decode import TaskSessionPage

__all__ = ["UndecodableReporter"]

_MEMORY: Final = 10_000


class UndecodableReporter:
    """Logs the skipped and incomplete entities of decoded pages through ``log`` (a structlog logger)."""

    def __init__(self, log: Any, memory: int = _MEMORY) -> None:
        self._log = log
        self._memory = memory
        self._logged: OrderedDict[str, None] = OrderedDict()

    def report(self, decoded: TaskSessionPage, page: int, uids: set[str]) -> int:
        """Log each undecodable entity of ``decoded`` and add each UID seen for the first time to ``uids``.

        Returns how many had no UID (each is counted, it cannot be recognised again).
        """
        anonymous = 0
        gaps: list[tuple[str | None, tuple[str, ...], bool]] = [
            (s.uid, (s.reason,), False) for s in decoded.skipped
        ]
        gaps += [(i.uid, i.problems, True) for i in decoded.incomplete]
        for uid, problems, kept in gaps:
            first = uid is None or self._first(uid)
            if uid is None:
                anonymous += 1
            elif first:
                uids.add(uid)
            log = self._log.warning if first else self._log.debug
            log("session_undecodable", uid=uid, problems=list(problems), kept=kept, page=page)
        return anonymous

    def _first(self, uid: str) -> bool:
        if uid in self._logged:
            self._logged.move_to_end(uid)
            return False
        self._logged[uid] = None
        if len(self._logged) > self._memory:
            self._logged.popitem(last=False)
        return True

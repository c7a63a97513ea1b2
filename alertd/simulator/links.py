"""Href construction: EM names itself by its own view of its host, never the request's host."""

from __future__ import annotations

import re
from urllib.parse import quote

_PERCENT = re.compile(r"%[0-9A-F]{2}")


class Hrefs:
    """Builds absolute Hrefs under ``base`` (default ``https://localhost:9398``)."""

    __slots__ = ("api",)

    def __init__(self, base: str) -> None:
        self.api = base.rstrip("/") + "/api"

    def logon_session(self, session_id: str) -> str:
        return f"{self.api}/logonSessions/{session_id}"

    def task(self, uid: str, *, entity: bool = False) -> str:
        return f"{self.api}/backupTaskSessions/{uid}" + ("?format=Entity" if entity else "")

    def job_session(self, uid: str, *, entity: bool = False) -> str:
        return f"{self.api}/backupSessions/{uid}" + ("?format=Entity" if entity else "")

    def job_session_tasks(self, uid: str) -> str:
        return f"{self.api}/backupSessions/{uid}/taskSessions"

    def backup_server(self, uid: str) -> str:
        return f"{self.api}/backupServers/{uid}"

    def job(self, uid: str) -> str:
        return f"{self.api}/jobs/{uid}"

    def collection(self, name: str) -> str:
        return f"{self.api}/{name}"

    def query(self, params: list[tuple[str, str]]) -> str:
        """A paging link; the filter is percent-encoded whole, lower-case hex, as EM does."""
        parts = [f"{key}={encode_filter(value) if key == 'filter' else value}" for key, value in params]
        return f"{self.api}/query?" + "&".join(parts)


def encode_filter(text: str) -> str:
    """``result=="Failed"`` -> ``result%3d%3d%22Failed%22`` (EM's own links look like this; reference §2.1)."""
    return _PERCENT.sub(lambda match: match.group(0).lower(), quote(text, safe=""))

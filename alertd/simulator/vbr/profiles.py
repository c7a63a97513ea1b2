"""Simulated VBR builds, the ``x-api-version`` revisions each accepts, and the shape of each revision.

The revision table is reference §1.2; what each revision serves is §3.1 and §6. The simulator
renders only the four shapes the documents describe field by field: 1.1-rev0 (reference §2.2, §6:
``activityId``, one ``Job`` session type, no task sessions), and the OpenAPI subsets of 1.2-rev1,
1.3-rev0 and 1.3-rev2. Any other accepted revision is answered in the nearest older documented
shape: for 1.1-rev1 to 1.2-rev0 no document says when task sessions, ``jobId`` and ``BackupJob``
arrived (open question 4), and the oldest shape is the safest assumption, because it exercises
the client's fallbacks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["PROFILES", "Profile", "Shape", "shape_of"]


@dataclass(frozen=True, slots=True)
class Shape:
    """What one documented revision serves, as far as the simulated endpoints go."""

    name: str
    #: ``GET /api/v1/taskSessions`` exists (1.2-rev1+, §3.1).
    task_sessions: bool
    #: The session's job link: ``activityId`` (1.0-rev2, 1.1-rev0) or ``jobId`` (§2.2, §6).
    job_field: str
    #: ``typeFilter``/``resultFilter`` on /sessions are arrays (1.3-rev0+, CHANGELOG 1.3-rev0).
    array_filters: bool
    #: ``/sessions/{id}/taskSessions`` takes the full filter and paging set (1.3-rev1+, §3.1).
    session_tasks_paged: bool
    #: Sessions carry ``originalSessionId`` and ``retryInfo``; serverTime ``ianaTimeZoneId`` (1.3-rev2).
    retry_info: bool
    #: ``SessionProgress.progressPercent`` is required (1.3-rev0+, OpenAPI SessionProgress).
    progress_percent: bool
    #: Sessions carry ``platformName``/``platformId`` (1.2-rev1+, §2.2).
    platform: bool


_SHAPES: Final = {
    "1.1-rev0": Shape("1.1-rev0", False, "activityId", False, False, False, False, False),
    "1.2-rev1": Shape("1.2-rev1", True, "jobId", False, False, False, False, True),
    "1.3-rev0": Shape("1.3-rev0", True, "jobId", True, False, False, True, True),
    "1.3-rev2": Shape("1.3-rev2", True, "jobId", True, True, True, True, True),
}
_ORDER: Final = (
    "1.0-rev1",
    "1.0-rev2",
    "1.1-rev0",
    "1.1-rev1",
    "1.1-rev2",
    "1.2-rev0",
    "1.2-rev1",
    "1.3-rev0",
    "1.3-rev1",
    "1.3-rev2",
)


def shape_of(revision: str) -> Shape:
    """The documented shape a revision is answered in (the nearest older documented one)."""
    index = _ORDER.index(revision)
    for older in reversed(_ORDER[: index + 1]):
        if older in _SHAPES:
            return _SHAPES[older]
    return _SHAPES["1.1-rev0"]  # 1.0-*: VBR 11 shapes are not simulated; alertd never asks for them


@dataclass(frozen=True, slots=True)
class Profile:
    """One simulated VBR build and the revisions it accepts, oldest first."""

    build: str
    revisions: tuple[str, ...]

    @property
    def newest(self) -> str:
        return self.revisions[-1]


def _upto(last: str, first: str = "1.0-rev1") -> tuple[str, ...]:
    return _ORDER[_ORDER.index(first) : _ORDER.index(last) + 1]


#: The builds of reference §1.2. 12.0's list is the one a real 12.0 server sent (§1.2, forum post);
#: the others follow the table (13.x no longer accepts the unsupported 1.0-* revisions).
PROFILES: Final = {
    "12.0": Profile("12.0.0.1420", _upto("1.1-rev0")),
    "12.2": Profile("12.2.0.334", _upto("1.1-rev2")),
    "12.3.1": Profile("12.3.1.1139", _upto("1.2-rev1")),
    "13.0": Profile("13.0.0.4967", _upto("1.3-rev0", "1.1-rev0")),
    "13.1": Profile("13.1.0.411", _upto("1.3-rev2", "1.1-rev0")),
}

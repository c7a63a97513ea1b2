"""REST API revisions (the ``x-api-version`` header): which alertd speaks and what each one offers.

Pure. Facts from reference §1.2 (the revision table, the 400 "Unsupported RESTAPI version" answer
whose list carries a ``v`` prefix), §3.1 and §6 (which revision has which endpoint and field).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "KNOWN_REVISIONS",
    "Capabilities",
    "capabilities",
    "choose",
    "next_older",
    "parse_supported",
    "revision_key",
]

#: Every revision alertd can read, newest first (reference §1.2). 1.0-* (VBR 11) is left out: it is
#: unsupported by Veeam and has neither task sessions nor a job id alertd could group by.
KNOWN_REVISIONS: Final = (
    "1.3-rev2",
    "1.3-rev1",
    "1.3-rev0",
    "1.2-rev1",
    "1.2-rev0",
    "1.1-rev2",
    "1.1-rev1",
    "1.1-rev0",
)

_REVISION = re.compile(r"^([0-9]+)\.([0-9]+)-rev([0-9]+)$")
# The list in the error message: "... supported: v1.0-rev1, v1.0-rev2, v1.1-rev0" (reference §1.2).
_LISTED = re.compile(r"\bv?([0-9]+\.[0-9]+-rev[0-9]+)\b")


def revision_key(revision: str) -> tuple[int, int, int]:
    """``"1.3-rev2"`` -> ``(1, 3, 2)`` for ordering; raises ValueError for anything else."""
    m = _REVISION.match(revision.strip())
    if m is None:
        raise ValueError(f"not an x-api-version revision: {revision!r} (expected e.g. 1.3-rev2)")
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def parse_supported(message: str) -> list[str]:
    """The revisions a server listed in its "Unsupported RESTAPI version" message, without the ``v``."""
    return [m.group(1) for m in _LISTED.finditer(message)]


def choose(supported: Iterable[str], below: str | None = None) -> str | None:
    """The newest revision alertd knows among ``supported`` (older than ``below`` when given)."""
    limit = revision_key(below) if below is not None else None
    offered = set(supported)
    for revision in KNOWN_REVISIONS:
        if revision in offered and (limit is None or revision_key(revision) < limit):
            return revision
    return None


def next_older(revision: str) -> str | None:
    """The next older known revision, for a refusal that lists nothing (1.3-rev2's own example)."""
    key = revision_key(revision)
    return next((r for r in KNOWN_REVISIONS if revision_key(r) < key), None)


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What one revision offers alertd.

    ``task_sessions``: whether ``GET /api/v1/taskSessions`` exists: "yes" from 1.2-rev1, "no" in
    1.1-rev0, "unknown" in 1.1-rev1..1.2-rev0 (reference §3.1, open question 4: alertd asks once
    and treats a 404 as absent). ``session_tasks_paged``: ``/sessions/{id}/taskSessions`` takes
    skip/limit (1.3-rev1+, §3.1). ``retry_info``: sessions carry ``retryInfo`` and
    ``originalSessionId`` (1.3-rev2+, §4).
    """

    task_sessions: Literal["yes", "no", "unknown"]
    session_tasks_paged: bool
    retry_info: bool


def capabilities(revision: str) -> Capabilities:
    """The capabilities of a known revision (ValueError for a malformed one)."""
    key = revision_key(revision)
    if key >= (1, 2, 1):
        tasks: Literal["yes", "no", "unknown"] = "yes"
    elif key <= (1, 1, 0):
        tasks = "no"
    else:
        tasks = "unknown"
    return Capabilities(
        task_sessions=tasks, session_tasks_paged=key >= (1, 3, 1), retry_info=key >= (1, 3, 2)
    )

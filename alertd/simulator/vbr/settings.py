"""Knobs for VBR behaviours the documents leave open, gathered in one mutable object.

Each default is the answer to one of the reference's open questions (§8.4) that is safest for
never-miss: the harsher reading, which a client must survive to be right against any real server.
Tests may change a setting while the server runs; every request reads the current values.

The fourteen questions and where the simulator answers them:

1. offsets and bounds of time filters: ``filter_offsets``, ``inclusive_bounds``, ``task_times_with_offset``;
2. the largest ``limit``: ``max_limit`` (silent cap); ``limit<1`` is refused (`query`);
3. ``/sessions/{id}/taskSessions`` capped at 200: ``session_tasks_cap``;
4. the first revision with task sessions: `profiles` answers 1.1-rev1..1.2-rev0 without them (404);
5. retry names and fields: ``retry_name_suffix``; ``retryInfo``/``originalSessionId`` per 1.3-rev2 (`render`);
6. a running row has no ``endTime`` (`render`); tests change results after Stopped with ``update_*``;
7. the 401 ``errorCode`` is the documented AccessDenied (`errors`); ``expires_in``; single-use refresh (`tokens`);
8. ``grant_type`` accepted in either spelling (`handlers`);
9. agent jobs: a run may have no task sessions (``add_job_run(vms=())``);
10. task ids versus EM UIDs: plain GUIDs, unrelated to any EM data;
11. ``usn`` rises on every change, across both tables (`store`);
12. the port: whatever ``start()`` is given (9419 by ``python -m``);
13. retention: everything is kept; edition checks are not simulated;
14. latency: the fault plan's ``delay`` and ``delay_next``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta, tzinfo
from typing import Literal
from zoneinfo import ZoneInfo

__all__ = ["VBRSettings", "default_zone"]


def default_zone() -> tzinfo:
    """A zone west of UTC with DST: the case where a ``Z`` filter read as local time skips hours (§8.2)."""
    return ZoneInfo("America/New_York")


@dataclass(slots=True)
class VBRSettings:
    """Behaviour switches of one simulated server."""

    #: The build, a key of `PROFILES` ("12.0", "12.2", "12.3.1", "13.0", "13.1").
    profile: str = "13.1"
    #: The server's time zone; its IANA name is served as ``ianaTimeZoneId`` on 1.3-rev2 (§2.3).
    zone: tzinfo = field(default_factory=default_zone)
    #: The Windows-style ``timeZone`` text of ServerTimeModel (§2.3).
    zone_display: str = "(UTC-05:00) Eastern Time (US & Canada)"
    #: Access-token lifetime in seconds: 900 in every 1.3 example, 3600 in the docs table (§1.3, Q7).
    expires_in: int = 900
    #: Refresh-token lifetime (docs table: 14 days, §1.3).
    refresh_lifetime: timedelta = timedelta(days=14)
    #: The account has MFA: logon answers 401 AccessDenied "Authentication failed" (§1.3, observed).
    mfa_enabled: bool = False
    #: How a filter value's offset is read (Q1): "ignore" drops it and reads the wall time as the
    #: server's local time (the failure mode §8.2 warns of), "honour" converts it.
    filter_offsets: Literal["ignore", "honour"] = "ignore"
    #: Whether After/Before filters include their bound (Q1): exclusive is the harsher reading.
    inclusive_bounds: bool = False
    #: Silently serve at most this many rows per page whatever ``limit`` asks (Q2; None: no cap).
    max_limit: int | None = None
    #: ``/sessions/{id}/taskSessions`` without paging parameters stops at this many rows (Q3).
    session_tasks_cap: int = 200
    #: Task-session times carry no offset, as in Veeam's task examples (§2.3, Q1).
    task_times_with_offset: bool = False
    #: A retry session's name ends in " (Retry N)", as the console shows (§4, Q5).
    retry_name_suffix: bool = True
    #: The 400 answer to an unsupported revision lists the supported ones (§1.2, observed); False
    #: answers 1.3-rev2's documented example, which lists none.
    version_error_lists: bool = True

"""Knobs for EM behaviours the reference leaves open, gathered in one mutable object.

Tests may change a setting while the server runs; every request reads the current values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(slots=True)
class EMSettings:
    """Behaviour switches. Defaults follow the reference's observations where it has any."""

    #: EM's own view of its address, used in every Href (the docs show ``localhost``).
    public_base: str = "https://localhost:9398"
    #: Real EM prefixes JSON bodies with a UTF-8 byte order mark.
    json_bom: bool = True
    #: Emit camelCase JSON keys (the unverified "EM 13" rumour) instead of PascalCase.
    json_camel_case: bool = False
    #: ``pageSize`` used when the client sends none (observed 100, despite the docs).
    default_page_size: int = 100
    #: Silently clamp larger ``pageSize`` values to this (None: no limit); PageSize reports it.
    max_page_size: int | None = None
    #: ``PagesCount`` for an empty result (undocumented; ceil(0 / n) = 0 is the natural value).
    empty_pages_count: int = 0
    #: Status for an unparseable filter or unknown field/type/sort (undocumented: 400 or 500).
    bad_filter_status: int = 400
    #: Idle lifetime of a logon token (docs: 15 minutes without requests).
    idle_timeout: timedelta = timedelta(minutes=15)
    #: Answer POSTs whose Accept lists both xml and json with 400 "Node [root] does not exist."
    #: (seen on 9.5U4 only, so off by default).
    reject_mixed_accept: bool = False
    #: ``/backupTaskSessions`` and ``/backupSessions/{id}/taskSessions`` only show this window.
    collection_window: timedelta = timedelta(days=30)
    #: The Server header real EM sends.
    server_header: str = "Microsoft-HTTPAPI/2.0"

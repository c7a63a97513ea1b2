"""Knobs for EM behaviours the reference leaves open, gathered in one mutable object.

Tests may change a setting while the server runs; every request reads the current values.
Each knob names its source: the reference section, a Veeam help page, or "unknown" where no
source settles the behaviour (the default is then the strict or the documented choice).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta


@dataclass(slots=True)
class EMSettings:
    """Behaviour switches. Defaults follow the reference's observations where it has any."""

    #: EM's own view of its address, used in every Href (the docs show ``localhost``; §2.2).
    public_base: str = "https://localhost:9398"
    #: Real EM prefixes JSON bodies with a UTF-8 byte order mark (reference §1.4, observed).
    json_bom: bool = True
    #: Emit camelCase JSON keys (the unverified "EM 13" rumour, reference §2.3) instead of PascalCase.
    json_camel_case: bool = False
    #: ``pageSize`` used when the client sends none (observed 100, despite the docs; §2.2).
    default_page_size: int = 100
    #: Silently clamp larger ``pageSize`` values to this (None: no limit); PageSize reports it.
    #: The maximum is unknown (reference §2.2, §8).
    max_page_size: int | None = None
    #: ``PagesCount`` for an empty result (unknown, reference §8; ceil(0 / n) = 0 by default).
    empty_pages_count: int = 0
    #: Status for an unparseable filter, an unknown field/type/sort or an unknown query parameter.
    #: Unknown: the docs list 400 for POST/PUT only, and whether a bad GET filter gives 400 or 500
    #: is an open question (reference §5); 400 is the default, 500 the other possibility.
    bad_filter_status: int = 400
    #: Idle lifetime of a logon token (docs: 15 minutes without requests; reference §1.3).
    idle_timeout: timedelta = timedelta(minutes=15)
    #: Answer POSTs whose Accept lists both xml and json with 400 "Node [root] does not exist."
    #: (seen on 9.5U4 only, so off by default; reference §1.4).
    reject_mixed_accept: bool = False
    #: ``/backupTaskSessions`` and ``/backupSessions/{id}/taskSessions`` only show this window
    #: ("only return the sessions created for the last 30 days", 13.x pages; reference §4).
    collection_window: timedelta = timedelta(days=30)
    #: The Server header real EM sends (reference §1, observed).
    server_header: str = "Microsoft-HTTPAPI/2.0"
    #: EM's clock minus the simulator's injected clock. Everything EM dates moves with it: the
    #: Date header, default session times, token idle expiry and collection. Set it to model a
    #: host whose clock is wrong (or, negated, an alertd whose clock is).
    clock_skew: timedelta = timedelta(0)
    #: EM 9.x shapes: task sessions carry no VmUid element (13.x docs have it; the 2017 XSD and
    #: 9.x captures do not; reference §3, audit notes). Nothing else about 9.x is documented, so
    #: nothing else changes.
    em9_mode: bool = False
    #: The UID forms a filter value may take and still match: "guid" (bare) and/or "urn".
    #: Unknown on real EM (reference §2.1, §8: the 13.1 query pages show bare GUIDs as examples, a
    #: public client sent a URN); both by default, one to model an EM that silently matches
    #: nothing for the other form.
    uid_filter_forms: frozenset[str] = field(default_factory=lambda: frozenset({"guid", "urn"}))
    #: Refuse (with bad_filter_status) a logon POST carrying a Content-Type other than none or
    #: application/xml. Known-working clients send none (curl scripts, Python requests; audit
    #: notes) or application/xml (a public NativeScript EM client); whether EM accepts aiohttp's
    #: application/octet-stream is unknown. Off by default only because bench/floor.py logs on
    #: with aiohttp's default headers.
    strict_logon_content_type: bool = False

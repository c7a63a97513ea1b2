"""Query parameters of the collection endpoints: which exist, how they are read, what they select.

The parameter lists are those of the OpenAPI subsets (``GET /api/v1/sessions``,
``/api/v1/taskSessions`` and, from 1.3-rev1, ``/api/v1/sessions/{id}/taskSessions``); the rules
are OVERVIEW 1.3-rev0 "Query Parameters" (reference §2.1): names are case-sensitive, sorting and
filtering come before ``skip``/``limit``. A parameter no document declares for the endpoint, or a
value its schema does not allow, is refused with 400 UnexpectedContent, the documented answer to
invalid request parameters. Open questions are answered by `VBRSettings` (named there).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from multidict import MultiMapping

from alertd.simulator.vbr.errors import BAD_PARAMETERS, VBRHttpError
from alertd.simulator.vbr.profiles import Shape
from alertd.simulator.vbr.records import SessionRecord, TaskRecord
from alertd.simulator.vbr.render import session_type
from alertd.simulator.vbr.settings import VBRSettings

__all__ = ["Listing", "parse_sessions", "parse_tasks"]

Row = SessionRecord | TaskRecord
_RESULTS: Final = ("None", "Success", "Warning", "Failed")
_STATES: Final = (
    "Stopped", "Starting", "Stopping", "Working", "Pausing", "Resuming",
    "WaitingTape", "Idle", "Postprocessing", "WaitingRepository", "WaitingSlot",
)  # fmt: skip
_TASK_ORDER: Final = (
    "Name",
    "Type",
    "SessionType",
    "CreationTime",
    "EndTime",
    "State",
    "Result",
    "ScanState",
    "ScanResult",
)
_SESSION_ORDER: Final = ("Name", "SessionType", "CreationTime", "EndTime", "State", "Result")
# ESessionType grows every revision (39, 74, 109 values, §2.2): any identifier is accepted.
_TYPE_NAME: Final = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
_INT32: Final = 2**31 - 1
_DEFAULT_LIMIT: Final = 200  # the declared default from 1.3-rev0; none is declared before (Q2)


@dataclass(slots=True)
class Listing:
    """A parsed query: the row filters, the sort, and the page."""

    skip: int = 0
    limit: int = _DEFAULT_LIMIT
    order: str | None = None
    ascending: bool = False
    tests: list[Callable[[Any], bool]] = field(default_factory=list)

    def apply(self, rows: Sequence[Row], cap: int | None) -> tuple[list[Row], int, int]:
        """Filter, sort, page: returns (page, total, effective limit)."""
        kept = [row for row in rows if all(test(row) for test in self.tests)]
        if self.order is not None:
            # Rows without the value (a running row's EndTime) sort last either way (Q6).
            present = [r for r in kept if _sort_value(r, self.order) is not None]
            absent = [r for r in kept if _sort_value(r, self.order) is None]
            present.sort(key=lambda r: _sort_value(r, self.order), reverse=not self.ascending)
            kept = present + absent
        limit = min(self.limit, cap) if cap is not None else self.limit
        return kept[self.skip : self.skip + limit], len(kept), limit


def _sort_value(row: Row, column: str | None) -> Any:
    return {
        "Name": row.name if isinstance(row, TaskRecord) else row.job_name,
        "Type": getattr(row, "type", None),
        "SessionType": row.session_type,
        "CreationTime": row.creation_time,
        "EndTime": row.end_time,
        "State": row.state,
        "Result": _RESULTS.index(row.result) if row.result in _RESULTS else None,
    }.get(column or "")


def _bad() -> VBRHttpError:
    return VBRHttpError.of(BAD_PARAMETERS)


def _one(query: MultiMapping[str], name: str) -> str:
    values = query.getall(name)
    if len(values) != 1:
        raise _bad()  # a single-valued parameter given twice
    return values[0]


def _int(text: str, low: int) -> int:
    if not re.fullmatch(r"-?[0-9]{1,10}", text) or not low <= int(text) <= _INT32:
        raise _bad()  # limit=0 or a negative skip is not documented (Q2): refused
    return int(text)


def _enum(text: str, choices: Sequence[str]) -> str:
    if text not in choices:  # "All query parameters are case-sensitive" (§2.1)
        raise _bad()
    return text


def _time(text: str, settings: VBRSettings) -> datetime:
    """A date-time filter value as an aware instant, read per `VBRSettings.filter_offsets` (Q1)."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError as e:
        raise _bad() from e
    if value.tzinfo is not None and settings.filter_offsets == "honour":
        return value.astimezone(UTC)
    # Without an offset, or with one the server drops, the wall time is the server's local time.
    return value.replace(tzinfo=None).replace(tzinfo=settings.zone).astimezone(UTC)


def _uuid(text: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError as e:
        raise _bad() from e


def _name_test(pattern: str) -> Callable[[Row], bool]:
    """``*`` at the start and/or end is a wildcard (§2.1); matched against the name."""
    core = pattern.strip("*").lower()

    def test(row: Row) -> bool:
        name = (row.name if isinstance(row, TaskRecord) else row.job_name).lower()
        if pattern.startswith("*") and pattern.endswith("*") and len(pattern) > 1:
            return core in name
        if pattern.startswith("*"):
            return name.endswith(core)
        if pattern.endswith("*"):
            return name.startswith(core)
        return name == core

    return test


def _time_tests(listing: Listing, query: MultiMapping[str], settings: VBRSettings) -> None:
    inclusive = settings.inclusive_bounds
    for name, attr, after in (
        ("createdAfterFilter", "creation_time", True),
        ("createdBeforeFilter", "creation_time", False),
        ("endedAfterFilter", "end_time", True),
        ("endedBeforeFilter", "end_time", False),
    ):
        if name not in query:
            continue
        bound = _time(_one(query, name), settings)

        def test(row: Row, attr: str = attr, after: bool = after, bound: datetime = bound) -> bool:
            value: datetime | None = getattr(row, attr)
            if value is None:
                return False  # a row that has not ended matches no ended* filter
            if value == bound:
                return inclusive
            return value > bound if after else value < bound

        listing.tests.append(test)


def _common(
    query: MultiMapping[str], declared: frozenset[str], order: Sequence[str], settings: VBRSettings
) -> Listing:
    for name in query:
        if name not in declared:
            raise _bad()
    listing = Listing()
    if "skip" in query:
        listing.skip = _int(_one(query, "skip"), 0)
    if "limit" in query:
        listing.limit = _int(_one(query, "limit"), 1)
    if "orderColumn" in query:
        listing.order = _enum(_one(query, "orderColumn"), order)
    if "orderAsc" in query:
        listing.ascending = _enum(_one(query, "orderAsc"), ("true", "false")) == "true"
    if "nameFilter" in query:
        listing.tests.append(_name_test(_one(query, "nameFilter")))
    _time_tests(listing, query, settings)
    return listing


def _values(query: MultiMapping[str], name: str, array: bool) -> list[str]:
    return list(query.getall(name)) if array else [_one(query, name)]


def _states(shape: Shape) -> tuple[str, ...]:
    return (*_STATES, "ActionRequired") if shape.retry_info else _STATES  # ActionRequired: 1.3-rev2


_SESSION_PARAMS: Final = frozenset(
    {"skip", "limit", "orderColumn", "orderAsc", "nameFilter", "createdAfterFilter", "createdBeforeFilter",
     "endedAfterFilter", "endedBeforeFilter", "typeFilter", "stateFilter", "resultFilter", "jobIdFilter"}
)  # fmt: skip
_TASK_PARAMS: Final = frozenset(
    {"skip", "limit", "orderColumn", "orderAsc", "nameFilter", "typeFilter", "sessionTypeFilter",
     "createdAfterFilter", "createdBeforeFilter", "endedAfterFilter", "endedBeforeFilter", "stateFilter",
     "resultFilter", "scanTypeFilter", "scanResultFilter", "scanStateFilter", "sessionIdFilter"}
)  # fmt: skip


def parse_sessions(query: MultiMapping[str], shape: Shape, settings: VBRSettings) -> Listing:
    """``GET /api/v1/sessions``; ``typeFilter``/``resultFilter`` are arrays from 1.3-rev0 (§2.1)."""
    listing = _common(query, _SESSION_PARAMS, _SESSION_ORDER, settings)
    if "typeFilter" in query:
        types = {_enum_open(v) for v in _values(query, "typeFilter", shape.array_filters)}
        listing.tests.append(lambda r: session_type(r.session_type, shape) in types)
    if "resultFilter" in query:
        results = {_enum(v, _RESULTS) for v in _values(query, "resultFilter", shape.array_filters)}
        listing.tests.append(lambda r: r.result in results)
    if "stateFilter" in query:
        state = _enum(_one(query, "stateFilter"), _states(shape))
        listing.tests.append(lambda r: r.state == state)
    if "jobIdFilter" in query:
        job_id = _uuid(_one(query, "jobIdFilter"))
        listing.tests.append(lambda r: r.job_id == job_id)
    return listing


def parse_tasks(query: MultiMapping[str], shape: Shape, settings: VBRSettings) -> Listing:
    """``GET /api/v1/taskSessions`` (and ``/sessions/{id}/taskSessions`` from 1.3-rev1): single values."""
    listing = _common(query, _TASK_PARAMS, _TASK_ORDER, settings)
    if "typeFilter" in query:
        kind = _enum(_one(query, "typeFilter"), ("Backup", "Restore", "Antivirus", "Replica"))
        listing.tests.append(lambda r: r.type == kind)
    if "sessionTypeFilter" in query:
        stype = _enum_open(_one(query, "sessionTypeFilter"))
        listing.tests.append(lambda r: r.session_type == stype)
    if "stateFilter" in query:
        state = _enum(_one(query, "stateFilter"), _states(shape))
        listing.tests.append(lambda r: r.type != "Antivirus" and r.state == state)
    if "resultFilter" in query:
        result = _enum(_one(query, "resultFilter"), _RESULTS)
        listing.tests.append(lambda r: r.type != "Antivirus" and r.result == result)
    if "sessionIdFilter" in query:
        session_id = _uuid(_one(query, "sessionIdFilter"))
        listing.tests.append(lambda r: r.session_id == session_id)
    scans = {"scanTypeFilter": ("Antivirus", "Yara"), "scanResultFilter": ("None", "Clean", "Infected", "Failed", "Canceled", "Inconclusive"), "scanStateFilter": ("NotStarted", "InProgress", "Finished")}  # fmt: skip
    rendered = {"scanTypeFilter": "Antivirus", "scanResultFilter": "Clean", "scanStateFilter": "Finished"}
    for name, choices in scans.items():
        if name in query:
            # Scan filters select Antivirus rows, which the simulator renders as clean, finished scans.
            matches = rendered[name] == _enum(_one(query, name), choices)
            listing.tests.append(_scan_test(matches))
    return listing


def _scan_test(matches: bool) -> Callable[[Row], bool]:
    return lambda row: matches and isinstance(row, TaskRecord) and row.type == "Antivirus"


def _enum_open(text: str) -> str:
    if not _TYPE_NAME.match(text):
        raise _bad()
    return text

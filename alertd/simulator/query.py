"""The query service: ``/api/query`` parameters in, one filtered, sorted page out.

Filtered and sorted results are cached per store version, so paging through 10,000 sessions
costs one filter pass, not one per page.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from alertd.simulator.fields import JOB_FIELDS, TASK_FIELDS, Field, compile_filter, lookup, sort_key
from alertd.simulator.filters import FilterError, parse_filter
from alertd.simulator.links import Hrefs
from alertd.simulator.records import JobSessionRecord, TaskSessionRecord
from alertd.simulator.settings import EMSettings
from alertd.simulator.store import SessionStore

R = TypeVar("R")

#: Documented query types the simulator has no data for (em_rest/query_type.html): they answer
#: with an empty result, never an invented one.
OTHER_TYPES = (
    "ReplicaJobSession",
    "ReplicaTaskSession",
    "RestoreSession",
    "CdpReplicaSession",
    "CdpReplicaTaskSession",
    "CloudFailoverSession",
    "Task",
    "Job",
    "AgentBackupJob",
    "BackupServer",
    "VmRestorePoint",
)
_TYPES = {name.lower(): name for name in ("BackupTaskSession", "BackupJobSession", *OTHER_TYPES)}
#: The query service's parameters (em_rest/query_type.html, format.html, sortasc_sortdesc.html,
#: pagesize_and_page.html, optional_query_parameters.html); anything else is refused.
PARAMETERS = ("type", "format", "sortasc", "sortdesc", "pagesize", "page", "filter")
_CACHE_SIZE = 32


class QueryError(ValueError):
    """A query parameter EM would refuse; answered with the bad-filter status."""


@dataclass(frozen=True, slots=True)
class QueryRequest:
    """Validated ``/api/query`` parameters, names and enum spellings canonicalised."""

    type_name: str
    entities: bool
    filter_text: str
    sort: str | None
    descending: bool
    page_size: int
    page: int


@dataclass(slots=True)
class QueryPage:
    """One page of a query result, ready for a renderer."""

    request: QueryRequest
    page_size: int
    pages_count: int
    links: list[tuple[str, str]]
    tasks: list[TaskSessionRecord] = field(default_factory=list)
    jobs: list[JobSessionRecord] = field(default_factory=list)


def parse_params(params: Mapping[str, str], settings: EMSettings) -> QueryRequest:
    """Parameter names are case-insensitive (``Type=``, ``Filter=`` work on real EM; §2.1)."""
    unknown = [key for key in params if key.lower() not in PARAMETERS]
    if unknown:
        raise QueryError(f"Unknown query parameter {unknown[0]!r}; documented: {', '.join(PARAMETERS)}")
    lowered = {key.lower(): value for key, value in reversed(list(params.items()))}
    type_name = _TYPES.get(lowered.get("type", "").lower())
    if type_name is None:
        raise QueryError(f"Unknown or missing query type {lowered.get('type', '')!r}")
    fmt = lowered.get("format", "References").lower()
    if fmt not in ("entities", "references"):
        raise QueryError(f"Unknown format {lowered['format']!r}; use Entities or References")
    if "sortasc" in lowered and "sortdesc" in lowered:
        raise QueryError("sortAsc and sortDesc cannot be combined")
    sort = lowered.get("sortasc") or lowered.get("sortdesc")
    return QueryRequest(
        type_name=type_name,
        entities=fmt == "entities",
        filter_text=lowered.get("filter", "").strip(),
        sort=None if sort is None else _sort_field(type_name, sort),
        descending="sortdesc" in lowered,
        page_size=_positive(lowered, "pagesize", settings.default_page_size),
        page=_positive(lowered, "page", 1),
    )


def _sort_field(type_name: str, name: str) -> str:
    try:
        if type_name == "BackupTaskSession":
            return lookup(TASK_FIELDS, name).name
        if type_name == "BackupJobSession":
            return lookup(JOB_FIELDS, name).name
    except FilterError as err:
        raise QueryError(f"cannot sort: {err}") from None
    return name


def _positive(params: Mapping[str, str], name: str, default: int) -> int:
    text = params.get(name)
    if text is None:
        return default
    if not text.strip().isdigit() or int(text) < 1:
        raise QueryError(f"{name} must be a positive integer, got {text!r}")
    return int(text)


def _predicate(text: str, fields: Mapping[str, Field[R]], uid_forms: frozenset[str]) -> Callable[[R], bool]:
    try:
        return compile_filter(parse_filter(text), fields, uid_forms)
    except FilterError as err:
        raise QueryError(str(err)) from None


_CacheKey = tuple[str, str | None, bool, frozenset[str]]


class QueryEngine:
    """Runs QueryRequests against a store, caching the matching rows per store version."""

    def __init__(self, store: SessionStore, settings: EMSettings) -> None:
        self._store = store
        self._settings = settings
        self._tasks: dict[_CacheKey, list[TaskSessionRecord]] = {}
        self._jobs: dict[_CacheKey, list[JobSessionRecord]] = {}
        self._version = -1

    def run(self, request: QueryRequest, hrefs: Hrefs) -> QueryPage:
        if self._version != self._store.version:
            self._tasks.clear()
            self._jobs.clear()
            self._version = self._store.version
        page_size = min(request.page_size, self._settings.max_page_size or request.page_size)
        start = (request.page - 1) * page_size
        tasks: list[TaskSessionRecord] = []
        jobs: list[JobSessionRecord] = []
        forms = frozenset(self._settings.uid_filter_forms)
        if request.type_name == "BackupTaskSession":
            tasks = _matching(request, TASK_FIELDS, self._tasks, self._store.tasks.values(), forms)
            total = len(tasks)
        elif request.type_name == "BackupJobSession":
            jobs = _matching(request, JOB_FIELDS, self._jobs, self._store.jobs.values(), forms)
            total = len(jobs)
        else:
            if request.filter_text:  # still reject syntax errors for types without data
                try:
                    parse_filter(request.filter_text)
                except FilterError as err:
                    raise QueryError(str(err)) from None
            total = 0
        pages = math.ceil(total / page_size) if total else self._settings.empty_pages_count
        return QueryPage(
            request,
            page_size,
            pages,
            paging_links(request, page_size, pages, hrefs),
            tasks[start : start + page_size],
            jobs[start : start + page_size],
        )


class _Visible(Protocol):
    @property
    def visible(self) -> bool: ...


V = TypeVar("V", bound=_Visible)


def _matching(
    request: QueryRequest,
    fields: Mapping[str, Field[V]],
    cache: dict[_CacheKey, list[V]],
    rows: Iterable[V],
    uid_forms: frozenset[str],
) -> list[V]:
    key = (request.filter_text, request.sort, request.descending, uid_forms)
    if key in cache:
        return cache[key]
    predicate = _predicate(request.filter_text, fields, uid_forms) if request.filter_text else None
    selected = [row for row in rows if row.visible and (predicate is None or predicate(row))]
    if request.sort:
        selected.sort(key=sort_key(fields[request.sort.lower()]), reverse=request.descending)
    if len(cache) >= _CACHE_SIZE:
        cache.clear()
    cache[key] = selected
    return selected


def paging_links(request: QueryRequest, page_size: int, pages: int, hrefs: Hrefs) -> list[tuple[str, str]]:
    """First, Previous (past page 1), Next (before the last page), Last; Last is page 1 when empty."""

    def href(page: int) -> str:
        params = [("type", request.type_name), ("format", "Entities" if request.entities else "References")]
        if request.sort:
            params.append(("sortDesc" if request.descending else "sortAsc", request.sort))
        params += [("pageSize", str(page_size)), ("page", str(page))]
        if request.filter_text:
            params.append(("filter", request.filter_text))
        return hrefs.query(params)

    links = [("First", href(1))]
    if request.page > 1:
        links.append(("Previous", href(request.page - 1)))
    if request.page < pages:
        links.append(("Next", href(request.page + 1)))
    links.append(("Last", href(max(pages, 1))))
    return links

"""Filterable and sortable fields per query type, and how a filter tree becomes a predicate.

The fields are exactly those the Veeam help pages list "for filtering and sorting"
(em_rest/get_query_backuptasksession.html and get_query_backupjobsession.html, 9.0 to 13.1;
reference §3, §3.3); any other name, ``VmUid`` included, is refused.

Every value is reduced to a ``Key`` (an ``(int, str)`` pair) so all comparisons are typed and
uniform: numbers, times and enum indexes use the int; text and UIDs use the str. Text compares
case-insensitively, as SQL Server's default collation behind EM does (an inference; the docs
show ``result=="Failed"`` and ``jobtype==backup`` working). A record whose field is null (EndTime
of a running task) matches no comparison at all, ``!=`` included (SQL NULL logic).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar

from alertd.simulator.filters import And, Comparison, FilterError, Node, Or
from alertd.simulator.records import (
    JOB_STATES,
    JOB_TYPES,
    RESULTS,
    TASK_STATES,
    JobSessionRecord,
    TaskSessionRecord,
    bare_uid,
    canonical,
)
from alertd.simulator.timefmt import parse_filter_time

R = TypeVar("R")
Key = tuple[int, str]
Predicate = Callable[[R], bool]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ALL_FORMS = frozenset({"guid", "urn"})
_OPS: dict[str, Callable[[Key, Key], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def time_key(when: datetime) -> Key:
    delta = when - _EPOCH
    return ((delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds, "")


def text_key(text: str) -> Key:
    return (0, text.casefold())


@dataclass(frozen=True, slots=True)
class Field(Generic[R]):
    """One filter/sort field: its EM name, value kind and how to read it from a record."""

    name: str
    kind: str  # text | uid | time | enum | int | bool
    key: Callable[[R], Key | None]
    choices: tuple[str, ...] = ()

    def parse(self, value: str, uid_forms: frozenset[str] = _ALL_FORMS) -> Key:
        """Turn a filter value into a Key, raising FilterError where EM would refuse it.

        A UID in a form outside ``uid_forms`` ("guid", "urn") matches no record: how EM treats
        each form is unknown (reference §8), and a silent mismatch is the failure to model.
        """
        try:
            if self.kind == "time":
                return time_key(parse_filter_time(value))
            if self.kind == "enum":
                return (self.choices.index(canonical(value, self.choices, self.name)), "")
            if self.kind == "int":
                return (int(value), "")
            if self.kind == "bool":
                return (("false", "true").index(value.lower()), "")
        except ValueError as err:
            raise FilterError(f"invalid value {value!r} for {self.name}: {err}") from None
        if self.kind != "uid":
            return text_key(value)
        form = "urn" if value.strip().lower().startswith("urn:") else "guid"
        return (0, bare_uid(value)) if form in uid_forms else (-1, f"unrecognised {form}")


def _task_fields() -> list[Field[TaskSessionRecord]]:
    fields: list[Field[TaskSessionRecord]] = [
        Field("UID", "uid", lambda r: (0, r.uid)),
        Field("Name", "text", lambda r: text_key(r.name)),
        Field("CreationTime", "time", lambda r: time_key(r.creation_time)),
        Field("EndTime", "time", lambda r: time_key(r.end_time) if r.end_time else None),
        Field("State", "enum", lambda r: (TASK_STATES.index(r.state), ""), TASK_STATES),
        Field("Result", "enum", lambda r: (RESULTS.index(r.result), ""), RESULTS),
        Field("Reason", "text", lambda r: text_key(r.reason)),
        Field("TotalSize", "int", lambda r: (r.total_size, "")),
        Field("JobSessionUid", "uid", lambda r: (0, r.job_session_uid)),
        Field("JobUid", "uid", lambda r: (0, r.job_uid)),
        Field("JobName", "text", lambda r: text_key(r.job_name)),
        Field("BackupServerUid", "uid", lambda r: (0, r.backup_server_uid)),
        Field("BackupServerName", "text", lambda r: text_key(r.backup_server)),
        Field("VmDisplayName", "text", lambda r: text_key(r.vm)),
    ]
    return fields


def _job_fields() -> list[Field[JobSessionRecord]]:
    fields: list[Field[JobSessionRecord]] = [
        Field("UID", "uid", lambda r: (0, r.uid)),
        Field("Name", "text", lambda r: text_key(r.name)),
        Field("JobType", "enum", lambda r: (JOB_TYPES.index(r.job_type), ""), JOB_TYPES),
        Field("JobUid", "uid", lambda r: (0, r.job_uid)),
        Field("JobName", "text", lambda r: text_key(r.job_name)),
        Field("CreationTime", "time", lambda r: time_key(r.creation_time)),
        Field("EndTime", "time", lambda r: time_key(r.end_time) if r.end_time else None),
        Field("State", "enum", lambda r: (JOB_STATES.index(r.state), ""), JOB_STATES),
        Field("Result", "enum", lambda r: (RESULTS.index(r.result), ""), RESULTS),
        Field("IsRetry", "bool", lambda r: (int(r.is_retry), "")),
        Field("BackupServerUid", "uid", lambda r: (0, r.backup_server_uid)),
        Field("BackupServerName", "text", lambda r: text_key(r.backup_server)),
    ]
    return fields


TASK_FIELDS: dict[str, Field[TaskSessionRecord]] = {f.name.lower(): f for f in _task_fields()}
JOB_FIELDS: dict[str, Field[JobSessionRecord]] = {f.name.lower(): f for f in _job_fields()}


def lookup(fields: Mapping[str, Field[R]], name: str) -> Field[R]:
    """Field names are case-insensitive; unknown names are an error, never ignored."""
    try:
        return fields[name.lower()]
    except KeyError:
        raise FilterError(
            f"unknown field {name!r}; known: {', '.join(f.name for f in fields.values())}"
        ) from None


def compile_filter(
    node: Node, fields: Mapping[str, Field[R]], uid_forms: frozenset[str] = _ALL_FORMS
) -> Predicate[R]:
    """Turn a syntax tree into a predicate, validating every field and value up front."""
    if isinstance(node, Comparison):
        field = lookup(fields, node.field)
        target, test, key = field.parse(node.value, uid_forms), _OPS[node.op], field.key

        def leaf(record: R) -> bool:
            value = key(record)
            return value is not None and test(value, target)

        return leaf
    if isinstance(node, Or) and (matches := _any_equal(node, fields, uid_forms)) is not None:
        return matches
    terms = [compile_filter(term, fields, uid_forms) for term in node.terms]
    if isinstance(node, And):
        return lambda record: all(term(record) for term in terms)
    return lambda record: any(term(record) for term in terms)


def _any_equal(node: Or, fields: Mapping[str, Field[R]], uid_forms: frozenset[str]) -> Predicate[R] | None:
    """``(F==a,F==b,...)`` on one field as one set lookup instead of a test per term: the same
    answer (keys are tuples, so ``==`` is set membership), at a cost that does not grow with the
    terms. alertd asks for 25 job runs at a time this way; the 10,000-session storm of ``make bench``
    would otherwise spend seconds of the simulator's time on it."""
    if not all(isinstance(t, Comparison) and t.op == "==" for t in node.terms):
        return None
    named = {lookup(fields, t.field).name for t in node.terms if isinstance(t, Comparison)}
    if len(named) != 1:
        return None
    field = lookup(fields, named.pop())
    targets = {field.parse(t.value, uid_forms) for t in node.terms if isinstance(t, Comparison)}
    key = field.key

    def any_equal(record: R) -> bool:
        value = key(record)
        return value is not None and value in targets

    return any_equal


def sort_key(field: Field[R]) -> Callable[[R], tuple[int, Key]]:
    """Nulls first when ascending (SQL Server's order), hence last when descending."""

    def key(record: R) -> tuple[int, Key]:
        value = field.key(record)
        return (0, (0, "")) if value is None else (1, value)

    return key

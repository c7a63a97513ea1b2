"""Tests for alertd.em.filters: EM filter quoting, grouping and the poller's queries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from enum import Enum

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alertd.em.filters import (
    UidForm,
    all_of,
    any_of,
    cond,
    failed_since,
    format_datetime,
    quote,
    successes_for,
    successes_of_job,
    tasks_of_job_session,
    uid_value,
)
from alertd.model import Result


def read_value(expr: str) -> tuple[str, str]:
    """Reference reader: split one value token off the front of ``expr``; return (value, rest).

    A quoted token runs to the first ``"`` not followed by another ``"``; ``""`` inside is one
    quote. A bare token is the longest run of ``[A-Za-z0-9_]``.
    """
    if expr.startswith('"'):
        out: list[str] = []
        i = 1
        while i < len(expr):
            if expr[i] == '"':
                if expr[i + 1 : i + 2] == '"':
                    out.append('"')
                    i += 2
                    continue
                return "".join(out), expr[i + 1 :]
            out.append(expr[i])
            i += 1
        raise ValueError("unterminated quoted value")
    i = 0
    while i < len(expr) and (expr[i].isascii() and (expr[i].isalnum() or expr[i] == "_")):
        i += 1
    if i == 0:
        raise ValueError(f"no value at {expr!r}")
    return expr[:i], expr[i:]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Failed", "Failed"),
        ("abc_123", "abc_123"),
        ("0", "0"),
        ("", '""'),
        ("Fileserver Backup", '"Fileserver Backup"'),
        ('"Backup"', '"""Backup"""'),
        ('say "hi"', '"say ""hi"""'),
        ("a;b", '"a;b"'),
        ("a,b", '"a,b"'),
        ("(x)", '"(x)"'),
        ("a==b", '"a==b"'),
        ("Zürich", '"Zürich"'),
        ("日本", '"日本"'),
        ("db-01.tech.local", '"db-01.tech.local"'),
        ("DOMAIN\\vm", '"DOMAIN\\vm"'),
        (" lead", '" lead"'),
        ("Backup Job 1@2025", '"Backup Job 1@2025"'),
        ("\uff46\uff55llwidth", '"\uff46\uff55llwidth"'),
    ],
)
def test_quote_strings(value: str, expected: str) -> None:
    """Plain [A-Za-z0-9_] values stay bare; anything else is double-quoted with inner quotes doubled."""
    assert quote(value) == expected


class _Color(Enum):
    RED = "Red Hot"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (42, "42"),
        (-1, '"-1"'),
        (True, "true"),
        (False, "false"),
        (Result.FAILED, "Failed"),
        (_Color.RED, '"Red Hot"'),
    ],
)
def test_quote_non_strings(value: object, expected: str) -> None:
    """Ints, bools and enums are written by their text and quoted by the same rule as strings."""
    assert quote(value) == expected  # type: ignore[arg-type]


def test_quote_rejects_other_types() -> None:
    """A value of an unsupported type is refused rather than written with str()."""
    with pytest.raises(TypeError):
        quote(1.5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2025, 6, 5, 1, 4, 29, tzinfo=UTC), '"2025-06-05T01:04:29Z"'),
        (datetime(2025, 6, 5, 1, 4, 29, 999999, tzinfo=UTC), '"2025-06-05T01:04:29Z"'),
        (datetime(2025, 6, 5, 3, 4, 29, tzinfo=timezone(timedelta(hours=2))), '"2025-06-05T01:04:29Z"'),
        (datetime(2025, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1))), '"2024-12-31T23:30:00Z"'),
        (datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC), '"0999-01-02T03:04:05Z"'),
    ],
)
def test_format_datetime(value: datetime, expected: str) -> None:
    """Aware datetimes are written quoted, in UTC, to the second, with a Z suffix."""
    assert format_datetime(value) == expected
    assert quote(value) == expected


def test_naive_datetime_rejected() -> None:
    """A naive datetime is refused: EM wants UTC and a guess would shift the window silently."""
    with pytest.raises(ValueError, match="naive"):
        format_datetime(datetime(2025, 6, 5, 1, 4, 29))
    with pytest.raises(ValueError, match="naive"):
        cond("EndTime", ">=", datetime(2025, 6, 5))


@pytest.mark.parametrize(
    ("field", "op", "value", "expected"),
    [
        ("Result", "==", "Failed", "Result==Failed"),
        ("JobName", "==", "Backup Job 1", 'JobName=="Backup Job 1"'),
        ("TotalSize", ">", 0, "TotalSize>0"),
        ("Result", "!=", "Success", "Result!=Success"),
        ("EndTime", "<=", datetime(2025, 1, 1, tzinfo=UTC), 'EndTime<="2025-01-01T00:00:00Z"'),
        ("EndTime", "<", datetime(2025, 1, 1, tzinfo=UTC), 'EndTime<"2025-01-01T00:00:00Z"'),
    ],
)
def test_cond(field: str, op: str, value: str | int | datetime, expected: str) -> None:
    """A condition is field, operator and quoted value with no spaces."""
    assert cond(field, op, value) == expected


@pytest.mark.parametrize(("field", "op"), [("Job Name", "=="), ("", "=="), ("1x", "=="), ("Result", "=")])
def test_cond_rejects_bad_field_or_operator(field: str, op: str) -> None:
    """Field names must be identifiers and operators one of EM's six."""
    with pytest.raises(ValueError):
        cond(field, op, "x")


def test_all_of_and_any_of() -> None:
    """AND joins with ';'; OR joins with ',' and is always parenthesized."""
    a, b, c = cond("A", "==", 1), cond("B", "==", 2), cond("C", "==", 3)
    assert all_of(a, b) == "A==1;B==2"
    assert any_of(a, b) == "(A==1,B==2)"
    assert all_of(a, any_of(b, c)) == "A==1;(B==2,C==3)"
    assert any_of(a) == "A==1"


def test_nested_groups_are_parenthesized() -> None:
    """An AND inside an OR, or a raw OR inside an AND, is parenthesized since precedence is undocumented."""
    a, b, c = cond("A", "==", 1), cond("B", "==", 2), cond("C", "==", 3)
    assert any_of(all_of(a, b), c) == "((A==1;B==2),C==3)"
    assert all_of("A==1,B==2", c) == "(A==1,B==2);C==3"


def test_separators_inside_quoted_values_do_not_group() -> None:
    """A ';' or ',' inside a quoted value is not a top-level operator and causes no extra parentheses."""
    semi = cond("JobName", "==", "a;b")
    comma = cond("JobName", "==", 'x,"y"')
    assert any_of(semi, comma) == '(JobName=="a;b",JobName=="x,""y""")'
    assert all_of(comma, semi) == 'JobName=="x,""y""";JobName=="a;b"'


def test_empty_groups_rejected() -> None:
    """all_of()/any_of() with nothing to join, or an empty operand, is an error."""
    with pytest.raises(ValueError):
        all_of()
    with pytest.raises(ValueError):
        any_of()
    with pytest.raises(ValueError):
        all_of("A==1", "")


def test_failed_since() -> None:
    """The poller's query: Completed, Failed or Warning, ended at or after the window start."""
    start = datetime(2025, 6, 5, 1, 0, 0, 123, tzinfo=UTC)
    assert failed_since(start, ["Failed", "Warning"]) == (
        'State==Completed;(Result==Failed,Result==Warning);EndTime>="2025-06-05T01:00:00Z"'
    )
    assert (
        failed_since(start, ["Failed"]) == 'State==Completed;Result==Failed;EndTime>="2025-06-05T01:00:00Z"'
    )


def test_failed_since_rejects_bad_results() -> None:
    """No results, or a bare string in place of a list, is refused."""
    start = datetime(2025, 6, 5, tzinfo=UTC)
    with pytest.raises(ValueError):
        failed_since(start, [])
    with pytest.raises(TypeError):
        failed_since(start, "Failed")


def test_successes_for() -> None:
    """Successes of named VMs in one job after a time, VM names quoted, duplicates dropped."""
    since = datetime(2025, 6, 5, 2, 0, tzinfo=UTC)
    assert successes_for(["dbserver01", "web 02", "dbserver01"], "Backup Job 1", since) == (
        'State==Completed;Result==Success;JobName=="Backup Job 1";'
        '(VmDisplayName==dbserver01,VmDisplayName=="web 02");EndTime>"2025-06-05T02:00:00Z"'
    )
    assert successes_for(["vm1"], "J", since, backup_server="vbr.local") == (
        'State==Completed;Result==Success;JobName==J;BackupServerName=="vbr.local";'
        'VmDisplayName==vm1;EndTime>"2025-06-05T02:00:00Z"'
    )


def test_successes_for_rejects_bad_vm_list() -> None:
    """An empty VM list, or a bare string in place of a list, is refused."""
    since = datetime(2025, 6, 5, tzinfo=UTC)
    with pytest.raises(ValueError):
        successes_for([], "J", since)
    with pytest.raises(TypeError):
        successes_for("vm1", "J", since)


@pytest.mark.parametrize(
    ("uid", "form", "urn_type", "expected"),
    [
        ("urn:veeam:Job:643e7958-f608", "guid", "Job", "643e7958-f608"),
        ("urn:veeam:Job:643e7958-f608", "urn", "Job", "urn:veeam:Job:643e7958-f608"),
        ("643e7958-f608", "urn", "Job", "urn:veeam:Job:643e7958-f608"),
        ("643e7958-f608", "guid", "Job", "643e7958-f608"),
        (" URN:veeam:BackupJobSession:ab ", "guid", "BackupJobSession", "ab"),
        ("ab", "urn", "BackupJobSession", "urn:veeam:BackupJobSession:ab"),
    ],
)
def test_uid_value(uid: str, form: UidForm, urn_type: str, expected: str) -> None:
    """A URN or bare GUID is written in the requested form."""
    assert uid_value(uid, form, urn_type) == expected


@pytest.mark.parametrize("uid", ["", "  ", "urn:veeam:Job:"])
def test_uid_value_rejects_uids_without_a_guid(uid: str) -> None:
    """A UID with no GUID in it is refused rather than written as an empty value."""
    with pytest.raises(ValueError):
        uid_value(uid, "guid", "Job")


@pytest.mark.parametrize(
    ("job_uid", "job_name", "form", "job_condition"),
    [
        ("urn:veeam:Job:643e-f6", "SQL Daily", "guid", 'JobUid=="643e-f6"'),
        ("urn:veeam:Job:643e-f6", "SQL Daily", "urn", 'JobUid=="urn:veeam:Job:643e-f6"'),
        (None, "SQL Daily", "guid", 'JobName=="SQL Daily"'),
        (
            None,
            "Periodic Backup Copy Job\\Backup Job 1",
            "urn",
            'JobName=="Periodic Backup Copy Job\\Backup Job 1"',
        ),
        (None, 'Say "hi"', "guid", 'JobName=="Say ""hi"""'),
        ("urn:veeam:Job:", "SQL Daily", "guid", 'JobName=="SQL Daily"'),  # no GUID: unknown
    ],
)
def test_successes_of_job(job_uid: str | None, job_name: str, form: UidForm, job_condition: str) -> None:
    """Job successes after a time, by JobUid in the chosen form when known, else by quoted JobName."""
    since = datetime(2025, 6, 5, 2, 0, 0, 999_999, tzinfo=UTC)
    assert successes_of_job(job_uid, job_name, since, uid_form=form) == (
        f'State==Completed;Result==Success;{job_condition};EndTime>"2025-06-05T02:00:00Z"'
    )


def test_successes_of_job_needs_a_job() -> None:
    """Neither a job uid nor a job name is refused rather than querying every job's successes."""
    with pytest.raises(ValueError):
        successes_of_job(None, "", datetime(2025, 6, 5, tzinfo=UTC))


@pytest.mark.parametrize(
    ("form", "expected"),
    [("guid", 'JobSessionUid=="35c2-bd"'), ("urn", 'JobSessionUid=="urn:veeam:BackupJobSession:35c2-bd"')],
)
def test_tasks_of_job_session(form: UidForm, expected: str) -> None:
    """All task sessions of one job run, by JobSessionUid in the chosen form."""
    assert tasks_of_job_session("urn:veeam:BackupJobSession:35c2-bd", uid_form=form) == expected


@given(st.text())
def test_quote_round_trips_through_reference_reader(text: str) -> None:
    """For any text, the quoted value is one token that a simple reader turns back into the text."""
    token = quote(text)
    value, rest = read_value(token + ";Next==1")
    assert value == text
    assert rest == ";Next==1"


@given(st.lists(st.text(), min_size=1, max_size=5))
def test_any_of_values_read_back(values: list[str]) -> None:
    """Every value in an OR group reads back in order, whatever characters it holds."""
    expr = any_of(*(cond("Name", "==", v) for v in values))
    got: list[str] = []
    rest = expr[1:] if len(values) > 1 else expr
    for _ in values:
        assert rest.startswith("Name==")
        value, rest = read_value(rest[len("Name==") :])
        got.append(value)
        rest = rest[1:]
    assert got == values
    assert rest == ""

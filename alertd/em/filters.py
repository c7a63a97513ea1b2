"""Build Enterprise Manager query ``filter`` expressions, with every value quoted and escaped.

This module owns EM's filter grammar (reference §2.1) and nothing else: it is pure, does no I/O
and knows no HTTP. URL-encoding the finished expression is the client's job.

Grammar as written here:

* a condition is ``<Field><op><value>``; ``op`` is one of ``== != < <= > >=``;
* a value made only of ``[A-Za-z0-9_]`` is written bare; anything else is double-quoted with
  each inner ``"`` doubled (EM silently drops unquoted spaces, so quoting is not optional);
* DateTimes are always written ``"YYYY-MM-DDTHH:MM:SSZ"`` in UTC;
* AND is ``;`` and OR is ``,``. EM does not document their precedence, so every OR group is
  parenthesized, and so is any AND group placed inside an OR.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import Enum
from typing import Final, Literal

__all__ = [
    "OPERATORS",
    "FilterValue",
    "UidForm",
    "all_of",
    "any_of",
    "cond",
    "failed_since",
    "format_datetime",
    "quote",
    "successes_for",
    "successes_of_job",
    "tasks_of_job_session",
    "uid_value",
]

#: The comparison operators EM documents (em_rest/query_comparison.html).
OPERATORS: Final = frozenset({"==", "!=", "<", "<=", ">", ">="})

#: A value `quote` accepts. Enums are written by their value (e.g. ``Result.FAILED`` → ``Failed``).
FilterValue = str | int | datetime | Enum

#: How a UID is written into a filter: ``guid`` (``643e7958-...``) or ``urn`` (``urn:veeam:Job:643e...``).
UidForm = Literal["guid", "urn"]

_PLAIN = re.compile(r"[A-Za-z0-9_]+")
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def format_datetime(value: datetime) -> str:
    """Write an aware datetime as EM's quoted UTC literal ``"YYYY-MM-DDTHH:MM:SSZ"``.

    Fractions of a second are dropped (truncated toward the past): a ``>=``/``>`` bound then
    selects a superset of what was asked, never less; callers de-duplicate by UID anyway.
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()!r}: EM filters need an aware (UTC) datetime")
    u = value.astimezone(UTC)
    # Spelled out because strftime's %Y does not zero-pad years below 1000 on every platform.
    return f'"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}Z"'


def quote(value: FilterValue) -> str:
    """Write one filter value: bare if plain ``[A-Za-z0-9_]+``, otherwise quoted with ``"`` doubled."""
    # bool is an int subclass; EM booleans are the words true/false, which are plain.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, Enum):
        value = value.value
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise TypeError(f"cannot write enum value {value!r} into an EM filter")
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        raise TypeError(f"cannot write {type(value).__name__} into an EM filter")
    if _PLAIN.fullmatch(value):
        return value
    return '"' + value.replace('"', '""') + '"'


def cond(field: str, op: str, value: FilterValue) -> str:
    """One condition ``<field><op><value>``; the field must be an identifier and op a known operator."""
    if not _FIELD.fullmatch(field):
        raise ValueError(f"invalid EM filter field {field!r}: expected an identifier like 'EndTime'")
    if op not in OPERATORS:
        raise ValueError(f"invalid EM filter operator {op!r}: expected one of {sorted(OPERATORS)}")
    return f"{field}{op}{quote(value)}"


def all_of(*exprs: str) -> str:
    """AND the expressions with ``;``; an operand holding a top-level OR is parenthesized."""
    parts = _operands(exprs, "all_of")
    return ";".join(_group(p) if _has_top_level(p, ",") else p for p in parts)


def any_of(*exprs: str) -> str:
    """OR the expressions with ``,`` inside parentheses; a lone expression is returned as it is.

    An operand holding a top-level AND is itself parenthesized, because EM leaves the
    precedence of ``;`` against ``,`` undocumented.
    """
    parts = _operands(exprs, "any_of")
    if len(parts) == 1:
        return parts[0]
    return _group(",".join(_group(p) if _has_top_level(p, ";") else p for p in parts))


def failed_since(window_start: datetime, results: Sequence[str] = ("Failed", "Warning")) -> str:
    """The poller's query: completed task sessions with one of ``results`` that ended at or after a time.

    ``State==Completed;(Result==Failed,Result==Warning);EndTime>="2025-06-05T01:00:00Z"``.
    The watermark is on EndTime because a result is final only once the task completed.
    """
    if isinstance(results, str):
        # A bare string is a Sequence[str] of characters; catching it avoids Result==F,Result==a,...
        raise TypeError("results must be a sequence of result names, not a single string")
    if not results:
        raise ValueError("results must name at least one result, e.g. ('Failed', 'Warning')")
    return all_of(
        cond("State", "==", "Completed"),
        any_of(*(cond("Result", "==", r) for r in results)),
        cond("EndTime", ">=", window_start),
    )


def successes_for(
    vm_names: Sequence[str],
    job_name: str,
    since: datetime,
    *,
    backup_server: str | None = None,
) -> str:
    """Successful, completed task sessions of the given VMs in one job that ended after ``since``.

    VMs are matched by ``VmDisplayName``: EM documents no ``VmUid`` filter field for
    BackupTaskSession (reference §3), so a VM UID cannot be filtered on server-side.
    ``backup_server`` narrows to one backup server when job names repeat across servers.
    """
    if isinstance(vm_names, str):
        raise TypeError("vm_names must be a sequence of VM names, not a single string")
    if not vm_names:
        raise ValueError("vm_names must name at least one VM")
    exprs = [
        cond("State", "==", "Completed"),
        cond("Result", "==", "Success"),
        cond("JobName", "==", job_name),
    ]
    if backup_server is not None:
        exprs.append(cond("BackupServerName", "==", backup_server))
    exprs.append(any_of(*(cond("VmDisplayName", "==", vm) for vm in dict.fromkeys(vm_names))))
    exprs.append(cond("EndTime", ">", since))
    return all_of(*exprs)


def uid_value(uid: str, form: UidForm, urn_type: str) -> str:
    """Write ``uid`` (a URN or a bare GUID) in ``form``; ``urn_type`` names the URN's type, e.g. ``Job``.

    Which form EM's filters accept is unknown (reference §2.1 and §8). The filter-parameter
    tables of the 13.1 query pages give bare GUIDs as UidType examples ("UID of the backup job
    session resource, for example: 88b395e2-..."), and a public Go client filtered
    ``JobSessionUID==<bare guid>``; a public NativeScript client filtered BackupJobSession
    with ``JobUid==<the Job's UID attribute>``, a URN. Both are written here; which one the
    source sends is its choice (`alertd.em.source` sends the GUID and checks it).
    """
    guid = uid.strip().rpartition(":")[2] if uid.strip().lower().startswith("urn:") else uid.strip()
    if not guid:
        raise ValueError(f"no GUID in UID {uid!r}")
    return guid if form == "guid" else f"urn:veeam:{urn_type}:{guid}"


def successes_of_job(
    job_uid: str | None, job_name: str, since: datetime, *, uid_form: UidForm = "guid"
) -> str:
    """Successful, completed task sessions of one job that ended after ``since``.

    ``State==Completed;Result==Success;JobUid=="<guid>";EndTime>"..."``. The job is named by
    ``JobUid`` when known (a documented BackupTaskSession filter field on every page from 9.0
    to 13.1), else by ``JobName``, which is only known to match plain backup jobs (reference,
    audit notes: backup-copy children are named ``Parent\\Child``). A ``job_uid`` holding no
    GUID counts as unknown. Raises ValueError when neither names the job.
    """
    try:
        job = cond("JobUid", "==", uid_value(job_uid or "", uid_form, "Job"))
    except ValueError:
        if not job_name:
            raise ValueError("successes_of_job needs a job_uid or a job_name") from None
        job = cond("JobName", "==", job_name)
    return all_of(
        cond("State", "==", "Completed"),
        cond("Result", "==", "Success"),
        job,
        cond("EndTime", ">", since),
    )


def tasks_of_job_session(job_session_uid: str, *, uid_form: UidForm = "guid") -> str:
    """Every task session of one job run: ``JobSessionUid=="<guid>"``."""
    return cond("JobSessionUid", "==", uid_value(job_session_uid, uid_form, "BackupJobSession"))


def _operands(exprs: tuple[str, ...], name: str) -> list[str]:
    if not exprs:
        raise ValueError(f"{name}() needs at least one expression")
    for e in exprs:
        if not isinstance(e, str) or not e:
            raise ValueError(f"{name}() operands must be non-empty filter expressions, got {e!r}")
    return list(exprs)


def _group(expr: str) -> str:
    return f"({expr})"


def _has_top_level(expr: str, sep: str) -> bool:
    """True when ``sep`` occurs in ``expr`` outside quotes and parentheses.

    Inside a quoted value ``""`` is an escaped quote: toggling on every ``"`` handles that, since
    the pair leaves the state unchanged.
    """
    depth = 0
    quoted = False
    for ch in expr:
        if ch == '"':
            quoted = not quoted
        elif quoted:
            continue
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == sep and depth == 0:
            return True
    return False

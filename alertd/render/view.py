"""What one alert message says, whatever the channel: the ``AlertView`` built from an ``AlertGroup``.

Every layout (Slack blocks, Teams card, email, generic chat Markdown) and every template reads
the same facts from here: result and counts ("3 failed, 2 warnings of 40 VMs" when the job run's
size is known), job context, the run's span and duration in the display zone, "Top reasons" on
normalised reasons, the VM rows (EM data cleaned of bidi and invisible characters), links and
the silence hint. Nothing here escapes for a channel; the layouts do.

A job-level entry (``TaskSession.job_level``: a VBR job run that failed or warned with no failed
task behind it, e.g. a synthetic full failing) is not a VM: it becomes a ``job_rows`` entry, said
in the counts as "job run failed" and shown as its own "Job run: Failed: <reason>" line before
the VMs, outside the VM rows, the VM counts and "Top reasons".
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from alertd.durations import format_duration
from alertd.model import AlertGroup, GroupKind, JobRun, NotifyType, Result, TaskSession
from alertd.render.links import Link, silence_hint
from alertd.render.reasons import ReasonCount, normalise, top_reasons
from alertd.render.text import clean, one_line
from alertd.render.timefmt import TimeFormat

#: Per-VM reasons are shortened to one line of at most this many characters in compact lists.
REASON_SHORT = 200


@dataclass(frozen=True, slots=True)
class VmRow:
    """One VM of the message, as every layout and template sees it (EM text already cleaned).

    A job run's own result (``job_level``) uses the same fields: ``name`` is then the job's name
    and ``label`` what its line is called: "Job run" when the message holds one, else "Job run
    SQL Daily" (", started <time>" added when two runs of the same job are in the message).
    """

    name: str
    result: str
    failed: bool
    reason: str
    reason_key: str
    reason_short: str
    reason_ref: int
    start: datetime
    end: datetime | None
    size: int
    session: TaskSession
    attempts: int = 1
    streak: int = 1
    failed_runs: int = 0
    down_for: str = ""
    late_by: str = ""
    note: str = ""
    job_level: bool = False
    label: str = ""


@dataclass(frozen=True, slots=True)
class AlertView:
    """The facts of one alert message."""

    kind: GroupKind
    badge: str
    severity: str  # failed | warning | ok | info: drives colour and emoji
    notify_type: NotifyType
    job_name: str
    backup_server: str
    source: str
    failed_count: int
    warning_count: int
    total: int
    run_vms: int | None
    summary: str
    start: datetime
    end: datetime | None
    span: str
    duration: str
    is_follow_up: bool
    sequence: int
    earlier_count: int
    top_reasons: tuple[ReasonCount, ...]
    rows: tuple[VmRow, ...]
    links: tuple[Link, ...] = ()
    silence_hint: str = ""
    late_count: int = 0
    receiver: str = ""
    #: Job runs' own results (job-level entries), failures first; never counted as VMs.
    job_rows: tuple[VmRow, ...] = ()
    #: What a flapping message says about who flaps ("" unless flapping).
    flapping_note: str = ""
    #: "Veeam's automatic retry" when every job run of a firing message is one (EM IsRetry; VBR
    #: retryInfo or the job's retry settings): those failures survived the retry. Else "".
    retry_note: str = ""


def rank(result: str) -> int:
    """0 for Failed, 1 for Warning, 2 for anything else."""
    r = result.strip().casefold()
    return 0 if r == Result.FAILED.casefold() else 1 if r == Result.WARNING.casefold() else 2


def natural(name: str) -> list[int | str]:
    """Sort key putting ``sql2`` before ``sql10``."""
    return [int(p) if p.isdecimal() else p.casefold() for p in re.split(r"(\d+)", name)]


def vm_name(alert: TaskSession) -> str:
    """The VM's display name (EM's Name is ``vm@YYYY-MM-DD hh:mm:ss``)."""
    return one_line(clean(alert.vm or alert.name.split("@", 1)[0] or alert.uid), 10_000)


def _single_or_count(values: Sequence[str], what: str) -> str:
    distinct = sorted({one_line(clean(v), 10_000) for v in values if v})
    if len(distinct) == 1:
        return distinct[0]
    return f"{len(distinct)} {what}s" if distinct else f"unknown {what}"


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else plural or word + 's'}"


def more_text(jobs: int, vms: int) -> str:
    """The "+N more" line of a layout that could not list everything: job runs and VMs left out."""
    parts = [f"{jobs} more job run{'' if jobs == 1 else 's'}"] if jobs else []
    parts += [f"{vms} more VMs"] if vms else []
    return f"+{' and '.join(parts)}, not listed here (the email has them all)"


def _job_counts(kind: GroupKind, jobs: Sequence[VmRow]) -> str:
    """What the job-level entries add to the counts: "job run failed", "2 job runs succeeded again"."""
    if not jobs:
        return ""
    n = len(jobs)
    runs = "job run" if n == 1 else f"{n} job runs"
    if kind is GroupKind.RESOLVED:
        return f"{runs} succeeded again"
    if kind is GroupKind.RECOVERED_ON_RETRY:
        return f"{runs} succeeded on Veeam's retry"
    if kind is GroupKind.FLAPPING:
        return f"{runs} flapping between success and failure"
    failed = sum(1 for j in jobs if j.failed)
    if n == 1:
        return "job run failed" if failed else "job run finished with a warning"
    parts = [f"{_plural(failed, 'job run')} failed"] if failed else []
    if n - failed:
        parts.append(
            f"{_plural(n - failed, 'job run')} finished with {'a warning' if n - failed == 1 else 'warnings'}"
        )
    return ", ".join(parts)


def _counts(
    kind: GroupKind,
    view_total: int,
    failed: int,
    warnings: int,
    follow_up: bool,
    of: int | None,
    jobs: Sequence[VmRow] = (),
) -> str:
    """``3 failed, 2 warnings of 40 VMs`` (firing) or what a resolved/flapping message reports.

    Job-level entries follow the VM counts: ``2 failed of 40 VMs; job run failed``, or stand
    alone (``job run failed``) when no VM is in the message.
    """
    job_part = _job_counts(kind, jobs)
    vm_part = _vm_counts(kind, view_total, failed, warnings, follow_up, of) if view_total else ""
    return "; ".join(p for p in (vm_part, job_part) if p)


def _vm_counts(
    kind: GroupKind, view_total: int, failed: int, warnings: int, follow_up: bool, of: int | None
) -> str:
    if kind is GroupKind.RESOLVED:
        return f"{_plural(view_total, 'VM')} recovered"
    if kind is GroupKind.RECOVERED_ON_RETRY:
        return f"{_plural(view_total, 'VM')} succeeded on Veeam's retry"
    if kind is GroupKind.FLAPPING:
        return f"{_plural(view_total, 'VM')} flapping between success and failure"
    more = "more " if follow_up else ""
    parts = []
    if failed:
        parts.append(f"{failed} {more}failed")
    if warnings:
        parts.append(f"{warnings} {more}{'warning' if warnings == 1 else 'warnings'}")
    text = ", ".join(parts) or f"{more}alerts"
    return f"{text} of {_plural(of, 'VM')}" if of else text


def _flapping_note(kind: GroupKind, vms: int, jobs: Sequence[VmRow]) -> str:
    """What keeps flapping: these VMs, this job (job-level entries), or both."""
    if kind is not GroupKind.FLAPPING:
        return ""
    names = {j.name for j in jobs}
    job = "" if not names else "this job" if len(names) == 1 else "these jobs"
    if vms and job:
        subject, one = f"These VMs and {job}", False
    elif job:
        subject, one = job[0].upper() + job[1:], len(names) == 1
    else:
        subject, one = "These VMs", False
    return (
        f"{subject} {'keeps' if one else 'keep'} switching between success and failure. "
        f"alertd stays quiet about {'it' if one else 'them'} until {'it is' if one else 'they are'} "
        "stable again."
    )


def _badge(kind: GroupKind, failed: int) -> tuple[str, str, NotifyType]:
    if kind is GroupKind.RESOLVED:
        return "Resolved", "ok", NotifyType.SUCCESS
    if kind is GroupKind.RECOVERED_ON_RETRY:
        return "Recovered on retry", "info", NotifyType.INFO
    if kind is GroupKind.FLAPPING:
        return "Flapping", "warning", NotifyType.WARNING
    if failed:
        return Result.FAILED.value, "failed", NotifyType.FAILURE
    return Result.WARNING.value, "warning", NotifyType.WARNING


def _note(kind: GroupKind, row: VmRow) -> str:
    """The short per-VM (or per job run) annotation: attempts and streak, or the recovery story."""
    if kind is GroupKind.RESOLVED:
        runs = f" after {_plural(row.failed_runs, 'failed run')}" if row.failed_runs else ""
        what = "succeeded again" if row.job_level else "recovered"
        return f"{what}{runs}{', ' + row.down_for if row.down_for else ''}"
    if kind is GroupKind.RECOVERED_ON_RETRY:
        return "failed, then succeeded on Veeam's retry"
    if kind is GroupKind.FLAPPING:
        return f"flapping (last result {row.result})"
    parts = []
    if row.attempts > 1:
        parts.append(f"after {row.attempts} attempts")
    if row.streak > 1:
        parts.append(f"{row.streak} runs in a row")
    if row.late_by:
        parts.append(row.late_by)
    return ", ".join(parts)


RETRY_NOTE = "Veeam's automatic retry"


def _runs(group: AlertGroup, alerts: Sequence[TaskSession]) -> list[JobRun]:
    uids = dict.fromkeys(a.job_session_uid for a in alerts)
    return [group.job_runs[u] for u in uids if u in group.job_runs]


def _row(group: AlertGroup, a: TaskSession, key: str, ref: int) -> VmRow:
    """One alert's row (a VM's, or a job run's own when ``a.job_level``), note not yet set."""
    detail = group.detail(a.uid)
    reason = clean(a.reason).strip()
    since, end = detail.since, a.end_time
    return VmRow(
        name=one_line(clean(a.job_name), 10_000) if a.job_level else vm_name(a),
        result=one_line(clean(a.result), 40),
        failed=rank(a.result) == 0,
        reason=reason,
        reason_key=key,
        reason_short=one_line(reason, REASON_SHORT),
        reason_ref=ref,
        start=a.creation_time,
        end=a.end_time,
        size=a.total_size,
        session=a,
        attempts=detail.attempts,
        streak=detail.streak,
        failed_runs=detail.failed_runs,
        down_for=format_duration(end - since) if since and end and end >= since else "",
        late_by=f"collected {format_duration(detail.late_by)} late" if detail.late_by else "",
        job_level=a.job_level,
    )


def _job_rows(group: AlertGroup, tf: TimeFormat, alerts: Sequence[TaskSession]) -> list[VmRow]:
    """The job runs' own results, failures first, each labelled for its line."""
    ordered = sorted(alerts, key=lambda a: (rank(a.result), natural(a.job_name), a.creation_time, a.uid))
    rows = [_row(group, a, "", 0) for a in ordered]
    if len(rows) == 1:
        return [replace(rows[0], label="Job run")]
    names = Counter(r.name for r in rows)
    return [
        replace(r, label=f"Job run {r.name}" + (f", started {tf.at(r.start)}" if names[r.name] > 1 else ""))
        for r in rows
    ]


def build_view(
    group: AlertGroup,
    tf: TimeFormat,
    links: tuple[Link, ...] = (),
    config_path: str | None = None,
) -> AlertView:
    """The facts of ``group``'s message; ``links`` are already expanded for it."""
    everything = list(group.alerts)
    alerts = sorted(
        (a for a in everything if not a.job_level), key=lambda a: (rank(a.result), natural(vm_name(a)), a.uid)
    )
    failed = sum(1 for a in alerts if rank(a.result) == 0)
    warnings = sum(1 for a in alerts if rank(a.result) == 1)
    keys = [normalise(a.reason, vm_name(a)) for a in alerts]
    top = top_reasons(keys)
    ref = {t.reason: t.number for t in top}
    rows = [
        _with_note(group.kind, _row(group, a, key, ref.get(key, 0)))
        for a, key in zip(alerts, keys, strict=True)
    ]
    jobs = [_with_note(group.kind, r) for r in _job_rows(group, tf, [a for a in everything if a.job_level])]
    runs = _runs(group, everything)
    run_vms = sum(r.task_count or 0 for r in runs) if runs and all(r.task_count for r in runs) else None
    ends = [a.end_time for a in everything if a.end_time is not None]
    start = min([a.creation_time for a in everything] + [r.creation_time for r in runs if r.creation_time])
    running = len(ends) < len(everything)
    end = None if running else max(ends + [r.end_time for r in runs if r.end_time])
    job_name = _single_or_count([a.job_name for a in everything], "job")
    server = _single_or_count([a.backup_server for a in everything], "backup server")
    badge, severity, notify_type = _badge(group.kind, failed + sum(1 for j in jobs if j.failed))
    hint = ""
    if group.kind in (GroupKind.FIRING, GroupKind.FLAPPING) and len({a.job_name for a in everything}) == 1:
        servers = {a.backup_server for a in everything}
        hint = silence_hint(
            everything[0].job_name, next(iter(servers)) if len(servers) == 1 else None, config_path
        )
    return AlertView(
        kind=group.kind,
        badge=badge,
        severity=severity,
        notify_type=notify_type,
        job_name=job_name,
        backup_server=server,
        source=_single_or_count([a.source for a in everything], "source"),
        failed_count=failed,
        warning_count=warnings,
        total=len(alerts),
        run_vms=run_vms,
        summary=_counts(group.kind, len(alerts), failed, warnings, group.is_follow_up, run_vms, jobs),
        start=start,
        end=end,
        span=tf.span(start, end),
        retry_note=(
            RETRY_NOTE if group.kind is GroupKind.FIRING and runs and all(r.is_retry for r in runs) else ""
        ),
        duration=format_duration(end - start) if end is not None and end >= start else "",
        is_follow_up=group.is_follow_up,
        sequence=group.sequence,
        earlier_count=group.earlier_count,
        top_reasons=tuple(top),
        rows=tuple(rows),
        links=links,
        silence_hint=hint,
        late_count=sum(1 for r in (*jobs, *rows) if r.late_by),
        receiver=group.receiver,
        job_rows=tuple(jobs),
        flapping_note=_flapping_note(group.kind, len(rows), jobs),
    )


def _with_note(kind: GroupKind, row: VmRow) -> VmRow:
    return replace(row, note=_note(kind, row))


def link_values(group: AlertGroup) -> dict[str, str]:
    """What a route's link templates may use for this group (EM text cleaned, not yet encoded)."""
    alerts = group.alerts
    first = alerts[0] if alerts else None
    failed = any(rank(a.result) == 0 for a in alerts)
    return {
        "job_name": _single_or_count([a.job_name for a in alerts], "job"),
        "backup_server": _single_or_count([a.backup_server for a in alerts], "backup server"),
        "source": _single_or_count([a.source for a in alerts], "source"),
        "job_session": first.job_session_uid if first else "",
        "job_uid": (first.job_uid or "") if first else "",
        "result": "Failed" if failed else "Warning",
        "receiver": group.receiver,
    }

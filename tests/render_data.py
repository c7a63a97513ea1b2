"""Test data for rendering: task sessions, alert groups of any size, and hostile EM text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alertd.model import AlertDetail, AlertGroup, GroupKind, JobRun, TaskSession

START = datetime(2025, 6, 5, 1, 4, 29, tzinfo=UTC)
DISK = "Error: There is not enough space on the disk. Failed to write \\\\nas01\\backups\\{vm}\\{vm}.vbk"
SNAPSHOT = "Error: Failed to create VM snapshot of '{vm}'. Timed out after {n} seconds"
JOB_SESSION = "urn:veeam:BackupJobSession:1"

#: EM text that must not become markup, a mention, a link, a script or reordered text anywhere.
HOSTILE = [
    "<!channel>",
    "@here",
    "*x*",
    "`tick` ```block```",
    "[t](http://x.example)",
    "</td></tr></table>",
    "<script>alert(1)</script>",
    "vm-\u202eexe.txt",
    "zero\u200bwidth",
    "🔥 emoji 😀",
    "_under_ ~strike~ :fire:",
    "<http://evil.example|click>",
    "- list\n1. numbered\n# heading",
]


def session(
    i: int,
    result: str = "Failed",
    reason: str | None = None,
    vm: str | None = None,
    job: str = "SQL Daily",
    start: datetime = START,
    end: datetime | None = START + timedelta(minutes=87),
    server: str = "vbr01.corp.local",
) -> TaskSession:
    """A task session as the EM client would produce it (VM ``sql007`` for i=7)."""
    name = vm if vm is not None else f"sql{i:03d}"
    text = reason if reason is not None else DISK.format(vm=name)
    return TaskSession(
        uid=f"urn:veeam:BackupTaskSession:{i:08d}",
        name=f"{name}@2025-06-05 01:04:29",
        vm=name,
        vm_uid=f"urn:VMware:Vm:{i}",
        job_session_uid=JOB_SESSION,
        job_name=job,
        backup_server=server,
        creation_time=start,
        end_time=end,
        state="Completed",
        result=result,
        reason=text,
        total_size=1_073_741_824 * i,
        source="em01",
    )


def group(
    *alerts: TaskSession,
    sequence: int = 1,
    earlier: int = 0,
    receiver: str = "ops",
    kind: GroupKind = GroupKind.FIRING,
    task_count: int | None = None,
    details: dict[str, AlertDetail] | None = None,
    is_retry: bool = False,
) -> AlertGroup:
    """An alert group; ``task_count`` adds the job run (EM's job-session entity) with that many VMs."""
    runs = {}
    if task_count is not None:
        runs[JOB_SESSION] = JobRun(
            uid=JOB_SESSION,
            job_uid="urn:veeam:Job:1",
            job_name=alerts[0].job_name if alerts else "SQL Daily",
            creation_time=START,
            end_time=START + timedelta(minutes=90),
            task_count=task_count,
            is_retry=is_retry,
        )
    return AlertGroup(
        key="vbr01/SQL Daily/1",
        receiver=receiver,
        alerts=alerts,
        sequence=sequence,
        earlier_count=earlier,
        kind=kind,
        job_runs=runs,
        details=details or {},
    )


def mixed(failed: int, warnings: int, **kw: object) -> AlertGroup:
    """``failed`` disk-full failures then ``warnings`` snapshot warnings."""
    alerts = [session(i) for i in range(failed)]
    alerts += [
        session(failed + i, result="Warning", reason=SNAPSHOT.format(vm=f"sql{failed + i:03d}", n=300 + i))
        for i in range(warnings)
    ]
    return group(*alerts, **kw)  # type: ignore[arg-type]


def run_of(total: int, shape: str = "realistic") -> AlertGroup:
    """A job run of ``total`` alerts: realistic (4 in 5 disk, 1 in 5 snapshot), long, hostile."""
    alerts = []
    for i in range(total):
        if shape == "hostile":
            trick = HOSTILE[i % len(HOSTILE)]
            reason = f"{trick} " + ("line with a newline\n" * 3) + "x" * 5000
            alerts.append(session(i, vm=f"{trick}-{i}", reason=reason, job=f"SQL {trick}"))
        elif shape == "long names":
            alerts.append(session(i, vm=f"vm-{i}-" + "x" * 150, reason=f"Error {i}: " + "y" * 300))
        elif i % 5 == 4:
            alerts.append(session(i, result="Warning", reason=SNAPSHOT.format(vm=f"sql{i:03d}", n=120 + i)))
        else:
            alerts.append(session(i))
    return group(*alerts, task_count=max(total, 40))

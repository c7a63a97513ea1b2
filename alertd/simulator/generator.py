"""Plausible job runs: VMs processed in parallel, mixed results, realistic Reasons, retries.

A retry is a new job session with IsRetry=true holding new tasks for the VMs that failed;
the failed tasks stay as they were (reference section 4). Everything is driven by one seeded
``random.Random`` so a seed reproduces the same history.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from alertd.simulator.catalog import DEFAULT_JOBS, FAILED_REASONS, HOSTS, WARNING_REASONS, JobSpec
from alertd.simulator.records import JobSessionRecord, TaskSessionRecord
from alertd.simulator.store import SessionStore

GiB = 1024**3
#: Veeam's default RetryTimeout between a failed run and its retry.
RETRY_WAIT = timedelta(minutes=10)


@dataclass(slots=True)
class JobRun:
    """A job session and its task sessions, as created."""

    job: JobSessionRecord
    tasks: list[TaskSessionRecord]

    @property
    def failed_vms(self) -> list[str]:
        return [task.vm for task in self.tasks if task.result == "Failed"]


def rough_precision(rng: random.Random, when: datetime) -> datetime:
    """A random fraction with 0-6 digits (``.56Z``, ``.003406Z``, like EM), never later than ``when``."""
    digits = rng.choice((0, 1, 2, 2, 3, 4, 5, 6, 6, 6))
    step = 10 ** (6 - digits)
    rounded = when.replace(microsecond=rng.randrange(1_000_000) // step * step)
    return rounded - timedelta(seconds=1) if rounded > when else rounded


def reason_for(rng: random.Random, result: str, vm: str, job: JobSpec, started: datetime) -> str:
    """A Reason typical of the result; backup file names use server-local time (UTC+2 here)."""
    if result not in ("Failed", "Warning"):
        return ""
    local = (started + timedelta(hours=2)).strftime("%Y-%m-%dT%H%M%S")
    file = rf"{job.repository}\{job.name}\{job.name}D{local}_{rng.randrange(0x10000):04X}.vib"
    template = rng.choice(FAILED_REASONS if result == "Failed" else WARNING_REASONS)
    return template.format(vm=vm, job=job.name, file=file, host=rng.choice(HOSTS))


def add_job_run(
    store: SessionStore,
    rng: random.Random,
    *,
    job: JobSpec,
    start: datetime,
    results: Mapping[str, str] | None = None,
    reasons: Mapping[str, str] | None = None,
    is_retry: bool = False,
    running: bool = False,
    visible: bool = True,
    stagger: tuple[float, float] = (2.0, 40.0),
    job_type: str = "Backup",
    name_fraction: bool = False,
) -> JobRun:
    """One run of ``job``: every VM Success unless ``results`` says otherwise.

    Each VM's task starts ``stagger`` seconds (a random range) after the previous one. With
    ``running`` the tasks are left InProgress (result None, no EndTime).
    """
    session = store.add_job_session(
        job_name=job.name,
        backup_server=job.backup_server,
        creation_time=rough_precision(rng, start),
        is_retry=is_retry,
        visible=visible,
        job_type=job_type,
        name_fraction=name_fraction,
    )
    tasks = []
    created = session.creation_time
    for vm in job.vms:
        created = rough_precision(rng, created + timedelta(seconds=rng.uniform(*stagger)))
        result = (results or {}).get(vm, "Success")
        reason = (reasons or {}).get(vm) or reason_for(rng, result, vm, job, session.creation_time)
        tasks.append(
            store.add_task_session(
                vm=vm,
                job_session_uid=session.uid,
                creation_time=created,
                end_time=None if running else finish_time(rng, created, result),
                state="InProgress" if running else "Completed",
                result="None" if running else result,
                reason="" if running else reason,
                total_size=0 if running else size_for(rng, result),
                visible=visible,
            )
        )
    return JobRun(store.jobs[session.uid], [store.latest(task.uid) for task in tasks])


def finish_time(rng: random.Random, created: datetime, result: str) -> datetime:
    """Failures tend to come fast (a snapshot timeout), successes take minutes."""
    seconds = rng.uniform(5, 300) if result == "Failed" else rng.uniform(30, 2400)
    return rough_precision(rng, created + timedelta(seconds=seconds))


def size_for(rng: random.Random, result: str) -> int:
    return 0 if result == "Failed" else rng.randrange(1 * GiB, 500 * GiB)


def random_results(
    rng: random.Random, vms: Sequence[str], failure_rate: float, warning_rate: float
) -> dict[str, str]:
    results = {}
    for vm in vms:
        roll = rng.random()
        results[vm] = (
            "Failed"
            if roll < failure_rate
            else "Warning"
            if roll < failure_rate + warning_rate
            else "Success"
        )
    return results


def generate_job_runs(
    store: SessionStore,
    rng: random.Random,
    *,
    count: int,
    start: datetime,
    interval: timedelta = timedelta(hours=1),
    jobs: Sequence[JobSpec] = DEFAULT_JOBS,
    failure_rate: float = 0.1,
    warning_rate: float = 0.15,
    retry_rate: float = 0.8,
    retry_success: float = 0.6,
    max_retries: int = 2,
    visible: bool = True,
) -> list[JobRun]:
    """``count`` scheduled runs, jobs taking turns, each job every ``interval``, plus retries.

    Retries are extra runs: a run with failed VMs is retried (with ``retry_rate``) after
    RETRY_WAIT, up to ``max_retries`` times, each failed VM succeeding with ``retry_success``.
    """
    runs: list[JobRun] = []
    for index in range(count):
        job = jobs[index % len(jobs)]
        begin = start + (index // len(jobs)) * interval + timedelta(minutes=7 * (index % len(jobs)))
        results = random_results(rng, job.vms, failure_rate, warning_rate)
        run = add_job_run(store, rng, job=job, start=begin, results=results, visible=visible)
        runs.append(run)
        for _ in range(max_retries):
            if not run.failed_vms or rng.random() >= retry_rate:
                break
            retry_job = JobSpec(job.name, job.backup_server, tuple(run.failed_vms), job.repository)
            retry_results = {
                vm: "Success" if rng.random() < retry_success else "Failed" for vm in retry_job.vms
            }
            end = max(task.end_time for task in run.tasks if task.end_time is not None)
            run = add_job_run(
                store,
                rng,
                job=retry_job,
                start=end + RETRY_WAIT,
                results=retry_results,
                is_retry=True,
                visible=visible,
            )
            runs.append(run)
    return runs

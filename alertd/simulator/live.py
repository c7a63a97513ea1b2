"""Live mode for ``alertd demo``: job runs start, run for a while and complete, over real time.

``step()`` does one round of work at the clock's current time and never sleeps, so tests
drive it with a ManualClock; ``run()`` calls it every ``tick`` seconds. With a
``collection_interval`` the driver also models EM's collection lag: new sessions and
completions only become visible at the next collection, with their original (older) times.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from alertd.simulator.catalog import DEFAULT_JOBS, JobSpec
from alertd.simulator.clock import Clock
from alertd.simulator.generator import add_job_run, random_results, reason_for, rough_precision, size_for
from alertd.simulator.store import SessionStore


@dataclass(slots=True)
class _Pending:
    """A running task and the outcome it will have when its time comes."""

    uid: str
    due: datetime
    result: str
    reason: str
    size: int


class LiveDriver:
    """Starts a run of the next job every ``run_every``; completes tasks after a random time."""

    def __init__(
        self,
        store: SessionStore,
        rng: random.Random,
        clock: Clock,
        *,
        jobs: Sequence[JobSpec] = DEFAULT_JOBS,
        run_every: timedelta = timedelta(seconds=30),
        task_duration: tuple[timedelta, timedelta] = (timedelta(seconds=5), timedelta(seconds=60)),
        collection_interval: timedelta = timedelta(0),
        failure_rate: float = 0.2,
        warning_rate: float = 0.2,
        retry_rate: float = 0.5,
        retry_wait: timedelta = timedelta(seconds=20),
        tick: float = 1.0,
    ) -> None:
        self._store, self._rng, self._clock = store, rng, clock
        self.jobs, self.run_every, self.task_duration = tuple(jobs), run_every, task_duration
        self.collection_interval = collection_interval
        self.failure_rate, self.warning_rate, self.retry_rate = failure_rate, warning_rate, retry_rate
        self.retry_wait, self.tick = retry_wait, tick
        now = clock()
        self._next_run, self._next_collection = now, now + collection_interval
        self._turn = 0
        self._pending: list[_Pending] = []
        self._retries: list[tuple[datetime, JobSpec]] = []
        self._spec_of_run: dict[str, JobSpec] = {}
        self._unseen: list[_Pending] = []  # completed on the "backup server", not yet collected

    def step(self) -> None:
        """Start due runs, finish due tasks, and publish what EM would have collected by now."""
        now = self._clock()
        while self._next_run <= now:
            self._start(self.jobs[self._turn % len(self.jobs)], self._next_run, is_retry=False)
            self._turn += 1
            self._next_run += self.run_every
        for due, spec in [entry for entry in self._retries if entry[0] <= now]:
            self._retries.remove((due, spec))
            self._start(spec, due, is_retry=True)
        finished = [task for task in self._pending if task.due <= now]
        self._pending = [task for task in self._pending if task.due > now]
        self._unseen += finished
        if not self.collection_interval or now >= self._next_collection:
            self._collect()
            while self.collection_interval and self._next_collection <= now:
                self._next_collection += self.collection_interval

    async def run(self) -> None:
        """Step forever, every ``tick`` real seconds (cancel the task to stop)."""
        while True:
            self.step()
            await asyncio.sleep(self.tick)

    def _start(self, spec: JobSpec, at: datetime, *, is_retry: bool) -> None:
        # No stagger: every task exists from the run's start, so none is dated in the future.
        run = add_job_run(
            self._store,
            self._rng,
            job=spec,
            start=at,
            is_retry=is_retry,
            running=True,
            visible=not self.collection_interval,
            stagger=(0.0, 0.0),
        )
        self._spec_of_run[run.job.uid] = spec
        results = random_results(self._rng, spec.vms, self.failure_rate, self.warning_rate)
        if is_retry:  # a retried VM mostly succeeds the second time
            results = {vm: "Success" if self._rng.random() < 0.6 else "Failed" for vm in spec.vms}
        low, high = (bound.total_seconds() for bound in self.task_duration)
        for task in run.tasks:
            result = results[task.vm]
            due = rough_precision(
                self._rng, task.creation_time + timedelta(seconds=self._rng.uniform(low, high))
            )
            reason = reason_for(self._rng, result, task.vm, spec, run.job.creation_time)
            self._pending.append(_Pending(task.uid, due, result, reason, size_for(self._rng, result)))

    def _collect(self) -> None:
        for task in sorted(self._unseen, key=lambda pending: pending.due):
            record = self._store.complete(
                task.uid, result=task.result, end_time=task.due, reason=task.reason, total_size=task.size
            )
            job = self._store.jobs[record.job_session_uid]
            spec = self._spec_of_run[job.uid]
            if (
                job.state == "Stopped"
                and job.end_time
                and not job.is_retry
                and self._rng.random() < self.retry_rate
            ):
                failed = tuple(t.vm for t in self._store.tasks_of_job(job.uid) if t.result == "Failed")
                if failed:
                    self._retries.append(
                        (
                            job.end_time + self.retry_wait,
                            JobSpec(spec.name, spec.backup_server, failed, spec.repository),
                        )
                    )
        self._unseen.clear()
        hidden = self._store.hidden_task_uids()
        if hidden:
            self._store.publish(hidden)

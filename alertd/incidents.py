"""Incident tracking per job and VM: failure streaks, recoveries and flapping. Pure.

An incident is the run of consecutive failed task sessions of one VM in one job. A success ends
it. The last few results are kept so a VM that keeps switching between success and failure is
called flapping once, and then kept quiet until it is stable again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from itertools import pairwise

from alertd.config import FlappingConfig
from alertd.model import TaskSession

#: An incident's identity: (job key, VM key).
IncidentKey = tuple[str, str]


def job_key(session: TaskSession) -> str:
    """Identify a job across runs and renames: its JobUid, falling back to its name."""
    return session.job_uid or f"name:{session.job_name}"


def vm_key(session: TaskSession) -> str:
    """Identify a VM across runs and renames: EM's VmUid, falling back to the display name."""
    return session.vm_uid or f"name:{session.vm}"


def incident_key(session: TaskSession) -> IncidentKey:
    """The incident a session belongs to."""
    return job_key(session), vm_key(session)


def alias_keys(session: TaskSession) -> list[IncidentKey]:
    """Older identities the same job and VM may have been tracked under, best first.

    An incident opened while EM sent no VmUid (or before the job's JobUid was read) is keyed by
    name; when the session now carries the ids, that incident is the same one and moves over.
    """
    key = incident_key(session)
    names = (f"name:{session.job_name}", f"name:{session.vm}")
    candidates = [(key[0], names[1]), (names[0], key[1]), names]
    return [c for c in dict.fromkeys(candidates) if c != key]


@dataclass(frozen=True, slots=True)
class Incident:
    """What is known about one VM in one job (keyed by `incident_key`; names kept for display)."""

    source: str
    job_key: str
    vm_key: str
    job_name: str
    vm: str
    streak: int = 0
    first_failure: datetime | None = None
    last_failure: datetime | None = None
    last_success: datetime | None = None
    results: str = ""
    result_times: tuple[datetime, ...] = ()
    flapping: bool = False
    #: A Flapping message for this episode went out (or is on its way): only then are failures muted.
    flap_announced: bool = False

    @property
    def open(self) -> bool:
        """A failure streak is running (or the VM is flapping) and successes must be watched for."""
        return self.streak > 0 or self.flapping


@dataclass(frozen=True, slots=True)
class FailureEffect:
    """What a new failure means.

    ``flap_started``: the VM is flapping and no Flapping message has gone out for it yet, so
    this failure carries one; ``muted_by_flapping``: one has, so this failure is kept quiet.
    """

    streak: int
    flap_started: bool = False
    muted_by_flapping: bool = False
    stale: bool = False


@dataclass(frozen=True, slots=True)
class SuccessEffect:
    """What a new success means."""

    recovered: bool
    failed_runs: int = 0
    since: datetime | None = None
    flap_ended: bool = False
    stale: bool = False
    #: A recovery worth announcing: the incident was open and the VM is not flapping.
    announce: bool = False


def new_incident(session: TaskSession) -> Incident:
    """An empty incident for the session's job and VM."""
    job, vm = incident_key(session)
    return Incident(session.source, job, vm, session.job_name, session.vm)


def rekey(inc: Incident, session: TaskSession) -> Incident:
    """``inc`` (found under an alias key) moved to the session's own key and names."""
    job, vm = incident_key(session)
    return replace(inc, job_key=job, vm_key=vm, job_name=session.job_name, vm=session.vm)


def _flips(results: str, times: tuple[datetime, ...], period: timedelta) -> int:
    """Switches between success and failure among the results of the last ``period``."""
    # Most calls see only failures (a storm, a streak) or only successes: no switch to count.
    if "S" not in results or results.count("S") == len(results):
        return 0
    if times and len(times) == len(results):
        since = times[-1] - period
        recent = "".join(r for r, t in zip(results, times, strict=True) if t >= since)
    else:
        recent = results
    ok = [r == "S" for r in recent]
    return sum(1 for a, b in pairwise(ok) if a != b)


def _stable(results: str, runs: int) -> bool:
    tail = results[-runs:]
    return len(tail) == runs and (set(tail) == {"S"} or "S" not in tail)


#: What `_record` returns: results, result_times, flapping, flap_announced, and whether flapping ended.
_Recorded = tuple[str, tuple[datetime, ...], bool, bool, bool]


def _record(inc: Incident, code: str, at: datetime, cfg: FlappingConfig) -> _Recorded:
    """Append a result to ``inc``'s history; the caller builds the new Incident from it.

    Only switches within ``flapping.period`` count: a VM that fails once a month and recovers
    each time is unlucky, not flapping.
    """
    window = cfg.window
    results = (inc.results + code)[-window:]
    times = (*inc.result_times, at)[-window:]
    ended = False
    flapping = inc.flapping
    announced = inc.flap_announced
    if cfg.enabled and not flapping and _flips(results, times, cfg.period) >= cfg.min_flips:
        flapping, announced = True, False
    elif flapping and _stable(results, cfg.stable_runs):
        flapping, ended, announced = False, True, False
    return results, times, flapping, announced, ended


def on_failure(inc: Incident, session: TaskSession, cfg: FlappingConfig) -> tuple[Incident, FailureEffect]:
    """Fold a new Failed/Warning session into its incident."""
    end = session.end_time
    if end is not None and inc.last_success is not None and end <= inc.last_success:
        # Collected late, older than a success already seen: alert it, but it reopens nothing.
        return inc, FailureEffect(streak=1, stale=True)
    code = "F" if session.result == "Failed" else "W"
    results, times, flapping, announced, _ = _record(inc, code, end or session.creation_time, cfg)
    streak = inc.streak + 1
    last = inc.last_failure
    # Built directly rather than with dataclasses.replace: a storm folds ten thousand failures
    # per poll, and replace() costs several times a plain constructor call.
    inc = Incident(
        source=inc.source,
        job_key=inc.job_key,
        vm_key=inc.vm_key,
        job_name=inc.job_name,
        vm=inc.vm,
        streak=streak,
        first_failure=inc.first_failure if inc.streak else end,
        last_failure=last if end is None or (last is not None and last >= end) else end,
        last_success=inc.last_success,
        results=results,
        result_times=times,
        flapping=flapping,
        flap_announced=announced,
    )
    # Flapping may have started on a success: the first failure after that announces it. A VM is
    # never muted as flapping before its Flapping message exists.
    announce = inc.flapping and not inc.flap_announced
    muted = inc.flapping and inc.flap_announced
    return inc, FailureEffect(streak=streak, flap_started=announce, muted_by_flapping=muted)


#: What the first failure of a new incident means: a streak of one, nothing about flapping.
_FIRST_FAILURE = FailureEffect(streak=1)


def on_first_failure(session: TaskSession, key: IncidentKey) -> tuple[Incident, FailureEffect]:
    """`on_failure` of ``session`` into a new incident under ``key`` (its `incident_key`).

    The same result as ``on_failure(new_incident(session), session, cfg)`` whatever the flapping
    settings ``cfg``, without building the empty incident first: a storm opens ten thousand. One
    failure cannot be flapping (that takes a success and ``min_flips`` >= 2 switches), and
    nothing precedes it to be stale.
    """
    end = session.end_time
    code = "F" if session.result == "Failed" else "W"
    inc = Incident(
        session.source,
        key[0],
        key[1],
        session.job_name,
        session.vm,
        1,
        end,
        end,
        None,
        code,  # a history of one result: the window holds at least four
        (end or session.creation_time,),
    )
    return inc, _FIRST_FAILURE


def flap_announced(inc: Incident) -> Incident:
    """``inc`` once its Flapping message is on its way (a silenced or unrouted failure does not count)."""
    return replace(inc, flap_announced=True)


def on_success(inc: Incident, session: TaskSession, cfg: FlappingConfig) -> tuple[Incident, SuccessEffect]:
    """Fold a successful session into its incident (idempotent: a success already seen changes nothing)."""
    end = session.end_time
    if end is None or (inc.last_success is not None and end <= inc.last_success):
        return inc, SuccessEffect(recovered=False, stale=True)
    if inc.last_failure is not None and end <= inc.last_failure:
        return inc, SuccessEffect(recovered=False, stale=True)
    was_open = inc.streak > 0
    results, times, flapping, announced, ended = _record(inc, "S", end, cfg)
    effect = SuccessEffect(
        recovered=was_open,
        failed_runs=inc.streak,
        since=inc.first_failure,
        flap_ended=ended,
        announce=was_open and not flapping,
    )
    inc = Incident(
        source=inc.source,
        job_key=inc.job_key,
        vm_key=inc.vm_key,
        job_name=inc.job_name,
        vm=inc.vm,
        streak=0,
        first_failure=None,
        last_failure=inc.last_failure,
        last_success=end,
        results=results,
        result_times=times,
        flapping=flapping,
        flap_announced=announced,
    )
    return inc, effect


def owed_routes(inc: Incident, alert_ends: Iterable[tuple[str, datetime]]) -> tuple[str, ...]:
    """Routes owed a recovery message for ``inc``: those that sent one of its alerts.

    ``alert_ends`` are (route, alert EndTime) of alerts already sent; only alerts of the current
    incident (ending at or after its first failure) count, so a VM that recovered before its
    alert went out does not pass the promise on to its next incident.
    """
    if inc.first_failure is None:
        return ()
    routes: dict[str, None] = {}
    for route, ended in alert_ends:
        if ended >= inc.first_failure:
            routes[route] = None
    return tuple(routes)

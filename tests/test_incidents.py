"""Incident tracking and the decision core: streaks, recoveries, retry holds, flapping, silences. Pure tables."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from factories import T0, session

from alertd.config import FlappingConfig, RouteConfig
from alertd.decide import ActiveSilence, decide
from alertd.incidents import (
    Incident,
    flap_announced,
    incident_key,
    job_key,
    new_incident,
    on_failure,
    on_first_failure,
    on_success,
    owed_routes,
    vm_key,
)
from alertd.matchers import parse_matcher
from alertd.model import AlertDetail, GroupKind, TaskSession
from alertd.records import AlertStatus, CloseReason, Notified, OpenMember, RecordedAlert, SilenceEnd
from alertd.routing import compile_routes

FLAP = FlappingConfig(window=10, min_flips=4, stable_runs=3)


def fold(codes: str) -> list[tuple[Incident, object]]:
    """Apply a sequence of results (F, W, S) one minute apart to one VM's incident."""
    inc = new_incident(session("vm1"))
    out = []
    for i, code in enumerate(codes):
        result = {"F": "Failed", "W": "Warning", "S": "Success"}[code]
        s = session("vm1", result=result, end=T0 + timedelta(minutes=i))
        inc, effect = (on_success if code == "S" else on_failure)(inc, s, FLAP)
        if getattr(effect, "flap_started", False):
            inc = flap_announced(inc)  # its Flapping message went out (decide does this when it routes it)
        out.append((inc, effect))
    return out


@pytest.mark.parametrize(
    ("codes", "streak"),
    [("F", 1), ("FF", 2), ("FFW", 3), ("FFS", 0), ("FFSF", 1), ("FSFFF", 3)],
)
def test_streak(codes: str, streak: int) -> None:
    """The streak counts consecutive failed or warning runs and a success resets it."""
    assert fold(codes)[-1][0].streak == streak


def test_recovery_reports_failed_runs_and_since() -> None:
    """A success after two failures reports 2 failed runs since the first failure's end."""
    inc, effect = fold("FFS")[-1]
    assert effect.recovered and effect.failed_runs == 2 and effect.since == T0  # type: ignore[attr-defined]
    assert inc.streak == 0 and not inc.open


@pytest.mark.parametrize(
    ("codes", "started_at", "muted"),
    [
        ("FSFSF", 4, []),  # the 4th flip starts flapping (index 4), that failure becomes the flapping notice
        ("FSFSFSF", 4, [6]),  # failures while flapping are muted
        # flapping starts on a success (index 4): the next failure announces it, only later ones are muted
        ("SFSFSFF", 5, [6]),
        ("FFFF", None, []),
    ],
)
def test_flapping(codes: str, started_at: int | None, muted: list[int]) -> None:
    """Flapping starts once at min_flips flips; later failures are muted until stable."""
    steps = fold(codes)
    started = [i for i, (_, e) in enumerate(steps) if getattr(e, "flap_started", False)]
    assert started == ([started_at] if started_at is not None else [])
    assert [i for i, (_, e) in enumerate(steps) if getattr(e, "muted_by_flapping", False)] == muted


def test_flapping_ends_when_stable() -> None:
    """After stable_runs equal results the VM is no longer flapping."""
    inc, effect = fold("FSFSFSSS")[-1]
    assert not inc.flapping and effect.flap_ended  # type: ignore[attr-defined]


def test_stale_events_change_nothing() -> None:
    """A success already seen, or a failure older than the last success, does not move the incident."""
    inc = fold("FS")[-1][0]
    again, effect = on_success(inc, session("vm1", result="Success", end=T0 + timedelta(minutes=1)), FLAP)
    assert again == inc and effect.stale
    old, effect2 = on_failure(inc, session("vm1", end=T0 - timedelta(minutes=5)), FLAP)
    assert old == inc and effect2.stale


ROUTES = compile_routes(
    [
        RouteConfig.model_validate({"matchers": ["streak>=3"], "receivers": ["oncall"], "continue": True}),
        RouteConfig.model_validate(
            {
                "receivers": ["ops"],
                "wait_for_retry": "40m",
                "send_resolved": True,
                "notify_recovered_on_retry": True,
            }
        ),
    ]
)


def held_member(sess: TaskSession, member_id: int = 1, attempts: int = 1) -> OpenMember:
    return OpenMember(
        id=member_id,
        session=sess,
        group_key="g",
        receivers=("ops",),
        group_wait=timedelta(seconds=30),
        added_at=T0,
        route=ROUTES[1].key,
        kind=GroupKind.FIRING,
        hold_until=T0 + timedelta(minutes=40),
        detail=AlertDetail(attempts=attempts),
        job_key=job_key(sess),
        vm_key=vm_key(sess),
    )


def test_decide_holds_failed_and_not_warning() -> None:
    """A Failed session on a wait_for_retry route is held until end + 40m; a Warning is not held."""
    failed, warn = session("a"), session("b", result="Warning")
    d = decide(
        failures=[failed, warn],
        successes=[],
        incidents={},
        open_members=[],
        silences=[],
        routes=ROUTES,
        flapping=FLAP,
        now=T0,
    )
    members = {a.session.vm: m for a in d.record.alerts for m in a.members}
    assert members["a"].hold_until == T0 + timedelta(minutes=40)
    assert members["b"].hold_until is None


def test_decide_retry_success_closes_hold() -> None:
    """A later success of the same job and VM closes the held failure as recovered on retry."""
    failed = session("a")
    inc, _ = on_failure(new_incident(failed), failed, FLAP)
    ok = session("a", result="Success", end=T0 + timedelta(minutes=12), job_session="js-retry")
    d = decide(
        failures=[],
        successes=[ok],
        incidents={incident_key(failed): inc},
        open_members=[held_member(failed)],
        silences=[],
        routes=ROUTES,
        flapping=FLAP,
        now=T0,
    )
    assert d.record.closes == [(1, CloseReason.RECOVERED)]
    assert [m.kind for a in d.record.alerts for m in a.members] == [GroupKind.RECOVERED_ON_RETRY]


def test_decide_retry_failure_merges_attempts() -> None:
    """A retry that fails again replaces the held alert and counts the attempts."""
    first = session("a")
    again = session("a", end=T0 + timedelta(minutes=11), job_session="js-retry")
    inc, _ = on_failure(new_incident(first), first, FLAP)
    d = decide(
        failures=[again],
        successes=[],
        incidents={incident_key(first): inc},
        open_members=[held_member(first, attempts=1)],
        silences=[],
        routes=ROUTES,
        flapping=FLAP,
        now=T0,
    )
    assert d.record.closes == [(1, CloseReason.MERGED)]
    [alert] = d.record.alerts
    assert [m.detail.attempts for m in alert.members] == [2]


def test_decide_streak_three_escalates() -> None:
    """The third failed run in a row carries streak=3 and reaches the escalation route too."""
    runs = [session("a", end=T0 + timedelta(hours=i), job_session=f"js{i}") for i in range(3)]
    d = decide(
        failures=runs,
        successes=[],
        incidents={},
        open_members=[],
        silences=[],
        routes=ROUTES,
        flapping=FLAP,
        now=T0,
    )
    receivers = [[r for m in a.members for r in m.receivers] for a in d.record.alerts]
    assert receivers == [["ops"], ["ops"], ["oncall", "ops"]]


def test_decide_silence_and_until_resolved() -> None:
    """A silenced failure is recorded, not routed; the VM's success ends an until-resolved silence."""
    sil = ActiveSilence(7, (parse_matcher('vm="a"'),), until_resolved=True)
    failed = session("a")
    d = decide(
        failures=[failed],
        successes=[],
        incidents={},
        open_members=[],
        silences=[sil],
        routes=ROUTES,
        flapping=FLAP,
        now=T0,
    )
    assert d.record.alerts == [RecordedAlert(failed, AlertStatus.SILENCED)] and d.silenced == [(failed, 7)]
    inc = d.record.incidents[incident_key(failed)]
    ok = session("a", result="Success", end=T0 + timedelta(hours=1))
    d2 = decide(
        failures=[],
        successes=[ok],
        incidents={incident_key(failed): inc},
        open_members=[],
        silences=[sil],
        routes=ROUTES,
        flapping=FLAP,
        now=T0,
    )
    assert d2.record.expire_silences == [(7, SilenceEnd.RESOLVED)]


def test_decide_resolved_only_for_alerted_routes() -> None:
    """A recovery produces a resolved member only for routes that told someone about the incident."""
    failed = session("a")
    inc, _ = on_failure(new_incident(failed), failed, FLAP)
    ok = session("a", result="Success", end=T0 + timedelta(hours=2))
    key = incident_key(failed)
    quiet = decide(
        failures=[],
        successes=[ok],
        incidents={key: inc},
        open_members=[],
        silences=[],
        routes=ROUTES,
        flapping=FLAP,
        now=T0,
    )
    assert quiet.record.alerts == []
    loud = decide(
        failures=[],
        successes=[ok],
        incidents={key: inc},
        notified={key: (Notified("em1", key, ROUTES[1].key, T0),)},
        open_members=[],
        silences=[],
        routes=ROUTES,
        flapping=FLAP,
        now=T0,
    )
    [alert] = loud.record.alerts
    [member] = alert.members
    assert alert.status is AlertStatus.SUCCESS and member.kind is GroupKind.RESOLVED
    assert member.detail.failed_runs == 1 and member.detail.since == T0


def test_new_incident_forgets_who_was_told_before() -> None:
    """A failure after a recovery starts an incident with no routes owed a recovery message."""
    first = session("vm1")
    inc, _ = on_failure(new_incident(first), first, FLAP)
    assert owed_routes(inc, [("r:now", T0)]) == ("r:now",)
    inc, _ = on_success(inc, session("vm1", result="Success", end=T0 + timedelta(hours=1)), FLAP)
    again, _ = on_failure(inc, session("vm1", end=T0 + timedelta(days=1)), FLAP)
    assert owed_routes(again, [("r:old", T0)]) == ()


def test_rare_failures_are_not_flapping() -> None:
    """A VM that fails about once a month and recovers each time is never called flapping."""
    inc = new_incident(session("vm1"))
    started = []
    for month in range(8):
        fail = session("vm1", end=T0 + timedelta(days=30 * month))
        inc, effect = on_failure(inc, fail, FLAP)
        started.append(effect.flap_started or effect.muted_by_flapping)
        ok = session("vm1", result="Success", end=T0 + timedelta(days=30 * month, hours=1))
        inc, _ = on_success(inc, ok, FLAP)
    assert not any(started) and not inc.flapping


@pytest.mark.parametrize("result", ["Failed", "Warning"])
@pytest.mark.parametrize("ended", [True, False])
@pytest.mark.parametrize(
    "cfg", [FLAP, FlappingConfig(enabled=False), FlappingConfig(window=4, min_flips=2, stable_runs=1)]
)
def test_first_failure_is_on_failure_of_a_new_incident(result: str, ended: bool, cfg: FlappingConfig) -> None:
    """The storm's shortcut for a VM without an incident changes nothing: same incident, same effect."""
    s = session("vm1", result=result)
    if not ended:
        s = replace(s, end_time=None)
    key = incident_key(s)
    assert on_first_failure(s, key) == on_failure(new_incident(s), s, cfg)


@pytest.mark.parametrize("min_flips", [2, 3, 4, 5, 7])
@pytest.mark.parametrize(
    "codes",
    ["FSFSFSFSFSFSFF", "FSSFSFSFSFFFF", "FFSFSSFSFSFSFF", "FSFSFSFSFSFS" + "F" * 5],
    ids=["alternating", "starts-on-success-flip", "mixed", "then-stuck-failing"],
)
@pytest.mark.parametrize("silenced_announcer", [False, True])
def test_no_failure_is_muted_before_its_flapping_message(
    min_flips: int, codes: str, silenced_announcer: bool
) -> None:
    """Odd or even min_flips, whether flapping is detected on a success or a failure: a failure is muted only
    after a Flapping message went out, and the next failure after detection carries that message."""
    cfg = FlappingConfig(window=10, min_flips=min_flips, stable_runs=3, period=timedelta(days=365))
    inc = new_incident(session("vm1"))
    announced = False
    owed = False  # flapping was detected and no message has gone out yet
    for i, code in enumerate(codes):
        s = session("vm1", result="Success" if code == "S" else "Failed", end=T0 + timedelta(hours=i))
        if code == "S":
            inc, _ = on_success(inc, s, cfg)
            owed = inc.flapping and not announced
            continue
        inc, effect = on_failure(inc, s, cfg)
        assert not (effect.muted_by_flapping and not announced), f"muted before any Flapping message at {i}"
        if owed or (inc.flapping and not announced):
            assert effect.flap_started, f"failure {i} after flapping began carries no Flapping message"
        if effect.flap_started:
            if silenced_announcer and not announced and i % 2 == 0:
                owed = True  # silenced: nothing went out, so the next failure must still announce it
                continue
            inc, announced, owed = flap_announced(inc), True, False
        if not inc.flapping:
            announced = inc.flap_announced

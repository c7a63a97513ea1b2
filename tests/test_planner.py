"""The pure planning stages: who receives a group, the order VMs read in, shared labels, recoveries owed,
and which successes a poll asks for (``alertd.planner`` and ``alertd.watch``), as tables."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from factories import T0, session

from alertd.grouping import DueGroup
from alertd.matchers import parse_matcher
from alertd.model import Channel, GroupKind, JobRef, TaskSession
from alertd.planner import Substitution, TargetInfo, choose_receivers, common_labels, notified, ordered
from alertd.records import Notified, OpenMember, WatchRow
from alertd.routing import Route
from alertd.watch import SuccessQuery, held_for_retry, success_queries

CHAT = [TargetInfo("t", Channel.CHAT)]


@pytest.mark.parametrize(
    ("wanted", "targets", "fallback", "chosen", "subs"),
    [
        (["ops", "dba"], {"ops": CHAT, "dba": CHAT}, None, ["ops", "dba"], []),
        (["ops", "ops"], {"ops": CHAT}, None, ["ops"], []),
        (["ops", "dba"], {"ops": CHAT}, "ops", ["ops"], [Substitution("dba", "ops")]),
        (["dba"], {"ops": CHAT, "pager": CHAT}, "pager", ["pager"], [Substitution("dba", "pager")]),
        (["ops", "dba"], {"ops": CHAT}, None, None, [Substitution("dba", None)]),
        (["dba"], {"ops": CHAT, "pager": []}, "pager", None, [Substitution("dba", None)]),
    ],
    ids=["all-have-targets", "named-twice", "fallback-merges", "fallback", "no-fallback", "fallback-empty"],
)
def test_choose_receivers(
    wanted: list[str],
    targets: dict[str, list[TargetInfo]],
    fallback: str | None,
    chosen: list[str] | None,
    subs: list[Substitution],
) -> None:
    """A receiver without targets goes to a fallback that has some, else the group waits (None)."""
    assert choose_receivers(wanted, targets, fallback) == (chosen, subs)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ([("Warning", "a", "1"), ("Failed", "B", "2"), ("Failed", "a", "3")], ["3", "2", "1"]),
        ([("Failed", "db", "2"), ("Failed", "DB", "1")], ["1", "2"]),
        ([("Success", "a", "1"), ("Warning", "z", "2")], ["2", "1"]),
    ],
    ids=["failures-first-then-name", "case-blind-then-uid", "other-results-last"],
)
def test_ordered(given: list[tuple[str, str, str]], expected: list[str]) -> None:
    """Failures, then warnings, then anything else; by VM name regardless of case; UID breaks ties."""
    sessions = [session(vm, result=result, uid=uid) for result, vm, uid in given]
    assert [s.uid for s in ordered(sessions)] == expected


@pytest.mark.parametrize(
    ("sessions", "shared"),
    [
        ([], set()),
        ([session("a", job_session="js"), session("b", job_session="js")], {"job_name", "backup_server", "result",
                                                                             "reason", "job_session", "source"}),
        ([session("a", job="J1"), session("a", job="J2", result="Warning")], {"vm", "backup_server", "source",
                                                                              "reason", "job_session"}),
    ],
    ids=["empty", "one-run", "two-jobs"],
)  # fmt: skip
def test_common_labels(sessions: list[TaskSession], shared: set[str]) -> None:
    """Only the labels every alert of the group has with the same value."""
    labels = common_labels(sessions)
    assert set(labels) == shared
    assert all(labels[k] == sessions[0].labels()[k] for k in labels)


def _route(key: str, *, send_resolved: bool = False, wait: timedelta | None = None, match: str = "") -> Route:
    return Route(
        index=0,
        matchers=(parse_matcher(match),) if match else (),
        receivers=("ops",),
        continue_=False,
        group_by=(),
        group_wait=timedelta(0),
        wait_for_retry=wait,
        send_resolved=send_resolved,
        key=key,
    )


def _member(route: str, kind: GroupKind, end_offset: int = 0) -> OpenMember:
    s = session(end=T0 + timedelta(minutes=end_offset))
    return OpenMember(
        id=1, session=s, group_key="g", receivers=("ops",), group_wait=timedelta(0), added_at=T0,
        route=route, kind=kind, job_key="job", vm_key="vm",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("member", "owed"),
    [
        (_member("resolving", GroupKind.FIRING, 3), True),
        (_member("quiet", GroupKind.FIRING), False),
        (_member("resolving", GroupKind.RESOLVED), False),
        (_member("gone", GroupKind.FIRING), False),
    ],
    ids=["firing-via-send-resolved", "route-without-send-resolved", "not-firing", "route-removed"],
)
def test_notified(member: OpenMember, owed: bool) -> None:
    """A recovery is owed only for a firing alert sent through a route with send_resolved."""
    routes = {"resolving": _route("resolving", send_resolved=True), "quiet": _route("quiet")}
    got = notified(DueGroup("g", (member,), ("ops",)), routes)
    expected = Notified(member.session.source, member.key, "resolving", member.session.end_time or T0)
    assert got == ((expected,) if owed else ())


H = timedelta(hours=1)


@pytest.mark.parametrize(
    ("watched", "held", "expected"),
    [
        ([WatchRow("uid-1", "Daily", T0 - 5 * H)], [], [SuccessQuery("uid-1", JobRef("uid-1", "Daily"), T0 - 5 * H)]),
        ([WatchRow("uid-1", "Daily", T0 - 5 * H, T0)], [],
         [SuccessQuery("uid-1", JobRef("uid-1", "Daily"), T0 - H / 2)]),
        ([WatchRow("uid-1", "Daily", T0 - H / 4, T0)], [],
         [SuccessQuery("uid-1", JobRef("uid-1", "Daily"), T0 - H / 4)]),
        ([WatchRow("name:Old", "Old", T0 - H)], [], [SuccessQuery("name:Old", JobRef(None, "Old"), T0 - H)]),
        ([], [session(job="SQL Daily", end=T0)], [SuccessQuery("name:SQL Daily", JobRef(None, "SQL Daily"), T0)]),
        ([WatchRow("name:SQL Daily", "SQL Daily", T0, T0 + H)], [session(job="SQL Daily", end=T0 - H)],
         [SuccessQuery("name:SQL Daily", JobRef(None, "SQL Daily"), T0 - H)]),
        ([WatchRow("b", "B", T0), WatchRow("a", "A", T0)], [],
         [SuccessQuery("a", JobRef("a", "A"), T0), SuccessQuery("b", JobRef("b", "B"), T0)]),
    ],
    ids=["first-ask", "from-last-stop-minus-overlap", "never-before-since", "by-name", "held-new-job",
         "held-older-than-watch", "one-per-job-sorted"],
)  # fmt: skip
def test_success_queries(
    watched: list[WatchRow], held: list[TaskSession], expected: list[SuccessQuery]
) -> None:
    """One query per job, from where its last one stopped less the overlap, never after a failure that matters."""
    assert success_queries(watched, held, overlap=H / 2) == expected


@pytest.mark.parametrize(
    ("routes", "results", "held"),
    [
        ([_route("r")], ["Failed"], 0),
        ([_route("r", wait=H)], ["Failed", "Warning"], 1),
        ([_route("r", wait=H, match='job_name="Other"'), _route("s")], ["Failed"], 0),
    ],
    ids=["no-route-holds", "holds-failures-only", "holding-route-does-not-match"],
)
def test_held_for_retry(routes: list[Route], results: list[str], held: int) -> None:
    """Only Failed sessions that a route with wait_for_retry matches are held (and their successes read now)."""
    sessions = [session(f"vm{i}", result=r) for i, r in enumerate(results)]
    assert len(held_for_retry(sessions, routes)) == held


def test_success_queries_use_the_job_uid_when_sessions_carry_one() -> None:
    """A held session with a JobUid is asked for by that id, not by its name."""
    held = dataclasses.replace(session(job="Renamed"), job_uid="urn:veeam:Job:1")
    assert success_queries([], [held], overlap=H) == [
        SuccessQuery("urn:veeam:Job:1", JobRef("urn:veeam:Job:1", "Renamed"), T0)
    ]

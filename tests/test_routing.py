"""Routing tables: order, first match wins, continue, catch-all, group keys."""

from __future__ import annotations

from datetime import timedelta

import pytest

from alertd.config import RouteConfig
from alertd.routing import RouteMatcher, compile_routes, match_routes

ROUTES_CONFIG = [
    RouteConfig.model_validate(
        {"matchers": ['result="Failed"', 'job_name=~"SQL.*"'], "receivers": ["dba"], "continue": True}
    ),
    RouteConfig.model_validate({"matchers": ['backup_server="vbr02"'], "receivers": ["site2"]}),
    RouteConfig.model_validate({"matchers": ['result="Warning"', 'vm=~"test-.*"'], "receivers": ["devnull"]}),
    RouteConfig.model_validate({"receivers": ["ops"], "group_wait": "10s"}),
]
ROUTES = compile_routes(ROUTES_CONFIG)


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        ({"result": "Failed", "job_name": "SQL Daily", "backup_server": "vbr01"}, ["dba", "ops"]),  # continue
        (
            {"result": "Failed", "job_name": "SQL Daily", "backup_server": "vbr02"},
            ["dba", "site2"],
        ),  # stops at site2
        ({"result": "Warning", "job_name": "SQL Daily", "backup_server": "vbr01"}, ["ops"]),
        ({"result": "Warning", "vm": "test-01", "backup_server": "vbr01"}, ["devnull"]),
        ({"result": "Failed", "job_name": "Exchange", "backup_server": "vbr01"}, ["ops"]),
        ({}, ["ops"]),  # catch-all
    ],
)
def test_route_table(labels: dict[str, str], receivers: list[str]) -> None:
    """Routes are tried in order; first match wins unless continue; the matcher-less route catches all."""
    got = [r for route in match_routes(ROUTES, labels) for r in route.receivers]
    assert got == receivers


def test_no_match_returns_empty() -> None:
    """Without a catch-all, an alert that matches nothing reaches no route (the pipeline logs it)."""
    assert match_routes(ROUTES[:1], {"result": "Warning"}) == []


@pytest.mark.parametrize(
    ("group_by", "a", "b", "same"),
    [
        (
            ("source", "job_session"),
            {"source": "em1", "job_session": "j1", "vm": "a"},
            {"source": "em1", "job_session": "j1", "vm": "b"},
            True,
        ),
        (
            ("source", "job_session"),
            {"source": "em1", "job_session": "j1"},
            {"source": "em1", "job_session": "j2"},
            False,
        ),
        (
            ("job_name",),
            {"job_name": "SQL", "job_session": "j1"},
            {"job_name": "SQL", "job_session": "j2"},
            True,
        ),
        ((), {"vm": "a"}, {"vm": "b"}, True),
    ],
)
def test_group_key(group_by: tuple[str, ...], a: dict[str, str], b: dict[str, str], same: bool) -> None:
    """Alerts share a group key exactly when their group_by labels agree."""
    route = compile_routes([RouteConfig.model_validate({"receivers": ["ops"], "group_by": list(group_by)})])[
        0
    ]
    assert (route.group_key(a) == route.group_key(b)) is same


def test_defaults() -> None:
    """group_by defaults to [source, job_session] and group_wait to 30s."""
    route = compile_routes([RouteConfig.model_validate({"receivers": ["ops"]})])[0]
    assert route.group_by == ("source", "job_session")
    assert route.group_wait == timedelta(seconds=30)
    assert ROUTES[3].group_wait == timedelta(seconds=10)


def test_route_keys_survive_reordering() -> None:
    """A route keeps its stored identity when routes are inserted or reordered; a name overrides the digest."""
    a = RouteConfig.model_validate({"matchers": ['job_name="A"'], "receivers": ["ops"]})
    b = RouteConfig.model_validate({"matchers": ['job_name="B"'], "receivers": ["dba"]})
    named = RouteConfig.model_validate({"name": "sql", "matchers": ['job_name="S"'], "receivers": ["dba"]})
    before = {r.index: r.key for r in compile_routes([a, b, named])}
    after = {r.index: r.key for r in compile_routes([named, b, a])}
    assert before[0] == after[2] and before[1] == after[1] and before[2] == after[0] == "name:sql"
    assert compile_routes([a])[0].group_key({"source": "em1"}).startswith(before[0] + "|")
    twins = compile_routes([a, a])
    assert twins[0].key != twins[1].key


def route(**doc: object) -> RouteConfig:
    return RouteConfig.model_validate({"receivers": ["ops"], **doc})


def test_unnamed_route_keeps_its_identity_when_its_receivers_change() -> None:
    """An unnamed route's key comes from its matchers (in any order) only: new receivers, grouping or holds keep it."""
    before = compile_routes([route(matchers=['job_name="A"', 'result="Failed"'])])[0].key
    edited = route(
        matchers=['result="Failed"', 'job_name="A"'],
        receivers=["ops", "dba"],
        group_by=["job_name"],
        group_wait="5m",
        wait_for_retry="40m",
        send_resolved=True,
        **{"continue": True},
    )
    assert compile_routes([edited])[0].key == before
    assert compile_routes([route(matchers=['job_name="B"', 'result="Failed"'])])[0].key != before


def test_inserting_a_route_before_an_unnamed_route_keeps_its_identity() -> None:
    """Position is the rank among unnamed routes with the same matchers: inserting other routes (or a named twin) ahead changes nothing."""
    sql = route(matchers=['job_name="SQL"'], send_resolved=True)
    catch_all = route()
    before = [r.key for r in compile_routes([sql, catch_all])]
    after = compile_routes(
        [
            route(matchers=['vm="db1"'], receivers=["dba"]),
            route(name="sql-named", matchers=['job_name="SQL"'], receivers=["dba"]),
            sql,
            route(matchers=['result="Warning"']),
            catch_all,
        ]
    )
    assert [after[2].key, after[4].key] == before
    # Only an unnamed route with the very same matchers ahead of it takes its place (and state).
    shifted = compile_routes([route(matchers=['job_name="SQL"'], receivers=["dba"]), sql])
    assert shifted[0].key == before[0] and shifted[1].key == before[0] + "#2"


def test_route_matcher_answers_as_match_routes() -> None:
    """Remembered answers are the same as asking each time, whatever labels the matchers skip."""
    routes = compile_routes(
        [
            RouteConfig.model_validate({"matchers": ["streak>=3"], "receivers": ["dba"], "continue": True}),
            *ROUTES_CONFIG,
        ]
    )
    matcher = RouteMatcher(routes)
    label_sets = [
        {"result": r, "job_name": j, "backup_server": b, "vm": v, "streak": k, "reason": reason}
        for r in ("Failed", "Warning")
        for j in ("SQL Daily", "Exchange")
        for b in ("vbr01", "vbr02")
        for v in ("test-01", "db01")
        for k in ("1", "3")
        for reason in ("a", "b")
    ] + [{}, {"streak": "3"}]
    for _ in range(2):  # the second round is answered from memory
        for labels in label_sets:
            assert matcher.match(labels) == match_routes(routes, labels)
    assert RouteMatcher(routes[-1:]).match({"vm": "x"}) == [routes[-1]]

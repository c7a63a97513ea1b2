"""Routing: which routes (and so which receivers and grouping) an alert's labels reach. Pure.

Routes are tried in order; the first match wins unless the route says ``continue``. A route
without matchers matches everything.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from alertd.config import RouteConfig
from alertd.matchers import Matcher, matches_all


@dataclass(frozen=True, slots=True)
class Route:
    """A compiled route.

    ``key`` identifies the route in stored state (group keys, held alerts, incidents, recoveries
    owed) across reloads; see `route_key`.
    """

    index: int
    matchers: tuple[Matcher, ...]
    receivers: tuple[str, ...]
    continue_: bool
    group_by: tuple[str, ...]
    group_wait: timedelta
    wait_for_retry: timedelta | None = None
    notify_recovered_on_retry: bool = False
    send_resolved: bool = False
    mute_time_intervals: tuple[str, ...] = ()
    key: str = ""
    #: The route's ``links:`` templates (runbook, dashboard), rendered into its messages.
    runbook_url: str | None = None
    dashboard_url: str | None = None

    def group_key(self, labels: Mapping[str, str]) -> str:
        """The key that puts alerts with the same ``group_by`` label values into one message."""
        parts = [f"{name}={labels.get(name, '')}" for name in self.group_by]
        return f"{self.key}|" + "|".join(parts)


def route_key(cfg: RouteConfig, rank: int = 1) -> str:
    """The stable identity of a route in stored state.

    A named route is its ``name``. An unnamed route is what it matches plus its position, where
    the position is its ``rank`` among the unnamed routes with the same matchers (1 for the first
    such route in the file), not its index in the file. So editing an unnamed route's receivers,
    grouping, ``continue`` or hold keeps its held alerts, incidents and recoveries owed; inserting,
    removing or reordering routes that match something else never moves them; only adding or
    removing an unnamed route with the very same matchers ahead of it shifts it (name routes whose
    state matters: ``check-config`` warns about unnamed ones that hold state). Matchers compare in
    their canonical form and in any order.
    """
    if cfg.name is not None:
        return f"name:{cfg.name}"
    canonical = sorted({str(m) for m in cfg.parsed_matchers()})
    digest = "r:" + hashlib.sha256(json.dumps(canonical).encode()).hexdigest()[:12]
    return digest if rank == 1 else f"{digest}#{rank}"


def legacy_route_keys(configs: Sequence[RouteConfig]) -> dict[str, str]:
    """Unnamed routes' identities as alertd before schema 4 stored them, mapped to today's.

    That identity was a digest of the route's matchers, receivers, grouping and ``continue`` (so it
    changed with any of them). A state file written then is renamed once, at its upgrade, so held
    alerts, open groups and the recoveries routes owe carry over.
    """
    renamed: dict[str, str] = {}
    seen: dict[str, int] = {}
    new = [r.key for r in compile_routes(configs)]
    for cfg, key in zip(configs, new, strict=True):
        if cfg.name is not None:
            continue
        what = json.dumps([cfg.matchers, cfg.receivers, cfg.group_by, cfg.continue_], separators=(",", ":"))
        old = "r:" + hashlib.sha256(what.encode()).hexdigest()[:12]
        seen[old] = seen.get(old, 0) + 1
        if seen[old] > 1:
            old = f"{old}#{seen[old]}"
        if old != key:
            renamed[old] = key
    return renamed


def compile_routes(configs: Sequence[RouteConfig]) -> tuple[Route, ...]:
    """Compile validated route configs."""
    routes = []
    ranks: dict[str, int] = {}
    for i, c in enumerate(configs):
        first = route_key(c)
        ranks[first] = ranks.get(first, 0) + 1
        routes.append(
            Route(
                i,
                c.parsed_matchers(),
                c.receivers,
                c.continue_,
                c.group_by,
                c.group_wait,
                c.wait_for_retry,
                c.notify_recovered_on_retry,
                c.send_resolved,
                c.mute_time_intervals,
                route_key(c, ranks[first]),
                c.links.runbook_url if c.links else None,
                c.links.dashboard_url if c.links else None,
            )
        )
    return tuple(routes)


class RouteMatcher:
    """`match_routes` over fixed ``routes``, each answer remembered for the label values it read.

    A route's answer depends only on the labels its matchers name (a missing one reads as ""),
    so alerts that agree on those share an answer: a storm's ten thousand failures, which differ
    in VM and reason, mostly ask the same question. Meant to live for one decision (its memory
    grows with the distinct values seen).
    """

    def __init__(self, routes: Sequence[Route]) -> None:
        self._routes = routes
        self._names = tuple(sorted({m.name for route in routes for m in route.matchers}))
        self._known: dict[tuple[str, ...], list[Route]] = {}

    def match(self, labels: Mapping[str, str]) -> list[Route]:
        """The routes ``labels`` reach, in order (the caller must not change the list)."""
        key = tuple([labels.get(name, "") for name in self._names])
        found = self._known.get(key)
        if found is None:
            found = self._known[key] = match_routes(self._routes, labels)
        return found


def match_routes(routes: Sequence[Route], labels: Mapping[str, str]) -> list[Route]:
    """The routes ``labels`` reach, in order; empty when none matches."""
    matched = []
    for route in routes:
        if matches_all(route.matchers, labels):
            matched.append(route)
            if not route.continue_:
                break
    return matched

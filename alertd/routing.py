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

    ``key`` identifies the route in stored state (group keys, held alerts, incidents) across
    reloads: its ``name`` when given, otherwise a digest of what it matches and where it sends,
    so inserting or reordering routes never moves stored alerts to another route.
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

    def group_key(self, labels: Mapping[str, str]) -> str:
        """The key that puts alerts with the same ``group_by`` label values into one message."""
        parts = [f"{name}={labels.get(name, '')}" for name in self.group_by]
        return f"{self.key}|" + "|".join(parts)


def route_key(cfg: RouteConfig) -> str:
    """The stable identity of a route (see Route)."""
    if cfg.name is not None:
        return f"name:{cfg.name}"
    what = json.dumps([cfg.matchers, cfg.receivers, cfg.group_by, cfg.continue_], separators=(",", ":"))
    return "r:" + hashlib.sha256(what.encode()).hexdigest()[:12]


def compile_routes(configs: Sequence[RouteConfig]) -> tuple[Route, ...]:
    """Compile validated route configs."""
    routes = []
    seen: dict[str, int] = {}
    for i, c in enumerate(configs):
        key = route_key(c)
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 1:  # identical routes: tell them apart by their rank among equals
            key = f"{key}#{seen[key]}"
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
                key,
            )
        )
    return tuple(routes)


def match_routes(routes: Sequence[Route], labels: Mapping[str, str]) -> list[Route]:
    """The routes ``labels`` reach, in order; empty when none matches."""
    matched = []
    for route in routes:
        if matches_all(route.matchers, labels):
            matched.append(route)
            if not route.continue_:
                break
    return matched
